"""Proof runs against the whole local stack (issue 9), in their short forms.

Each module starts one in-process local stack (:class:`fairtrack_tools.proofs.stack.ProofStack`: the
``fairtrack dev`` stack with a fault-injecting proxy in front of the capture server, the workers'
logs kept, visibility timeouts cut to 2 s) and shares the run's report between its tests. The long
forms are ``python -m fairtrack_tools.proofs load|canaries --hits 100000``; ``PROOF_LOAD_HITS`` and
``PROOF_CANARY_HITS`` change the sizes here.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import partial
from typing import Any

import pytest

from fairtrack_tools.proofs.canary_report import CanaryReport, run_canaries
from fairtrack_tools.proofs.closed_world import Report as ClosedWorldReport
from fairtrack_tools.proofs.closed_world import run_closed_world
from fairtrack_tools.proofs.load_report import LoadReport, run_load

LOAD_HITS = int(os.environ.get("PROOF_LOAD_HITS", "2500"))
CANARY_HITS = int(os.environ.get("PROOF_CANARY_HITS", "1500"))
CLOSED_WORLD_HITS = int(os.environ.get("PROOF_CLOSED_WORLD_HITS", "400"))


def _kept(factory: pytest.TempPathFactory, name: str, run: Callable[..., Any], **render: Any) -> Any:
    """Run one proof (``run``: a ``run_*`` of :mod:`fairtrack_tools.proofs`, given its hits) with a
    short drain timeout and its workers' logs in a fresh folder ``name``; keep its report, rendered
    with ``render``, there too (printed as well, for ``pytest -s``)."""
    logs = factory.mktemp(name)
    report = run(drain_timeout=90, log_dir=logs / "workers")
    text = report.render(**render)
    (logs / "report.txt").write_text(text + "\n")
    print(f"\n{text}\n(report: {logs / 'report.txt'})")
    return report


@pytest.fixture(scope="session")
def load_report(tmp_path_factory: pytest.TempPathFactory) -> LoadReport:
    return _kept(tmp_path_factory, "proof-load", partial(run_load, LOAD_HITS))


@pytest.fixture(scope="session")
def canary_report(tmp_path_factory: pytest.TempPathFactory) -> CanaryReport:
    return _kept(tmp_path_factory, "proof-canaries", partial(run_canaries, CANARY_HITS))


@pytest.fixture(scope="session")
def closed_world_report(tmp_path_factory: pytest.TempPathFactory) -> ClosedWorldReport:
    return _kept(tmp_path_factory, "proof-closed-world", partial(run_closed_world, CLOSED_WORLD_HITS), max_rows=200)
