"""A training script logs to a real server; the CLI and the client see what it logged."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from e2e_support import Server, Servers, remote, run_cli, run_python

from runstone.sdk.client import RunstoneClient

pytestmark = pytest.mark.e2e

TRAIN = textwrap.dedent(
    """
    import sys
    from pathlib import Path

    import runstone

    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    (out / "confusion.txt").write_text("tp fp\\nfn tn\\n")
    runstone.set_experiment("iris")
    with runstone.start_run(run_name="baseline") as run:
        runstone.log_params({"C": 1.0, "penalty": "l2"})
        for step in range(1000):
            runstone.log_metric("loss", 1 / (step + 1), step=step)
        runstone.set_tag("team", "vision")
        runstone.log_artifact(str(out / "confusion.txt"))
        runstone.log_dict({"classes": 3}, "meta/config.json")
    print(run.info.run_id)
    """
)


def train(tmp_path: Path, env: dict[str, str]) -> str:
    script = tmp_path / "train.py"
    script.write_text(TRAIN)
    result = run_python(script, str(tmp_path / "outputs"), env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


def check_logged(client: RunstoneClient, run_id: str, tmp_path: Path) -> None:
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.info.run_name == "baseline"
    assert run.data.params == {"C": "1.0", "penalty": "l2"}
    assert run.data.metrics == {"loss": pytest.approx(1 / 1000)}
    assert run.data.tags["team"] == "vision"
    history = client.get_metric_history(run_id, "loss")
    assert [m.step for m in history] == list(range(1000))
    assert [m.value for m in history] == pytest.approx([1 / (s + 1) for s in range(1000)])
    listed = {f.path: f for f in client.list_artifacts(run_id)}
    assert set(listed) == {"confusion.txt", "meta"}
    assert listed["meta"].is_dir
    assert listed["confusion.txt"].file_size == len("tp fp\nfn tn\n")
    downloaded = Path(client.download_artifacts(run_id, "", tmp_path / "download"))
    assert (downloaded / "confusion.txt").read_text() == "tp fp\nfn tn\n"
    assert json.loads((downloaded / "meta" / "config.json").read_text()) == {"classes": 3}
    found = client.search_runs(
        experiment_names=["iris"],
        filter_string="metrics.loss < 0.01 and params.C = '1.0'",
        order_by=["metrics.loss ASC"],
    )
    assert [r.info.run_id for r in found] == [run_id]


def test_training_script_logs_to_server(server: Server, tmp_path: Path) -> None:
    script_home = tmp_path / "script-home"
    run_id = train(tmp_path, {**server.env(), "RUNSTONE_HOME": str(script_home)})

    listed = run_cli("runs", "list", "--experiment", "iris", "--json", "--tracking-uri", server.url)
    assert listed.returncode == 0, listed.stderr
    runs = json.loads(listed.stdout)
    assert [r["info"]["run_id"] for r in runs] == [run_id]
    assert runs[0]["data"]["params"]["penalty"] == "l2"
    assert runs[0]["data"]["metrics"]["loss"] == pytest.approx(0.001)

    table = run_cli("runs", "list", "-e", "iris", env=server.env())
    assert table.returncode == 0, table.stderr
    assert run_id in table.stdout and "baseline" in table.stdout and "FINISHED" in table.stdout

    with remote(server.url) as client:
        check_logged(client, run_id, tmp_path)
    # Everything went to the server: the script's own embedded store was never created, and
    # nothing waits in an offline journal.
    assert not (script_home / "runstone.db").exists()
    journal = script_home / "journal"
    assert not journal.exists() or not any(journal.iterdir())
    assert "Traceback" not in server.log()


def test_embedded_runs_are_served_by_server_on_same_home(servers: Servers, tmp_path: Path) -> None:
    home = tmp_path / "home"
    run_id = train(tmp_path, {"RUNSTONE_HOME": str(home)})
    assert (home / "runstone.db").exists()

    listed = run_cli("runs", "list", "--experiment", "iris", "--json", env={"RUNSTONE_HOME": str(home)})
    assert listed.returncode == 0, listed.stderr
    assert [r["info"]["run_id"] for r in json.loads(listed.stdout)] == [run_id]

    server = servers.start(home=home)
    with remote(server.url) as client:
        check_logged(client, run_id, tmp_path)
