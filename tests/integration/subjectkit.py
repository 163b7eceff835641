"""What the data-subject tests (the CLI core and the admin route) hold on a subject: two visitors'
hits in one lake object, and consent receipts. A module of its own so both import one copy."""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from awshelpers import pseudonym_of, queue_messages

from fairtrack_tools.local.localcloud import LocalCloud

ROOT = Path(__file__).resolve().parents[2]
SUBJECT, OTHER = "visitor-to-erase", "visitor-who-stays"


def track(anonymous_id: str, message_id: str) -> dict[str, Any]:
    """The sample track request (events/ingest/track.json) from ``anonymous_id``."""
    event: dict[str, Any] = json.loads((ROOT / "events" / "ingest" / "track.json").read_text())
    body = json.loads(event["body"])
    body.update(anonymousId=anonymous_id, messageId=message_id)
    out = copy.deepcopy(event)
    out["body"] = json.dumps(body)
    return out


def receipt(cloud: LocalCloud, pseudonym: str, receipt_id: str) -> None:
    """A consent receipt in the consent table's layout (receipt item and the subject's pointer)."""
    ddb, table = cloud.client("dynamodb"), cloud.outputs()["ConsentTableName"]
    expires = {"N": str(int(time.time()) + 86400)}
    ddb.put_item(
        TableName=table,
        Item={
            "pk": {"S": f"receipt#{receipt_id}"},
            "sk": {"S": "receipt"},
            "subject": {"S": pseudonym},
            "ip": {"S": "198.51.100.23"},
            "granted": {"L": [{"S": "analytics"}]},
            "expires_at": expires,
        },
    )
    ddb.put_item(
        TableName=table,
        Item={"pk": {"S": f"subject#{pseudonym}"}, "sk": {"S": f"receipt#2026-11-25T10:00:00Z#{receipt_id}"}},
    )


def hold_subject(cloud: LocalCloud, load_handler: Callable[[str], Any], context: Any) -> tuple[str, Any]:
    """SUBJECT's and OTHER's hits through ingest and the lake forwarder (one lake object), and a
    receipt ``r-1`` of SUBJECT; returns SUBJECT's anonymousId pseudonym and the ingest handler that
    took the hits (warm: later hits through it meet its caches)."""
    ingest = load_handler("IngestFunction").handler
    for anonymous_id, message_id in ((SUBJECT, "m-subject"), (OTHER, "m-other")):
        assert ingest(track(anonymous_id, message_id), context)["statusCode"] == 200
    records = [
        {"messageId": m["MessageId"], "body": m["Body"], "messageAttributes": {}}
        for m in queue_messages(cloud, "LakeQueue")
    ]
    assert load_handler("LakeForwarderFunction").handler({"Records": records}, context) == {"batchItemFailures": []}
    pseudonym = pseudonym_of(cloud, "anonymousId", SUBJECT)
    receipt(cloud, pseudonym, "r-1")
    return pseudonym, ingest
