"""``python -m bench --quick`` runs in-process and prints a sane table (bench/).

No timing is asserted: the CPU figures are only checked to be positive ratios. The structural
figures (AWS calls per request, policy-store calls) are checked exactly, since they do not depend
on the machine.
"""

from __future__ import annotations

import contextlib
import io
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root, for `bench`

from bench.__main__ import main
from bench.core import Row

EXPECTED_KEYS = {
    "ingest.batch.cpu_per_hit",
    "ingest.single.cpu_per_request",
    "aws.calls_per_request.batch",
    "aws.calls_per_request.single",
    "aws.calls_per_request.no_consent",
    "store.calls_per_1000_hits.batch",
    "store.table_reads_per_1000_hits.batch",
    "store.calls_per_1000_hits.single",
    "store.table_reads_per_1000_hits.single",
    "ingest.anonymise.cpu_per_hit",
    "useragent.first_parse",
    "useragent.cached_per_call",
    "useragent.uncached_per_call",
}


@pytest.fixture(scope="module")
def quick_run() -> tuple[int, dict[str, Row], str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code, rows = main(["--quick"])
    return code, {row.key: row for row in rows}, out.getvalue()


def test_quick_run_prints_every_figure(quick_run: tuple[int, dict[str, Row], str]) -> None:
    """Given ``--quick``, then every figure is measured once and printed in the table."""
    code, rows, table = quick_run

    assert code == 0  # without --strict a missed target is reported, not an error
    assert set(rows) == EXPECTED_KEYS
    for row in rows.values():
        assert row.figure in table
    assert "PASS" in table


def test_cpu_figures_are_positive_ratios(quick_run: tuple[int, dict[str, Row], str]) -> None:
    """Given the CPU figures, then each has a positive value, baseline and ratio (never a time assertion)."""
    _, rows, _ = quick_run

    for key in ("ingest.batch.cpu_per_hit", "ingest.single.cpu_per_request"):
        row = rows[key]
        assert row.unit == "µs"
        assert row.value > 0
        assert row.baseline > 0
        assert row.ratio is not None
        assert row.ratio > 0
        assert row.passed is not None


def test_aws_calls_per_request_equal_destinations_receiving_data(quick_run: tuple[int, dict[str, Row], str]) -> None:
    """Given a batch and a single hit with analytics consent, then each request makes one SQS call per
    destination that receives data; without consent, only the lake's necessary-only record goes."""
    _, rows, _ = quick_run

    for key in ("aws.calls_per_request.batch", "aws.calls_per_request.single"):
        row = rows[key]
        assert row.baseline >= 1, "with analytics consent some destination must receive data"
        assert row.value == row.baseline
        assert row.ratio == 1.0
        assert row.passed is True
    no_consent = rows["aws.calls_per_request.no_consent"]
    assert (no_consent.value, no_consent.baseline, no_consent.passed) == (1, 1, True)


def test_policy_store_is_read_per_request_not_per_hit(quick_run: tuple[int, dict[str, Row], str]) -> None:
    """Given 1,000 hits, then the store is called at most twice per request and the warm table barely read."""
    _, rows, _ = quick_run

    batch = rows["store.calls_per_1000_hits.batch"]
    single = rows["store.calls_per_1000_hits.single"]
    assert batch.baseline == 20
    assert single.baseline == 1000
    for row in (batch, single):
        assert 0 < row.value <= 2 * row.baseline
        assert row.passed is True
    for key in ("store.table_reads_per_1000_hits.batch", "store.table_reads_per_1000_hits.single"):
        assert rows[key].value <= 3
        assert rows[key].passed is True
