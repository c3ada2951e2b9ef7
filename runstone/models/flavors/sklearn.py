"""scikit-learn estimators and pipelines.

Files are MLflow's sklearn flavor exactly (``model.pkl`` with cloudpickle or pickle, or
``model.skops``), so the python_function loader is ``mlflow.sklearn``: MLflow loads these
packages without runstone, and runstone loads MLflow's (including skops ones) without MLflow.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from runstone.errors import InvalidInput
from runstone.models.manifest import Model, ModelInfo
from runstone.models.packaging import NativePredictor, finish, new_package_dir, open_flavor, package_dir_of
from runstone.models.signature import ModelSignature

FLAVOR_NAME = "sklearn"
FORMATS = ("cloudpickle", "pickle", "skops")


def _save(
    sk_model: object,
    path: str | os.PathLike[str],
    manifest: Model,
    *,
    serialization_format: str = "cloudpickle",
    input_example: object = None,
    signature: ModelSignature | bool | None = None,
    pip_requirements: Sequence[str] | None = None,
    extra_pip_requirements: Sequence[str] | None = None,
    code_paths: Sequence[str | os.PathLike[str]] | None = None,
    metadata: Mapping[str, object] | None = None,
    pyfunc_predict_fn: str = "predict",
) -> Model:
    import sklearn

    if serialization_format not in FORMATS:
        raise InvalidInput(f"serialization_format must be one of {', '.join(FORMATS)}; got {serialization_format!r}.")
    if not hasattr(sk_model, pyfunc_predict_fn):
        raise InvalidInput(f"{type(sk_model).__name__} has no method {pyfunc_predict_fn!r} to predict with.")
    target = new_package_dir(path)
    if serialization_format == "skops":
        import skops.io

        file = "model.skops"
        skops.io.dump(sk_model, target / file)
        packages = ["scikit-learn", "skops"]
    else:
        file = "model.pkl"
        with open(target / file, "wb") as out:
            if serialization_format == "cloudpickle":
                import cloudpickle

                cloudpickle.dump(sk_model, out)
            else:
                pickle.dump(sk_model, out, protocol=pickle.DEFAULT_PROTOCOL)
        packages = ["scikit-learn", "cloudpickle"] if serialization_format == "cloudpickle" else ["scikit-learn"]
    return finish(
        target,
        manifest,
        flavor=FLAVOR_NAME,
        conf={
            "pickled_model": file,
            "sklearn_version": sklearn.__version__,
            "serialization_format": serialization_format,
        },
        pyfunc={"loader_module": "mlflow.sklearn", "data": file, "predict_fn": pyfunc_predict_fn},
        packages=packages,
        input_example=input_example,
        signature=signature,
        pip_requirements=pip_requirements,
        extra_pip_requirements=extra_pip_requirements,
        code_paths=code_paths,
        metadata=metadata,
    )


def save_model(sk_model: Any, path: str | os.PathLike[str], **kwargs: Any) -> Model:
    """Save an estimator or pipeline as a package in a new folder.

    Keyword arguments: serialization_format ("cloudpickle", "pickle" or "skops"), input_example,
    signature (inferred from the example when omitted; False for none), pip_requirements,
    extra_pip_requirements, code_paths, metadata, pyfunc_predict_fn ("predict", "predict_proba" ...).
    """
    return _save(sk_model, path, Model(), **kwargs)


def log_model(
    sk_model: Any,
    name: str = "model",
    *,
    registered_model_name: str | None = None,
    artifact_path: str | None = None,
    **kwargs: Any,
) -> ModelInfo:
    """Log an estimator into the active run (one is started when none is) as ``name``."""
    from runstone.models.runs import log_model as log

    return log(
        lambda path, manifest: _save(sk_model, path, manifest, **kwargs),
        artifact_path or name,
        registered_model_name=registered_model_name,
    )


def _read(path: Path, conf: Mapping[str, Any]) -> Any:
    file = path / conf.get("pickled_model", "model.pkl")
    fmt = conf.get("serialization_format", "pickle")
    if fmt == "skops":
        try:
            import skops.io
        except ModuleNotFoundError:
            raise InvalidInput("This model was saved with skops; install it (pip install skops).") from None
        # The package's own skops_trusted_types is ignored: a hostile package would list what
        # it needs to run code. Only the operator's setting widens what skops may build.
        from runstone.config import Settings

        allowed = {t.strip() for t in Settings().skops_trusted_types.split(",") if t.strip()}
        untrusted = skops.io.get_untrusted_types(file=file)
        refused = sorted(set(untrusted) - allowed)
        if refused:
            raise InvalidInput(
                f"This skops model needs types that are not trusted here: {', '.join(refused)}. Building them could "
                "run code; if you trust them, add them to RUNSTONE_SKOPS_TRUSTED_TYPES (comma-separated).",
                {"untrusted_types": refused},
            )
        return skops.io.load(file, trusted=untrusted)
    if fmt not in ("pickle", "cloudpickle"):
        raise InvalidInput(f"Unknown scikit-learn serialization format {fmt!r}.")
    # A cloudpickle file is a pickle stream; cloudpickle is imported by it when it needs to be.
    with open(file, "rb") as src:
        return pickle.load(src)


def load_model(model_uri: str | os.PathLike[str], dst_path: str | os.PathLike[str] | None = None) -> Any:
    """The scikit-learn estimator of a package."""
    path, _, conf = open_flavor(model_uri, FLAVOR_NAME, dst_path)
    return _read(path, conf)


def load_pyfunc(path: Path, model: Model) -> NativePredictor:
    conf = model.flavors.get(FLAVOR_NAME)
    if conf is None:  # an old package with only a python_function flavor pointing at a pickle
        data = (model.pyfunc_conf or {}).get("data", "model.pkl")
        conf = {"pickled_model": data, "serialization_format": "pickle"}
    method = (model.pyfunc_conf or {}).get("predict_fn", "predict")
    return NativePredictor(_read(path, conf), method)


def _load_pyfunc(data_path: str) -> NativePredictor:
    """MLflow's loader entry point."""
    path = package_dir_of(data_path)
    return load_pyfunc(path, Model.load(path))
