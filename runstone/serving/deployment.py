"""Deployment records kept by a scoring server (``runstone models serve --deployment-name``).

The server records on the tracking server which registered version each of its routes serves:
one record named ``<name>`` for plain serving, ``<name>/primary`` and ``<name>/challenger`` for
a canary (a shadow answers nobody and is not recorded). When ``--follow`` switches a route to
another version its record is renewed (recording a name again ends its previous record), and
the records are ended when the server stops, so ``runstone deployments list`` says which
version answers where. The registry is reached through the tracking client's deployment calls.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from runstone.errors import InvalidInput
from runstone.models.uri import is_registered, parse_models_uri, resolve_registered

log = logging.getLogger("runstone.serving")

ROLES = ("primary", "challenger")


def description(uri: str, weight: float) -> str:
    return f"runstone models serve {uri} (weight {weight:g})"


@dataclass(frozen=True)
class DeploymentRecords:
    name: str
    target: str  # where the server answers

    @classmethod
    def for_server(cls, name: str, host: str, port: int) -> DeploymentRecords:
        return cls(name, f"http://{host}:{port}")

    def label(self, role: str, routes: int) -> str:
        return self.name if routes == 1 else f"{self.name}/{role}"

    def record_start(self, client: Any, routes: Sequence[tuple[str, float]]) -> None:
        """Record the version each route (model URI, weight) resolves to now."""
        for uri, _ in routes:
            if not is_registered(uri):
                raise InvalidInput(
                    f"--deployment-name records registered models; {uri!r} is not a registered model version "
                    "(models:/<name>/<version>, models:/<name>@<alias> ...)."
                )
        for role, (uri, weight) in zip(ROLES, routes, strict=False):
            ref = parse_models_uri(uri)
            version = resolve_registered(ref, client).version
            client.record_deployment(
                self.label(role, len(routes)),
                ref.name,
                version,
                target=self.target,
                description=description(uri, weight),
            )

    def switched(self, client: Any, role: str, routes: int, model: str, version: str, text: str) -> None:
        """Renew a route's record after it switched to ``version``. Each worker process that
        switches calls this: the first records, the others find the record up to date. Never
        raises: the switch has happened whether or not the record could be written."""
        label = self.label(role, routes)
        try:
            active = client.list_deployments(name=label, active_only=True)
            if any(str(d.version) == version and d.target == self.target for d in active):
                return
            client.record_deployment(label, model, version, target=self.target, description=text)
        except Exception as exc:
            log.warning("deployment record %s could not be moved to version %s: %s", label, version, exc)

    def end(self, client: Any, routes: int) -> list[str]:
        """End this server's active records; returns the ones that could not be ended, with why."""
        problems = []
        for role in ROLES[:routes]:
            label = self.label(role, routes)
            try:
                for record in client.list_deployments(name=label, active_only=True):
                    if record.target == self.target:
                        client.end_deployment(record.id)
            except Exception as exc:
                problems.append(f"{label}: {exc}")
        return problems
