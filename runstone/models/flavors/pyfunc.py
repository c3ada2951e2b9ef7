"""Custom models: your own Python code behind the generic ``predict`` interface.

    class Scaled(runstone.pyfunc.PythonModel):
        def load_context(self, context):
            self.factor = float(Path(context.artifacts["factor"]).read_text())

        def predict(self, context, model_input, params=None):
            return model_input * self.factor

    runstone.pyfunc.save_model("pkg", python_model=Scaled(), artifacts={"factor": "factor.txt"},
                               code_paths=["helpers.py"])

The instance is stored with cloudpickle (``python_model.pkl``), ``artifacts`` are copied into
the package's ``artifacts/`` folder, and ``code_paths`` into ``code/``, which is put on
sys.path before the model is unpickled. The loader is ``runstone.pyfunc``.
"""

from __future__ import annotations

import inspect
import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from runstone.errors import InvalidInput
from runstone.models.manifest import PYFUNC, Model, ModelInfo
from runstone.models.packaging import finish, new_package_dir, package_dir_of
from runstone.models.pyfunc_model import PyFuncModel, load_model
from runstone.models.signature import ModelSignature

FLAVOR_NAME = PYFUNC
MODEL_FILE = "python_model.pkl"
ARTIFACTS_DIR = "artifacts"


class PythonModelContext:
    """What ``load_context`` and ``predict`` receive: ``artifacts`` maps each name given at save
    time to the local path of its copy inside the loaded package."""

    def __init__(self, artifacts: Mapping[str, str], model_config: Mapping[str, object] | None = None) -> None:
        self.artifacts = dict(artifacts)
        self.model_config = dict(model_config or {})


class PythonModel:
    """Base class of custom models: override ``predict`` (and ``load_context`` to read artifacts)."""

    def load_context(self, context: PythonModelContext) -> None:
        """Called once when the model is loaded, before any prediction."""

    def predict(
        self, context: PythonModelContext, model_input: object, params: Mapping[str, object] | None = None
    ) -> Any:
        raise NotImplementedError


def _copy_artifacts(target: Path, artifacts: Mapping[str, str | os.PathLike[str]] | None) -> dict[str, dict[str, str]]:
    if not artifacts:
        return {}
    folder = target / ARTIFACTS_DIR
    folder.mkdir()
    out = {}
    for name, source in artifacts.items():
        src = Path(source)
        if "/" in name or name in ("", ".", ".."):
            raise InvalidInput(f"Artifact name {name!r} must be a plain name.")
        if not src.exists():
            raise InvalidInput(f"Artifact {name!r}: {src} does not exist.")
        dest = folder / name / src.name
        dest.parent.mkdir()
        if src.is_dir():
            shutil.copytree(src, dest)
        else:
            shutil.copy2(src, dest)
        out[name] = {"path": dest.relative_to(target).as_posix()}
    return out


def _save(
    path: str | os.PathLike[str],
    manifest: Model,
    *,
    python_model: PythonModel | None = None,
    artifacts: Mapping[str, str | os.PathLike[str]] | None = None,
    input_example: object = None,
    signature: ModelSignature | bool | None = None,
    pip_requirements: Sequence[str] | None = None,
    extra_pip_requirements: Sequence[str] | None = None,
    code_paths: Sequence[str | os.PathLike[str]] | None = None,
    metadata: Mapping[str, object] | None = None,
    model_config: Mapping[str, object] | None = None,
) -> Model:
    import cloudpickle

    if not isinstance(python_model, PythonModel):
        raise InvalidInput(
            f"python_model must be an instance of a runstone.pyfunc.PythonModel subclass; got {type(python_model).__name__}."
        )
    target = new_package_dir(path)
    with open(target / MODEL_FILE, "wb") as out:
        cloudpickle.dump(python_model, out)
    conf: dict[str, object] = {
        "loader_module": "runstone.pyfunc",
        "python_model": MODEL_FILE,
        "cloudpickle_version": cloudpickle.__version__,
    }
    copied = _copy_artifacts(target, artifacts)
    if copied:
        conf["artifacts"] = copied
    if model_config:
        conf["model_config"] = dict(model_config)
    return finish(
        target,
        manifest,
        flavor=None,
        conf={},
        pyfunc=conf,
        packages=["cloudpickle"],
        input_example=input_example,
        signature=signature,
        pip_requirements=pip_requirements,
        extra_pip_requirements=extra_pip_requirements,
        code_paths=code_paths,
        metadata=metadata,
    )


def save_model(path: str | os.PathLike[str], python_model: PythonModel | None = None, **kwargs: Any) -> Model:
    """Save a PythonModel instance as a package in a new folder.

    Keyword arguments: artifacts ({name: local file or folder}), code_paths, input_example,
    signature, pip_requirements, extra_pip_requirements (list what your code imports), metadata,
    model_config.
    """
    return _save(path, Model(), python_model=python_model, **kwargs)


def log_model(
    name: str = "model",
    python_model: PythonModel | None = None,
    *,
    registered_model_name: str | None = None,
    artifact_path: str | None = None,
    **kwargs: Any,
) -> ModelInfo:
    """Log a PythonModel into the active run (one is started when none is)."""
    from runstone.models.runs import log_model as log

    return log(
        lambda path, manifest: _save(path, manifest, python_model=python_model, **kwargs),
        artifact_path or name,
        registered_model_name=registered_model_name,
    )


class _Predictor:
    def __init__(self, python_model: Any, context: PythonModelContext) -> None:
        self.python_model = python_model
        self.context = context
        try:
            self._takes_params = "params" in inspect.signature(python_model.predict).parameters
        except (TypeError, ValueError):
            self._takes_params = False

    def predict(self, data: Any, params: Mapping[str, Any] | None = None) -> Any:
        if self._takes_params:
            return self.python_model.predict(self.context, data, params=params)
        return self.python_model.predict(self.context, data)


def load_pyfunc(path: Path, model: Model) -> _Predictor:
    import pickle

    conf = model.pyfunc_conf or {}
    if "python_model" not in conf:
        raise InvalidInput(f"The model at {path} has no python_model in its python_function flavor.")
    with open(path / conf["python_model"], "rb") as src:
        python_model = pickle.load(src)
    artifacts = {name: str(path / spec["path"]) for name, spec in (conf.get("artifacts") or {}).items()}
    context = PythonModelContext(artifacts, conf.get("model_config"))
    python_model.load_context(context)
    return _Predictor(python_model, context)


def _load_pyfunc(data_path: str) -> _Predictor:
    """MLflow's loader entry point."""
    path = package_dir_of(data_path)
    return load_pyfunc(path, Model.load(path))


__all__ = [
    "PyFuncModel",
    "PythonModel",
    "PythonModelContext",
    "load_model",
    "log_model",
    "save_model",
]
