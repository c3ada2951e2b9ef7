"""The monitoring page of a model: live version and traffic, drift per feature over time (a heat
map), reference against current distribution of any feature, quality over time, and the alert
history with links to the retraining run, the new version and the approval request."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from runstone.deps import backend, context
from runstone.entities import Window
from runstone.errors import NotFound
from runstone.governance.needs import needs
from runstone.governance.permissions import Permission
from runstone.registry.approvals import GovernedRegistry
from runstone.ui.web import PageRoute, check_csrf, render

router = APIRouter(include_in_schema=False, route_class=PageRoute, dependencies=[Depends(check_csrf)])
MAX_WINDOWS = 200


def _chart_data(windows: list[Window], profile: dict[str, Any] | None) -> dict[str, object]:
    """Compact JSON for monitoring.js: windows oldest first, per-feature PSI and verdicts."""
    ordered = sorted(windows, key=lambda w: (w.start_time, w.version))
    features = sorted({name for w in ordered for name in (w.result or {}).get("features", {})})
    latest = next((w for w in reversed(ordered) if (w.result or {}).get("features")), None)
    return {
        "windows": [{"start": w.start_time, "end": w.end_time, "version": w.version} for w in ordered],
        "features": features,
        "psi": [[((w.result or {}).get("features", {}).get(f) or {}).get("psi") for w in ordered] for f in features],
        "drifted": [
            [bool(((w.result or {}).get("features", {}).get(f) or {}).get("drifted")) for w in ordered]
            for f in features
        ],
        "quality": {
            metric: [(w.result or {}).get("quality", {}).get(metric) for w in ordered]
            for metric in sorted({m for w in ordered for m in (w.result or {}).get("quality") or {}})
        },
        "requests": [(w.result or {}).get("requests", 0) for w in ordered],
        "reference": dict((profile or {}).get("features") or {}),
        "current": dict((latest.result or {}).get("features") or {}) if latest is not None else {},
        "current_window": None if latest is None else {"start": latest.start_time, "end": latest.end_time},
    }


@router.get("/ui/models/{name}/monitoring")
@needs(Permission.READ, "model", "name")
def monitoring_page(request: Request, name: str) -> Response:
    ctx = context(request)
    registry: GovernedRegistry = backend(request).registry(ctx)
    service = backend(request).monitoring(ctx)
    model = registry.get_registered_model(name)
    windows = service.windows(name, limit=MAX_WINDOWS)
    live = model.aliases.get("champion") or (max(model.aliases.values(), key=int) if model.aliases else None)
    versions = sorted({w.version for w in windows}, reverse=True)
    shown = int(live) if live is not None else (versions[0] if versions else None)
    profile = None
    if shown is not None:
        try:
            profile = service.get_profile(name, shown).profile
        except NotFound:
            profile = None
    alerts = service.alerts(name)
    latest = windows[0] if windows else None
    return render(
        request,
        "monitoring.html",
        {
            "model": model,
            "live": live,
            "shown": shown,
            "latest": latest,
            "alerts": alerts,
            "rules": service.list_rules(name),
            "has_profile": profile is not None,
            "chart": _chart_data([w for w in windows if w.version == shown] if shown is not None else windows, profile),
        },
    )
