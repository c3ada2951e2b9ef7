"""ONNX models, run with onnxruntime.

``model.onnx`` plus MLflow's onnx flavor settings (loader ``mlflow.onnx``). Predicting: a dict
feeds the graph's inputs by name; an array feeds its only input; a DataFrame feeds its values
to a single input, or its columns to inputs of the same names. One output comes back as an
array, several as a dict of arrays keyed by output name.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from runstone.errors import InvalidInput
from runstone.models.manifest import Model, ModelInfo
from runstone.models.packaging import finish, new_package_dir, open_flavor, package_dir_of
from runstone.models.signature import ModelSignature

FLAVOR_NAME = "onnx"
DATA = "model.onnx"
DEFAULT_PROVIDERS = ["CPUExecutionProvider"]
# onnxruntime's type names for the numpy dtypes runstone feeds.
_NUMPY_OF_ORT = {
    "tensor(float)": "float32",
    "tensor(double)": "float64",
    "tensor(int64)": "int64",
    "tensor(int32)": "int32",
    "tensor(bool)": "bool",
    "tensor(string)": "object",
}


def _save(
    onnx_model: object,
    path: str | os.PathLike[str],
    manifest: Model,
    *,
    onnx_execution_providers: Sequence[str] | None = None,
    input_example: object = None,
    signature: ModelSignature | bool | None = None,
    pip_requirements: Sequence[str] | None = None,
    extra_pip_requirements: Sequence[str] | None = None,
    code_paths: Sequence[str | os.PathLike[str]] | None = None,
    metadata: Mapping[str, object] | None = None,
) -> Model:
    import onnx

    if isinstance(onnx_model, (bytes, bytearray)):
        onnx_model = onnx.load_from_string(bytes(onnx_model))
    if not isinstance(onnx_model, onnx.ModelProto):
        raise InvalidInput(f"Expected an onnx.ModelProto (or its bytes); got {type(onnx_model).__name__}.")
    try:
        onnx.checker.check_model(onnx_model)
    except onnx.checker.ValidationError as exc:
        raise InvalidInput(f"The ONNX model is not valid: {exc}") from None
    target = new_package_dir(path)
    onnx.save_model(onnx_model, str(target / DATA))
    return finish(
        target,
        manifest,
        flavor=FLAVOR_NAME,
        conf={
            "onnx_version": onnx.__version__,
            "data": DATA,
            "providers": list(onnx_execution_providers or DEFAULT_PROVIDERS),
            "onnx_session_options": None,
        },
        pyfunc={"loader_module": "mlflow.onnx", "data": DATA},
        packages=["onnx", "onnxruntime"],
        input_example=input_example,
        signature=signature,
        pip_requirements=pip_requirements,
        extra_pip_requirements=extra_pip_requirements,
        code_paths=code_paths,
        metadata=metadata,
    )


def save_model(onnx_model: Any, path: str | os.PathLike[str], **kwargs: Any) -> Model:
    """Save an onnx.ModelProto as a package in a new folder (onnx_execution_providers,
    input_example, signature, pip_requirements, extra_pip_requirements, code_paths, metadata)."""
    return _save(onnx_model, path, Model(), **kwargs)


def log_model(
    onnx_model: Any,
    name: str = "model",
    *,
    registered_model_name: str | None = None,
    artifact_path: str | None = None,
    **kwargs: Any,
) -> ModelInfo:
    """Log an ONNX model into the active run (one is started when none is)."""
    from runstone.models.runs import log_model as log

    return log(
        lambda path, manifest: _save(onnx_model, path, manifest, **kwargs),
        artifact_path or name,
        registered_model_name=registered_model_name,
    )


def load_model(model_uri: str | os.PathLike[str], dst_path: str | os.PathLike[str] | None = None) -> Any:
    """The onnx.ModelProto of a package."""
    import onnx

    path, _, conf = open_flavor(model_uri, FLAVOR_NAME, dst_path)
    return onnx.load(str(path / conf.get("data", DATA)))


class _Predictor:
    def __init__(self, file: Path, providers: Sequence[str]) -> None:
        import onnxruntime as ort

        self.model = ort.InferenceSession(str(file), providers=list(providers))
        self.inputs = self.model.get_inputs()
        self.outputs = [o.name for o in self.model.get_outputs()]

    def _cast(self, value: object, ort_type: str) -> Any:
        import numpy as np

        array = np.asarray(value.to_numpy() if hasattr(value, "to_numpy") else value)
        dtype = _NUMPY_OF_ORT.get(ort_type)
        return array.astype(dtype) if dtype and array.dtype != np.dtype(dtype) else array

    def _feed(self, data: Any) -> dict[str, object]:
        names = [i.name for i in self.inputs]
        types = {i.name: i.type for i in self.inputs}
        if isinstance(data, Mapping):
            missing = [n for n in names if n not in data]
            if missing:
                raise InvalidInput(f"The ONNX model needs inputs {missing}; got {sorted(data)}.")
            return {n: self._cast(data[n], types[n]) for n in names}
        if hasattr(data, "columns") and len(names) > 1:
            columns = {str(c): data[c] for c in data.columns}
            if not set(names) <= set(columns):
                raise InvalidInput(f"The ONNX model needs inputs {names}; the table has {sorted(columns)}.")
            return {n: self._cast(columns[n], types[n]).reshape(-1, 1) for n in names}
        if len(names) != 1:
            raise InvalidInput(f"The ONNX model has {len(names)} inputs ({', '.join(names)}); pass a dict of arrays.")
        return {names[0]: self._cast(data, types[names[0]])}

    def predict(self, data: object, params: Mapping[str, object] | None = None) -> Any:
        results = self.model.run(None, self._feed(data))
        if len(results) == 1:
            return results[0]
        return dict(zip(self.outputs, results, strict=True))


def load_pyfunc(path: Path, model: Model) -> _Predictor:
    conf = model.flavors.get(FLAVOR_NAME) or {}
    return _Predictor(path / conf.get("data", DATA), conf.get("providers") or DEFAULT_PROVIDERS)


def _load_pyfunc(data_path: str) -> _Predictor:
    """MLflow's loader entry point."""
    path = package_dir_of(data_path)
    return load_pyfunc(path, Model.load(path))
