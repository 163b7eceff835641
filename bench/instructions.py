"""Instructions per ingest request, counted by valgrind: the steady figure for an A/B comparison of
a small CPU change, which timings on a noisy machine cannot resolve.

    .venv/bin/python -m bench.instructions                  # this checkout
    .venv/bin/python -m bench.instructions --tree /tmp/old  # another one (a worktree of the commit to compare)
    .venv/bin/python -m bench.instructions --requests 50    # fewer requests: quicker, as steady

Each figure runs a fresh interpreter twice under callgrind (no cache simulation), with the same
warm-up and then 0 and ``--requests`` requests through the real Ingestor of ``bench/fakes.py``
(the 50-hit batch and the single hit of the ingest figures); the difference divided by the
requests is one request's instructions: the interpreter's start, the imports and the warm-up
cancel out. The workload is sent to the interpreter as code, so an old checkout whose bench has no
such module is measured as it is, with its own ``bench.events`` and ``bench.ingest``.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODES = ("batch", "single")
WARM_UP = 20

# what the measured interpreter runs: argv[1] the mode, argv[2] the requests after the warm-up
WORKLOAD = f"""
import sys
from bench import events
from bench.ingest import ingestor

mode, n = sys.argv[1], int(sys.argv[2])
ing, _, _ = ingestor()
if mode == "batch":
    request = events.request(events.batch_body(50))
    run = lambda: ing.segment_batch(request)
else:
    request = events.request(events.single_track_body())
    run = lambda: ing.segment(request, "track")
for _ in range({WARM_UP} + n):
    result = run()
assert result.accepted >= 1 and result.queued, "the workload routed nothing: the figure would be empty"
"""
_COLLECTED = re.compile(r"Collected\s*:\s*(\d+)")


def collected(output: str) -> int:
    """The instruction count callgrind reports at exit (``==pid== Collected : N``)."""
    found = _COLLECTED.search(output)
    if found is None:
        raise RuntimeError("callgrind reported no instruction count")
    return int(found.group(1))


def count(tree: Path, mode: str, requests: int) -> int:
    """Instructions of one interpreter running the workload with ``requests`` requests in ``tree``."""
    paths = os.pathsep.join(str(tree / p) for p in ("layers/common", ".", "tools"))
    env = {**os.environ, "PYTHONPATH": paths, "PYTHONHASHSEED": "0"}  # one hash seed: the same dict and set orders
    command = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable]
    done = subprocess.run(  # noqa: S603 - fixed arguments: this interpreter, the workload above
        [*command, "-c", WORKLOAD, mode, str(requests)],
        cwd=tree,
        env=env,
        stdout=subprocess.DEVNULL,  # the "hits routed" log lines, written as the function writes them
        stderr=subprocess.PIPE,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the workload failed in {tree}: {done.stderr.strip().splitlines()[-1:]}")
    return collected(done.stderr)


def per_request(tree: Path, mode: str, requests: int) -> float:
    return (count(tree, mode, requests) - count(tree, mode, 0)) / requests


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.instructions", description=__doc__.split("\n\n")[0])
    parser.add_argument("--tree", type=Path, default=ROOT, help="the checkout to measure (default: this one)")
    parser.add_argument("--requests", type=int, default=100, help="requests counted after the warm-up")
    args = parser.parse_args(argv)
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (apt-get install valgrind)", file=sys.stderr)
        return 2
    tree = args.tree.resolve()
    for mode in MODES:
        figure = per_request(tree, mode, args.requests)
        hits = 50 if mode == "batch" else 1
        print(
            f"{mode:6}  {figure / 1e6:8.3f} M instructions per request  {figure / hits / 1e3:8.1f} k per hit  ({tree})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
