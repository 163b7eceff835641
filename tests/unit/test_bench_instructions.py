"""bench.instructions: the valgrind A/B figure's parts, without valgrind (too slow for the suite)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # the repository root, for `bench`

from bench import instructions  # noqa: E402


def test_the_instruction_count_is_read_from_callgrinds_summary() -> None:
    output = "==4242== Events    : Ir\n==4242== Collected : 8911535400\n==4242== I   refs:      8,911,535,400\n"
    assert instructions.collected(output) == 8_911_535_400
    with pytest.raises(RuntimeError, match="no instruction count"):
        instructions.collected("==4242== error: valgrind: no such tool\n")


@pytest.mark.parametrize("mode", instructions.MODES)
def test_the_workload_routes_hits_in_this_checkout(mode: str) -> None:
    # what callgrind runs: it must route hits (its own assert fails loudly on an empty figure)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(str(ROOT / p) for p in ("layers/common", ".", "tools"))}
    done = subprocess.run(
        [sys.executable, "-c", instructions.WORKLOAD, mode, "1"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count('"hits routed"') == instructions.WARM_UP + 1
