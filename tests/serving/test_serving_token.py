"""`runstone models serve --token-file`: a real scoring server refuses requests without its token."""

from __future__ import annotations

import httpx
import pytest
from serving_models import fraud_data
from serving_support import serve_command, start_scoring

pytestmark = pytest.mark.e2e

TOKEN = "scoring-token-0123456789abcdef"


@pytest.mark.parametrize("workers", ["1", "2"])
def test_scoring_wants_the_bearer_token_on_every_route_but_the_probes(tmp_path, workers, sklearn_model):
    model = sklearn_model
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    server = start_scoring(
        serve_command("-m", str(model), "--token-file", str(token_file), "-w", workers), tmp_path / "serve.log"
    )
    body = {"dataframe_records": fraud_data(3)[0].to_dict(orient="records")}
    try:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            assert http.get("/ping").status_code == 200 and http.get("/health").status_code == 200
            for method, path in (("POST", "/invocations"), ("GET", "/metadata"), ("GET", "/version"),
                                 ("GET", "/metrics"), ("GET", "/openapi.json")):  # fmt: skip
                for headers in ({}, {"Authorization": "Bearer wrong-token-0123456789"}, {"Authorization": TOKEN}):
                    answer = http.request(method, path, json=body if method == "POST" else None, headers=headers)
                    assert answer.status_code == 401, (path, headers)
                    assert answer.headers["www-authenticate"].startswith("Bearer")
                    assert answer.json()["error_code"] == "UNAUTHENTICATED"
            scored = http.post("/invocations", json=body, headers={"Authorization": f"Bearer {TOKEN}"})
            assert scored.status_code == 200, scored.text
            assert len(scored.json()["predictions"]) == 3
    finally:
        server.stop()
    assert TOKEN not in server.log()


def test_an_unusable_token_file_is_refused_before_serving(tmp_path, sklearn_model):
    from e2e_support import run_cli

    model = sklearn_model
    token_file = tmp_path / "token"
    token_file.write_text("short\n")
    done = run_cli("models", "serve", "-m", str(model), "--port", "1", "--token-file", str(token_file))
    assert done.returncode != 0 and "at least 16 characters" in done.stderr
