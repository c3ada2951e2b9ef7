"""System metrics: a training process logs system/... metrics to a real server while its run is
active, only when asked to, and stops when the run ends."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from e2e_support import Servers, remote, run_python

pytestmark = pytest.mark.e2e

TRAIN = textwrap.dedent(
    """
    import sys
    import time

    import runstone

    mode = sys.argv[1]
    if mode == "function":
        runstone.enable_system_metrics_logging()
    runstone.set_experiment("sysmetrics")
    flag = True if mode == "flag" else None
    with runstone.start_run(log_system_tags=False, log_system_metrics=flag) as run:
        deadline = time.monotonic() + 1.5
        step = 0
        while time.monotonic() < deadline:  # training
            sum(i * i for i in range(20_000))
            runstone.log_metric("loss", 1 / (step + 1), step=step)
            step += 1
    print(run.info.run_id, flush=True)
    time.sleep(1.5)  # the process outlives the run: no sample may follow its end
    """
)

EXPECTED = {
    "system/cpu_utilization_percentage",
    "system/system_memory_usage_megabytes",
    "system/system_memory_usage_percentage",
    "system/disk_usage_percentage",
    "system/disk_usage_megabytes",
    "system/network_receive_megabytes",
    "system/network_transmit_megabytes",
}


def _train(tmp_path: Path, url: str, mode: str, extra: dict[str, str]) -> str:
    script = tmp_path / "train.py"
    script.write_text(TRAIN)
    env = {"RUNSTONE_TRACKING_URI": url, "RUNSTONE_SYSTEM_METRICS_INTERVAL": "0.2", **extra}
    done = run_python(script, mode, env=env)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()[0]


@pytest.mark.parametrize(
    ("mode", "extra"),
    [("setting", {"RUNSTONE_SYSTEM_METRICS": "true"}), ("flag", {}), ("function", {})],
)
def test_system_metrics_are_sampled_while_the_run_is_active(
    tmp_path: Path, servers: Servers, mode: str, extra: dict[str, str]
) -> None:
    server = servers.start()
    run_id = _train(tmp_path, server.url, "plain" if mode == "setting" else mode, extra)

    with remote(server.url) as client:
        run = client.get_run(run_id)
        assert set(run.data.metrics) >= EXPECTED
        assert run.info.end_time is not None
        cpu = client.get_metric_history(run_id, "system/cpu_utilization_percentage")
        memory = client.get_metric_history(run_id, "system/system_memory_usage_percentage")
        disk = client.get_metric_history(run_id, "system/disk_usage_megabytes")
    # 1.5 s of training at one sample every 0.2 s (fewer when other tests load the machine's
    # cores, which delays the sampler's thread); steps count the samples.
    assert 3 <= len(cpu) <= 9, [m.step for m in cpu]
    assert sorted(m.step for m in cpu) == list(range(len(cpu)))
    assert all(0 <= m.value <= 100 for m in cpu + memory)
    assert all(m.value > 0 for m in disk)
    # Sampling stopped with the run, although the process lived on for 1.5 s.
    assert max(m.timestamp for m in cpu) <= run.info.end_time


def test_system_metrics_are_off_by_default(tmp_path: Path, servers: Servers) -> None:
    server = servers.start()
    run_id = _train(tmp_path, server.url, "plain", {})

    with remote(server.url) as client:
        keys = set(client.get_run(run_id).data.metrics)
    assert "loss" in keys
    assert not [k for k in keys if k.startswith("system/")]


def test_the_setting_false_wins_over_nothing_but_not_over_the_flag(tmp_path: Path, servers: Servers) -> None:
    server = servers.start()
    run_id = _train(tmp_path, server.url, "flag", {"RUNSTONE_SYSTEM_METRICS": "false"})

    with remote(server.url) as client:
        assert set(client.get_run(run_id).data.metrics) >= EXPECTED
