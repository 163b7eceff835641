"""Erasure covers everything retained (moto): a lake object older than 30 days is erased by a
default erase, 20,000 suppressed subjects are checked by ingest, an erase that fails halfway is
completed by a second run, and the admin route's range."""

from __future__ import annotations

import gzip
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from awshelpers import queue_messages
from subjectkit import SUBJECT, hold_subject, track
from test_admin_route import admin_request
from test_subject_rights import clients, lake_events, where

from fairtrack.anonymise.pseudonym import Pseudonymiser, secret_key
from fairtrack.stores import subjects
from fairtrack_tools.local.localcloud import LocalCloud


def old_object(cloud: LocalCloud, pseudonym: str, days: int = 45) -> tuple[str, str]:
    """A lake object in a partition ``days`` old, with a record of the subject and one of someone else."""
    day = (datetime.now(UTC) - timedelta(days=days)).date().isoformat()
    key = f"lake/dt={day}/old-{days}.ndjson.gz"
    lines = [
        json.dumps({"event": {"anonymousId": pseudonym, "messageId": f"m-{days}-days-ago"}}),
        json.dumps({"event": {"anonymousId": "someone-else", "messageId": f"m-{days}-kept"}}),
    ]
    body = gzip.compress(("\n".join(lines) + "\n").encode())
    cloud.client("s3").put_object(Bucket=cloud.outputs()["LakeBucketName"], Key=key, Body=body)
    return key, day


def test_a_default_erase_reaches_a_45_day_old_partition(cloud: LocalCloud, load_handler: Any, context: Any) -> None:
    pseudonym, _ = hold_subject(cloud, load_handler, context)
    _, day = old_object(cloud, pseudonym)
    w = where(cloud)
    record = subjects.erase(clients(cloud), w, subjects.find(clients(cloud), w, pseudonym), who="t")
    assert record["what"]["lake_records_removed"] == 2  # today's and the 45-day-old one
    lake = record["range"]["lake"]
    assert lake["whole_lake"] is True and lake["from"] == day and lake["partitions_scanned"] == 2
    assert sorted(e["messageId"] for e in lake_events(cloud)) == ["m-45-kept", "m-other"]


def test_20000_suppressed_subjects_are_dropped_at_ingest(cloud: LocalCloud, load_handler: Any, context: Any) -> None:
    _, ingest = hold_subject(cloud, load_handler, context)
    for message in queue_messages(cloud, "LakeQueue"):
        cloud.client("sqs").delete_message(
            QueueUrl=cloud.physical_id("LakeQueue"), ReceiptHandle=message["ReceiptHandle"]
        )
    raw = cloud.client("secretsmanager").get_secret_value(SecretId=cloud.physical_id("PseudonymSecret"))
    pseudonymiser = Pseudonymiser(secret_key(raw["SecretString"]))
    pseudonyms = [pseudonymiser.pseudonym("anonymousId", f"erased-{i}") for i in range(20_000)]
    began = time.perf_counter()
    assert subjects.suppress(cloud.client("dynamodb"), where(cloud).policy_table, *pseudonyms) == 20_000
    written = time.perf_counter() - began
    began = time.perf_counter()
    for i, visitor in enumerate(["erased-0", "erased-9999", "erased-19999", "never-erased"]):
        assert ingest(track(visitor, f"m-{i}"), context)["statusCode"] == 200
    checked = time.perf_counter() - began
    carried = [json.loads(m["Body"]) for m in queue_messages(cloud, "LakeQueue")]
    assert [len(c["events"]) for c in carried] == [0, 0, 0, 1]
    print(f"20,000 suppressions written in {written:.1f} s; 4 requests checked in {checked * 1000:.0f} ms")
    assert written < 15 and checked < 2


class FailingS3:
    """The S3 client, failing once on the first call of ``method`` (an erase stopped halfway)."""

    def __init__(self, s3: Any, method: str) -> None:
        self.s3, self.method, self.failed = s3, method, False

    def __getattr__(self, name: str) -> Any:
        real = getattr(self.s3, name)
        if name != self.method or self.failed:
            return real

        def fail(*args: Any, **kwargs: Any) -> Any:
            self.failed = True
            raise ConnectionError("the network went away")

        return fail


@pytest.mark.parametrize("method", ["put_object", "delete_object"])
def test_an_erase_stopped_halfway_is_completed_by_a_second_run(
    cloud: LocalCloud, load_handler: Any, context: Any, method: str
) -> None:
    pseudonym, _ = hold_subject(cloud, load_handler, context)
    w, ddb = where(cloud), cloud.client("dynamodb")
    stopping = {"dynamodb": ddb, "s3": FailingS3(cloud.client("s3"), method)}
    with pytest.raises(ConnectionError):
        subjects.erase(stopping, w, subjects.find(clients(cloud), w, pseudonym), who="t")
    # the suppression was written first: the subject's later hits are dropped meanwhile
    state = subjects.suppression_state(ddb, w.policy_table, pseudonym)
    assert state is not None and state["erasure"] == "started"
    assert ddb.scan(TableName=w.consent_table)["Items"] == []  # receipts went before the lake
    record = subjects.erase(clients(cloud), w, subjects.find(clients(cloud), w, pseudonym), who="t")
    assert record["already_done"]["suppressed"] is True
    assert record["already_done"]["earlier_erasure"] == "started"
    assert record["what"]["consent_receipts_deleted"] == 0
    # put_object failed: nothing was rewritten yet; delete_object failed: the rewrite was there,
    # and the earlier version holding the subject is found and deleted now
    assert record["what"]["lake_records_removed"] == (1 if method == "put_object" else 0)
    assert record["what"]["lake_versions_deleted"] >= 1
    assert [e["messageId"] for e in lake_events(cloud)] == ["m-other"]
    assert subjects.suppression_state(ddb, w.policy_table, pseudonym)["erasure"] == "complete"  # type: ignore[index]


def test_the_admin_route_covers_every_partition_unless_given_a_range(
    cloud: LocalCloud, load_handler: Any, context: Any
) -> None:
    pseudonym, _ = hold_subject(cloud, load_handler, context)
    _, day = old_object(cloud, pseudonym, days=500)  # older than the former 400-day cap
    admin = load_handler("AdminFunction").handler
    narrow = admin_request("GET", "anonymousId", SUBJECT)
    narrow["rawQueryString"] = f"to={day}"
    narrow["queryStringParameters"] = {"to": day}
    doc = json.loads(admin(narrow, context)["body"])
    assert [r["event"]["messageId"] for r in doc["lake_records"]] == ["m-500-days-ago"]
    response = admin(admin_request("DELETE", "anonymousId", SUBJECT), context)
    assert response["statusCode"] == 200, response
    record = json.loads(response["body"])
    assert record["range"]["lake"]["from"] == day and record["range"]["lake"]["partitions_scanned"] == 2
    assert record["what"]["lake_records_removed"] == 2
