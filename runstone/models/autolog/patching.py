"""Reversible patches and the run an autologged training call logs into.

Every patch records the attribute it replaced, so ``autolog(disable=True)`` puts back exactly
what was there. Only the outermost training call of a library logs (a Pipeline's fit calls its
steps' fits; those are not logged again). Logging never breaks training: a failure to log is
reported on the ``runstone.autolog`` logger and training goes on.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from runstone.models import runs

log = logging.getLogger("runstone.autolog")


@dataclass
class Config:
    log_models: bool = True
    log_input_examples: bool = True
    log_datasets: bool = True
    silent: bool = False
    log_every_n_steps: int = 1


_patches: dict[str, list[tuple[Any, str, Any, bool]]] = {}
configs: dict[str, Config] = {}
_local = threading.local()


def is_enabled(flavor: str) -> bool:
    return flavor in configs


def enable(flavor: str, config: Config) -> bool:
    """Record the config; False when the flavor was already patched (only the config changes)."""
    first = flavor not in _patches
    configs[flavor] = config
    _patches.setdefault(flavor, [])
    return first


def patch(flavor: str, owner: object, name: str, make: Callable[[Any], Any]) -> None:
    """Replace ``owner.name`` with ``make(original)``."""
    had_own = name in vars(owner) if isinstance(owner, type) else True
    original = getattr(owner, name)
    replacement = make(original)
    functools.update_wrapper(replacement, original)
    replacement.__runstone_original__ = original
    setattr(owner, name, replacement)
    _patches[flavor].append((owner, name, original, had_own))


def add_undo(flavor: str, undo: Callable[[], None]) -> None:
    """Something to run on disable other than restoring an attribute (e.g. removing a hook)."""
    _patches[flavor].append((undo, "", None, False))


def disable(flavor: str) -> None:
    for owner, name, original, had_own in reversed(_patches.pop(flavor, [])):
        if not name:
            owner()
        elif had_own:
            setattr(owner, name, original)
        else:
            delattr(owner, name)
    configs.pop(flavor, None)


@contextlib.contextmanager
def outermost(flavor: str) -> Iterator[bool]:
    """True for the outermost training call of this thread (nested calls get False)."""
    depth = getattr(_local, flavor, 0)
    setattr(_local, flavor, depth + 1)
    try:
        yield depth == 0
    finally:
        setattr(_local, flavor, depth)


@contextlib.contextmanager
def training_run() -> Iterator[str]:
    """The active run, or a new one that ends with the training call (FAILED if it raises)."""
    run_id = runs.active_run_id()
    if run_id is not None:
        yield run_id
        return
    run_id = runs.start_run()
    try:
        yield run_id
    except BaseException:
        runs.end_run("FAILED")
        raise
    runs.end_run("FINISHED")


def safely(flavor: str, what: str, fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except Exception as exc:
        config = configs.get(flavor)
        if config is None or not config.silent:
            log.warning("%s autologging could not %s: %s", flavor, what, exc)
        return None


def params_text(params: Mapping[str, object]) -> dict[str, str]:
    """Param values as strings within the tracking limit (long values are cut)."""
    out = {}
    for key, value in params.items():
        text = str(value)
        out[str(key)[:250]] = text if len(text) <= 6000 else text[:5997] + "..."
    return out


def head(data: object, rows: int = 5) -> Any:
    """The first rows of a table or array, or None for what cannot be sliced (sparse, files)."""
    if data is None:
        return None
    if hasattr(data, "iloc"):
        return data.iloc[:rows]
    if type(data).__module__.startswith("scipy"):
        return None
    try:
        import numpy as np

        array = np.asarray(data)
    except Exception:
        return None
    if array.dtype == object or array.ndim == 0:
        return None
    return array[:rows]


def dataset_of(features: object, targets: object = None) -> Any:
    """A runstone dataset (content digest, schema, profile) of training data."""
    from runstone import data

    if hasattr(features, "iloc"):
        return data.from_pandas(features)
    import numpy as np

    return data.from_numpy(np.asarray(features), targets=None if targets is None else np.asarray(targets))


def log_history(run_id: str, history: dict[str, dict[str, list[float]]]) -> None:
    """Per-iteration metrics from {data name: {metric: [values]}} as ``<data>-<metric>`` at step i."""
    by_step: dict[int, dict[str, float]] = {}
    for data_name, metrics in history.items():
        for metric, values in metrics.items():
            for step, value in enumerate(values):
                by_step.setdefault(step, {})[f"{data_name}-{metric}"] = float(value)
    for step in sorted(by_step):
        runs.log_metrics(run_id, by_step[step], step=step)
