"""Data-subject rights end to end in-process (moto): what fairtrack holds on a subject is exported
whole, erased everywhere (old lake object versions included), and later hits are dropped."""

from __future__ import annotations

import gzip
import json
import time
from pathlib import Path
from typing import Any

import pytest
from awshelpers import pseudonym_of, queue_messages
from subjectkit import OTHER, SUBJECT, hold_subject, track

from fairtrack.stores import subjects
from fairtrack_tools.local.localcloud import LocalCloud

ROOT = Path(__file__).resolve().parents[2]


def where(cloud: LocalCloud) -> subjects.Where:
    out = cloud.outputs()
    return subjects.Where(
        policy_table=out["PolicyTableName"],
        consent_table=out["ConsentTableName"],
        lake_bucket=out["LakeBucketName"],
        failed_bucket=out["FailedEventsBucketName"],
        pseudonym_secret_arn=out["PseudonymSecretArn"],
    )


@pytest.fixture
def held(cloud: LocalCloud, load_handler: Any, context: Any) -> dict[str, Any]:
    """Two visitors' hits in one lake object, a receipt of the subject: what fairtrack holds."""
    pseudonym, ingest = hold_subject(cloud, load_handler, context)
    return {"pseudonym": pseudonym, "ingest": ingest}


def lake_events(cloud: LocalCloud) -> list[dict[str, Any]]:
    s3, bucket = cloud.client("s3"), cloud.outputs()["LakeBucketName"]
    out = []
    for version in s3.list_object_versions(Bucket=bucket, Prefix="lake/").get("Versions", []):
        body = s3.get_object(Bucket=bucket, Key=version["Key"], VersionId=version["VersionId"])["Body"].read()
        out.extend(json.loads(line)["event"] for line in gzip.decompress(body).splitlines() if line.strip())
    return out


def clients(cloud: LocalCloud) -> dict[str, Any]:
    return {"dynamodb": cloud.client("dynamodb"), "s3": cloud.client("s3")}


def test_export_holds_everything_and_only_the_subjects(cloud: LocalCloud, held: dict[str, Any]) -> None:
    w = where(cloud)
    pseudonym = subjects.pseudonym_for(cloud.client("secretsmanager"), w, "anonymous_id", SUBJECT)
    assert pseudonym == held["pseudonym"]
    doc = subjects.export(subjects.find(clients(cloud), w, pseudonym), "anonymous_id")
    assert doc["subject"] == {"kind": "anonymousId", "pseudonym": pseudonym}
    assert [r["pk"] for r in doc["consent_receipts"]] == ["receipt#r-1"]
    assert doc["consent_receipts"][0]["ip"] == "198.51.100.23"  # the evidence is the subject's own data
    assert [r["event"]["messageId"] for r in doc["lake_records"]] == ["m-subject"]
    assert doc["suppressed"] is False
    assert OTHER not in json.dumps(doc) and pseudonym_of(cloud, "anonymousId", OTHER) not in json.dumps(doc)


def test_erase_removes_everything_suppresses_and_records_without_the_data(
    cloud: LocalCloud, held: dict[str, Any], context: Any, caplog: pytest.LogCaptureFixture
) -> None:
    w, pseudonym = where(cloud), held["pseudonym"]
    found = subjects.find(clients(cloud), w, pseudonym)
    record = subjects.erase(clients(cloud), w, found, who="test-operator")

    assert record["what"] == {
        "consent_receipts_deleted": 1,
        "lake_records_removed": 1,
        "lake_objects_rewritten": 1,
        "lake_versions_deleted": 1,
        "failed_events_removed": 0,
        "failed_objects_rewritten": 0,
        "suppressed": True,
    }
    assert record["range"]["lake"]["whole_lake"] is True
    assert record["already_done"] == {"suppressed": False, "suppressed_since": None, "earlier_erasure": None}
    # receipts gone (both items), the other visitor's records kept, no old version holds the subject
    ddb = cloud.client("dynamodb")
    assert ddb.scan(TableName=w.consent_table)["Items"] == []
    assert [e["messageId"] for e in lake_events(cloud)] == ["m-other"]
    # the erasure is recorded: who, when, what; not the pseudonym or anything erased
    items = ddb.scan(TableName=w.policy_table)["Items"]
    (erasure,) = [i for i in items if i["id"]["S"].startswith("erasure#")]
    assert json.loads(erasure["value"]["S"])["who"] == "test-operator"
    assert pseudonym not in json.dumps(erasure)
    # a later hit of the subject is dropped with the reason recorded; the other visitor's is not
    for message in queue_messages(cloud, "LakeQueue"):
        cloud.client("sqs").delete_message(
            QueueUrl=cloud.physical_id("LakeQueue"), ReceiptHandle=message["ReceiptHandle"]
        )
    time.sleep(2.1)  # the suppression list is read through the 2 s policy cache of the local stack
    caplog.clear()
    assert held["ingest"](track(SUBJECT, "m-subject-later"), context)["statusCode"] == 200
    # no event is queued anywhere; the lake message carries only the counted reason for the audit
    (carried,) = [json.loads(m["Body"]) for m in queue_messages(cloud, "LakeQueue")]
    assert carried["events"] == []
    assert {(r["destination"], r["reason"], r["count"]) for r in carried["decisions"]} == {
        ("ga4", "subject_suppressed", 1),
        ("webhook", "subject_suppressed", 1),
        ("lake", "subject_suppressed", 1),
        ("meta", "purpose_not_granted", 1),
    }
    assert pseudonym not in json.dumps(carried)
    for message in queue_messages(cloud, "LakeQueue"):
        cloud.client("sqs").delete_message(
            QueueUrl=cloud.physical_id("LakeQueue"), ReceiptHandle=message["ReceiptHandle"]
        )
    routed = [r for r in caplog.records if r.getMessage() == "hits routed"]
    assert routed and routed[-1].__dict__["skipped"].get("subject_suppressed") == 3  # ga4, webhook, lake
    assert held["ingest"](track(OTHER, "m-other-later"), context)["statusCode"] == 200
    assert len(queue_messages(cloud, "LakeQueue")) == 1
    # and an export now finds nothing but the suppression
    doc = subjects.export(subjects.find(clients(cloud), w, pseudonym), "anonymous_id")
    assert (doc["consent_receipts"], doc["lake_records"], doc["suppressed"]) == ([], [], True)


def test_erasing_two_subjects_keeps_both_suppressed(cloud: LocalCloud) -> None:
    w = where(cloud)
    ddb = cloud.client("dynamodb")
    subjects.suppress(ddb, w.policy_table, "p-one")
    subjects.suppress(ddb, w.policy_table, "p-two")
    subjects.suppress(ddb, w.policy_table, "p-one")  # again: still one item
    items = ddb.scan(TableName=w.policy_table)["Items"]
    assert sorted(i["id"]["S"] for i in items if i["id"]["S"].startswith("suppress")) == [
        "suppress#p-one",
        "suppress#p-two",
    ]
    assert subjects.suppression_state(ddb, w.policy_table, "p-three") is None


def test_the_former_single_item_list_is_read_and_moved(cloud: LocalCloud, held: dict[str, Any], context: Any) -> None:
    w, ddb = where(cloud), cloud.client("dynamodb")
    ddb.put_item(
        TableName=w.policy_table,
        Item={"id": {"S": "suppressed"}, "value": {"S": json.dumps({"subjects": [held["pseudonym"], "p-old"]})}},
    )
    assert subjects.suppression_state(ddb, w.policy_table, "p-old") == {}
    assert subjects.migrate_suppressed(ddb, w.policy_table) == 2
    ids = {i["id"]["S"] for i in ddb.scan(TableName=w.policy_table)["Items"]}
    assert {f"suppress#{held['pseudonym']}", "suppress#p-old"} <= ids and "suppressed" not in ids
    assert subjects.suppression_state(ddb, w.policy_table, "p-old") is not None


def test_a_message_queued_before_the_erasure_is_not_delivered_after_it(
    cloud: LocalCloud, held: dict[str, Any], load_handler: Any, context: Any
) -> None:
    # Given the subject's hit still waits in the webhook queue (or comes back from a DLQ by replay)
    (waiting,) = [m for m in queue_messages(cloud, "WebhookQueue") if held["pseudonym"] in m["Body"]]
    w = where(cloud)
    subjects.erase(clients(cloud), w, subjects.find(clients(cloud), w, held["pseudonym"]), who="t")
    time.sleep(2.1)  # the forwarder reads the suppression list through the 2 s local policy cache
    # When the webhook forwarder gets it, it goes nowhere and is not retried
    record = {"messageId": waiting["MessageId"], "body": waiting["Body"], "messageAttributes": {}}
    result = load_handler("WebhookForwarderFunction").handler({"Records": [record]}, context)
    assert result == {"batchItemFailures": []}
    assert cloud.captures.snapshot()["webhook"] == []
