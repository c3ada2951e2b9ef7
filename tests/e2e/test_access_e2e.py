"""Per-resource permissions against a real ``runstone server --auth``, on SQLite and PostgreSQL.

One server per backend serves every test here. Its people: alice owns what she creates, bob
is given READ (a reader who cannot write), carol is a writer on the model who opens requests
and holds APPROVE through the ``risk`` group, erin approves through the same group, and dave
holds nothing.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator

import httpx
import pytest
from e2e_support import Server, Servers, run_cli
from sqlalchemy import create_engine, text

pytestmark = pytest.mark.e2e

ADMIN_PASSWORD = "admin password for the permission test"
PEOPLE = ("alice", "bob", "carol", "dave", "erin")


class Site:
    def __init__(self, server: Server) -> None:
        self.server = server
        basic = base64.b64encode(f"admin:{ADMIN_PASSWORD}".encode()).decode()
        self.admin = httpx.Client(base_url=server.url, timeout=30, headers={"Authorization": f"Basic {basic}"})
        self.tokens: dict[str, str] = {}
        self.admin_token = self.admin.post("/api/v1/tokens", json={"name": "e2e-admin"}).json()["secret"]
        for name in PEOPLE:
            made = self.admin.post("/api/v1/users", json={"name": name, "password": f"{name}'s long password"})
            assert made.status_code == 201, made.text
            token = self.admin.post("/api/v1/tokens", json={"name": "e2e", "user": name})
            assert token.status_code == 201, token.text
            self.tokens[name] = token.json()["secret"]

    def as_(self, name: str, **headers: str) -> httpx.Client:
        return httpx.Client(
            base_url=self.server.url, timeout=30, headers={"Authorization": f"Bearer {self.tokens[name]}", **headers}
        )


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def site(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    pool = Servers(tmp_path_factory.mktemp("perm"))
    args: list[str] = []
    schema, admin_engine = None, None
    if request.param == "postgresql":
        url = request.getfixturevalue("pg_database")
        schema = f"perm_{uuid.uuid4().hex[:10]}"
        admin_engine = create_engine(url, isolation_level="AUTOCOMMIT")
        with admin_engine.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        args = ["--backend-store-uri", f"{url}?options=-csearch_path%3D{schema}"]
    try:
        # No decision cache: a grant or a revocation counts at the next request.
        server = pool.start(
            "--auth", *args, env={"RUNSTONE_ADMIN_PASSWORD": ADMIN_PASSWORD, "RUNSTONE_AUTH_TOKEN_CACHE_SECONDS": "0"}
        )
        site = Site(server)
        yield site
        site.admin.close()
    finally:
        pool.stop_all()
        if admin_engine is not None:
            with admin_engine.connect() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin_engine.dispose()


def _names(answer: httpx.Response) -> list[str]:
    assert answer.status_code == 200, answer.text
    return [e["name"] for e in answer.json().get("experiments", [])]


def test_a_reader_reads_what_it_was_granted_and_writes_nothing_and_others_see_nothing(site: Site) -> None:
    with site.as_("alice") as alice, site.as_("bob") as bob, site.as_("dave") as dave:
        exp = alice.post("/api/v1/experiments", json={"name": "churn"}).json()["experiment"]["experiment_id"]
        alice.post("/api/v1/experiments", json={"name": "churn-private"})
        run = alice.post("/api/2.0/mlflow/runs/create", json={"experiment_id": exp}).json()["run"]["info"]["run_id"]
        logged = alice.post("/api/2.0/mlflow/runs/log-batch", json={"run_id": run, "metrics": [
            {"key": "auc", "value": 0.9, "timestamp": 1, "step": 0}]})  # fmt: skip
        assert logged.status_code == 200, logged.text
        put = alice.put(f"/api/v1/runs/{run}/artifacts/report.txt", content=b"secret numbers",
                        headers={"Content-Type": "application/octet-stream"})  # fmt: skip
        assert put.status_code == 200, put.text

        # Nobody else sees alice's experiments: not by id, not in any search, not through totals.
        for who in (bob, dave):
            assert "churn" not in _names(who.get("/api/v1/experiments"))
            mlflow_search = who.post("/api/2.0/mlflow/experiments/search", json={"max_results": 1000})
            assert "churn" not in [e["name"] for e in mlflow_search.json().get("experiments", [])]
            denied = who.get(f"/api/v1/experiments/{exp}")
            assert denied.status_code == 403 and "READ permission on experiment" in denied.json()["error"]["message"]
            assert (
                who.get("/api/2.0/mlflow/runs/get", params={"run_id": run}).json()["error_code"] == "PERMISSION_DENIED"
            )
            assert who.get(f"/api/v1/runs/{run}/artifacts/report.txt").status_code == 403
            assert who.post("/api/2.0/mlflow/runs/search", json={"experiment_ids": [exp]}).status_code == 403
            assert who.get(f"/ui/experiments/{exp}").status_code == 403
            ui_list = who.get("/ui/")
            assert ui_list.status_code == 200 and "churn" not in ui_list.text
        # dave cannot give himself what alice owns.
        self_grant = dave.post("/api/v1/permissions/grant", json={
            "resource_type": "experiment", "resource_id": exp, "principal": "dave", "permission": "READ"})  # fmt: skip
        assert self_grant.status_code == 403 and "MANAGE" in self_grant.json()["error"]["message"]

        granted = alice.post("/api/v1/permissions/grant", json={
            "resource_type": "experiment", "resource_id": exp, "principal": "bob", "permission": "READ"})  # fmt: skip
        assert granted.status_code == 200, granted.text
        # bob now reads the one experiment (and its run and files), and only that one: one page, no more.
        page = bob.get("/api/v1/experiments", params={"max_results": 1})
        assert _names(page) == ["churn"] and not page.json().get("next_page_token")
        assert bob.get(f"/api/v1/runs/{run}").status_code == 200
        assert (
            bob.get(f"/api/2.0/mlflow-artifacts/artifacts/{exp}/{run}/artifacts/report.txt").content
            == b"secret numbers"
        )
        searched = bob.post("/api/2.0/mlflow/runs/search", json={"experiment_ids": [exp]})
        assert [r["info"]["run_id"] for r in searched.json()["runs"]] == [run]
        assert bob.get("/api/v1/permissions/mine", params={"resource_type": "experiment", "resource_id": exp}).json() == {
            "permission": "READ", "approve": False}  # fmt: skip
        # ... and writes nothing there, in either protocol.
        write = bob.post("/api/2.0/mlflow/runs/log-batch", json={"run_id": run, "metrics": [
            {"key": "auc", "value": 0.1, "timestamp": 2, "step": 1}]})  # fmt: skip
        assert write.status_code == 403 and write.json()["error_code"] == "PERMISSION_DENIED"
        assert "EDIT permission" in write.json()["message"]
        assert bob.post("/api/2.0/mlflow/runs/create", json={"experiment_id": exp}).status_code == 403
        assert bob.put(f"/api/v1/runs/{run}/artifacts/x.txt", content=b"x",
                       headers={"Content-Type": "application/octet-stream"}).status_code == 403  # fmt: skip
        assert bob.post(f"/api/v1/experiments/{exp}/delete").status_code == 403
        history = alice.get("/api/2.0/mlflow/metrics/get-history", params={"run_id": run, "metric_key": "auc"})
        assert [m["value"] for m in history.json()["metrics"]] == [0.9]

        revoked = alice.post("/api/v1/permissions/revoke", json={
            "resource_type": "experiment", "resource_id": exp, "principal": "bob"})  # fmt: skip
        assert revoked.json() == {"revoked": 1}
        assert bob.get(f"/api/v1/runs/{run}").status_code == 403
        # Only an admin lists users or makes groups.
        assert bob.get("/api/v1/users").status_code == 403
        assert bob.post("/api/v1/groups", json={"name": "mine"}).status_code == 403
        assert bob.get("/api/v1/audit").status_code == 403


def test_approvals_need_the_named_group_and_never_the_requester_even_renamed(site: Site) -> None:
    admin = site.admin
    assert admin.post("/api/v1/groups", json={"name": "risk"}).status_code == 201
    for member in ("carol", "erin"):
        assert admin.put(f"/api/v1/groups/risk/members/{member}").status_code == 200
    with site.as_("alice") as alice, site.as_("bob") as bob, site.as_("carol") as carol, site.as_("erin") as erin:
        exp = alice.post("/api/v1/experiments", json={"name": "fraud-training"}).json()["experiment"]["experiment_id"]
        run = alice.post("/api/v1/runs", json={"experiment_id": exp}).json()["run"]["info"]["run_id"]
        alice.put(f"/api/v1/runs/{run}/artifacts/model/MLmodel", content=b"flavors: {}\n",
                  headers={"Content-Type": "application/octet-stream"})  # fmt: skip
        assert alice.post("/api/v1/registered-models", json={"name": "fraud"}).status_code in (200, 201)
        for _ in (1, 2):
            made = alice.post("/api/v1/registered-models/fraud/versions", json={"source": f"runs:/{run}/model"})
            assert made.status_code in (200, 201), made.text
        policy = alice.put("/api/v1/registered-models/fraud/policy",
                           json={"protected_aliases": ["champion"], "approver_group": "risk"})  # fmt: skip
        assert policy.status_code == 200, policy.text
        for who, perm in (("bob", "EDIT"), ("carol", "EDIT")):
            alice.post("/api/v1/permissions/grant", json={
                "resource_type": "model", "resource_id": "fraud", "principal": who, "permission": perm})  # fmt: skip
        alice.post("/api/v1/permissions/grant", json={"resource_type": "model", "resource_id": "fraud",
                   "principal_type": "group", "principal": "risk", "permission": "APPROVE"})  # fmt: skip

        # EDIT on a model does not let a writer copy in files of a run it may not read.
        copied = bob.post("/api/v1/registered-models/fraud/versions", json={"source": f"runs:/{run}/model"})
        assert copied.status_code == 403 and "READ permission on experiment" in copied.json()["error"]["message"]
        # A writer cannot move the protected alias directly: the 403 names the rule.
        direct = bob.put("/api/v1/registered-models/fraud/aliases/champion", json={"version": "1"})
        assert direct.status_code == 403 and "'champion' of 'fraud' is protected" in direct.json()["error"]["message"]
        # A writer opens a request but cannot approve it.
        opened = bob.post("/api/v1/approval-requests", json={"name": "fraud", "version": "1", "alias": "champion"})
        assert opened.status_code in (200, 201), opened.text
        bobs = opened.json()["request"]["id"]
        refused = bob.post(f"/api/v1/approval-requests/{bobs}/approve", json={})
        assert refused.status_code == 403 and "APPROVE permission" in refused.json()["error"]["message"]
        # An approver cannot approve its own request, whatever name its headers claim.
        own = carol.post("/api/v1/approval-requests", json={"name": "fraud", "version": "2", "alias": "champion"})
        carols = own.json()["request"]["id"]
        with site.as_("carol", **{"X-Runstone-User": "erin"}) as disguised:
            self_approval = disguised.post(f"/api/v1/approval-requests/{carols}/approve", json={})
        assert self_approval.status_code == 403 and "requester" in self_approval.json()["error"]["message"]
        # An approver outside the policy's group is refused, naming the group (alice holds MANAGE, not membership).
        outsider = alice.post(f"/api/v1/approval-requests/{bobs}/approve", json={})
        assert outsider.status_code == 403 and "'risk'" in outsider.json()["error"]["message"]
        approved = erin.post(f"/api/v1/approval-requests/{bobs}/approve", json={"comment": "ok"})
        assert approved.status_code == 200, approved.text
        holder = alice.get("/api/v1/registered-models/fraud/aliases/champion").json()
        assert str(holder["model_version"]["version"]) == "1"
        decided = alice.get(f"/api/v1/approval-requests/{bobs}").json()["request"]
        assert decided["requested_by"] == "bob" and [a["approver"] for a in decided["approvals"]] == ["erin"]
        # A MANAGE holder moves the protected alias directly.
        moved = alice.put("/api/v1/registered-models/fraud/aliases/champion", json={"version": "2"})
        assert moved.status_code == 200, moved.text
        # Lists of requests show those of the models the caller may read, and nothing else.
        assert {r["id"] for r in bob.get("/api/v1/approval-requests").json()["requests"]} >= {bobs, carols}
    with site.as_("dave") as dave:
        assert dave.get("/api/v1/approval-requests").json()["requests"] == []
        assert dave.get("/api/v1/registered-models").json().get("registered_models", []) == []
        assert dave.get("/ui/requests").status_code == 200 and "fraud" not in dave.get("/ui/requests").text


def test_the_audit_trail_names_the_proven_user_its_token_and_address_and_exports_as_jsonl(site: Site) -> None:
    with site.as_("dave") as dave:
        made = dave.post("/api/v1/experiments", json={"name": "dave-audited"})
        assert made.status_code in (200, 201), made.text
        # A token for oneself is allowed; for someone else only to an admin.
        assert dave.post("/api/v1/tokens", json={"name": "mine"}).status_code == 201
        assert dave.post("/api/v1/tokens", json={"name": "theirs", "user": "alice"}).status_code == 403
    wrong = httpx.get(f"{site.server.url}/api/v1/experiments", auth=("dave", "not dave's password"), timeout=30)
    assert wrong.status_code == 401
    dave_token = site.tokens["dave"].split("_")[1]
    events = site.admin.get("/api/v1/audit", params={"actor": "dave", "action": "experiment.create"}).json()["events"]
    assert [(e["target_id"] != "", e["token_id"], e["client"]) for e in events] == [(True, dave_token, "127.0.0.1")]
    tokens = site.admin.get("/api/v1/audit", params={"action": "token."}).json()["events"]
    assert {"token.create"} == {e["action"] for e in tokens} and any(e["actor"] == "dave" for e in tokens)
    failed = site.admin.get("/api/v1/audit", params={"action": "login.failed"}).json()["events"]
    assert any(e["target_id"] == "dave" and e["client"] == "127.0.0.1" for e in failed)
    later = site.admin.get("/api/v1/audit", params={"actor": "dave", "since": events[0]["time"] + 3_600_000}).json()
    assert later["events"] == []

    env = {"RUNSTONE_TRACKING_URI": site.server.url, "RUNSTONE_TRACKING_TOKEN": site.admin_token}
    exported = run_cli("audit", "export", "--format", "jsonl", "--actor", "dave", env=env)
    assert exported.returncode == 0, exported.stderr
    lines = [json.loads(line) for line in exported.stdout.splitlines()]
    assert {e["action"] for e in lines} >= {"experiment.create", "token.create"}
    assert all(e["actor"] == "dave" for e in lines)
    secrets = [t.split("_", 2)[2] for t in site.tokens.values()]
    assert not any(s in exported.stdout for s in secrets)  # token ids, never secrets
    assert run_cli("audit", "verify", env=env).returncode == 0
    listed = run_cli("audit", "list", "--action", "permission.", "--json", env=env)
    assert listed.returncode == 0 and {e["action"] for e in json.loads(listed.stdout)} <= {
        "permission.grant", "permission.revoke", "permission.prefix_grant"}  # fmt: skip


def test_groups_and_grants_from_the_command_line(site: Site) -> None:
    admin = {"RUNSTONE_TRACKING_URI": site.server.url, "RUNSTONE_TRACKING_TOKEN": site.admin_token}
    alice = {**admin, "RUNSTONE_TRACKING_TOKEN": site.tokens["alice"]}
    bob = {**admin, "RUNSTONE_TRACKING_TOKEN": site.tokens["bob"]}
    assert run_cli("groups", "create", "analysts", env=admin).returncode == 0
    assert run_cli("groups", "add", "analysts", "bob", env=admin).returncode == 0
    refused = run_cli("groups", "create", "rogue", env=alice)
    assert refused.returncode != 0 and "admin" in refused.stderr + refused.stdout
    with site.as_("alice") as client:
        exp = client.post("/api/v1/experiments", json={"name": "cli-shared"}).json()["experiment"]["experiment_id"]
    assert "cli-shared" not in run_cli("experiments", "list", env=bob).stdout
    granted = run_cli("permissions", "grant", "experiment", exp, "READ", "--group", "analysts", env=alice)
    assert granted.returncode == 0, granted.stderr
    listed = json.loads(run_cli("permissions", "list", "--resource", exp, "--json", env=alice).stdout)
    assert {(g["principal_type"], g["principal"], g["permission"]) for g in listed} == {
        ("group", "analysts", "READ"), ("user", "alice", "MANAGE")}  # fmt: skip
    assert "cli-shared" in run_cli("experiments", "list", env=bob).stdout
    assert run_cli("permissions", "revoke", "experiment", exp, "--group", "analysts", env=alice).returncode == 0
    assert "cli-shared" not in run_cli("experiments", "list", env=bob).stdout


def test_a_resource_limited_token_reaches_only_its_experiments_and_models(site: Site) -> None:
    with site.as_("alice") as alice:
        fenced = alice.post("/api/v1/experiments", json={"name": "fenced-in"}).json()["experiment"]["experiment_id"]
        other = alice.post("/api/v1/experiments", json={"name": "fenced-out"}).json()["experiment"]["experiment_id"]
        made = alice.post("/api/v1/tokens", json={"name": "ci-job", "resources": [f"experiment:{fenced}"]})
        assert made.status_code == 201, made.text
    with httpx.Client(base_url=site.server.url, timeout=30,
                      headers={"Authorization": f"Bearer {made.json()['secret']}"}) as job:  # fmt: skip
        run = job.post("/api/2.0/mlflow/runs/create", json={"experiment_id": fenced})
        assert run.status_code == 200, run.text
        run_id = run.json()["run"]["info"]["run_id"]
        logged = job.post("/api/2.0/mlflow/runs/log-metric", json={"run_id": run_id, "key": "x", "value": 1,
                                                                    "timestamp": 1})  # fmt: skip
        assert logged.status_code == 200, logged.text
        outside = job.post("/api/2.0/mlflow/runs/create", json={"experiment_id": other})
        assert outside.status_code == 403 and f"limited to experiment:{fenced}" in outside.json()["message"]
        listing = job.get("/api/v1/experiments")
        assert listing.status_code == 403 and "limited to" in listing.json()["error"]["message"]
