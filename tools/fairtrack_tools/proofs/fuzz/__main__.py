"""``python -m fairtrack_tools.proofs.fuzz``: the long run (see :mod:`fairtrack_tools.proofs.fuzz`)."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from fairtrack_tools.proofs.fuzz.longrun import long_run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m fairtrack_tools.proofs.fuzz",
        description="Fuzz the ingest handler in-process (moto): 0 exceptions, 0 5xx, no secret echoed.",
    )
    parser.add_argument("--seconds", type=float, default=600.0, help="how long to run (default 600)")
    parser.add_argument(
        "--atheris", action="store_true", help="coverage-guided: libFuzzer (atheris) drives the strategies"
    )
    parser.add_argument("--seed", type=int, default=None, help="Hypothesis seed (default: random)")
    default_artifacts = Path(tempfile.gettempdir()) / "fairtrack-fuzz"
    parser.add_argument(
        "--artifacts",
        type=Path,
        default=default_artifacts,
        help=f"where the failing events are written (default {default_artifacts})",
    )
    parser.add_argument("libfuzzer", nargs="*", help="with --atheris: extra libFuzzer arguments (after --)")
    args = parser.parse_args(argv)
    return long_run(
        args.seconds, use_atheris=args.atheris, artifacts=args.artifacts, seed=args.seed, extra=args.libfuzzer
    )


if __name__ == "__main__":
    sys.exit(main())
