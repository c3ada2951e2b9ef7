"""Monitoring from Python: profiles, prediction logs, late labels, windows, rules and alerts.

    import runstone.monitoring
    runstone.monitoring.log_labels(["3f2a...", "9b1c..."], [1, 0])

Each function talks to the server named by ``tracking_uri`` / RUNSTONE_TRACKING_URI, or to the
embedded store: ``HttpMonitoring`` and ``LocalMonitoring`` (``sdk/local.py``) both implement
``MonitoringBackend`` (``sdk/protocols.py``), so callers use either the same way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from runstone.entities import Alert, Rule, StoredProfile, Window
from runstone.schemas.monitoring import AlertPublic, ProfilePublic, RulePublic, WindowPublic

if TYPE_CHECKING:
    from runstone.sdk.client import RunstoneClient
    from runstone.sdk.protocols import MonitoringBackend
    from runstone.sdk.remote import Transport


def _profile(d: Mapping[str, object]) -> StoredProfile:
    return ProfilePublic.model_validate(d).to_entity()


def _window(d: Mapping[str, object]) -> Window:
    return WindowPublic.model_validate(d).to_entity()


def _alert(d: Mapping[str, object]) -> Alert:
    return AlertPublic.model_validate(d).to_entity()


class HttpMonitoring:
    def __init__(self, transport: Transport) -> None:
        self.t = transport

    @staticmethod
    def _v(name: str, ref: str | int) -> str:
        return f"/api/v1/monitoring/models/{quote(name, safe='')}/versions/{quote(str(ref), safe='')}"

    @staticmethod
    def _m(name: str) -> str:
        return f"/api/v1/monitoring/models/{quote(name, safe='')}"

    def set_profile(
        self, name: str, ref: str | int, profile: object, *, source: str = "", dataset_digest: str | None = None
    ) -> StoredProfile:
        body = {"profile": profile, "source": source, "dataset_digest": dataset_digest}
        return _profile(self.t.json("PUT", self._v(name, ref) + "/profile", json=body, idempotent=True)["profile"])

    def get_profile(self, name: str, ref: str | int) -> StoredProfile:
        return _profile(self.t.json("GET", self._v(name, ref) + "/profile")["profile"])

    def training_dataset(self, name: str, ref: str | int) -> dict[str, object]:
        return dict(self.t.json("GET", self._v(name, ref) + "/dataset"))

    def ingest(self, name: str, ref: str | int, data: bytes) -> dict[str, int]:
        # Idempotent: requests already logged are skipped, so a retried upload changes nothing.
        headers = {"Content-Type": "application/vnd.apache.parquet"}
        return dict(self.t.json("POST", self._v(name, ref) + "/logs", content=data, headers=headers, idempotent=True))

    def export(self, name: str, ref: str | int, start: int, end: int) -> bytes:
        return self.t.request("GET", self._v(name, ref) + "/logs", params={"start": start, "end": end}).content

    def log_labels(
        self, request_ids: Sequence[str], labels: Sequence[object], *, model: str | None = None
    ) -> dict[str, int]:
        body = {"request_ids": list(request_ids), "labels": list(labels), "model": model}
        return dict(self.t.json("POST", "/api/v1/monitoring/labels", json=body, idempotent=True))

    def compute(self, name: str, ref: str | int, start: int, end: int) -> dict[str, object]:
        params = {"start": start, "end": end}
        return dict(self.t.json("GET", self._v(name, ref) + "/compute", params=params)["window"])

    def windows(self, name: str, ref: str | int | None = None, limit: int = 500) -> list[Window]:
        params: dict[str, object] = {"limit": limit, **({"version": str(ref)} if ref is not None else {})}
        return [_window(w) for w in self.t.json("GET", self._m(name) + "/windows", params=params)["windows"]]

    def create_rule(self, name: str, spec: object) -> Rule:
        return RulePublic.model_validate(self.t.json("POST", self._m(name) + "/rules", json=spec)["rule"]).to_entity()

    def list_rules(self, name: str) -> list[Rule]:
        return [RulePublic.model_validate(r).to_entity() for r in self.t.json("GET", self._m(name) + "/rules")["rules"]]

    def delete_rule(self, name: str, rule: str) -> None:
        self.t.request("DELETE", self._m(name) + f"/rules/{quote(rule, safe='')}", idempotent=True)

    def alerts(self, name: str | None = None, limit: int = 200) -> list[Alert]:
        params: dict[str, object] = {"limit": limit, **({"model": name} if name else {})}
        return [_alert(a) for a in self.t.json("GET", "/api/v1/monitoring/alerts", params=params)["alerts"]]

    def get_alert(self, alert_id: int) -> Alert:
        return _alert(self.t.json("GET", f"/api/v1/monitoring/alerts/{int(alert_id)}")["alert"])

    def evaluate(self, window: str = "1h") -> int:
        return int(self.t.json("POST", "/api/v1/monitoring/evaluate", json={"window": window})["windows"])

    def claim_retraining(self) -> tuple[Alert, dict[str, object]] | None:
        body = self.t.json("POST", "/api/v1/monitoring/retraining/claim")
        return None if body["alert"] is None else (_alert(body["alert"]), dict(body["action"]))

    def record_retraining(self, alert_id: int, *, status: str, **links: object) -> Alert:
        body = {"status": status, **links}
        path = f"/api/v1/monitoring/alerts/{int(alert_id)}/retraining"
        return _alert(self.t.json("POST", path, json=body, idempotent=True)["alert"])


def monitoring_client(tracking_uri: str | None = None, *, client: RunstoneClient | None = None) -> MonitoringBackend:
    """HttpMonitoring for a server, or the embedded MonitoringService behind LocalMonitoring."""
    from runstone.sdk.client import RunstoneClient, _local_backend

    client = client or RunstoneClient(tracking_uri)
    if client._http is not None:
        return HttpMonitoring(client._http.t)
    from runstone.governance.context import Principal
    from runstone.sdk.local import LocalMonitoring

    backend = _local_backend(tracking_uri or client.settings.tracking_uri, client.settings)
    return LocalMonitoring(backend.monitoring(backend.context(Principal(client.user))))


def log_labels(
    request_ids: Sequence[str], labels: Sequence[object], *, model: str | None = None, tracking_uri: str | None = None
) -> dict[str, int]:
    """Join true labels to logged rows (all or nothing). Each id is a row key,
    ``<request id>:<row>`` (the row's position in its request, from 0), or the bare request id of
    a request that scored one row."""
    return dict(monitoring_client(tracking_uri).log_labels(list(request_ids), list(labels), model=model))


def get_profile(model: str, version: str | int, *, tracking_uri: str | None = None) -> StoredProfile:
    """The reference profile of a model version (a number or an alias)."""
    return monitoring_client(tracking_uri).get_profile(model, version)


def set_profile(model: str, version: str | int, data: Any, *, outputs: Any = None, source: str = "",
                dataset_digest: str | None = None, tracking_uri: str | None = None) -> StoredProfile:  # fmt: skip
    """Profile a pandas DataFrame (and the model's outputs on it) as the version's reference."""
    from runstone.monitoring.profile import build_profile

    profile = build_profile(data, outputs=outputs)
    return monitoring_client(tracking_uri).set_profile(
        model, version, profile, source=source, dataset_digest=dataset_digest
    )


def get_windows(model: str, version: str | int | None = None, *, tracking_uri: str | None = None) -> list[Window]:
    """Evaluated windows of a model (of one version), newest first."""
    return monitoring_client(tracking_uri).windows(model, version)


def create_rule(model: str, rule: Mapping[str, object], *, tracking_uri: str | None = None) -> Rule:
    """Add an alert rule (see runstone.monitoring.rules for the fields)."""
    return monitoring_client(tracking_uri).create_rule(model, dict(rule))


def get_alerts(model: str | None = None, *, tracking_uri: str | None = None) -> list[Alert]:
    """Alerts, newest first, with the links of their retraining."""
    return monitoring_client(tracking_uri).alerts(model)
