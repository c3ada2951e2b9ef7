"""What write-ahead logging costs a training loop: the time one logging call takes.

    python -m bench.journal [--quick] [--mlflow-venv bench/.venv-mlflow]

A training process (a fresh subprocess each time) starts a run on a ``runstone server`` and calls
``runstone.log_metric`` in a loop, once with each journal setting: ``off`` (memory only until
sent), ``on`` (the default: every call written to the journal file before it returns) and
``fsync`` (also forced to the disk). The same loop runs with MLflow's client against an MLflow
server on the same machine in the same run: ``mlflow.log_metric(..., synchronous=False)`` (its
asynchronous logging) and its default, one request per call. Measured: the mean time of a call
inside the loop, and the time ``end_run`` takes to send what is still buffered. Every point is
checked on the server afterwards. Writes the "Client logging" section of docs/performance.md
(unless --quick), leaving the rest of the file as it is.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench import suite
from bench.page import write_section
from bench.servers import clean_environment

REPO = Path(__file__).resolve().parent.parent
SECTION = "## Client logging"

RUNSTONE_LOOP = """
import json, sys, time
import runstone

n = int(sys.argv[1])
run = runstone.start_run(log_system_tags=False)
for step in range(1000):  # warm-up
    runstone.log_metric("warm", 1.0, step=step)
runstone.flush()
began = time.perf_counter()
for step in range(n):
    runstone.log_metric("loss", 1.0 / (step + 1), step=step)
loop = time.perf_counter() - began
began = time.perf_counter()
runstone.end_run()
print(json.dumps({"run_id": run.info.run_id, "loop_s": loop, "end_s": time.perf_counter() - began}))
"""

MLFLOW_LOOP = """
import json, sys, time
import mlflow

n, synchronous = int(sys.argv[1]), sys.argv[2] == "sync"
run = mlflow.start_run()
for step in range(100):  # warm-up
    mlflow.log_metric("warm", 1.0, step=step, synchronous=synchronous)
began = time.perf_counter()
for step in range(n):
    mlflow.log_metric("loss", 1.0 / (step + 1), step=step, synchronous=synchronous)
loop = time.perf_counter() - began
began = time.perf_counter()
mlflow.end_run()
print(json.dumps({"run_id": run.info.run_id, "loop_s": loop, "end_s": time.perf_counter() - began}))
"""


def _loop(code: str, args: list[str], env: dict[str, str]) -> dict[str, float | str]:
    done = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise SystemExit(f"the logging loop failed:\n{done.stderr[-3000:]}")
    result: dict[str, float | str] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _points(url: str, run_id: str, mlflow: bool) -> int:
    if mlflow:
        from mlflow import MlflowClient

        return len(MlflowClient(tracking_uri=url).get_metric_history(run_id, "loss"))
    from runstone.sdk.client import RunstoneClient

    with RunstoneClient(url) as client:
        return len(client.get_metric_history(run_id, "loss"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.journal", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes; writes no docs")
    parser.add_argument("--mlflow-venv", type=Path, default=REPO / "bench" / ".venv-mlflow")
    parser.add_argument("--output", type=Path, default=REPO / "docs" / "performance.md")
    args = parser.parse_args(argv)
    venv = args.mlflow_venv if (args.mlflow_venv / "bin" / "mlflow").exists() else Path(sys.executable).parent.parent
    n = 2_000 if args.quick else 50_000
    n_fsync = 500 if args.quick else 5_000
    n_sync = 200 if args.quick else 1_000
    n_mlflow = 2_000 if args.quick else 10_000  # MLflow's asynchronous queue drains slowly

    folder = Path(tempfile.mkdtemp(prefix="runstone-bench-journal-"))
    rows: list[tuple[str, int, float, float]] = []
    runstone_server = suite.runstone_launcher().start(folder / "runstone")
    mlflow_server = suite.mlflow_launcher(venv).start(folder / "mlflow")
    try:
        best: dict[str, tuple[int, float, float]] = {}
        # off and on take turns, three times each; the fastest loop of each counts (the least
        # disturbed by other work on the machine).
        for mode, calls in [("off", n), ("on", n)] * 3 + [("fsync", n_fsync)]:
            env = clean_environment(
                "RUNSTONE_",
                RUNSTONE_TRACKING_URI=runstone_server.url,
                RUNSTONE_JOURNAL=mode,
                RUNSTONE_HOME=str(folder / f"client-{mode}"),
            )
            result = _loop(RUNSTONE_LOOP, [str(calls)], env)
            assert _points(runstone_server.url, str(result["run_id"]), False) == calls, mode
            print(mode, result, flush=True)
            if mode not in best or float(result["loop_s"]) < best[mode][1]:
                best[mode] = (calls, float(result["loop_s"]), float(result["end_s"]))
        for mode, (calls, loop, end) in best.items():
            rows.append((f"runstone, `RUNSTONE_JOURNAL={mode}`", calls, loop, end))
        mlflow_env = clean_environment(
            "MLFLOW_", MLFLOW_TRACKING_URI=mlflow_server.url, MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true"
        )
        for label, calls, mode in (
            ("MLflow, `synchronous=False`", n_mlflow, "async"),
            ("MLflow, default (one request per call)", n_sync, "sync"),
        ):
            result = _loop(MLFLOW_LOOP, [str(calls), mode], mlflow_env)
            assert _points(mlflow_server.url, str(result["run_id"]), True) == calls, label
            rows.append((label, calls, float(result["loop_s"]), float(result["end_s"])))
            print(rows[-1], flush=True)
    finally:
        runstone_server.stop()
        mlflow_server.stop()
        shutil.rmtree(folder, ignore_errors=True)

    section = _section(rows)
    print(section)
    if not args.quick:
        write_section(args.output, SECTION, section)
        print(f"\nWrote the section {SECTION!r} of {args.output}")
    return 0


def _section(rows: list[tuple[str, int, float, float]]) -> str:
    per_call = {label: loop / calls * 1e6 for label, calls, loop, _ in rows}
    mlflow_async = per_call["MLflow, `synchronous=False`"]
    lines = [
        SECTION,
        "",
        "Written by `python -m bench.journal`: a training process calls `log_metric` in a loop against a",
        "server on this machine; each row is a fresh process (for `off` and `on`, the fastest of three",
        "turns each). The time of one call is what the training loop pays; `end_run` sends what is",
        "still buffered and waits for the server.",
        "",
        "| client | calls | µs per call | end_run | per call vs MLflow `synchronous=False` |",
        "|---|--:|--:|--:|--:|",
    ]
    for label, calls, _, end in rows:
        ratio = mlflow_async / per_call[label]
        lines.append(f"| {label} | {calls:,} | {per_call[label]:.1f} | {end:.2f} s | {ratio:.2f}x |")
    off, on = per_call["runstone, `RUNSTONE_JOURNAL=off`"], per_call["runstone, `RUNSTONE_JOURNAL=on`"]
    lines += [
        "",
        f"The write-ahead journal (the default) adds {on - off:.1f} µs to a call ({on / off:.2f}x the memory-only",
        "call): one JSON line and one write(2) per call, no fsync. `fsync` forces every call to the disk",
        "and costs what the disk's flush costs; use it when a power cut must not lose a point.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
