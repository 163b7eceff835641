"""What ingest kept from destinations reaches the audit: its skips ride in the lake message and the
lake forwarder writes them to the decision log, counted (no ids)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from awshelpers import queue_messages

from fairtrack.stores.decision_log import read_rows
from fairtrack_tools.local.localcloud import LocalCloud

ROOT = Path(__file__).resolve().parents[2]


def hit(message_id: str, preferences: dict[str, bool] | None) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((ROOT / "events" / "ingest" / "track.json").read_text())
    body = json.loads(event["body"])
    body["messageId"] = message_id
    if preferences is None:
        body["context"].pop("consent", None)
    else:
        body["context"]["consent"] = {"categoryPreferences": preferences}
    out = copy.deepcopy(event)
    out["body"] = json.dumps(body)
    return out


def test_ingest_skips_are_in_the_decision_log(cloud: LocalCloud, load_handler: Any, context: Any) -> None:
    ingest = load_handler("IngestFunction").handler
    states = [{"analytics": True, "advertising": False}] * 3 + [None] * 2  # 3 analytics-only, 2 no signal
    for n, preferences in enumerate(states):
        assert ingest(hit(f"m-{n}", preferences), context)["statusCode"] == 200
    records = [
        {"messageId": m["MessageId"], "body": m["Body"], "messageAttributes": {}}
        for m in queue_messages(cloud, "LakeQueue")
    ]
    assert load_handler("LakeForwarderFunction").handler({"Records": records}, context) == {"batchItemFailures": []}

    s3, bucket = cloud.client("s3"), cloud.physical_id("LakeBucket")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="decisions/").get("Contents", [])]
    rows = [r for k in keys for r in read_rows(s3.get_object(Bucket=bucket, Key=k)["Body"].read())]
    skipped: dict[tuple[str, str, str | None], int] = {}
    for r in rows:
        if r["action"] == "skipped":
            key = (r["destination"], r["reason"], r["purpose"])
            skipped[key] = skipped.get(key, 0) + r["count"]
    # Meta needs advertising: all five kept from it; GA4 and the webhook need analytics: the two
    # hits without any signal (consent fails closed)
    assert skipped == {
        ("meta", "purpose_not_granted", "advertising"): 5,
        ("ga4", "purpose_not_granted", "analytics"): 2,
        ("webhook", "purpose_not_granted", "analytics"): 2,
    }
    assert all(r["legal_basis"] == "consent" for r in rows if r["action"] == "skipped")
    # and the lake itself got all five (necessary-only for the two), counted as delivered
    delivered = [r for r in rows if r["destination"] == "lake" and r["action"] == "sent" and r["field"] is None]
    assert sum(r["count"] for r in delivered) == 5
