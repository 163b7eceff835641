"""``python -m bench --quick`` runs in-process and prints a sane table (bench/).

No timing is asserted: the CPU figures are only checked to be positive ratios. The structural
figures (AWS calls per request, policy-store calls, forwarder requests per batch, the cost model's
arithmetic) are checked exactly, since they do not depend on the machine.
"""

from __future__ import annotations

import contextlib
import io
import math
import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root, for `bench`

from bench.__main__ import main
from bench.core import Row
from bench.cost import COMPONENTS
from bench.forwarder import EVENTS_PER_RECORD, RECORDS_PER_BATCH

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
    "ingest.batch.libraries_per_hit",
    "useragent.first_parse",
    "useragent.cached_per_call",
    "useragent.uncached_per_call",
    *(
        f"coldstart.{s}.{m}"
        for s in ("ingest", "floor_ingest", "forwarder_ga4", "forwarder_lake")
        for m in ("bytecode", "source")
    ),
    *(f"coldstart.first_request.{s}" for s in ("ingest", "forwarder_lake")),
    *(
        f"forwarder.{d}.{f}"
        for d in ("ga4", "meta", "webhook", "lake")
        for f in ("cpu_per_record", "requests_per_batch")
    ),
    *(
        f"forwarder.{d}.decision_record_bytes.{s}"
        for d in ("ga4", "meta", "webhook", "lake")
        for s in ("single", "batched")
    ),
    *(f"cost.{c}" for c in (*COMPONENTS, "total", "floor", "total_vs_floor", "total_batched")),
    *(f"walltime.ingest.{s}" for s in ("single", "batched")),
    *(f"walltime.forwarder.{d}.{s}" for d in ("ga4", "meta", "webhook", "lake") for s in ("single", "batched")),
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


def test_each_batch_writes_one_decision_record_within_one_billed_unit(
    quick_run: tuple[int, dict[str, Row], str],
) -> None:
    """Given batches of 25 single-hit or 50-hit envelopes, then each forwarder's decision log is one
    Firehose record of gzip NDJSON, smaller than the 5 KB Firehose bills it as: rows are counts
    per field and reason, so 50 times the events add no rows."""
    _, rows, _ = quick_run
    for d in ("ga4", "meta", "webhook", "lake"):
        single, batched = (rows[f"forwarder.{d}.decision_record_bytes.{s}"] for s in ("single", "batched"))
        for row in (single, batched):
            assert 100 < row.value < 5 * 1024, (d, row.value)
            assert "1 record(s)" in row.note and "billed as 1 x 5 KB" in row.note
        assert batched.value < 2 * single.value


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


def test_the_libraries_part_is_informational_and_measured_on_the_same_floor(
    quick_run: tuple[int, dict[str, Row], str],
) -> None:
    """Given the libraries' part of a hit, then it has no target, reads against the same kind of
    JSON floor as the ingest figure, and names one envelope per destination receiving data."""
    _, rows, _ = quick_run

    part, whole = rows["ingest.batch.libraries_per_hit"], rows["ingest.batch.cpu_per_hit"]
    calls = rows["aws.calls_per_request.batch"]
    assert part.passed is None
    assert part.value > 0
    assert part.baseline > 0
    assert part.baseline_label == whole.baseline_label
    assert f"{int(calls.baseline)} envelopes" in part.figure


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


def test_cold_imports_are_positive_ratios_against_boto3(quick_run: tuple[int, dict[str, Row], str]) -> None:
    """Given the cold-start figures, then each handler's import has a positive CPU time, baseline
    and ratio, with and without bytecode, and says that Lambda runs another Python."""
    _, rows, _ = quick_run

    for key in (k for k in rows if k.startswith("coldstart.") and k.endswith((".bytecode", ".source"))):
        row = rows[key]
        assert row.unit == "ms"
        assert 0 < row.value < 60_000
        assert 0 < row.baseline < 60_000
        assert row.ratio is not None
        assert row.ratio > 0
        assert (row.passed is None) == key.startswith("coldstart.floor_")  # the libraries' floor has no target
        if row.passed is not None:  # the handlers' cold imports are regression guards
            assert row.target.startswith("guard:")
            assert re.search(r"guard: recorded \d+\.\d\dx, now \d+\.\d\dx", row.note), row.note
        assert "3.13" in row.note
        assert re.search(r"collector paused too, .*: \d+ ms, \d+\.\d\dx;", row.note), row.note


def _modules(row: Row) -> int:
    found = re.search(r"; (\d+) modules;", row.note)
    assert found, row.note
    return int(found.group(1))


def test_the_libraries_floor_is_ingest_without_fairtrack(quick_run: tuple[int, dict[str, Row], str]) -> None:
    """Given the cold import of ingest's libraries alone, then it loads fewer modules than the ingest
    handler (fairtrack's are missing) against the same baseline: the floor the ingest figure is read
    against."""
    _, rows, _ = quick_run

    for mode in ("bytecode", "source"):
        floor, ingest = rows[f"coldstart.floor_ingest.{mode}"], rows[f"coldstart.ingest.{mode}"]
        assert 0 < _modules(floor) < _modules(ingest)
        assert floor.baseline == ingest.baseline


def test_cold_starts_with_a_first_request_are_informational_ratios(quick_run: tuple[int, dict[str, Row], str]) -> None:
    """Given the cold-start figures with a first request (against moto on loopback), then each has a
    positive CPU time, baseline and ratio, costs more than its import alone, and has no target."""
    _, rows, _ = quick_run

    for name in ("ingest", "forwarder_lake"):
        row = rows[f"coldstart.first_request.{name}"]
        assert row.unit == "ms"
        assert 0 < row.value < 60_000
        assert 0 < row.baseline < 60_000
        assert row.ratio is not None
        assert row.ratio > 0
        assert row.passed is None
        assert "3.13" in row.note


def test_forwarder_batches_follow_each_destinations_request_rule(quick_run: tuple[int, dict[str, Row], str]) -> None:
    """Given a batch of records (the template's batch size) of 2-4 events for each destination,
    then the forwarder spends positive CPU per record, delivers every record, and sends as many requests as the
    destination's batching rule calls for: GA4 per 25 events of a client, Meta one per 1,000
    events, the webhook one per record, the lake one object per (date, source)."""
    _, rows, _ = quick_run
    events = sum(EVENTS_PER_RECORD[i % len(EVENTS_PER_RECORD)] for i in range(RECORDS_PER_BATCH))

    for destination in ("ga4", "meta", "webhook", "lake"):
        cpu = rows[f"forwarder.{destination}.cpu_per_record"]
        assert cpu.unit == "µs"
        assert cpu.value > 0
        assert cpu.baseline > 0
        assert cpu.ratio is not None
        assert cpu.ratio > 0
        assert "0 records failed" in cpu.note
        assert f"{events} sent" in cpu.note  # no event dropped by the mapping
        requests = rows[f"forwarder.{destination}.requests_per_batch"]
        assert requests.value == requests.baseline
        assert requests.passed is True
    assert rows["forwarder.ga4.requests_per_batch"].value >= math.ceil(events / 25)  # 25 events per request
    assert rows["forwarder.meta.requests_per_batch"].value == math.ceil(events / 1000)
    assert rows["forwarder.webhook.requests_per_batch"].value == RECORDS_PER_BATCH  # one per queue message
    assert rows["forwarder.lake.requests_per_batch"].value == 1


def test_cost_model_adds_up(quick_run: tuple[int, dict[str, Row], str]) -> None:
    """Given the cost rows, then every component is a non-negative price per million hits, the
    total is their sum for single hits and for 50-hit batches, per-request prices shrink 50-fold
    with batching, GA4's claims are one write per GA4 message, and batching is cheaper overall."""
    _, rows, _ = quick_run

    parts = [rows[f"cost.{c}"] for c in COMPONENTS]
    total = rows["cost.total"]
    for row in (*parts, total):
        assert row.unit == "$"
        assert row.value >= 0
        assert row.baseline >= 0
        assert row.passed is None
    assert total.value == pytest.approx(sum(r.value for r in parts))
    assert total.baseline == pytest.approx(sum(r.baseline for r in parts))
    assert rows["cost.api"].value == pytest.approx(1.00)  # 1M requests x $1.00/M
    assert rows["cost.api"].baseline == pytest.approx(0.02)  # 20,000 requests
    assert rows["cost.ingest_requests"].value == pytest.approx(0.20)
    assert rows["cost.sqs_send"].value == pytest.approx(4 * 0.40)  # 4 destinations, 1 small message each
    assert rows["cost.ga4_claims"].value == pytest.approx(0.625)  # 1M GA4 messages, 1 WRU each
    assert rows["cost.ga4_claims"].baseline == pytest.approx(0.625 / 50)  # one message per 50 hits
    records = 4 * 1_000_000 / RECORDS_PER_BATCH  # one per forwarder batch and destination
    assert rows["cost.decision_log"].value == pytest.approx(records * 5 * 1024 / 1024**3 * 0.029)  # 5 KB records
    assert rows["cost.ingest_duration"].value > 0
    assert rows["cost.forwarder_duration"].value > 0
    assert total.value > total.baseline


def test_the_floor_and_the_targets_read_the_same_model(quick_run: tuple[int, dict[str, Row], str]) -> None:
    """Given the floor row, then it is API Gateway + SQS sends + receives and deletes, for both
    shapes; the single-hit target is the total against that floor (at most 1.5x) and the batched
    one the total in dollars (at most $1.00), each judged PASS or FAIL from those very figures."""
    _, rows, _ = quick_run

    floor, total = rows["cost.floor"], rows["cost.total"]
    for value in ("value", "baseline"):
        assert getattr(floor, value) == pytest.approx(
            sum(getattr(rows[f"cost.{k}"], value) for k in ("api", "sqs_send", "sqs_receive"))
        )
    vs = rows["cost.total_vs_floor"]
    assert (vs.value, vs.baseline) == (pytest.approx(total.value), pytest.approx(floor.value))
    assert vs.ratio == pytest.approx(total.value / floor.value)
    assert vs.passed is (vs.ratio <= 1.5)
    batched = rows["cost.total_batched"]
    assert batched.value == pytest.approx(total.baseline)
    assert batched.passed is (batched.value <= 1.00)


def test_wall_times_are_measured_on_the_local_stack(quick_run: tuple[int, dict[str, Row], str]) -> None:
    """Given the wall-time rows, then every invocation has a positive wall time and CPU, and a
    50-hit request spends more CPU than a single hit."""
    _, rows, _ = quick_run

    for key in (k for k in rows if k.startswith("walltime.")):
        row = rows[key]
        assert row.unit == "ms"
        assert row.value > 0
        assert row.baseline > 0
        assert row.passed is None
        assert "p90" in row.note
    assert rows["walltime.ingest.batched"].baseline > rows["walltime.ingest.single"].baseline
