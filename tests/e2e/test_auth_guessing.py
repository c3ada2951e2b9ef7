"""Password guessing through HTTP Basic auth on the API is slowed like the UI's sign-in form:
after 10 wrong passwords for one user name from one address in 5 minutes, that name is answered
429 from that address, on MLflow's routes and the native API, without its password being looked
at, even the right one. Against a real ``runstone server --auth``."""

from __future__ import annotations

import re

import httpx
import pytest
from e2e_support import Servers

pytestmark = pytest.mark.e2e

ADMIN_PASSWORD = "admin password for the guessing test"
BOB_PASSWORD = "bob's long and right password"


def test_basic_auth_refuses_a_name_after_ten_wrong_passwords_from_an_address(servers: Servers) -> None:
    server = servers.start("--auth", env={"RUNSTONE_ADMIN_PASSWORD": ADMIN_PASSWORD})
    with httpx.Client(base_url=server.url, timeout=60, auth=("admin", ADMIN_PASSWORD)) as admin:
        assert admin.post("/api/v1/users", json={"name": "bob", "password": BOB_PASSWORD}).status_code == 201
        assert admin.post("/api/v1/users", json={"name": "carol", "password": "carol's long password"}).is_success
        token = admin.post("/api/v1/tokens", json={"name": "t", "user": "bob"}).json()["secret"]

        search = "/api/2.0/mlflow/experiments/search"
        with httpx.Client(base_url=server.url, timeout=60) as http:
            assert http.get(search, params={"max_results": 10}, auth=("bob", BOB_PASSWORD)).status_code == 200
            for attempt in range(10):
                wrong = http.get(search, params={"max_results": 10}, auth=("bob", f"guess number {attempt}"))
                assert wrong.status_code == 401, (attempt, wrong.text)
                assert wrong.json()["error_code"] == "UNAUTHENTICATED"

            # The eleventh try is refused without being checked, in MLflow's envelope on MLflow's routes...
            limited = http.get(search, params={"max_results": 10}, auth=("bob", "guess number 10"))
            assert limited.status_code == 429, limited.text
            assert limited.json()["error_code"] == "REQUEST_LIMIT_EXCEEDED"
            assert "Too many wrong passwords for 'bob'" in limited.json()["message"]
            wait = int(limited.headers["retry-after"])
            assert 200 < wait <= 301
            assert re.search(rf"try again in {wait} s", limited.json()["message"])
            # ... and so is the right password, here and on the native API (runstone's envelope).
            right = http.get(search, params={"max_results": 10}, auth=("bob", BOB_PASSWORD))
            assert right.status_code == 429
            native = http.get("/api/v1/experiments", auth=("bob", BOB_PASSWORD))
            assert native.status_code == 429 and native.json()["error"]["code"] == "too_many_requests"
            created = http.post(
                "/api/2.0/mlflow/experiments/create", json={"name": "by-bob"}, auth=("bob", BOB_PASSWORD)
            )
            assert created.status_code == 429

            # Other names from this address, and bob's API token, are not slowed.
            assert http.get(search, params={"max_results": 10}, auth=("carol", "carol's long password")).is_success
            assert http.get("/api/v1/experiments", headers={"Authorization": f"Bearer {token}"}).is_success
            assert http.get("/api/v1/experiments", auth=("bob", token)).is_success

        # Nothing was created by the refused request, and only the 10 checked tries are failed sign-ins.
        names = [e["name"] for e in admin.get("/api/v1/experiments").json()["experiments"]]
        assert "by-bob" not in names
        failed = admin.get("/api/v1/audit", params={"action": "login.failed", "target_id": "bob"}).json()
        assert len(failed["events"]) == 10
