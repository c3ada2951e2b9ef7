"""``python -m runstone.serving``: the scoring server alone, as a container runs it.

Takes the options of ``runstone models serve`` that a container needs, without importing the
CLI (and with it the tracking client and server code).
"""

from __future__ import annotations

import argparse
import sys

from runstone.serving.run import ServeSpec, serve
from runstone.serving.traffic import TrafficPolicy


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m runstone.serving", description=__doc__)
    parser.add_argument("--model", "-m", help="Model URI or package folder.")
    parser.add_argument("--traffic", help="Traffic policy file (YAML) instead of --model.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--follow", action="store_true")
    parser.add_argument("--follow-interval", type=float, default=5.0)
    parser.add_argument("--batch-wait-ms", type=float, default=None)
    parser.add_argument("--log-predictions", default=None)
    parser.add_argument("--log-sample", type=float, default=1.0)
    parser.add_argument("--tracking-uri", default=None)
    args = parser.parse_args(argv)
    if bool(args.model) == bool(args.traffic):
        parser.error("give exactly one of --model and --traffic")
    policy = TrafficPolicy.load(args.traffic) if args.traffic else TrafficPolicy.single(args.model)
    spec = ServeSpec(
        traffic=policy.to_dict(),
        host=args.host,
        port=args.port,
        workers=args.workers,
        follow=args.follow,
        follow_interval=args.follow_interval,
        batch_wait_ms=args.batch_wait_ms,
        log_predictions=args.log_predictions,
        log_sample=args.log_sample,
        tracking_uri=args.tracking_uri,
    )
    try:
        serve(spec)
    except Exception as exc:  # a model that cannot load: one line, not a traceback
        from runstone.errors import RunstoneError

        if isinstance(exc, RunstoneError):
            print(f"Error: {exc.message}", file=sys.stderr)
            sys.exit(1)
        raise


if __name__ == "__main__":
    main()
