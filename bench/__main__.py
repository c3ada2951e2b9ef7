"""python -m bench: run the workloads against runstone and MLflow, print and record the table.

Normally started through ``bash bench/run``, which also prepares MLflow's virtualenv.
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import sys
import tempfile
import time
from pathlib import Path

import orjson

from bench import report, suite, workloads
from bench.servers import BenchError

REPO = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--mlflow-venv", type=Path, required=True, help="virtualenv with mlflow installed")
    parser.add_argument("--quick", action="store_true", help="small sizes, to check the harness; writes no docs")
    parser.add_argument("--only", choices=["runstone", "mlflow"], help="run one server only; writes no docs")
    parser.add_argument("--output", type=Path, default=REPO / "docs" / "performance.md", help="Markdown to write")
    parser.add_argument("--keep", action="store_true", help="keep the temporary stores and server logs")
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0,
        metavar="MINUTES",
        help="first wait up to MINUTES for the 1-minute load average to fall below 1",
    )
    args = parser.parse_args(argv)

    sizes = workloads.QUICK if args.quick else workloads.FULL
    began = time.perf_counter()

    def log(message: str) -> None:
        print(f"[{time.perf_counter() - began:7.1f}s] {message}", file=sys.stderr, flush=True)

    launchers = {"runstone": suite.runstone_launcher(), "mlflow": suite.mlflow_launcher(args.mlflow_venv)}
    chosen = [args.only] if args.only else list(launchers)
    if args.wait_quiet:
        log(f"waiting up to {args.wait_quiet:g} min for a quiet machine (load average now {report.load_average()})")
        report.wait_for_quiet(args.wait_quiet * 60)
    load_before = report.load_average()
    folder = Path(tempfile.mkdtemp(prefix="runstone-bench-"))
    log(f"stores and server logs in {folder}")
    if float(load_before) > 0.5:
        log(f"warning: the 1-minute load average is {load_before}; other work on this machine skews the numbers")
    results: dict[str, suite.Results] = {}
    try:
        for name in chosen:
            results[name] = suite.run(launchers[name], sizes, folder / name, log)
    except BenchError as exc:
        print(f"bench failed: {exc}", file=sys.stderr)
        return 2
    finally:
        if args.keep:
            log(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)

    raw = REPO / "bench" / "results" / ("quick.json" if args.quick else "latest.json")
    raw.parent.mkdir(parents=True, exist_ok=True)
    raw.write_bytes(orjson.dumps({k: dataclasses.asdict(v) for k, v in results.items()}, option=orjson.OPT_INDENT_2))
    if len(results) < 2:
        return 0

    table_rows = report.rows(results["runstone"], results["mlflow"], sizes)
    described = report.machine(REPO, args.mlflow_venv / "bin" / "python", f"{load_before} / {report.load_average()}")
    print()
    print("\n".join(f"{k}: {v}" for k, v in described.items()))
    print()
    print(report.table(table_rows))
    if not args.quick:
        report.write(args.output, report.section(table_rows, described, sizes))
        print(f"\nWrote {args.output}")
    missed = [r.workload for r in table_rows if not r.floor_met]
    if missed:
        print("\nFloors missed:\n" + "\n".join(f"- {w}" for w in missed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
