"""Load and faults: every accepted event is delivered, dropped by a rule, failed or dead-lettered.

A few thousand Segment hits (single and batch requests, eight consent states) through the real
ingest API while GA4, Meta and the webhook fail 30% of their requests (500, 503, 429, timeouts,
connection resets, and a share of permanent refusals), with visibility timeouts of 2 s so SQS
redelivers within seconds. See :mod:`fairtrack_tools.proofs` for how each column is counted.
"""

from __future__ import annotations

import math

import pytest

from fairtrack.destinations.guarantees import GUARANTEES
from fairtrack_tools.proofs.faults import PERMANENT_FAULT, RETRYABLE_FAULTS, FaultPlan
from fairtrack_tools.proofs.load_report import INGEST_LOG_REJECTED, LoadReport

pytestmark = pytest.mark.timeout(300)


def test_every_accepted_event_is_accounted_for_and_none_is_lost(load_report: LoadReport) -> None:
    for destination, row in load_report.rows.items():
        assert row.accepted > 0, destination
        assert row.lost == [], f"{destination}: lost {len(row.lost)}, e.g. {row.lost[:5]}"
        assert row.settled == row.accepted, destination
        assert row.queued == 0, f"{destination}: {row.queued} still queued"


def test_duplicates_are_what_each_destination_is_guaranteed_and_none_goes_where_it_should_not(
    load_report: LoadReport,
) -> None:
    for destination, row in load_report.rows.items():
        guarantee = GUARANTEES[destination]
        if guarantee.delivery == "exactly once":  # GA4, through its ledger: not one copy
            assert row.duplicates == 0, destination
        else:  # at least once: every copy carries the key, so none is left once deduplicated by it
            assert row.after_dedup == 0, f"{destination}: {row.duplicates} raw, {row.after_dedup} after dedup"
            assert row.after_dedup <= row.duplicates, destination
        assert not row.unexpected, f"{destination}: {dict(row.unexpected)}"


def test_the_faults_were_real_and_the_ledger_stopped_resends(load_report: LoadReport) -> None:
    # the run proves nothing unless every HTTP destination failed often, retryably and for good
    for destination in ("ga4", "webhook"):
        counts = load_report.faults[destination]
        failing = sum(counts[k] for k in (*RETRYABLE_FAULTS, PERMANENT_FAULT))
        # the injected share is binomial around the plan's rate: within 4.5 standard deviations of
        # it (a false alarm about once in 70,000 runs for the two), over enough requests to mean it
        rate, n = FaultPlan().rate, counts["requests"]
        assert n >= 100, (destination, dict(counts))
        assert abs(failing / n - rate) <= 4.5 * math.sqrt(rate * (1 - rate) / n), (destination, dict(counts))
        assert all(counts[k] for k in RETRYABLE_FAULTS), (destination, dict(counts))
        assert sum(load_report.logs.retried[destination].values()) > 0, destination
    assert load_report.faults["meta"]["requests"] > 0
    # GA4: events of retried messages, already sent, not sent again (the ledger claim names them)
    assert load_report.logs.duplicates["ga4"] > 0
    assert sum(sum(row.failed.values()) for row in load_report.rows.values()) > 0  # the failed store was used
    assert sum(sum(row.dropped.values()) for row in load_report.rows.values()) > 0


def test_logs_metrics_failed_store_and_proxy_agree_with_the_table(load_report: LoadReport) -> None:
    failing = [c for c in load_report.checks if not c.ok and c.name != INGEST_LOG_REJECTED]
    assert not failing, "\n".join(f"{c.name}: {c.detail}" for c in failing)


def test_ingest_log_counts_the_events_it_rejected(load_report: LoadReport) -> None:
    [check] = [c for c in load_report.checks if c.name == INGEST_LOG_REJECTED]
    assert check.ok, check.detail
