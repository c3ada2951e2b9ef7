"""Quality of predictions against late labels: accuracy, F1 and ROC AUC for classifiers, MAE and
RMSE for regressors (numpy only)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

CLASSIFICATION = ("accuracy", "f1", "roc_auc")
REGRESSION = ("mae", "rmse")
# Higher is better for these; lower for the others.
HIGHER_IS_BETTER = {"accuracy", "f1", "roc_auc"}


def _label(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def classification(predictions: Sequence[object], labels: Sequence[object]) -> dict[str, float]:
    import numpy as np

    pred = np.array([_label(p) for p in predictions])
    true = np.array([_label(t) for t in labels])
    result = {"accuracy": float(np.mean(pred == true))}
    classes = sorted(set(true.tolist()) | set(pred.tolist()))
    f1s = []
    for c in classes:
        tp = float(np.sum((pred == c) & (true == c)))
        fp = float(np.sum((pred == c) & (true != c)))
        fn = float(np.sum((pred != c) & (true == c)))
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0)
    # Binary labels 0/1: the F1 of the positive class, as scikit-learn's default; else macro.
    result["f1"] = f1s[classes.index("1")] if set(classes) <= {"0", "1"} and "1" in classes else float(np.mean(f1s))
    return result


def roc_auc(scores: Sequence[float], labels: Sequence[object]) -> float | None:
    """Area under the ROC curve of scores for the positive label 1 (None without both classes)."""
    import numpy as np
    from scipy.stats import rankdata

    true = np.array([_label(t) == "1" for t in labels])
    positives, negatives = int(true.sum()), int((~true).sum())
    if not positives or not negatives:
        return None
    ranks = rankdata(np.asarray(scores, dtype=np.float64))
    return float((ranks[true].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def regression(predictions: Sequence[object], labels: Sequence[object]) -> dict[str, float]:
    import numpy as np

    pred = np.asarray(predictions, dtype=np.float64)
    true = np.asarray(labels, dtype=np.float64)
    errors = pred - true
    return {"mae": float(np.mean(np.abs(errors))), "rmse": float(np.sqrt(np.mean(errors**2)))}


def quality(task: str, predictions: Sequence[Any], labels: Sequence[Any]) -> dict[str, float]:
    if not len(predictions):
        return {}
    if task == "classification":
        if _are_scores(predictions):  # probabilities of the positive class: threshold at 0.5
            result = classification([int(float(p) >= 0.5) for p in predictions], labels)
            auc = roc_auc([float(p) for p in predictions], labels)
            return {**result, "roc_auc": auc} if auc is not None else result
        return classification(predictions, labels)
    return regression(predictions, labels)


def _are_scores(predictions: Sequence[object]) -> bool:
    numbers = [p for p in predictions if isinstance(p, int | float) and not isinstance(p, bool)]
    return (
        len(numbers) == len(predictions)
        and all(0.0 <= float(p) <= 1.0 for p in numbers)
        and any(not float(p).is_integer() for p in numbers)
    )
