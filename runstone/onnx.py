"""ONNX models (run with onnxruntime): ``save_model``, ``log_model`` and ``load_model``."""

from runstone.models.flavors.onnx import FLAVOR_NAME, _load_pyfunc, load_model, log_model, save_model

__all__ = ["FLAVOR_NAME", "_load_pyfunc", "load_model", "log_model", "save_model"]
