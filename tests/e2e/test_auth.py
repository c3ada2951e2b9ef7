"""A real ``runstone server --auth``: every route wants a credential, the stock mlflow client
signs in with basic auth or a token, the SDK with a token, and the identity recorded is the one
the credential proved, whatever X-Runstone-User says. On SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from e2e_support import Server, Servers, child_env, run_cli, run_python

from runstone.backend import open_backend
from runstone.config import Settings
from runstone.governance.audit import AuditService
from runstone.governance.context import Principal
from runstone.governance.identity import IdentityService
from runstone.governance.permissions import PermissionService

pytestmark = pytest.mark.e2e

ADMIN_PASSWORD = "admin password for the test"

MLFLOW_SCRIPT = textwrap.dedent(
    """
    import mlflow

    mlflow.set_experiment("from-mlflow")
    with mlflow.start_run() as run:
        mlflow.log_param("alpha", "0.5")
        mlflow.log_metric("rmse", 0.25)
    print(run.info.run_id)
    """
)

SDK_SCRIPT = textwrap.dedent(
    """
    import runstone

    runstone.set_experiment("from-sdk")
    with runstone.start_run() as run:
        runstone.log_metric("loss", 0.5)
    print(run.info.run_id)
    """
)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_args(request: pytest.FixtureRequest) -> list[str]:
    if request.param == "sqlite":
        return []
    return ["--backend-store-uri", request.getfixturevalue("pg_schema_url")]


def _settings(server: Server, store_args: list[str]) -> Settings:
    extra = {"backend_store_uri": store_args[1]} if store_args else {}
    return Settings(home=server.home, **extra)


@contextmanager
def _identity(server: Server, store_args: list[str]) -> Iterator[IdentityService]:
    backend = open_backend(_settings(server, store_args))
    try:
        yield IdentityService(backend.context(Principal("test-setup")))
    finally:
        backend.close()


@contextmanager
def _permissions(server: Server, store_args: list[str]) -> Iterator[PermissionService]:
    backend = open_backend(_settings(server, store_args))
    try:
        yield PermissionService(backend.context(Principal("test-setup")))
    finally:
        backend.close()


def _basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def _mlflow(script: Path, url: str, env: dict[str, str]) -> str:
    clean = {k: v for k, v in child_env().items() if not k.startswith("MLFLOW_")}
    clean.update(MLFLOW_TRACKING_URI=url, MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true", **env)
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, env=clean, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-5000:]
    return done.stdout.strip().splitlines()[-1]


def test_every_route_wants_a_credential_and_the_header_name_counts_for_nothing(servers: Servers, store_args):
    server = servers.start("--auth", *store_args, env={"RUNSTONE_ADMIN_PASSWORD": ADMIN_PASSWORD})
    with httpx.Client(base_url=server.url, timeout=30) as http:
        assert http.get("/health").status_code == 200  # the liveness probe stays open
        for path in ("/api/v1/experiments", "/api/2.0/mlflow/experiments/search?max_results=10",
                     "/ajax-api/2.0/mlflow/experiments/search?max_results=10", "/docs", "/openapi.json",
                     "/api/2.0/mlflow-artifacts/artifacts"):  # fmt: skip
            answer = http.get(path, headers={"X-Runstone-User": "admin"})
            assert answer.status_code == 401, path
            assert answer.headers["www-authenticate"].startswith('Basic realm="runstone"'), path
        # A UI page sends a browser to the sign-in page instead, and back after.
        page = http.get("/ui/experiments/0?tab=runs", headers={"X-Runstone-User": "admin"})
        assert page.status_code == 303
        assert page.headers["location"] == "/ui/login?next=%2Fui%2Fexperiments%2F0%3Ftab%3Druns"
        refused = http.post("/api/v1/experiments", json={"name": "sneaky"}, headers={"X-Runstone-User": "admin"})
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "unauthenticated"
        wrong = http.get("/api/v1/experiments", headers=_basic("admin", "not the password"))
        assert wrong.status_code == 401
        mlflow_wrong = http.get(
            "/api/2.0/mlflow/experiments/search?max_results=5", headers={"Authorization": "Bearer x"}
        )
        assert mlflow_wrong.status_code == 401 and mlflow_wrong.json()["error_code"] == "UNAUTHENTICATED"

        admin = _basic("admin", ADMIN_PASSWORD)
        made = http.post("/api/v1/experiments", json={"name": "real"}, headers={**admin, "X-Runstone-User": "mallory"})
        assert made.status_code in (200, 201), made.text
        assert http.get("/ui/", headers=admin).status_code == 200
        assert "Signed in as" in http.get("/ui/", headers=admin).text
    backend = open_backend(_settings(server, store_args))
    try:
        events = AuditService(backend.db).events()
    finally:
        backend.close()
    created = [e for e in events if e.action == "experiment.create"]
    assert [e.actor for e in created] == ["admin"]  # not mallory, whatever the header said
    assert any(e.action == "login.failed" for e in events)
    assert "sneaky" not in repr(events)


def test_the_first_start_prints_a_made_up_admin_password_once(servers: Servers, store_args):
    server = servers.start("--auth", *store_args)
    line = next(li for li in server.log().splitlines() if "Created the admin user" in li)
    password = line.rsplit(" ", 1)[1]
    with httpx.Client(base_url=server.url, timeout=30) as http:
        assert http.get("/api/v1/experiments", headers=_basic("admin", password)).status_code == 200
    server.stop()
    again = servers.start("--auth", *store_args, home=server.home)
    assert "Created the admin user" not in again.log()


def test_mlflow_client_with_basic_auth_and_with_a_token_and_the_sdk_with_a_token(
    servers: Servers, store_args, tmp_path: Path
):
    server = servers.start("--auth", *store_args, env={"RUNSTONE_ADMIN_PASSWORD": ADMIN_PASSWORD})
    with _identity(server, store_args) as identity:
        identity.create_user("alice", password="alice's long password")
        identity.create_user("ci", kind="service")
        token = identity.create_token("ci", "pipeline").secret
    with _permissions(server, store_args) as permissions:
        # One team: both see and write the experiments the other makes under the team's prefix.
        permissions.create_group("ml")
        permissions.add_member("ml", "alice")
        permissions.add_member("ml", "ci")
        permissions.set_prefix_grant("experiment", "from-", "ml", "EDIT")
    script = tmp_path / "train_mlflow.py"
    script.write_text(MLFLOW_SCRIPT)

    by_password = _mlflow(
        script, server.url, {"MLFLOW_TRACKING_USERNAME": "alice", "MLFLOW_TRACKING_PASSWORD": "alice's long password"}
    )
    by_token = _mlflow(script, server.url, {"MLFLOW_TRACKING_TOKEN": token})
    with pytest.raises(AssertionError, match=r"401|UNAUTHENTICATED|credential"):
        _mlflow(script, server.url, {"MLFLOW_TRACKING_USERNAME": "alice", "MLFLOW_TRACKING_PASSWORD": "wrong!"})

    sdk = tmp_path / "train_sdk.py"
    sdk.write_text(SDK_SCRIPT)
    done = run_python(sdk, env={"RUNSTONE_TRACKING_URI": server.url, "RUNSTONE_TRACKING_TOKEN": token,
                                "RUNSTONE_USER": "somebody-else"})  # fmt: skip
    assert done.returncode == 0, done.stderr[-5000:]
    by_sdk = done.stdout.strip().splitlines()[-1]

    with httpx.Client(base_url=server.url, timeout=30, headers={"Authorization": f"Bearer {token}"}) as http:
        users = {}
        for run_id in (by_password, by_token, by_sdk):
            run = http.get("/api/2.0/mlflow/runs/get", params={"run_id": run_id}).json()["run"]
            users[run_id] = run["info"]["user_id"]
    assert users == {by_password: "alice", by_token: "ci", by_sdk: "ci"}

    with _identity(server, store_args) as identity:
        identity.revoke_token(token.split("_")[1])
    # A server trusts a token it verified for auth_token_cache_seconds (5 s): within that, it stops working.
    deadline = time.monotonic() + 8
    with httpx.Client(base_url=server.url, timeout=30) as http:
        while True:
            revoked = http.get("/api/v1/experiments", headers={"Authorization": f"Bearer {token}"})
            if revoked.status_code != 200 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    assert revoked.status_code == 401 and "revoked" in revoked.json()["error"]["message"]


def test_users_and_tokens_made_with_the_cli_sign_in_to_the_server(servers: Servers, store_args):
    server = servers.start("--auth", *store_args, env={"RUNSTONE_ADMIN_PASSWORD": ADMIN_PASSWORD})
    where = {"RUNSTONE_HOME": str(server.home)}
    store = list(store_args)
    made = run_cli("users", "create", "ci", "--service", *store, env=where)
    assert made.returncode == 0, made.stderr
    token_out = run_cli("tokens", "create", "--user", "ci", "--name", "nightly", *store, env=where)
    assert token_out.returncode == 0, token_out.stderr
    token = token_out.stdout.strip().splitlines()[-1]
    assert token.startswith("rst_")
    listed = run_cli("tokens", "list", "--json", *store, env=where)
    assert token.split("_", 2)[2] not in listed.stdout  # the secret is never shown again
    assert json.loads(listed.stdout)[0]["user"] == "ci"

    signed_in = run_cli("experiments", "create", "by-cli", "--tracking-uri", server.url,
                        env={"RUNSTONE_TRACKING_TOKEN": token})  # fmt: skip
    assert signed_in.returncode == 0, signed_in.stderr
    anonymous = run_cli("experiments", "create", "no-token", "--tracking-uri", server.url)
    assert anonymous.returncode != 0 and "credential" in anonymous.stderr + anonymous.stdout

    token_id = token.split("_")[1]
    assert run_cli("tokens", "revoke", token_id, *store, env=where).returncode == 0
    time.sleep(5.5)  # the server trusts the token it verified for auth_token_cache_seconds
    revoked = run_cli("experiments", "list", "--tracking-uri", server.url, env={"RUNSTONE_TRACKING_TOKEN": token})
    assert revoked.returncode != 0 and "revoked" in revoked.stderr + revoked.stdout


def test_a_read_only_token_reads_and_searches_but_changes_nothing(servers: Servers, store_args):
    server = servers.start("--auth", *store_args, env={"RUNSTONE_ADMIN_PASSWORD": ADMIN_PASSWORD})
    with _identity(server, store_args) as identity:
        identity.create_user("viewer", kind="service")
        reader = identity.create_token("viewer", "dashboards", read_only=True).secret
        limited = identity.create_token("viewer", "one", resources=["experiment:0"]).secret
    with _permissions(server, store_args) as permissions:
        permissions.grant("experiment", "0", "user", "viewer", "READ")
    with httpx.Client(base_url=server.url, timeout=30, headers={"Authorization": f"Bearer {reader}"}) as http:
        assert http.get("/api/v1/experiments").status_code == 200
        assert http.post("/api/v1/runs/search", json={"experiment_ids": ["0"]}).status_code == 200
        assert http.post("/api/2.0/mlflow/runs/search", json={"experiment_ids": ["0"]}).status_code == 200
        refused = http.post("/api/v1/experiments", json={"name": "nope"})
        assert refused.status_code == 403 and "read-only" in refused.json()["error"]["message"]
        mlflow_refused = http.post("/api/2.0/mlflow/experiments/create", json={"name": "nope"})
        assert mlflow_refused.status_code == 403 and mlflow_refused.json()["error_code"] == "PERMISSION_DENIED"
        names = [e["name"] for e in http.get("/api/v1/experiments").json()["experiments"]]
        assert "nope" not in names
        fenced = http.get("/api/v1/experiments", headers={"Authorization": f"Bearer {limited}"})
        assert fenced.status_code == 403 and "limited to experiment:0" in fenced.json()["error"]["message"]
