"""The decision log (aggregation per batch, the Firehose record and the former S3 object, settlement
rules), the forwarder's use of it (a log failure never touches delivery) and the audit report
rendered from its rows."""

from __future__ import annotations

import copy
import gzip
import io
import json
import re
from collections import Counter
from datetime import UTC, date, datetime
from typing import Any

import pytest
from unit_policy_docs import default_policy, purposes, type_attribute

from fairtrack.destinations import Delivery, DeliveryReport, EventRef, Failure
from fairtrack.forwarder import Forwarder
from fairtrack.observability import metrics
from fairtrack.policy import Decision, Policy, evaluate
from fairtrack.settings import ForwarderSettings
from fairtrack.stores.decision_log import (
    PUT_ATTEMPTS,
    BatchDecisions,
    BucketDecisionLog,
    DecisionCounts,
    DecisionLog,
    day_of,
    decision_log_bucket,
    decision_log_stream,
    merge_rows,
    read_rows,
)
from fairtrack_tools.ops import audit

ANONYMOUS_ID = "p-0cc175b9c0f1b6a831c399e269772661"  # a gateway pseudonym, as ingest makes it
ROW_KEYS = {"day", "source", "destination", "field", "action", "reason", "purpose", "legal_basis", "policy_version"}
ANALYTICS = ["analytics", "necessary"]


@pytest.fixture(scope="module")
def policy() -> Policy:
    return default_policy(4)


def hit(message_id: str, *, day: str = "2026-11-24", properties: bool = True, url: bool = False) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": "track",
        "messageId": message_id,
        "event": "Order Completed",
        "anonymousId": ANONYMOUS_ID,
        "timestamp": f"{day}T10:15:00.000Z",
        "receivedAt": f"{day}T10:15:02.000Z",
        "context": {"page": {"path": "/thanks", "title": "Thanks"}, "locale": "de-DE", "ip": "203.0.113.0"},
    }
    if properties:
        event["properties"] = {"order_id": "ord_1", "revenue": 9.5}
    if url:
        event["context"]["page"]["url"] = "https://shop.example/thanks"
    return event


def decide(
    batch: BatchDecisions, policy: Policy, message_id: str, event: dict[str, Any], purposes: list[str]
) -> dict[str, Any] | None:
    minimal, decisions = evaluate(event, frozenset(purposes), batch.destination, policy, record=True)
    if minimal is None:
        skip = next(d for d in decisions if d.action == "skipped")
        batch.skipped(message_id, day_of(event), "web", skip, policy)
    else:
        batch.evaluated(
            message_id, event["messageId"], day_of(event), "web", version=policy.version, decisions=decisions
        )
    return minimal


def by_key(rows: list[dict[str, Any]]) -> dict[tuple[Any, ...], int]:
    return {(r["field"], r["action"], r["reason"]): r["count"] for r in rows}


# -- aggregation ------------------------------------------------------------------------------------


def test_sent_events_are_counted_per_field_with_purpose_basis_and_version(policy: Policy) -> None:
    # Given three webhook events, two with properties and one with a URL the webhook may not have
    batch = BatchDecisions("webhook")
    decide(batch, policy, "m1", hit("e1"), ANALYTICS)
    decide(batch, policy, "m1", hit("e2", properties=False), ANALYTICS)
    decide(batch, policy, "m2", hit("e3", url=True), ANALYTICS)
    # When all three are sent
    batch.sent([EventRef("m1", "e1"), EventRef("m1", "e2"), EventRef("m2", "e3")])
    rows = batch.finish(set()).rows()
    # Then there is one event row and one row per field decision, counted over the events
    counts = by_key(rows)
    assert counts[(None, "sent", "delivered")] == 3
    assert counts[("messageId", "sent", "allowed")] == 3
    assert counts[("context.page.path", "sent", "allowed")] == 3
    assert counts[("properties", "sent", "allowed")] == 2
    assert counts[("context.page.url", "dropped", "not_allowed_for_destination")] == 1
    props = next(r for r in rows if r["field"] == "properties")
    assert props == {
        "day": "2026-11-24",
        "source": "web",
        "destination": "webhook",
        "field": "properties",
        "action": "sent",
        "reason": "allowed",
        "purpose": "analytics",
        "legal_basis": "consent",
        "policy_version": 4,
        "count": 2,
    }
    # and every row has exactly the documented keys, no id and no value anywhere
    assert all(set(r) == {*ROW_KEYS, "count"} for r in rows)
    text = json.dumps(rows)
    for secret in ("e1", "e2", "e3", "m1", "ord_1", "203.0.113.0", ANONYMOUS_ID, "/thanks", "shop.example"):
        assert f'"{secret}"' not in text and secret not in text.replace("context.page", "")


def test_reduced_fields_are_counted_as_reduced(policy: Policy) -> None:
    # Given a policy whose lake gets the page URL cut to its origin without analytics
    doc = policy.model_dump(mode="python", exclude={"version"})
    doc["attributes"]["context.page.url"]["reduced"] = "url_origin"
    reducing = Policy.model_validate({**doc, "version": 5})
    batch = BatchDecisions("lake")
    minimal = decide(batch, reducing, "m1", hit("e1", url=True), ["necessary"])
    assert minimal is not None and minimal["context"]["page"]["url"] == "https://shop.example"
    batch.sent([EventRef("m1", "e1")])
    counts = by_key(batch.finish(set()).rows())
    assert counts[("context.page.url", "reduced", "purpose_not_granted")] == 1
    assert counts[("properties", "dropped", "purpose_not_granted")] == 1


def test_a_skip_names_the_missing_purpose_and_its_legal_basis(policy: Policy) -> None:
    batch = BatchDecisions("webhook")
    assert decide(batch, policy, "m1", hit("e1"), ["necessary"]) is None
    assert decide(batch, policy, "m1", hit("e2"), ["necessary"]) is None
    (row,) = batch.finish(set()).rows()
    assert row == {
        "day": "2026-11-24",
        "source": "web",
        "destination": "webhook",
        "field": None,
        "action": "skipped",
        "reason": "purpose_not_granted",
        "purpose": "analytics",
        "legal_basis": "consent",
        "policy_version": 4,
        "count": 2,
    }


def test_any_of_requirements_keep_every_purpose_and_basis() -> None:
    doc = {
        "purposes": purposes(necessary="legitimate_interest", analytics="consent", fraud="legitimate_interest"),
        "attributes": {"type": type_attribute()},
        "destinations": {"webhook": {"requires": {"any": ["analytics", "fraud"]}, "attributes": ["type"]}},
    }
    policy = Policy.model_validate(doc)
    batch = BatchDecisions("webhook")
    decide(batch, policy, "m1", {"type": "track", "messageId": "e1", "receivedAt": "2026-01-02T00:00:00Z"}, [])
    (row,) = batch.finish(set()).rows()
    assert (row["reason"], row["purpose"], row["legal_basis"]) == (
        "purpose_not_granted",
        "analytics|fraud",
        "consent,legitimate_interest",
    )


def test_events_are_counted_only_once_they_settle(policy: Policy) -> None:
    # Given two messages: m1 with a sent, a dropped, a failed and a skipped event; m2 (retried by
    # SQS) with a sent event, a dropped one, a skipped one and one the destination left for retry
    batch = BatchDecisions("ga4")
    for mid, eid in (("m1", "sent"), ("m1", "drop"), ("m1", "fail"), ("m2", "sent2"), ("m2", "drop2"), ("m2", "wait")):
        decide(batch, policy, mid, hit(eid), ANALYTICS)
    decide(batch, policy, "m1", hit("skip"), ["necessary"])
    decide(batch, policy, "m2", hit("skip2"), ["necessary"])
    batch.sent([EventRef("m1", "sent"), EventRef("m2", "sent2")])
    batch.dropped([(EventRef("m1", "drop"), "too_old"), (EventRef("m2", "drop2"), "too_old")])
    batch.failed([EventRef("m1", "fail")], "http_400")
    counts = by_key(batch.finish({"m2"}).rows())
    # Then sent and failed events count at once (the ledger settles them), skips and drops only in
    # messages SQS will not redeliver, and the event left for retry not at all
    assert counts[(None, "sent", "delivered")] == 2
    assert counts[(None, "failed", "http_400")] == 1
    assert counts[(None, "dropped", "too_old")] == 1
    assert counts[(None, "skipped", "purpose_not_granted")] == 1
    assert counts[("messageId", "sent", "allowed")] == 2  # fields only of sent events
    assert sum(n for (f, a, _), n in counts.items() if f is None) == 5


def test_unknown_refs_and_nothing_settled_give_no_rows(policy: Policy) -> None:
    batch = BatchDecisions("webhook")
    decide(batch, policy, "m1", hit("e1"), ANALYTICS)
    batch.sent([EventRef("m1", "not-this-one")])
    counts = batch.finish(set())
    assert not counts and counts.rows() == []


def test_the_day_is_the_received_day_and_never_a_client_string() -> None:
    assert day_of({"receivedAt": "2026-11-24T23:59:59.999Z"}) == "2026-11-24"
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    assert day_of({}) == today
    assert day_of({"receivedAt": "../../etc/passwd"}) == today
    assert day_of({"receivedAt": 1234567890}) == today


def test_identical_decision_sets_cost_one_counter_entry(policy: Policy) -> None:
    batch = BatchDecisions("webhook")
    for n in range(50):
        decide(batch, policy, "m1", hit(f"e{n}"), ANALYTICS)
    batch.sent(EventRef("m1", f"e{n}") for n in range(50))
    counts = batch.finish(set())
    assert len(counts._fields) == 1  # one (day, source, decisions) group for 50 events
    assert by_key(counts.rows())[("type", "sent", "allowed")] == 50


def test_the_bucket_comes_from_settings_then_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DECISION_LOG_BUCKET", raising=False)
    assert decision_log_bucket() == ""
    monkeypatch.setenv("DECISION_LOG_BUCKET", "lake-bucket")
    assert decision_log_bucket() == "lake-bucket"
    assert decision_log_bucket(object()) == "lake-bucket"  # settings without the field yet

    class WithField:
        decision_log_bucket = "from-settings"

    assert decision_log_bucket(WithField()) == "from-settings"


# -- the object -------------------------------------------------------------------------------------


class FakeS3:
    def __init__(self, fail: bool = False) -> None:
        self.puts: list[dict[str, Any]] = []
        self.fail = fail

    def put_object(self, **kwargs: Any) -> dict[str, Any]:
        if self.fail:
            raise ConnectionError("endpoint unreachable")
        self.puts.append(kwargs)
        return {}


def test_one_gzip_ndjson_object_per_batch_under_day_and_destination(policy: Policy) -> None:
    batch = BatchDecisions("webhook")
    decide(batch, policy, "m1", hit("e1"), ANALYTICS)
    decide(batch, policy, "m1", hit("e2"), ["necessary"])
    batch.sent([EventRef("m1", "e1")])
    s3 = FakeS3()
    written = BucketDecisionLog("lake-bucket", "webhook", s3).write(batch.finish(set()))
    (put,) = s3.puts
    assert written.keys == (put["Key"],) and written.records == 1 and written.failed == 0
    assert re.fullmatch(
        r"decisions/dt=2026-11-24/destination=webhook/\d{8}T\d{6}Z-[0-9a-f]{32}\.ndjson\.gz", put["Key"]
    ), put["Key"]
    assert put["Bucket"] == "lake-bucket" and put["ContentEncoding"] == "gzip"
    rows = read_rows(put["Body"])
    assert rows == batch.counts.rows()
    assert {(r["action"], r["field"]) for r in rows} >= {("sent", None), ("skipped", None), ("sent", "type")}


def test_a_batch_over_midnight_writes_one_object_per_day(policy: Policy) -> None:
    batch = BatchDecisions("lake")
    decide(batch, policy, "m1", hit("e1", day="2026-11-24"), ANALYTICS)
    decide(batch, policy, "m1", hit("e2", day="2026-11-25"), ANALYTICS)
    batch.sent([EventRef("m1", "e1"), EventRef("m1", "e2")])
    s3 = FakeS3()
    BucketDecisionLog("b", "lake", s3).write(batch.finish(set()))
    assert sorted(p["Key"].split("/")[1] for p in s3.puts) == ["dt=2026-11-24", "dt=2026-11-25"]
    for put in s3.puts:
        day = put["Key"].split("/")[1].removeprefix("dt=")
        assert {r["day"] for r in read_rows(put["Body"])} == {day}


# -- the Firehose record ------------------------------------------------------------------------------


class FakeFirehose:
    """PutRecordBatch as Firehose answers it: ``refuse`` says, call by call, how many of the
    records (the first ones) to refuse with ServiceUnavailableException; ``raises`` fails every call."""

    def __init__(self, refuse: list[int] | None = None, raises: Exception | None = None) -> None:
        self.calls: list[dict[str, Any]] = []
        self.refuse = list(refuse or [])
        self.raises = raises

    def put_record_batch(self, **kwargs: Any) -> dict[str, Any]:
        if self.raises is not None:
            raise self.raises
        self.calls.append(kwargs)
        refused = self.refuse.pop(0) if self.refuse else 0
        responses = [
            {"ErrorCode": "ServiceUnavailableException", "ErrorMessage": "Slow down."}
            if i < refused
            else {"RecordId": f"r{len(self.calls)}-{i}"}
            for i in range(len(kwargs["Records"]))
        ]
        return {"FailedPutCount": min(refused, len(responses)), "Encrypted": True, "RequestResponses": responses}

    def records(self) -> list[bytes]:
        return [r["Data"] for call in self.calls for r in call["Records"]]


def settled_batch(policy: Policy, days: tuple[str, ...] = ("2026-11-24",)) -> DecisionCounts:
    batch = BatchDecisions("webhook")
    for n, day in enumerate(days):
        decide(batch, policy, "m1", hit(f"e{n}", day=day), ANALYTICS)
        decide(batch, policy, "m1", hit(f"s{n}", day=day), ["necessary"])
        batch.sent([EventRef("m1", f"e{n}")])
    return batch.finish(set())


def test_one_put_record_batch_per_batch_with_one_gzip_ndjson_record(policy: Policy) -> None:
    counts = settled_batch(policy, ("2026-11-24", "2026-11-25"))  # a batch over midnight: still one record
    firehose = FakeFirehose()
    written = DecisionLog("decisions", "webhook", firehose).write(counts)
    (call,) = firehose.calls
    assert call["DeliveryStreamName"] == "decisions"
    (record,) = call["Records"]
    data = record["Data"]
    assert data[:2] == b"\x1f\x8b"  # a gzip member
    lines = gzip.decompress(data).decode().splitlines()
    assert [json.loads(line) for line in lines] == counts.rows()
    assert {r["day"] for r in read_rows(data)} == {"2026-11-24", "2026-11-25"}
    assert written.records == 1 and written.failed == 0


def test_records_delivered_together_read_as_one_object(policy: Policy) -> None:
    # Firehose writes the records of several batches one after the other, uncompressed: the object
    # is gzip members back to back, which is one gzip stream
    firehose = FakeFirehose()
    log = DecisionLog("decisions", "webhook", firehose)
    first, second = settled_batch(policy, ("2026-11-24",)), settled_batch(policy, ("2026-11-25",))
    log.write(first)
    log.write(second)
    delivered = b"".join(firehose.records())
    assert read_rows(delivered) == first.rows() + second.rows()


def test_a_batch_past_the_record_limit_is_split_into_records_that_fit(policy: Policy) -> None:
    counts = DecisionCounts()
    for n in range(400):
        counts.add(("2026-11-24", "web", "webhook", f"properties.f{n}", "dropped", "not_catalogued", None, None, 1), n)
    whole = len(gzip.compress(b"".join(json.dumps(r).encode() for r in counts.rows())))
    limit = whole // 3
    firehose = FakeFirehose()
    written = DecisionLog("decisions", "webhook", firehose, record_limit=limit).write(counts)
    assert len(firehose.calls) == 1  # still one call: a few records
    records = firehose.records()
    assert len(records) >= 3 and written.records == len(records)
    assert all(len(r) <= limit for r in records)
    assert read_rows(b"".join(records)) == counts.rows()  # nothing lost, nothing twice, in order


def test_refused_records_are_sent_again_with_backoff_then_counted(policy: Policy) -> None:
    counts = DecisionCounts()
    for n in range(300):
        counts.add(("2026-11-24", "web", "webhook", f"properties.f{n}", "dropped", "not_catalogued", None, None, 1), n)
    limit = len(DecisionLog("s", "webhook").records(counts)[0]) * 2 // 5  # a few records
    slept: list[float] = []
    # the first call refuses two of the records, the retry one of those, the next takes it
    firehose = FakeFirehose(refuse=[2, 1, 0])
    log = DecisionLog("decisions", "webhook", firehose, sleep=slept.append, record_limit=limit)
    records = log.records(counts)
    assert len(records) >= 3
    written = log.write(counts)
    assert written.records == len(records) and written.failed == 0
    assert [len(c["Records"]) for c in firehose.calls] == [len(records), 2, 1]
    assert [r["Data"] for r in firehose.calls[1]["Records"]] == records[:2]  # the refused ones only
    assert [r["Data"] for r in firehose.calls[2]["Records"]] == records[:1]
    assert slept == [log.backoff, 2 * log.backoff]
    # and when Firehose keeps refusing, the write gives up after its attempts and says what it lost
    stubborn = FakeFirehose(refuse=[1] * 10)
    lost = DecisionLog("decisions", "webhook", stubborn, sleep=slept.append, record_limit=limit).write(counts)
    assert len(stubborn.calls) == PUT_ATTEMPTS
    assert lost.records == len(records) - 1 and lost.failed == 1 and lost.errors == ("ServiceUnavailableException",)


def test_nothing_settled_sends_nothing_and_a_stream_is_required() -> None:
    firehose = FakeFirehose()
    assert DecisionLog("decisions", "webhook", firehose).write(DecisionCounts()).records == 0
    assert firehose.calls == []
    with pytest.raises(ValueError, match="DECISION_LOG_STREAM"):
        DecisionLog("", "webhook", firehose)


def delivered_row(**values: Any) -> dict[str, Any]:
    """A decision row with every key: lake events from web delivered on 2026-11-24 under policy 1,
    with ``values`` added or changed."""
    delivered = {"day": "2026-11-24", "source": "web", "destination": "lake", "action": "sent", "reason": "delivered"}
    return {k: None for k in ROW_KEYS} | delivered | {"policy_version": 1, **values}


def test_read_rows_refuses_what_is_not_a_decision_row() -> None:
    good = delivered_row(count=3)
    assert read_rows(gzip.compress(json.dumps(good).encode())) == [good]
    for bad in ({**good, "count": "3"}, {**good, "day": "yesterday"}, {**good, "visitor": "x"}, [good]):
        with pytest.raises(ValueError, match="line 1"):
            read_rows(gzip.compress(json.dumps(bad).encode()))


def test_merge_rows_adds_up_equal_keys() -> None:
    row = delivered_row()
    merged = merge_rows([{**row, "count": 2}, {**row, "count": 5}, {**row, "policy_version": 2, "count": 1}])
    assert [(r["policy_version"], r["count"]) for r in merged] == [(1, 7), (2, 1)]


# -- the forwarder ----------------------------------------------------------------------------------


class FakeStore:
    def __init__(self, policy: Policy) -> None:
        self.policy = policy

    def active_policy(self) -> Policy:
        return self.policy

    def suppressed(self) -> frozenset[str]:
        return frozenset()


class Scripted:
    """A destination that sends every event except the ones named for another outcome."""

    def __init__(self, drop: set[str] = frozenset(), fail: set[str] = frozenset(), retry: set[str] = frozenset()):  # type: ignore[assignment]
        self.drop, self.fail, self.retry = drop, fail, retry

    def deliver(self, items: list[Delivery]) -> DeliveryReport:
        report = DeliveryReport()
        for item in items:
            for _, event in item.events:
                ref = EventRef(item.message_id, event["messageId"])
                if ref.event_id in self.drop:
                    report.dropped.append((ref, "too_old"))
                elif ref.event_id in self.fail:
                    report.failed.append(Failure((ref,), "http_400", 400, "{}"))
                elif ref.event_id in self.retry:
                    report.retry.add(item.message_id)
                else:
                    report.sent.append(ref)
        return report


class FakeFailedStore:
    def put(self, *args: Any) -> None:
        pass


def sqs_event(messages: dict[str, list[tuple[dict[str, Any], list[str]]]], destination: str = "webhook") -> Any:
    return {
        "Records": [
            {
                "messageId": mid,
                "body": json.dumps(
                    {
                        "v": 1,
                        "destination": destination,
                        "source_id": "web",
                        "policy_version": 4,
                        "events": [{"purposes": p, "event": e} for e, p in events],
                    }
                ),
            }
            for mid, events in messages.items()
        ]
    }


def forwarder(policy: Policy, destination: Any, log: DecisionLog | BucketDecisionLog | None) -> Forwarder:
    settings = ForwarderSettings(destination="webhook")
    store: Any = FakeStore(policy)
    failed_store: Any = FakeFailedStore()
    return Forwarder(settings, destination, store=store, failed_store=failed_store, decision_log=log)


def test_the_forwarder_sends_one_record_per_batch_after_delivery(policy: Policy) -> None:
    firehose = FakeFirehose()
    event = sqs_event(
        {
            "m1": [(hit("e1"), ANALYTICS), (hit("e2"), ["necessary"]), (hit("e3"), ANALYTICS)],
            "m2": [(hit("e4"), ANALYTICS), (hit("e5"), ANALYTICS)],
        }
    )
    fw = forwarder(policy, Scripted(drop={"e3"}, fail={"e4"}), DecisionLog("decisions", "webhook", firehose))
    assert fw.handle(event) == {"batchItemFailures": []}
    (call,) = firehose.calls
    assert call["DeliveryStreamName"] == "decisions"
    (record,) = call["Records"]
    counts = Counter({(r["action"], r["reason"]): r["count"] for r in read_rows(record["Data"]) if r["field"] is None})
    assert counts == {
        ("sent", "delivered"): 2,
        ("skipped", "purpose_not_granted"): 1,
        ("dropped", "too_old"): 1,
        ("failed", "http_400"): 1,
    }


def test_retried_messages_are_counted_when_they_settle(policy: Policy) -> None:
    firehose = FakeFirehose()
    event = sqs_event({"m1": [(hit("e1"), ANALYTICS), (hit("e2"), ["necessary"])], "m2": [(hit("e3"), ANALYTICS)]})
    destination = Scripted(retry={"e1"})
    fw = forwarder(policy, destination, DecisionLog("decisions", "webhook", firehose))
    # When m1 is left for retry, only m2's event is counted
    assert fw.handle(event) == {"batchItemFailures": [{"itemIdentifier": "m1"}]}
    rows = read_rows(firehose.records()[0])
    assert {(r["action"], r["count"]) for r in rows if r["field"] is None} == {("sent", 1)}
    # and when SQS redelivers m1 and it goes through, its sent and skipped events are counted then
    destination.retry = set()
    redelivered = {"Records": [event["Records"][0]]}
    assert fw.handle(redelivered) == {"batchItemFailures": []}
    rows = read_rows(firehose.records()[1])
    assert {(r["action"], r["count"]) for r in rows if r["field"] is None} == {("sent", 1), ("skipped", 1)}


def test_a_log_write_failure_never_fails_or_retries_the_delivery(
    policy: Policy, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    fw = forwarder(policy, Scripted(), DecisionLog("decisions", "webhook", FakeFirehose(raises=ConnectionError())))
    assert fw.handle(sqs_event({"m1": [(hit("e1"), ANALYTICS)]})) == {"batchItemFailures": []}
    warning = next(r for r in caplog.records if r.getMessage().startswith("decision log not written"))
    assert warning.error_type == "ConnectionError"  # type: ignore[attr-defined]
    batch = next(r for r in caplog.records if r.getMessage() == "batch forwarded")
    assert batch.decision_log == "write_failed" and batch.events_delivered == 1  # type: ignore[attr-defined]
    metrics.flush_metrics()  # the handler's log_metrics decorator does this in Lambda
    emitted = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert any(m.get("DecisionLogWriteFailed") == 1.0 or m.get("DecisionLogWriteFailed") == [1.0] for m in emitted)


def test_records_firehose_keeps_refusing_are_counted_and_never_fail_the_delivery(
    policy: Policy, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    firehose = FakeFirehose(refuse=[1] * 10)
    log = DecisionLog("decisions", "webhook", firehose, sleep=lambda _: None)
    fw = forwarder(policy, Scripted(), log)
    assert fw.handle(sqs_event({"m1": [(hit("e1"), ANALYTICS)]})) == {"batchItemFailures": []}
    assert len(firehose.calls) == log.attempts  # the first put and its retries
    warning = next(r for r in caplog.records if r.getMessage().startswith("decision log not written"))
    assert warning.error_type == "ServiceUnavailableException"  # type: ignore[attr-defined]
    batch = next(r for r in caplog.records if r.getMessage() == "batch forwarded")
    assert batch.decision_log == "write_failed" and batch.events_delivered == 1  # type: ignore[attr-defined]
    metrics.flush_metrics()
    emitted = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert any(m.get("DecisionLogWriteFailed") in (1.0, [1.0]) for m in emitted)


def test_the_stream_comes_first_then_the_bucket(policy: Policy, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DECISION_LOG_STREAM", raising=False)
    monkeypatch.delenv("DECISION_LOG_BUCKET", raising=False)
    both = ForwarderSettings(destination="webhook", decision_log_stream="stream", decision_log_bucket="bucket")
    bucket_only = ForwarderSettings(destination="webhook", decision_log_bucket="bucket")
    store: Any = FakeStore(policy)
    firehose = FakeFirehose()
    log = Forwarder(both, Scripted(), store=store, firehose=firehose).decision_log
    assert isinstance(log, DecisionLog) and log.stream == "stream" and log.firehose is firehose
    assert isinstance(Forwarder(bucket_only, Scripted(), store=store).decision_log, BucketDecisionLog)
    assert decision_log_stream(both) == "stream"
    monkeypatch.setenv("DECISION_LOG_STREAM", " from-env ")
    assert decision_log_stream() == "from-env"


def test_without_a_stream_or_bucket_the_log_is_skipped_and_said_so(
    policy: Policy, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("DECISION_LOG_BUCKET", raising=False)
    monkeypatch.delenv("DECISION_LOG_STREAM", raising=False)
    fw = forwarder(policy, Scripted(), None)
    assert fw.decision_log is None
    assert fw.handle(sqs_event({"m1": [(hit("e1"), ANALYTICS)]})) == {"batchItemFailures": []}
    batch = next(r for r in caplog.records if r.getMessage() == "batch forwarded")
    assert batch.decision_log == "not_configured"  # type: ignore[attr-defined]


# -- the report -------------------------------------------------------------------------------------


def report_rows() -> list[dict[str, Any]]:
    def row(day: str, dest: str, field: str | None, action: str, reason: str, count: int, **kw: Any) -> dict[str, Any]:
        return {
            "day": day,
            "source": kw.get("source", "web"),
            "destination": dest,
            "field": field,
            "action": action,
            "reason": reason,
            "purpose": kw.get("purpose"),
            "legal_basis": kw.get("basis"),
            "policy_version": kw.get("version", 3),
            "count": count,
        }

    a = {"purpose": "analytics", "basis": "consent"}
    return [
        row("2026-11-01", "webhook", None, "sent", "delivered", 10),
        row("2026-11-02", "webhook", None, "sent", "delivered", 5, version=4, source="app"),
        row("2026-11-01", "webhook", None, "skipped", "purpose_not_granted", 7, **a),
        row("2026-11-01", "webhook", None, "failed", "http_400", 1),
        row("2026-11-01", "webhook", "properties", "sent", "allowed", 8, **a),
        row("2026-11-02", "webhook", "properties", "sent", "allowed", 4, version=4, **a),
        row("2026-11-01", "webhook", "context.page.url", "reduced", "purpose_not_granted", 3, **a),
        row("2026-11-01", "webhook", "context.page.title", "dropped", "not_allowed_for_destination", 2, **a),
        row("2026-11-01", "meta", None, "dropped", "too_old", 2),
        row("2026-11-01", "meta", None, "sent", "delivered", 1),
        row("2026-11-01", "meta", "context.userAgent", "sent", "allowed", 1, purpose="advertising", basis="consent"),
    ]


def test_the_markdown_report_holds_what_a_dpo_signs_off() -> None:
    text = audit.render(report_rows(), "md", start="2026-11-01", end="2026-11-30")
    assert text.startswith("# Data sharing audit: 2026-11-01 to 2026-11-30")
    assert "Policy versions in force: v3: 2026-11-01; v4: 2026-11-02." in text
    assert "(one per event and destination it was queued for): app 5, web 21." in text
    # the summary, destinations in their usual order
    assert "| `meta` | 1 | 0 | 2 | 0 | v3 |" in text
    assert "| `webhook` | 15 | 7 | 0 | 1 | v3, v4 |" in text
    assert text.index("## Destination: meta") < text.index("## Destination: webhook")
    # fields shared, with purpose and legal basis, summed over versions; reduced apart
    assert "| `properties` | analytics | consent (Art. 6(1)(a) GDPR) | 12 | 0 | 80% |" in text
    assert "| `context.page.url` | analytics | consent (Art. 6(1)(a) GDPR) | 0 | 3 | 20% |" in text
    # fields withheld and events not delivered, with reasons in words
    assert "| `context.page.title` | not_allowed_for_destination (not in the destination's allowlist) |" in text
    assert (
        "| skipped by the policy | purpose_not_granted (the visitor did not grant the purpose) | analytics "
        "| consent (Art. 6(1)(a) GDPR) | 7 |" in text
    )
    assert "| dropped by the destination's rules | too_old | - | - | 2 |" in text
    # a text chart per destination, and a daily one for a period of several days
    charts = re.findall(r"```text\n(.*?)```", text, re.S)
    assert len(charts) == 4  # fields and days, for meta and for webhook
    fields_chart = next(c for c in charts if "properties" in c)
    assert re.search(r"^properties\s+█{32}\s+12$", fields_chart, re.M), fields_chart  # 12 of 15 events: 32 of 40
    assert "## Sign-off" in text


def test_the_chart_scales_to_the_events_sent() -> None:
    chart = audit.Chart("t", audit.SHARED_SERIES, [("a", [15, 0]), ("b", [5, 10]), ("c", [1, 0])], 15)
    lines = audit.text_chart(chart)
    assert lines[1].split()[1] == "█" * 40
    assert lines[2].split()[1] == "█" * 13 + "▓" * 27
    assert lines[3].split()[1] == "█" * 3  # small but never invisible
    assert sum(audit.segments([1, 1, 1], 3, 2)) == 2  # never wider than the bar


def test_the_html_report_is_standalone_escaped_and_has_an_svg_chart_per_destination() -> None:
    rows = report_rows()
    rows.append({**rows[4], "field": "<script>alert(1)</script>", "source": "<b>x</b>"})
    page = audit.render(rows, "html", start="2026-11-01", end="2026-11-01")
    assert page.startswith("<!DOCTYPE html>")
    assert "default-src 'none'" in page
    assert "<script" not in page and "&lt;script&gt;" in page and "<b>x</b>" not in page
    assert page.count("<svg ") == 2  # one period day: only the fields chart, for meta and webhook
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "src=" not in page and "href=" not in page


def test_an_empty_period_says_so() -> None:
    text = audit.render([], "md", start=date(2026, 11, 1), end=date(2026, 11, 7))
    assert "No decisions were recorded in this period" in text
    assert "## Sign-off" in text


class ReadS3:
    """What the audit reads of S3: listings by prefix (each prefix listed is recorded) and objects."""

    def __init__(self, objects: dict[str, bytes]) -> None:
        self.objects = objects
        self.prefixes: list[str] = []

    def get_paginator(self, name: str) -> ReadS3:
        return self

    def paginate(self, Bucket: str, Prefix: str) -> list[dict[str, Any]]:
        self.prefixes.append(Prefix)
        return [{"Contents": [{"Key": k} for k in sorted(self.objects) if k.startswith(Prefix)]}]

    def get_object(self, Bucket: str, Key: str) -> dict[str, Any]:
        return {"Body": io.BytesIO(self.objects[Key])}


def test_load_rows_reads_only_the_period_and_adds_up(policy: Policy) -> None:
    s3 = FakeS3()
    log = BucketDecisionLog("b", "webhook", s3)
    for day in ("2026-10-31", "2026-11-01", "2026-11-01", "2026-11-02"):
        batch = BatchDecisions("webhook")
        decide(batch, policy, "m1", hit("e1", day=day), ANALYTICS)
        batch.sent([EventRef("m1", "e1")])
        log.write(batch.finish(set()))
    objects = {p["Key"]: p["Body"] for p in s3.puts}
    rows = audit.load_rows(ReadS3(objects), "b", "2026-11-01", "2026-11-01")
    assert {r["day"] for r in rows} == {"2026-11-01"}
    assert by_key(rows)[(None, "sent", "delivered")] == 2
    objects["decisions/dt=2026-11-01/destination=webhook/broken.ndjson.gz"] = b"not gzip"
    with pytest.raises(audit.AuditError, match=r"broken\.ndjson\.gz"):
        audit.load_rows(ReadS3(objects), "b", "2026-11-01", "2026-11-01")


def test_load_rows_reads_the_firehose_days_from_the_first_day_to_the_lateness_bound(policy: Policy) -> None:
    def delivered(*days: str) -> bytes:
        firehose = FakeFirehose()
        log = DecisionLog("s", "webhook", firehose)
        for day in days:
            log.write(settled_batch(policy, (day,)))
        return b"".join(firehose.records())  # one object: the records back to back

    objects = {
        # delivered on the period's first day: a row of the day before and two of the period
        "decisions/2026/11/01/00/s-1-2026-11-01-00-00-59-a.ndjson.gz": delivered("2026-10-31", "2026-11-01"),
        "decisions/2026/11/01/23/s-1-2026-11-01-23-59-59-b.ndjson.gz": delivered("2026-11-01"),
        # settled late (a replay), within the bound, and after it
        "decisions/2026/11/20/10/s-1-2026-11-20-10-00-00-c.ndjson.gz": delivered("2026-11-01"),
        "decisions/2026/11/30/10/s-1-2026-11-30-10-00-00-d.ndjson.gz": delivered("2026-11-01"),
        # a later day's own rows
        "decisions/2026/11/02/00/s-1-2026-11-02-00-00-01-e.ndjson.gz": delivered("2026-11-02"),
        # the former layout, and what the audit must not read: the error prefix
        "decisions/dt=2026-11-01/destination=lake/x.ndjson.gz": delivered("2026-11-01"),
        "decisions/errors/format-conversion-failed/2026/11/01/00/y": b"not a decision log",
    }
    s3 = ReadS3(objects)
    rows = audit.load_rows(s3, "b", "2026-11-01", "2026-11-01", late_days=20)
    assert {r["day"] for r in rows} == {"2026-11-01"}
    assert by_key(rows)[(None, "sent", "delivered")] == 4  # the 30 November record is past the bound
    assert "decisions/2026/11/21/" in s3.prefixes and "decisions/2026/11/22/" not in s3.prefixes
    assert audit.delivery_days("2026-11-01", "2026-11-30", 31, today=date(2026, 12, 3))[-1] == "2026-12-03"
    assert audit.delivery_days("2026-11-01", "2026-11-30", 0, today=date(2026, 12, 3))[-1] == "2026-11-30"
    assert audit.delivery_days("2026-11-01", "2026-11-30", 31, today=date(2027, 3, 1))[-1] == "2026-12-31"


def test_the_command_refuses_a_reversed_period(capsys: pytest.CaptureFixture[str]) -> None:
    import argparse

    parser = argparse.ArgumentParser()
    audit.add_parser(parser.add_subparsers())
    args = parser.parse_args(["audit", "--from", "2026-11-30", "--to", "2026-11-01", "--bucket", "b"])
    assert args.func(args) == 2
    assert "is after" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parser.parse_args(["audit", "--from", "30.11.2026", "--to", "2026-11-01"])


def test_field_rows_never_carry_skip_decisions(policy: Policy) -> None:
    counts = DecisionCounts()
    skip = Decision("webhook", "skipped", "nothing_allowed", policy_version=4)
    sent = Decision("webhook", "sent", "allowed", "type", "necessary", "legitimate_interest", 4)
    counts.add_fields("2026-11-24", "web", (skip, sent), 3)
    assert [(r["field"], r["count"]) for r in counts.rows()] == [("type", 3)]


def test_rows_survive_copying(policy: Policy) -> None:
    # rows are plain JSON values: what is written is what is read
    batch = BatchDecisions("webhook")
    decide(batch, policy, "m1", hit("e1"), ANALYTICS)
    batch.sent([EventRef("m1", "e1")])
    rows = batch.finish(set()).rows()
    assert json.loads(json.dumps(copy.deepcopy(rows))) == rows
