"""LightGBM boosters and scikit-learn-API models (LGBMClassifier, LGBMRegressor, LGBMRanker).

The trees are stored in LightGBM's native text format (``model.lgb``), readable by any LightGBM.
A Booster package is exactly MLflow's lightgbm flavor (loader ``mlflow.lightgbm``). A
scikit-learn-API model also keeps its wrapper (hyperparameters, label encoding and classes,
without the trees) in ``sklearn_wrapper.pkl``; loading puts the native booster back into it, so
``load_model`` returns the fitted LGBMClassifier and the pyfunc predicts labels. Its loader is
``runstone.lightgbm``; MLflow's own lightgbm loader reads such a package as a plain Booster.
"""

from __future__ import annotations

import copy
import os
import pickle
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from runstone.errors import InvalidInput
from runstone.models.manifest import Model, ModelInfo
from runstone.models.packaging import NativePredictor, finish, new_package_dir, open_flavor, package_dir_of
from runstone.models.signature import ModelSignature

FLAVOR_NAME = "lightgbm"
DATA = "model.lgb"
WRAPPER = "sklearn_wrapper.pkl"
BOOSTER_CLASS = "lightgbm.basic.Booster"


def _save(
    lgb_model: object,
    path: str | os.PathLike[str],
    manifest: Model,
    *,
    input_example: object = None,
    signature: ModelSignature | bool | None = None,
    pip_requirements: Sequence[str] | None = None,
    extra_pip_requirements: Sequence[str] | None = None,
    code_paths: Sequence[str | os.PathLike[str]] | None = None,
    metadata: Mapping[str, object] | None = None,
) -> Model:
    import lightgbm as lgb

    if not isinstance(lgb_model, (lgb.Booster, lgb.LGBMModel)):
        raise InvalidInput(f"Expected a lightgbm Booster or LGBMModel; got {type(lgb_model).__name__}.")
    target = new_package_dir(path)
    conf: dict[str, object] = {"lgb_version": lgb.__version__, "data": DATA, "model_class": BOOSTER_CLASS}
    packages = ["lightgbm"]
    if isinstance(lgb_model, lgb.Booster):
        lgb_model.save_model(str(target / DATA))
        loader = "mlflow.lightgbm"
    else:
        import cloudpickle

        lgb_model.booster_.save_model(str(target / DATA))
        shell = copy.copy(lgb_model)
        shell._Booster = None
        with open(target / WRAPPER, "wb") as out:
            cloudpickle.dump(shell, out)
        conf["sklearn_wrapper"] = {
            "model_class": f"{type(lgb_model).__module__}.{type(lgb_model).__name__}",
            "data": WRAPPER,
        }
        packages += ["scikit-learn", "cloudpickle"]
        loader = "runstone.lightgbm"
    return finish(
        target,
        manifest,
        flavor=FLAVOR_NAME,
        conf=conf,
        pyfunc={"loader_module": loader, "data": DATA},
        packages=packages,
        input_example=input_example,
        signature=signature,
        pip_requirements=pip_requirements,
        extra_pip_requirements=extra_pip_requirements,
        code_paths=code_paths,
        metadata=metadata,
    )


def save_model(lgb_model: Any, path: str | os.PathLike[str], **kwargs: Any) -> Model:
    """Save a Booster or LGBMModel as a package in a new folder (input_example, signature,
    pip_requirements, extra_pip_requirements, code_paths, metadata)."""
    return _save(lgb_model, path, Model(), **kwargs)


def log_model(
    lgb_model: Any,
    name: str = "model",
    *,
    registered_model_name: str | None = None,
    artifact_path: str | None = None,
    **kwargs: Any,
) -> ModelInfo:
    """Log a Booster or LGBMModel into the active run (one is started when none is)."""
    from runstone.models.runs import log_model as log

    return log(
        lambda path, manifest: _save(lgb_model, path, manifest, **kwargs),
        artifact_path or name,
        registered_model_name=registered_model_name,
    )


def _read(path: Path, conf: Mapping[str, Any]) -> Any:
    import lightgbm as lgb

    data = path / conf.get("data", DATA)
    wrapper = conf.get("sklearn_wrapper")
    if wrapper:
        with open(path / wrapper["data"], "rb") as src:
            model = pickle.load(src)
        model._Booster = lgb.Booster(model_file=str(data))
        return model
    if conf.get("model_class", BOOSTER_CLASS) != BOOSTER_CLASS:  # MLflow pickles scikit-learn-API models
        if conf.get("serialization_format") == "skops":
            import skops.io

            return skops.io.load(data, trusted=conf.get("skops_trusted_types"))
        with open(data, "rb") as src:
            return pickle.load(src)
    return lgb.Booster(model_file=str(data))


def load_model(model_uri: str | os.PathLike[str], dst_path: str | os.PathLike[str] | None = None) -> Any:
    """The Booster or fitted LGBMModel of a package."""
    path, _, conf = open_flavor(model_uri, FLAVOR_NAME, dst_path)
    return _read(path, conf)


def load_pyfunc(path: Path, model: Model) -> NativePredictor:
    conf = model.flavors.get(FLAVOR_NAME)
    if conf is None:
        raise InvalidInput(f"The model at {path} has no lightgbm flavor.")
    return NativePredictor(_read(path, conf))


def _load_pyfunc(data_path: str) -> NativePredictor:
    """MLflow's loader entry point."""
    path = package_dir_of(data_path)
    return load_pyfunc(path, Model.load(path))
