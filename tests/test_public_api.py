"""The declared public API (``runstone.__all__``) is what the package exports, and importing
runstone stays light."""

from __future__ import annotations
import __future__

import json
import subprocess
import sys
import types

import runstone

# The fluent names a user of MLflow expects, plus flush(); the list.
FLUENT = {
    "set_experiment", "start_run", "end_run", "log_param", "log_params", "log_metric", "log_metrics",
    "set_tag", "set_tags", "delete_tag", "log_artifact", "log_artifacts", "log_text", "log_dict",
    "log_figure", "log_input", "search_runs", "get_run", "active_run", "last_active_run", "flush",
    "set_tracking_uri", "get_tracking_uri",
}  # fmt: skip


def test_all_lists_exactly_the_public_names() -> None:
    public = {
        name
        for name, value in vars(runstone).items()
        if not name.startswith("_")
        and not isinstance(value, types.ModuleType)
        and value is not __future__.annotations  # left behind by `from __future__ import annotations`
    }
    exported_modules = {name for name in runstone.__all__ if isinstance(getattr(runstone, name), types.ModuleType)}

    assert len(runstone.__all__) == len(set(runstone.__all__))
    assert set(runstone.__all__) == public | {"__version__"} | exported_modules
    assert "data" in exported_modules


def test_every_declared_name_is_importable() -> None:
    namespace: dict[str, object] = {}
    exec("from runstone import *", namespace)
    assert set(runstone.__all__) <= set(namespace)
    for name in runstone.__all__:
        assert getattr(runstone, name) is namespace[name]


def test_the_fluent_api_and_the_client_are_there() -> None:
    assert set(runstone.__all__) >= FLUENT | {"RunstoneClient", "ActiveRun", "data"}
    assert all(callable(getattr(runstone, name)) for name in FLUENT)
    for method in ("create_experiment", "get_experiment_by_name", "create_run", "get_run", "log_batch",
                   "get_metric_history", "search_runs", "list_artifacts", "download_artifacts",
                   "set_terminated", "move_run"):  # fmt: skip
        assert callable(getattr(runstone.RunstoneClient, method)), method


def test_errors_are_one_tree() -> None:
    for name in ("InvalidInput", "NotFound", "AlreadyExists", "InvalidState", "Unavailable"):
        assert issubclass(getattr(runstone, name), runstone.RunstoneError)


def test_importing_runstone_loads_nothing_heavy() -> None:
    heavy = ["pandas", "numpy", "sqlalchemy", "alembic", "fastapi", "starlette", "uvicorn", "httpx",
             "matplotlib", "yaml", "boto3", "pyarrow", "runstone.server", "runstone.store"]  # fmt: skip
    code = f"import json, sys, runstone; print(json.dumps([m for m in {heavy!r} if m in sys.modules]))"

    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)

    assert json.loads(done.stdout) == []
