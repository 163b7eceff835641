"""``python -m fairtrack_tools.proofs.closed_world --hits 5000``: the long form (see the package)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fairtrack_tools.proofs.closed_world.run import SHORT_FAULTS, run_closed_world
from fairtrack_tools.proofs.faults import FaultPlan


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m fairtrack_tools.proofs.closed_world",
        description="Closed-world canary proof: personal data planted in every place a client can put a value.",
    )
    parser.add_argument("--hits", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--fault-rate", type=float, default=SHORT_FAULTS.rate)
    parser.add_argument("--drain-timeout", type=float, default=1800.0)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--max-rows", type=int, default=0, help="leak table rows to print (0: all)")
    parser.add_argument("--log-dir", type=Path)
    args = parser.parse_args(argv)

    def say(message: str) -> None:
        print(f"[closed-world] {message}", file=sys.stderr, flush=True)

    report = run_closed_world(
        args.hits,
        seed=args.seed,
        faults=FaultPlan(rate=args.fault_rate, mix=SHORT_FAULTS.mix, seed=args.seed),
        drain_timeout=args.drain_timeout,
        concurrency=args.concurrency,
        log_dir=args.log_dir,
        progress=say,
    )
    print(report.render(args.max_rows or None), flush=True)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
