"""A faster call for plain scikit-learn estimators on checked numeric input.

Given a DataFrame, scikit-learn spends most of a single-row ``predict`` validating the frame
(dtypes, column names, conversion to an array): about four fifths of the time here. A scoring
server has already checked each request against the signature, so for a plain estimator
(no pipeline or other nested estimators, which may select columns by name) whose feature names
are the signature's columns in order, and columns of number types only, the array of those
columns is exactly what scikit-learn would have built from the frame: the model is called on
it directly. Anything else goes through the package's own ``predict``.

scikit-learn warns when an estimator fitted with feature names gets an array; the scoring
server ignores that one warning in its process, and batch scoring around its calls, since the
names were checked once, when the model loaded.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

from runstone.models.pyfunc_model import PyFuncModel

_SKLEARN_LOADERS = ("mlflow.sklearn", "runstone.sklearn")
_NUMBER_TYPES = frozenset(("integer", "long", "float", "double"))
FEATURE_NAMES_WARNING = "X does not have valid feature names"


def _nested(estimator: Any) -> bool:
    try:
        from sklearn.base import BaseEstimator

        params = estimator.get_params(deep=False)
    except Exception:
        return True
    for value in params.values():
        if isinstance(value, BaseEstimator):
            return True
        if isinstance(value, (list, tuple)) and any(isinstance(i, (BaseEstimator, tuple)) for i in value):
            return True  # steps, transformers, estimators
    return False


def array_predictor(model: PyFuncModel) -> Callable[[Any], Any] | None:
    """``predict`` taking a 2-D array of the signature's columns, or None when it does not apply."""
    if model.loader_module not in _SKLEARN_LOADERS:
        return None
    schema = model.metadata.get_input_schema()
    if schema is None or schema.is_tensor or not schema.has_names or model.metadata.get_params_schema() is not None:
        return None
    if any(getattr(s, "type", None) not in _NUMBER_TYPES or getattr(s, "raw", None) is not None for s in schema.specs):
        return None
    estimator = model.get_raw_model()
    if not type(estimator).__module__.startswith("sklearn.") or _nested(estimator):
        return None
    names = getattr(estimator, "feature_names_in_", None)
    if names is not None and [str(n) for n in names] != schema.names():
        return None
    if getattr(estimator, "n_features_in_", len(schema.specs)) != len(schema.specs):
        return None
    method = (model.metadata.pyfunc_conf or {}).get("predict_fn", "predict")
    function = getattr(estimator, method, None)
    if function is None:
        return None
    return function


def quiet_feature_names() -> None:
    """Ignore scikit-learn's feature-name warning in this process (a scoring server's own)."""
    warnings.filterwarnings("ignore", message=FEATURE_NAMES_WARNING, category=UserWarning)
