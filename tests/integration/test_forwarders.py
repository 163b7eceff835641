"""Forwarders in-process: SQS events in, real HTTP to the capture server and S3 objects (moto) out."""

from __future__ import annotations

import copy
import gzip
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from fairtrack.destinations.webhook import SIGNATURE_HEADER, verify
from fairtrack_tools.local.localcloud import LocalCloud
from fairtrack_tools.ops import policy_ops

ROOT = Path(__file__).resolve().parents[2]


def sample(destination: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((ROOT / "events" / "forwarder" / f"{destination}.json").read_text())
    return event


@pytest.fixture
def forward(load_handler: Any, context: Any) -> Any:
    def run(logical_id: str, event: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = load_handler(logical_id).handler(event, context)
        return result

    return run


def test_webhook_receives_a_signed_post(forward: Any, cloud: LocalCloud) -> None:
    # Given the sample webhook record
    result = forward("WebhookForwarderFunction", sample("webhook"))
    # Then nothing failed, and the capture server got exactly the minimised event
    assert result == {"batchItemFailures": []}
    (body,) = cloud.captures.snapshot()["webhook"]
    envelope = json.loads(sample("webhook")["Records"][0]["body"])
    assert body["batch"] == [envelope["events"][0]["event"]]
    assert body["source"] == "dev"
    # and the signature verifies with the deployment's secret (from Secrets Manager)
    (request,) = cloud.captures.requests("webhook")
    secret = cloud.client("secretsmanager").get_secret_value(SecretId=cloud.resolver.param("WebhookSecretArn"))[
        "SecretString"
    ]  # type: ignore[union-attr]
    raw = json.dumps(body, separators=(",", ":")).encode()
    assert verify(secret.encode(), request["headers"][SIGNATURE_HEADER], raw)
    assert not verify(b"another secret", request["headers"][SIGNATURE_HEADER], raw)


@pytest.mark.parametrize("status", [500, 503, 429, 408])
def test_retryable_webhook_errors_are_batch_item_failures(forward: Any, cloud: LocalCloud, status: int) -> None:
    # Given the webhook answers a retryable error
    cloud.captures.fail("webhook", status)
    event = sample("webhook")
    result = forward("WebhookForwarderFunction", event)
    # Then SQS is asked to redeliver, and nothing is kept as failed
    assert result == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}
    assert failed_objects(cloud, "webhook") == []


@pytest.mark.parametrize("status", [400, 401, 404, 410])
def test_permanent_webhook_errors_go_to_the_failed_events_store(forward: Any, cloud: LocalCloud, status: int) -> None:
    # Given the webhook refuses the request for good
    cloud.captures.fail("webhook", status)
    event = sample("webhook")
    result = forward("WebhookForwarderFunction", event)
    # Then SQS is not asked to retry (it could not succeed) ...
    assert result == {"batchItemFailures": []}
    # ... and the event is kept with the destination's answer, ready for replay
    (doc,) = failed_objects(cloud, "webhook")
    assert doc["reason"] == f"http_{status}" and doc["status"] == status
    assert json.loads(doc["answer"]) == {"error": "failing on purpose"}
    ((entry),) = doc["envelopes"]
    assert entry["message_id"] == event["Records"][0]["messageId"]
    queued = json.loads(event["Records"][0]["body"])
    assert [e["event"]["messageId"] for e in entry["envelope"]["events"]] == [
        e["event"]["messageId"] for e in queued["events"]
    ]


def failed_objects(cloud: LocalCloud, destination: str) -> list[dict[str, Any]]:
    s3, bucket = cloud.client("s3"), cloud.physical_id("FailedEventsBucket")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert all(k.startswith(f"failed/{destination}/dt=") for k in keys)
    return [json.loads(gzip.decompress(s3.get_object(Bucket=bucket, Key=k)["Body"].read())) for k in keys]


def test_webhook_unreachable_is_a_batch_item_failure(
    forward: Any, cloud: LocalCloud, load_handler: Any, context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    cloud.capture_server.stop()  # type: ignore[union-attr]
    event = sample("webhook")
    result = forward("WebhookForwarderFunction", event)
    assert [f["itemIdentifier"] for f in result["batchItemFailures"]] == [event["Records"][0]["messageId"]]


def test_partial_batch_failure_reports_only_the_bad_record(forward: Any, cloud: LocalCloud) -> None:
    # Given a batch with one good record and one unreadable one
    event = sample("webhook")
    bad = copy.deepcopy(event["Records"][0])
    bad["messageId"] = "bad-record"
    bad["body"] = "{not json"
    event["Records"].append(bad)
    result = forward("WebhookForwarderFunction", event)
    # Then only the bad one is reported; the good one was delivered
    assert result == {"batchItemFailures": [{"itemIdentifier": "bad-record"}]}
    assert len(cloud.captures.snapshot()["webhook"]) == 1


def test_lake_writes_gzip_ndjson_under_a_date_partition(forward: Any, cloud: LocalCloud) -> None:
    event = sample("lake")
    assert forward("LakeForwarderFunction", event) == {"batchItemFailures": []}
    s3 = cloud.client("s3")
    bucket = cloud.physical_id("LakeBucket")
    (obj,) = s3.list_objects_v2(Bucket=bucket, Prefix="lake/")["Contents"]
    assert obj["Key"].startswith("lake/dt=2026-11-24/source=dev/")
    assert obj["Key"].endswith(".ndjson.gz")
    lines = gzip.decompress(s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()).decode().splitlines()
    envelope = json.loads(event["Records"][0]["body"])
    assert [json.loads(line) for line in lines] == [
        {
            "source": "dev",
            "policy_version": 1,
            "purposes": ["analytics", "necessary"],
            "event": envelope["events"][0]["event"],
        }
    ]


def test_lake_write_failure_fails_the_records(forward: Any, cloud: LocalCloud) -> None:
    s3 = cloud.client("s3")
    bucket = cloud.physical_id("LakeBucket")
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    s3.delete_bucket(Bucket=bucket)
    event = sample("lake")
    result = forward("LakeForwarderFunction", event)
    assert result == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}


def test_forwarder_applies_the_policy_active_now(forward: Any, cloud: LocalCloud) -> None:
    # Given the policy changed after ingest: the webhook may no longer get properties
    doc = yaml.safe_load((ROOT / "policies" / "default.yaml").read_text())
    doc["destinations"]["webhook"]["attributes"].remove("properties")
    ddb, table = cloud.client("dynamodb"), cloud.physical_id("PolicyTable")
    policy_ops.activate_policy(ddb, table, policy_ops.push_policy(ddb, table, doc))
    # When the webhook forwarder handles a record queued under version 1
    assert forward("WebhookForwarderFunction", sample("webhook")) == {"batchItemFailures": []}
    # Then what it sends follows version 2
    (body,) = cloud.captures.snapshot()["webhook"]
    assert body["policyVersion"] == 2
    assert "properties" not in body["batch"][0]
    assert body["batch"][0]["event"] == "Order Completed"


def test_consent_withdrawn_destination_gets_nothing(forward: Any, cloud: LocalCloud) -> None:
    # Given a record whose visitor granted only `necessary`
    event = sample("webhook")
    envelope = json.loads(event["Records"][0]["body"])
    envelope["events"][0]["purposes"] = ["necessary"]
    event["Records"][0]["body"] = json.dumps(envelope)
    # Then it is dropped by policy, not failed, and nothing is sent
    assert forward("WebhookForwarderFunction", event) == {"batchItemFailures": []}
    assert cloud.captures.snapshot()["webhook"] == []


def test_misrouted_record_is_failed_not_delivered(forward: Any, cloud: LocalCloud) -> None:
    event = sample("lake")  # a lake envelope on the webhook queue
    result = forward("WebhookForwarderFunction", event)
    assert result == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}
    assert cloud.captures.snapshot()["webhook"] == []
