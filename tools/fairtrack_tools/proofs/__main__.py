"""``python -m fairtrack_tools.proofs load|canaries``: the long proof runs (see :mod:`fairtrack_tools.proofs`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from fairtrack_tools.proofs.canary_report import CanaryReport, run_canaries
from fairtrack_tools.proofs.load_report import LoadReport, run_load


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m fairtrack_tools.proofs",
        description="Proof runs against the whole local stack: nothing lost under faults, nothing personal leaks.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name, rate, seed in (("load", 0.30, 7), ("canaries", 0.10, 11)):
        cmd = sub.add_parser(name)
        cmd.add_argument("--hits", type=int, default=100_000)
        cmd.add_argument("--seed", type=int, default=seed)
        cmd.add_argument(
            "--fault-rate", type=float, default=rate, help=f"share of destination requests failing (default {rate})"
        )
        cmd.add_argument("--visibility", type=int, default=2, help="queue visibility timeout in seconds (default 2)")
        cmd.add_argument("--drain-timeout", type=float, default=3600.0, help="seconds to wait for the queues to empty")
        cmd.add_argument("--concurrency", type=int, default=4, help="requests in flight to the ingest API")
        cmd.add_argument("--log-dir", type=Path, help="keep the workers' logs here (default: a temporary directory)")
    args = parser.parse_args(argv)

    def say(message: str) -> None:
        print(f"[proof] {message}", file=sys.stderr, flush=True)

    common: dict[str, Any] = {
        "seed": args.seed,
        "fault_rate": args.fault_rate,
        "visibility_seconds": args.visibility,
        "drain_timeout": args.drain_timeout,
        "concurrency": args.concurrency,
        "log_dir": args.log_dir,
        "progress": say,
    }
    report: LoadReport | CanaryReport
    report = run_load(args.hits, **common) if args.command == "load" else run_canaries(args.hits, **common)
    print(report.render(), flush=True)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
