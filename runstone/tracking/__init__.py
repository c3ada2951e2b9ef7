"""Experiments, runs, metrics, params, tags, datasets and artifacts of runs."""
