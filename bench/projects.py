"""Projects benchmark: what `runstone run` adds to a trivial entry point with a cached
environment (against `mlflow run` on the same MLproject, same machine, same run), and sweep
throughput on a local Dask cluster (against trials as local processes).

    python bench/projects.py [--quick] [--mlflow PYTHON]

Prints a Markdown table (docs/performance.md, "Projects"). Every server, cluster and process
started here is stopped before the script ends.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOOP = "print('done')\n"
STEPS = """
import sys, runstone
with runstone.start_run():
    runstone.log_metric("loss", float(sys.argv[1]))
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def timed(argv: list[str], cwd: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return seconds


def median_of(repeat: int, measure: Callable[[], float]) -> float:
    measure()  # warm the caches (and build the environment) once
    return statistics.median(measure() for _ in range(repeat))


def project(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "noop.py").write_text(NOOP)
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    (folder / "python_env.yaml").write_text(f"python: '{python}'\ndependencies: []\n")
    (folder / "runstone.yaml").write_text(
        "name: noop\nenvironment: python_env.yaml\nentry_points:\n  main:\n    command: python noop.py\n"
    )
    (folder / "MLproject").write_text("name: noop\nentry_points:\n  main:\n    command: python noop.py\n")
    return folder


def start_server(home: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "runstone", "server", "--port", str(port), "--home", str(home)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return process, url
        time.sleep(0.1)
    raise SystemExit("the runstone server did not start")


def stop(process: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def run_overhead(tmp: Path, repeat: int, mlflow_python: str | None) -> list[tuple[str, float, str]]:
    folder = project(tmp / "noop")
    env = {**os.environ, "RUNSTONE_HOME": str(tmp / "home"), "RUNSTONE_ENV_CACHE": str(tmp / "envs")}
    env.pop("RUNSTONE_TRACKING_URI", None)
    rows = []
    direct = median_of(repeat, lambda: timed([sys.executable, "noop.py"], folder, env))
    rows.append(("the entry point alone (python noop.py)", direct, "baseline"))
    runstone_run = [sys.executable, "-m", "runstone", "run", str(folder)]
    embedded = median_of(repeat, lambda: timed(runstone_run, folder, env))
    rows.append(("runstone run, cached virtualenv, embedded store", embedded, f"+{embedded - direct:.2f} s"))
    server, url = start_server(tmp / "server-home", env)
    try:
        remote_env = {**env, "RUNSTONE_TRACKING_URI": url}
        remote = median_of(repeat, lambda: timed(runstone_run, folder, remote_env))
        rows.append(("runstone run, cached virtualenv, server", remote, f"+{remote - direct:.2f} s"))
        local = median_of(repeat, lambda: timed([*runstone_run, "--env-manager", "local"], folder, remote_env))
        rows.append(("runstone run --env-manager local, server", local, f"+{local - direct:.2f} s"))
    finally:
        stop(server)
    if mlflow_python:
        mlflow_env = {
            **env,
            "MLFLOW_TRACKING_URI": f"sqlite:///{tmp / 'mlflow.db'}",
            "MLFLOW_DISABLE_TELEMETRY": "true",
        }
        mlflow_dir = tmp / "mlflow-noop"
        mlflow_dir.mkdir()
        (mlflow_dir / "noop.py").write_text(NOOP)
        (mlflow_dir / "MLproject").write_text((folder / "MLproject").read_text())
        argv = [mlflow_python, "-m", "mlflow", "run", str(mlflow_dir), "--env-manager", "local"]
        mlflow = median_of(repeat, lambda: timed(argv, mlflow_dir, mlflow_env))
        rows.append(("mlflow run --env-manager local, SQLite store", mlflow, f"+{mlflow - direct:.2f} s"))
    return rows


def sweep_throughput(tmp: Path, trials: int) -> list[tuple[str, float, str]]:
    from distributed import LocalCluster

    folder = tmp / "steps"
    folder.mkdir()
    (folder / "train.py").write_text(STEPS)
    (folder / "runstone.yaml").write_text(
        "name: steps\nenvironment: local\nentry_points:\n  main:\n"
        "    parameters: {x: float}\n    command: python train.py {x}\n"
    )
    env = {**os.environ, "RUNSTONE_HOME": str(tmp / "sweep-home")}
    env.pop("RUNSTONE_TRACKING_URI", None)
    server, url = start_server(tmp / "sweep-server", env)
    env["RUNSTONE_TRACKING_URI"] = url
    base = [sys.executable, "-m", "runstone", "sweep", str(folder), "--random", "x=uniform(0,1)", "--trials",
            str(trials), "--parallel", "4", "--metric", "loss", "--env-manager", "local", "--json"]  # fmt: skip
    rows = []
    try:
        local = timed(base, folder, env)
        rows.append(
            (f"sweep of {trials} trials, 4 local processes at a time", local, f"{trials / local * 60:.0f} trials/min")
        )
        with LocalCluster(n_workers=2, threads_per_worker=2, host="127.0.0.1", dashboard_address=None) as cluster:
            address = cluster.scheduler_address.replace("tcp://", "dask://")
            dask = timed([*base, "--backend", address], folder, env)
        rows.append(
            (
                f"sweep of {trials} trials, local Dask cluster (2 workers x 2)",
                dask,
                f"{trials / dask * 60:.0f} trials/min",
            )
        )
    finally:
        stop(server)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--mlflow", default=None, help="a Python with mlflow installed (default: this one, if it has it)"
    )
    args = parser.parse_args()
    mlflow_python = args.mlflow
    if mlflow_python is None:
        probe = subprocess.run([sys.executable, "-c", "import mlflow"], capture_output=True, check=False)
        mlflow_python = sys.executable if probe.returncode == 0 else None
    repeat, trials = (3, 8) if args.quick else (7, 24)
    with tempfile.TemporaryDirectory(prefix="runstone-bench-projects-") as tmp:
        rows = run_overhead(Path(tmp), repeat, mlflow_python)
        rows += sweep_throughput(Path(tmp), trials)
    print(f"cores: {os.cpu_count()}, load average: {os.getloadavg()[0]:.2f}, median of {repeat} runs\n")
    print("| workload | seconds | |")
    print("| --- | ---: | --- |")
    for name, seconds, note in rows:
        print(f"| {name} | {seconds:.2f} | {note} |")
    print(json.dumps({name: round(seconds, 3) for name, seconds, _ in rows}), file=sys.stderr)


if __name__ == "__main__":
    main()
