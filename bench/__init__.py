"""Benchmarks (not tests): runstone against MLflow on the same workloads, in one run.

``bash bench/run`` is the entry point; see docs/performance.md for what is measured.
"""
