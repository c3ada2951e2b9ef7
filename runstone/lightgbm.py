"""LightGBM models: ``save_model``, ``log_model``, ``load_model`` and ``autolog``."""

from runstone.models.autolog.lightgbm import autolog
from runstone.models.flavors.lightgbm import FLAVOR_NAME, _load_pyfunc, load_model, log_model, save_model

__all__ = ["FLAVOR_NAME", "_load_pyfunc", "autolog", "load_model", "log_model", "save_model"]
