"""Groups and permissions over HTTP: the same commands as runstone.governance.permissions.PermissionService."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from runstone.sdk.remote import Transport


class HttpAccess:
    def __init__(self, transport: Transport) -> None:
        self.t = transport

    def create_group(self, name: str) -> None:
        self.t.request("POST", "/api/v1/groups", json={"name": name})

    def delete_group(self, name: str) -> None:
        self.t.request("DELETE", f"/api/v1/groups/{name}")

    def add_member(self, group: str, user: str) -> None:
        self.t.request("PUT", f"/api/v1/groups/{group}/members/{user}", idempotent=True)

    def remove_member(self, group: str, user: str) -> None:
        self.t.request("DELETE", f"/api/v1/groups/{group}/members/{user}")

    def groups(self) -> dict[str, list[str]]:
        return {g["name"]: g["members"] for g in self.t.json("GET", "/api/v1/groups")["groups"]}

    def grant(
        self, resource_type: str, resource_id: str, principal_type: str, principal_name: str, permission: str
    ) -> None:
        body = _grant(resource_type, resource_id, principal_type, principal_name, permission)
        self.t.request("POST", "/api/v1/permissions/grant", json=body, idempotent=True)

    def revoke(
        self,
        resource_type: str,
        resource_id: str,
        principal_type: str,
        principal_name: str,
        permission: str | None = None,
    ) -> int:
        body = _grant(resource_type, resource_id, principal_type, principal_name, permission)
        return int(self.t.json("POST", "/api/v1/permissions/revoke", json=body, idempotent=True)["revoked"])

    def grants(self, **filters: str | None) -> list[tuple[str, str, str, str, str]]:
        params = {("principal" if k == "principal_name" else k): v for k, v in filters.items() if v is not None}
        found = self.t.json("GET", "/api/v1/permissions", params=params)["permissions"]
        keys = ("resource_type", "resource_id", "principal_type", "principal", "permission")
        return [tuple(g[k] for k in keys) for g in found]

    def set_prefix_grant(self, resource_type: str, prefix: str, group: str, permission: str) -> None:
        body = {"resource_type": resource_type, "prefix": prefix, "group": group, "permission": permission}
        self.t.request("PUT", "/api/v1/prefix-grants", json=body, idempotent=True)

    def delete_prefix_grant(self, resource_type: str, prefix: str, group: str) -> int:
        body = {"resource_type": resource_type, "prefix": prefix, "group": group}
        return int(self.t.json("POST", "/api/v1/prefix-grants/delete", json=body, idempotent=True)["deleted"])

    def prefix_grants(self) -> list[tuple[str, str, str, str]]:
        found = self.t.json("GET", "/api/v1/prefix-grants")["prefix_grants"]
        return [(g["resource_type"], g["prefix"], g["group"], g["permission"]) for g in found]


def _grant(
    resource_type: str, resource_id: str, principal_type: str, principal: str, permission: str | None
) -> dict[str, object]:
    return {
        "resource_type": resource_type,
        "resource_id": resource_id,
        "principal_type": principal_type,
        "principal": principal,
        "permission": permission,
    }
