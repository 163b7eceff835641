"""Proof runs against the whole local stack (issue 9), in their short forms.

Each module starts one in-process local stack (:class:`fairtrack_tools.proofs.stack.ProofStack`: the
``fairtrack dev`` stack with a fault-injecting proxy in front of the capture server, the workers'
logs kept, visibility timeouts cut to 2 s) and shares the run's report between its tests. The long
forms are ``python -m fairtrack_tools.proofs load|canaries --hits 100000``; ``PROOF_LOAD_HITS`` and
``PROOF_CANARY_HITS`` change the sizes here.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fairtrack_tools.proofs.canary_report import CanaryReport, run_canaries
from fairtrack_tools.proofs.closed_world import Report as ClosedWorldReport
from fairtrack_tools.proofs.closed_world import run_closed_world
from fairtrack_tools.proofs.load_report import LoadReport, run_load

LOAD_HITS = int(os.environ.get("PROOF_LOAD_HITS", "2500"))
CANARY_HITS = int(os.environ.get("PROOF_CANARY_HITS", "1500"))
CLOSED_WORLD_HITS = int(os.environ.get("PROOF_CLOSED_WORLD_HITS", "400"))


def _keep(report_text: str, path: Path) -> None:
    path.write_text(report_text + "\n")
    print(f"\n{report_text}\n(report: {path})")


@pytest.fixture(scope="session")
def load_report(tmp_path_factory: pytest.TempPathFactory) -> LoadReport:
    logs = tmp_path_factory.mktemp("proof-load")
    report = run_load(LOAD_HITS, drain_timeout=90, log_dir=logs / "workers")
    _keep(report.render(), logs / "report.txt")
    return report


@pytest.fixture(scope="session")
def canary_report(tmp_path_factory: pytest.TempPathFactory) -> CanaryReport:
    logs = tmp_path_factory.mktemp("proof-canaries")
    report = run_canaries(CANARY_HITS, drain_timeout=90, log_dir=logs / "workers")
    _keep(report.render(), logs / "report.txt")
    return report


@pytest.fixture(scope="session")
def closed_world_report(tmp_path_factory: pytest.TempPathFactory) -> ClosedWorldReport:
    logs = tmp_path_factory.mktemp("proof-closed-world")
    report = run_closed_world(CLOSED_WORLD_HITS, drain_timeout=90, log_dir=logs / "workers")
    _keep(report.render(max_rows=200), logs / "report.txt")
    return report
