"""Production monitoring: reference profiles, prediction logs, drift, quality with late labels,
alert rules and retraining.

The functions below are the SDK (they talk to the configured server or embedded store):

    import runstone.monitoring
    runstone.monitoring.log_labels(request_ids, labels)
"""

from __future__ import annotations

from typing import Any

__all__ = ["create_rule", "get_alerts", "get_profile", "get_windows", "log_labels", "set_profile"]


def __getattr__(name: str) -> Any:
    # The SDK loads on first use: the server imports the domain modules without it.
    if name in __all__:
        from runstone.sdk import monitoring

        return getattr(monitoring, name)
    raise AttributeError(name)
