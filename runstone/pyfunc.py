"""Generic models: ``load_model`` returns any package as a PyFuncModel, and custom Python models
(``PythonModel`` subclasses) are saved and logged here."""

from runstone.models.flavors.pyfunc import (
    FLAVOR_NAME,
    PyFuncModel,
    PythonModel,
    PythonModelContext,
    _load_pyfunc,
    load_model,
    log_model,
    save_model,
)

__all__ = [
    "FLAVOR_NAME",
    "PyFuncModel",
    "PythonModel",
    "PythonModelContext",
    "_load_pyfunc",
    "load_model",
    "log_model",
    "save_model",
]
