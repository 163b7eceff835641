"""docs/scaling.md is what ``python -m bench.scaling`` prints from the recorded bench figures, and
its arithmetic is Little's law and a 30-day month."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root, for `bench`

from bench import scaling

ROOT = Path(__file__).resolve().parents[2]

SHAPES = [
    scaling.Shape("single", 1, 4.0, 3.0, 40, {"ga4": 100, "meta": 50, "webhook": 60, "lake": 30}),
    scaling.Shape("batched", 50, 0.2, 0.08, 150, {"ga4": 2000, "meta": 900, "webhook": 1000, "lake": 700}),
]


def _cells(table: str, starts: str) -> list[str]:
    line = next(line for line in table.splitlines() if line.startswith(f"| {starts}"))
    return [cell.strip() for cell in line.strip("|").split("|")]


def test_the_doc_holds_the_tables_the_bench_prints() -> None:
    doc = (ROOT / "docs" / "scaling.md").read_text()
    begin, end = doc.index(scaling.BEGIN), doc.index(scaling.END) + len(scaling.END)

    assert doc[begin:end] == scaling.tables(scaling.recorded())


def test_concurrency_is_rate_times_billed_duration() -> None:
    """Given 10,000 hits/s and forwarder batches of 100 messages, then ingest needs 10,000 x 40 ms =
    400 concurrent single-hit invocations and 200 x 150 ms = 30 for batches; each forwarder gets 100
    (single) or 2 (batched) batches a second, so 100 x (100 + 50 + 60 + 30) ms = 24 and
    2 x 4,600 ms = 9.2."""
    assert scaling.SQS_BATCH == 100  # the template's ForwarderBatchSize: the figures below assume it
    table = scaling.load_table(SHAPES)

    assert _cells(table, "API Gateway")[1:3] == ["10,000", "200"]
    assert _cells(table, "ingest concurrency")[1:3] == ["400", "30"]
    assert _cells(table, "forwarder batches")[1:3] == ["100", "2"]
    assert _cells(table, "forwarder concurrency")[1:3] == ["24", "9.2"]
    assert _cells(table, "Lambda concurrency")[1:3] == ["424", "39"]
    assert _cells(table, "GA4 claim writes")[1:3] == ["10,000", "200"]
    assert _cells(table, "Firehose")[1:3] == ["400", "8"]
    assert _cells(table, "Meta requests")[1:3] == ["100", "10"]  # 5,000 events a batch: 5 requests


@pytest.mark.parametrize(
    ("rate", "single", "batched"), [(1_000, "$10,368", "$518"), (100_000, "$1,036,800", "$51,840")]
)
def test_monthly_cost_is_hits_in_a_30_day_month_times_the_price(rate: int, single: str, batched: str) -> None:
    table = scaling.cost_table(SHAPES)
    row = _cells(table, f"{rate:,}")

    assert row[1] == f"{rate * 2_592_000:,}"
    assert row[2].endswith(single)
    assert row[3].endswith(batched)
