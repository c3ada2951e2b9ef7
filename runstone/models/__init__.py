"""Model packaging: MLmodel manifests, signatures, input examples, pinned environments, model
URIs and loading any package as a generic model.

    model = runstone.models.load_model("runs:/<run_id>/model")
    model.predict(frame)

Flavors (how each library's models are saved) are ``runstone.sklearn``, ``runstone.xgboost``,
``runstone.lightgbm``, ``runstone.pytorch``, ``runstone.onnx``, ``runstone.keras``,
``runstone.tensorflow`` and ``runstone.pyfunc``.
Nothing here imports numpy, pandas or a model library until it is used.
"""

from __future__ import annotations

from runstone.models.manifest import Model, ModelInfo
from runstone.models.pyfunc_model import PyFuncModel, load_model
from runstone.models.signature import (
    ColSpec,
    ModelSignature,
    ParamSchema,
    ParamSpec,
    Schema,
    TensorSpec,
    infer_signature,
)
from runstone.models.uri import local_path as download_model

__all__ = [
    "ColSpec",
    "Model",
    "ModelInfo",
    "ModelSignature",
    "ParamSchema",
    "ParamSpec",
    "PyFuncModel",
    "Schema",
    "TensorSpec",
    "download_model",
    "infer_signature",
    "load_model",
]
