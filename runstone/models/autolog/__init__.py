"""Autologging: training calls log their params, per-iteration metrics, the fitted model (with
signature and input example) and the training data's digest, with no logging code.

    runstone.autolog()              # every supported library that is installed
    runstone.sklearn.autolog()      # one library
    runstone.autolog(disable=True)  # put everything back

A training call with no active run gets its own run, ended when the call returns; with an
active run, it logs into that one.
"""

from __future__ import annotations

import importlib

from runstone.models.autolog.patching import Config

# runstone flavor -> the library it patches.
LIBRARIES = {"sklearn": "sklearn", "xgboost": "xgboost", "lightgbm": "lightgbm", "pytorch": "torch", "keras": "keras"}


def autolog(
    *,
    disable: bool = False,
    log_models: bool = True,
    log_input_examples: bool = True,
    log_datasets: bool = True,
    silent: bool = False,
) -> list[str]:
    """Turn autologging on (or off) for every supported library that is installed; returns the
    flavors it applied to. A library that is not installed is skipped."""
    done = []
    for flavor, library in LIBRARIES.items():
        try:
            importlib.import_module(library)
        except ImportError:
            continue
        module = importlib.import_module(f"runstone.models.autolog.{flavor}")
        module.autolog(
            disable=disable,
            log_models=log_models,
            log_input_examples=log_input_examples,
            log_datasets=log_datasets,
            silent=silent,
        )
        done.append(flavor)
    return done


__all__ = ["Config", "autolog"]
