"""Fixtures of the CLI tests: the ``runstone`` command run in-process with click's CliRunner.

Commands run against the embedded store under RUNSTONE_HOME (a fresh folder per test), or,
through ``served``, against the server's real HTTP stack in-process.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cli_support import Cli, Logged

from runstone.cli import common
from runstone.config import Settings
from runstone.entities import Metric
from runstone.sdk import client as client_module
from runstone.sdk.client import RunstoneClient


@pytest.fixture(autouse=True)
def embedded_stores() -> Iterator[None]:
    """Each test opens its own embedded store and closes it afterwards."""
    client_module.close_local_backends()
    yield
    client_module.close_local_backends()


@pytest.fixture
def cli() -> Cli:
    return Cli()


@pytest.fixture
def home() -> Path:
    return Path(os.environ["RUNSTONE_HOME"])


@pytest.fixture
def client() -> RunstoneClient:
    """The SDK on the same embedded store the commands use, to set up and check."""
    return RunstoneClient()


@pytest.fixture
def logged(client: RunstoneClient) -> Logged:
    iris = client.create_experiment("iris")
    wine = client.create_experiment("wine")
    runs = []
    for i in range(3):
        run_id = client.create_run(iris, run_name=f"run-{i}").info.run_id
        client.log_batch(
            run_id,
            metrics=[Metric("loss", 1 / (i + 1), 1_700_000_000_000, 0)],
            params={"C": str(i), "penalty": "l2"},
            tags={"team": "vision" if i else "nlp"},
        )
        client.set_terminated(run_id)
        runs.append(run_id)
    other = client.create_run(wine, run_name="wine-run").info.run_id
    return Logged(iris, wine, runs, other)


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunstoneClient]:
    """An in-process server at http://testserver that the CLI's --tracking-uri reaches.

    Yields a client of that server for setup and checks.
    """
    from fastapi.testclient import TestClient

    from runstone.server.app import create_app

    settings = Settings(home=tmp_path / "server-home")
    app = create_app(settings)
    with TestClient(app) as http:
        real = RunstoneClient

        def client_for(uri: str | None = None, **kwargs: Any) -> RunstoneClient:
            if uri == "http://testserver":
                return real(uri, http_client=http, settings=Settings(http_retries=0))
            return real(uri, **kwargs)

        monkeypatch.setattr(common, "RunstoneClient", client_for)
        yield client_for("http://testserver")
    app.state.backend.close()
