"""``python -m bench [--rounds N] [--quick] [--strict]``: print the figures table."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from bench.core import Options, Row, format_table, run
from bench.runner import BENCHMARKS


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Print fairtrack's figures, each against a baseline measured in the same run.",
    )
    parser.add_argument("--rounds", type=int, default=None, help="timed rounds per figure (default 7, quick 3)")
    parser.add_argument("--quick", action="store_true", help="short rounds: a smoke run, not a measurement")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a figure misses its target")
    return parser.parse_args(argv)


def options_from(args: argparse.Namespace) -> Options:
    rounds = args.rounds if args.rounds is not None else (3 if args.quick else 7)
    if rounds < 1:
        raise SystemExit("--rounds must be at least 1")
    return Options(rounds=rounds, quick=args.quick)


def main(argv: Sequence[str] | None = None) -> tuple[int, list[Row]]:
    args = parse_args(argv)
    options = options_from(args)
    rows = run(BENCHMARKS, options)
    mode = "quick (not a measurement)" if options.quick else f"{options.rounds} rounds"
    print(f"fairtrack bench, {mode}; CPU time of this process, ratios against a floor measured in the same run\n")
    print(format_table(rows))
    failed = [row for row in rows if row.passed is False]
    return (1 if args.strict and failed else 0), rows


if __name__ == "__main__":
    sys.exit(main()[0])
