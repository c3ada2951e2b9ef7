"""XGBoost boosters and scikit-learn-API models (XGBClassifier, XGBRegressor, ...).

Saved in XGBoost's own UBJSON format (``model.ubj``, no pickle): the scikit-learn wrappers keep
their attributes in it, so ``XGBClassifier().load_model`` restores them. The layout is MLflow's
xgboost flavor (``data``, ``model_class``, ``model_format``), so the loader is ``mlflow.xgboost``.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from runstone.errors import InvalidInput
from runstone.models.environment import distribution_of
from runstone.models.manifest import Model, ModelInfo
from runstone.models.packaging import finish, new_package_dir, open_flavor, package_dir_of
from runstone.models.signature import ModelSignature

FLAVOR_NAME = "xgboost"
FORMATS = ("ubj", "json")


def _class_path(model: object) -> str:
    return f"{type(model).__module__}.{type(model).__name__}"


def _save(
    xgb_model: object,
    path: str | os.PathLike[str],
    manifest: Model,
    *,
    model_format: str = "ubj",
    input_example: object = None,
    signature: ModelSignature | bool | None = None,
    pip_requirements: Sequence[str] | None = None,
    extra_pip_requirements: Sequence[str] | None = None,
    code_paths: Sequence[str | os.PathLike[str]] | None = None,
    metadata: Mapping[str, object] | None = None,
) -> Model:
    import xgboost as xgb

    if model_format not in FORMATS:
        raise InvalidInput(f"model_format must be one of {', '.join(FORMATS)}; got {model_format!r}.")
    if not isinstance(xgb_model, (xgb.Booster, xgb.XGBModel)):
        raise InvalidInput(f"Expected an xgboost Booster or XGBModel; got {type(xgb_model).__name__}.")
    target = new_package_dir(path)
    file = f"model.{model_format}"
    xgb_model.save_model(str(target / file))
    packages = [distribution_of("xgboost")]
    if isinstance(xgb_model, xgb.XGBModel):
        packages.append("scikit-learn")
    return finish(
        target,
        manifest,
        flavor=FLAVOR_NAME,
        conf={
            "xgb_version": xgb.__version__,
            "data": file,
            "model_class": _class_path(xgb_model),
            "model_format": model_format,
        },
        pyfunc={"loader_module": "mlflow.xgboost", "data": file},
        packages=packages,
        input_example=input_example,
        signature=signature,
        pip_requirements=pip_requirements,
        extra_pip_requirements=extra_pip_requirements,
        code_paths=code_paths,
        metadata=metadata,
    )


def save_model(xgb_model: Any, path: str | os.PathLike[str], **kwargs: Any) -> Model:
    """Save a Booster or an XGBModel as a package in a new folder (model_format "ubj" or "json";
    input_example, signature, pip_requirements, extra_pip_requirements, code_paths, metadata)."""
    return _save(xgb_model, path, Model(), **kwargs)


def log_model(
    xgb_model: Any,
    name: str = "model",
    *,
    registered_model_name: str | None = None,
    artifact_path: str | None = None,
    **kwargs: Any,
) -> ModelInfo:
    """Log a Booster or XGBModel into the active run (one is started when none is)."""
    from runstone.models.runs import log_model as log

    return log(
        lambda path, manifest: _save(xgb_model, path, manifest, **kwargs),
        artifact_path or name,
        registered_model_name=registered_model_name,
    )


def _read(path: Path, conf: Mapping[str, Any]) -> Any:
    module_name, _, class_name = str(conf.get("model_class", "xgboost.core.Booster")).rpartition(".")
    if not module_name.startswith("xgboost"):
        raise InvalidInput(f"Refusing to load model class {conf.get('model_class')!r}: not an xgboost class.")
    cls = getattr(importlib.import_module(module_name), class_name)
    model = cls()
    model.load_model(str(path / conf["data"]))
    return model


def load_model(model_uri: str | os.PathLike[str], dst_path: str | os.PathLike[str] | None = None) -> Any:
    """The Booster or XGBModel of a package."""
    path, _, conf = open_flavor(model_uri, FLAVOR_NAME, dst_path)
    return _read(path, conf)


class _Predictor:
    def __init__(self, model: Any) -> None:
        self.model = model

    def predict(self, data: Any, params: Mapping[str, Any] | None = None) -> Any:
        import xgboost as xgb

        if isinstance(self.model, xgb.Booster):
            return self.model.predict(xgb.DMatrix(data))
        return self.model.predict(data)


def load_pyfunc(path: Path, model: Model) -> _Predictor:
    conf = model.flavors.get(FLAVOR_NAME)
    if conf is None:
        raise InvalidInput(f"The model at {path} has no xgboost flavor.")
    return _Predictor(_read(path, conf))


def _load_pyfunc(data_path: str) -> _Predictor:
    """MLflow's loader entry point."""
    path = package_dir_of(data_path)
    return load_pyfunc(path, Model.load(path))
