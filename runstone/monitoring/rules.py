"""Alert rules: a condition on a window's results, how many windows in a row it must hold, a
cooldown, and actions.

In YAML (``runstone monitor rules add fraud rules.yaml``) or as JSON through the API:

    - name: feature-drift
      metric: psi            # a feature's statistic ...
      feature: "*"           # ... of any feature ("*") or of one named feature
      op: ">"
      threshold: 0.2
      consecutive: 2         # windows in a row (default 1)
      cooldown: 1h           # quiet time after an alert (default 1h; 0 for none)
      actions:
        - type: webhook      # a signed "monitoring.alert" delivery to the registry's webhooks
        - type: log          # a warning line in the evaluating process's log
        - type: retrain      # run a project, register, evaluate, open an approval request
          project: ./train
          entry_point: main
          data_param: data   # the parameter that names the recent data file
          holdout: holdout.csv
          target: label
          alias: champion    # the request moves this alias; opened only when the policy protects
                             # it (else the request would apply at once), or with promote: true
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from runstone.errors import InvalidInput
from runstone.monitoring.windows import parse_duration

FEATURE_METRICS = (
    "psi", "ks_statistic", "ks_pvalue", "wasserstein", "wasserstein_norm", "chi2_pvalue", "js_distance",
    "missing", "out_of_range", "drifted",
)  # fmt: skip
MODEL_METRICS = (
    "accuracy", "f1", "roc_auc", "mae", "rmse", "requests", "rows", "error_rate", "latency_p50", "latency_p95", "drifted_features",
    "prediction_psi", "prediction_js_distance", "prediction_drifted",
)  # fmt: skip
OPS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le,
}  # fmt: skip
ACTIONS = ("webhook", "log", "retrain")
DEFAULT_COOLDOWN = "1h"
_NAME = re.compile(r"^[\w.\- ]{1,256}$")
_RETRAIN_KEYS = {"type", "project", "entry_point", "params", "data_param", "holdout", "target", "alias", "model_path",
                 "experiment", "promote"}  # fmt: skip


def check_rule(spec: object, features: Sequence[str] | None) -> dict[str, Any]:
    """A rule spec, checked and with defaults filled; ``features`` are the model's inputs (None:
    unknown, then feature names are not checked)."""
    if not isinstance(spec, Mapping):
        raise InvalidInput("A monitoring rule is an object with name, metric, op and threshold.")
    unknown_keys = set(spec) - {"name", "metric", "feature", "op", "threshold", "consecutive", "cooldown", "actions"}
    if unknown_keys:
        raise InvalidInput(f"Unknown monitoring rule fields {sorted(unknown_keys)}.")
    name = spec.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidInput("A monitoring rule needs a name of 1-256 letters, digits, spaces or . - _ characters.")
    metric = spec.get("metric")
    feature = spec.get("feature")
    if metric in FEATURE_METRICS:
        if not isinstance(feature, str) or not feature:
            raise InvalidInput(f"Rule {name!r}: metric {metric!r} is a feature's; name a feature or '*' for any.")
        if feature != "*" and features is not None and feature not in features:
            raise InvalidInput(
                f"Rule {name!r} names the feature {feature!r}, which the model does not have; its features are "
                f"{', '.join(features)}."
            )
    elif metric in MODEL_METRICS:
        if feature is not None:
            raise InvalidInput(f"Rule {name!r}: metric {metric!r} is the model's, not a feature's; drop 'feature'.")
    else:
        raise InvalidInput(
            f"Rule {name!r}: unknown metric {metric!r}; feature metrics are {', '.join(FEATURE_METRICS)}; "
            f"model metrics are {', '.join(MODEL_METRICS)}."
        )
    op = spec.get("op", ">")
    if op not in OPS:
        raise InvalidInput(f"Rule {name!r}: op must be one of {', '.join(OPS)}; got {op!r}.")
    threshold = spec.get("threshold", 0 if metric in ("drifted", "prediction_drifted") else None)
    if not isinstance(threshold, int | float) or isinstance(threshold, bool):
        raise InvalidInput(f"Rule {name!r}: threshold must be a number.")
    consecutive = spec.get("consecutive", 1)
    if not isinstance(consecutive, int) or isinstance(consecutive, bool) or not 1 <= consecutive <= 100:
        raise InvalidInput(f"Rule {name!r}: consecutive must be a whole number of windows from 1 to 100.")
    cooldown = spec.get("cooldown", DEFAULT_COOLDOWN)
    if cooldown != 0:  # 0: an alert for every window that meets the condition
        parse_duration(cooldown)
    actions = spec.get("actions", [{"type": "log"}])
    if not isinstance(actions, list) or not actions:
        raise InvalidInput(f"Rule {name!r}: actions must be a non-empty list.")
    for action in actions:
        if not isinstance(action, Mapping) or action.get("type") not in ACTIONS:
            raise InvalidInput(f"Rule {name!r}: each action is an object whose type is one of {', '.join(ACTIONS)}.")
        if action["type"] == "retrain":
            extra = set(action) - _RETRAIN_KEYS
            if extra:
                raise InvalidInput(f"Rule {name!r}: unknown retrain action fields {sorted(extra)}.")
            if not isinstance(action.get("project"), str) or not action["project"]:
                raise InvalidInput(f"Rule {name!r}: a retrain action names the project to run ('project').")
            if not isinstance(action.get("params", {}), Mapping):
                raise InvalidInput(f"Rule {name!r}: a retrain action's params are an object.")
    return {
        "name": name, "metric": metric, "feature": feature, "op": op, "threshold": float(threshold),
        "consecutive": consecutive, "cooldown": cooldown, "actions": [dict(a) for a in actions],
    }  # fmt: skip


def load_rules(text: str) -> list[dict[str, Any]]:
    """Rules from YAML: a list of rules, or one rule."""
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InvalidInput(f"The rules file is not valid YAML: {exc}") from None
    if isinstance(data, Mapping) and "rules" in data:
        data = data["rules"]
    if isinstance(data, Mapping):
        data = [data]
    if not isinstance(data, list) or not data:
        raise InvalidInput("A rules file holds a list of rules (or one rule).")
    return [dict(r) if isinstance(r, Mapping) else r for r in data]


def observed(rule: Mapping[str, Any], result: Mapping[str, Any]) -> dict[str, float]:
    """The values the rule looks at in a window's result, by feature ("" for model metrics)."""
    metric = rule["metric"]
    if metric in FEATURE_METRICS:
        features: Mapping[str, Any] = result.get("features") or {}
        names = list(features) if rule["feature"] == "*" else [rule["feature"]]
        values = {}
        for name in names:
            value = (features.get(name) or {}).get(metric)
            if value is not None:
                values[name] = float(value)
        return values
    if metric == "drifted_features":
        return {"": float(len(result.get("drifted") or []))} if "features" in result else {}
    if metric.startswith("prediction_"):
        value = (result.get("prediction") or {}).get(metric.removeprefix("prediction_"))
    elif metric in ("accuracy", "f1", "roc_auc", "mae", "rmse"):
        value = (result.get("quality") or {}).get(metric)
    else:
        value = result.get(metric)
    return {} if value is None else {"": float(value)}


def matches(rule: Mapping[str, Any], result: Mapping[str, Any]) -> dict[str, float]:
    """The observed values that meet the rule's condition (empty: the condition does not hold)."""
    test = OPS[rule["op"]]
    return {k: v for k, v in observed(rule, result).items() if test(v, rule["threshold"])}


def describe(rule: Mapping[str, Any], hits: Mapping[str, float]) -> str:
    where = ", ".join(f"{k}={v:.4g}" if k else f"{v:.4g}" for k, v in sorted(hits.items()))
    subject = f"{rule['metric']} of {rule['feature']}" if rule.get("feature") else rule["metric"]
    runs = f" for {rule['consecutive']} consecutive windows" if rule["consecutive"] > 1 else ""
    return f"{rule['name']}: {subject} {rule['op']} {rule['threshold']:g}{runs} ({where})"
