"""Loading any package as a generic model with ``.predict(data, params=None)``.

The python_function flavor's ``loader_module`` says how. runstone writes MLflow's module name
(``mlflow.sklearn`` ...) when its files are exactly what that MLflow flavor reads, so MLflow
loads runstone packages without runstone installed, and its own (``runstone.lightgbm`` ...)
otherwise. Loading, runstone maps both kinds of name to its own loaders, so MLflow's packages
load without MLflow installed; any other loader module is imported and its
``_load_pyfunc(data_path)`` called, as MLflow does.
"""

from __future__ import annotations

import importlib
import inspect
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from runstone.errors import InvalidInput
from runstone.models.enforce import enforce_inputs, enforce_params
from runstone.models.manifest import Model
from runstone.models.packaging import add_code_to_path
from runstone.models.signature import ModelSignature
from runstone.models.uri import local_path

_FLAVORS = "runstone.models.flavors"
LOADERS = {
    "mlflow.sklearn": f"{_FLAVORS}.sklearn",
    "runstone.sklearn": f"{_FLAVORS}.sklearn",
    "mlflow.xgboost": f"{_FLAVORS}.xgboost",
    "runstone.xgboost": f"{_FLAVORS}.xgboost",
    "mlflow.lightgbm": f"{_FLAVORS}.lightgbm",
    "runstone.lightgbm": f"{_FLAVORS}.lightgbm",
    "mlflow.pytorch": f"{_FLAVORS}.pytorch",
    "runstone.pytorch": f"{_FLAVORS}.pytorch",
    "mlflow.onnx": f"{_FLAVORS}.onnx",
    "runstone.onnx": f"{_FLAVORS}.onnx",
    "mlflow.keras": f"{_FLAVORS}.keras",
    "runstone.keras": f"{_FLAVORS}.keras",
    "mlflow.tensorflow": f"{_FLAVORS}.tensorflow",
    "runstone.tensorflow": f"{_FLAVORS}.tensorflow",
    "runstone.pyfunc": f"{_FLAVORS}.pyfunc",
}


class PyFuncModel:
    """A loaded package: ``predict`` checks the input against the signature, then runs the model."""

    def __init__(self, metadata: Model, impl: Any, path: Path) -> None:
        self.metadata = metadata
        self.path = path
        self._impl = impl
        try:
            self._takes_params = "params" in inspect.signature(impl.predict).parameters
        except (TypeError, ValueError):
            self._takes_params = False

    @property
    def signature(self) -> ModelSignature | None:
        return self.metadata.signature

    @property
    def loader_module(self) -> str:
        return str((self.metadata.pyfunc_conf or {}).get("loader_module"))

    def predict(self, data: Any, params: Mapping[str, Any] | None = None) -> Any:
        data = enforce_inputs(data, self.metadata.get_input_schema())
        checked = enforce_params(params, self.metadata.get_params_schema())
        if self._takes_params:
            return self._impl.predict(data, params=checked)
        return self._impl.predict(data)

    def predict_checked(self, data: Any, params: Mapping[str, Any] | None = None) -> Any:
        """Run the model on input already checked with ``enforce_inputs`` and params already
        filled with ``enforce_params`` (a scoring server checks each request on its own, then
        may combine several into one call)."""
        if self._takes_params:
            return self._impl.predict(data, params=params)
        return self._impl.predict(data)

    def unwrap_python_model(self) -> Any:
        """The PythonModel instance of a custom (python_function) model."""
        model = getattr(self._impl, "python_model", None)
        if model is None:
            raise InvalidInput("This is not a custom python_function model; use get_raw_model().")
        return model

    def get_raw_model(self) -> Any:
        """The flavor's native object (estimator, booster, module, session ...)."""
        return getattr(self._impl, "model", self._impl)

    def __repr__(self) -> str:
        return f"PyFuncModel(loader_module={self.loader_module!r}, path={str(self.path)!r})"


def load_package(path: Path) -> PyFuncModel:
    """Load the package in a local folder."""
    meta = Model.load(path)
    conf = meta.pyfunc_conf
    if conf is None:
        raise InvalidInput(
            f"The model at {path} has no python_function flavor; load it with its flavor's load_model "
            f"(it has: {', '.join(sorted(meta.flavors)) or 'no flavors'})."
        )
    loader = conf.get("loader_module")
    if not loader:
        raise InvalidInput(f"The python_function flavor of {path} names no loader_module.")
    add_code_to_path(path, conf)
    known = LOADERS.get(loader)
    if known is not None:
        impl = importlib.import_module(known).load_pyfunc(path, meta)
    else:
        data_path = path / conf["data"] if conf.get("data") else path
        try:
            module = importlib.import_module(loader)
        except ImportError as exc:
            raise InvalidInput(f"The model's loader module {loader!r} cannot be imported here: {exc}") from None
        impl = module._load_pyfunc(str(data_path))
    return PyFuncModel(meta, impl, path)


def load_model(
    model_uri: str | os.PathLike[str], dst_path: str | os.PathLike[str] | None = None, *, client: object = None
) -> PyFuncModel:
    """Load a model package from a URI (runs:/, models:/, file:// or a path) as a PyFuncModel."""
    return load_package(local_path(model_uri, dst_path, client))
