"""Data-subject rights, the shared core of ``fairtrack subject export|erase`` (operator CLI) and
the admin function's IAM-authorised routes (``GET|DELETE /admin/subjects/{kind}/{id}``): never a
public route. Clients are passed in (boto3 ``dynamodb``, ``s3``, ``secretsmanager``).

A subject is named by the id the site knows (``anonymousId`` or ``userId``); fairtrack only ever
stored its keyed pseudonym, so the caller computes the pseudonym with the deployment's key (the
``PseudonymSecretArn`` output, ``PSEUDONYM_SECRET_ARN`` in the function) and looks for that:

- consent receipts: the ``subject#<pseudonym>`` pointers in the consent table and the receipts
  they name (full IP and user agent included: they are the subject's own data);
- lake records: every line of every lake object in the date range whose ``anonymousId`` or
  ``userId`` is the pseudonym;
- failed events waiting for replay that carry the pseudonym;
- suppression: whether the subject is on the list ingest drops hits for.

``export`` prints all of it as one JSON document. ``erase`` deletes the receipts, rewrites each
lake and failed-events object without the subject's records (deleting the object when nothing
else is left) and removes the earlier versions of a rewritten lake object (the bucket is
versioned, and an old version would still hold the data), adds the pseudonym to the suppression
list so later hits are dropped at ingest with the reason ``subject_suppressed``, and records the
erasure in the policy table (who, when, what was removed, as counts: never the erased data, nor
the pseudonym).

Cost: the lake is read object by object within a date range (the CLI's ``--from``/``--to``, the
route's ``from``/``to`` query parameters; default: the last 30 days); at a scale where that is
slow, run the same filter in Athena.
"""

from __future__ import annotations

import gzip
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from fairtrack.pseudonym import Pseudonymiser, secret_key
from fairtrack.store import SUPPRESSED_ID

KINDS = {"anonymous_id": "anonymousId", "user_id": "userId"}


@dataclass(frozen=True)
class Where:
    """The resources a subject's data can be in (a stack's outputs)."""

    policy_table: str
    consent_table: str
    lake_bucket: str
    failed_bucket: str
    pseudonym_secret_arn: str


@dataclass
class Found:
    pseudonym: str
    receipts: list[dict[str, Any]] = field(default_factory=list)
    receipt_keys: list[dict[str, Any]] = field(default_factory=list)
    lake_records: list[dict[str, Any]] = field(default_factory=list)
    lake_objects: dict[str, int] = field(default_factory=dict)  # key -> records of the subject
    failed_events: list[dict[str, Any]] = field(default_factory=list)
    failed_objects: dict[str, int] = field(default_factory=dict)
    suppressed: bool = False


def pseudonym_for(secrets: Any, where: Where, kind: str, value: str) -> str:
    raw = secrets.get_secret_value(SecretId=where.pseudonym_secret_arn)
    key = secret_key(raw.get("SecretString") or raw["SecretBinary"])
    return Pseudonymiser(key).pseudonym(KINDS[kind], value)


def _item_value(item: dict[str, Any]) -> Any:
    return json.loads(item["value"]["S"]) if "value" in item else None


def _is_subject(event: dict[str, Any], pseudonym: str) -> bool:
    return event.get("anonymousId") == pseudonym or event.get("userId") == pseudonym


def _days(start: date, end: date) -> Iterator[date]:
    day = start
    while day <= end:
        yield day
        day += timedelta(days=1)


def _lake_keys(s3: Any, bucket: str, start: date, end: date) -> Iterator[str]:
    paginator = s3.get_paginator("list_objects_v2")
    for day in _days(start, end):
        for page in paginator.paginate(Bucket=bucket, Prefix=f"lake/dt={day.isoformat()}/"):
            for obj in page.get("Contents", []):
                yield str(obj["Key"])


def find(clients: dict[str, Any], where: Where, pseudonym: str, start: date, end: date) -> Found:
    ddb, s3 = clients["dynamodb"], clients["s3"]
    found = Found(pseudonym)
    pages = ddb.get_paginator("query").paginate(
        TableName=where.consent_table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"subject#{pseudonym}"}},
    )
    for page in pages:
        for pointer in page.get("Items", []):
            found.receipt_keys.append({"pk": pointer["pk"], "sk": pointer["sk"]})
            receipt_id = pointer["sk"]["S"].rsplit("#", 1)[-1]
            receipt_key = {"pk": {"S": f"receipt#{receipt_id}"}, "sk": {"S": "receipt"}}
            item = ddb.get_item(TableName=where.consent_table, Key=receipt_key).get("Item")
            if item is not None:
                found.receipt_keys.append(receipt_key)
                found.receipts.append(_plain(item))
    for key in _lake_keys(s3, where.lake_bucket, start, end):
        lines = gzip.decompress(s3.get_object(Bucket=where.lake_bucket, Key=key)["Body"].read()).splitlines()
        records = [json.loads(line) for line in lines if line.strip()]
        mine = [record for record in records if _is_subject(record["event"], pseudonym)]
        if mine:
            found.lake_records.extend(mine)
            found.lake_objects[key] = len(mine)
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=where.failed_bucket, Prefix="failed/"):
        for obj in page.get("Contents", []):
            doc = json.loads(gzip.decompress(s3.get_object(Bucket=where.failed_bucket, Key=obj["Key"])["Body"].read()))
            mine = [
                {"destination": doc.get("destination"), "reason": doc.get("reason"), **routed}
                for entry in doc.get("envelopes", [])
                for routed in entry["envelope"].get("events", [])
                if _is_subject(routed["event"], pseudonym)
            ]
            if mine:
                found.failed_events.extend(mine)
                found.failed_objects[obj["Key"]] = len(mine)
    item = ddb.get_item(TableName=where.policy_table, Key={"id": {"S": SUPPRESSED_ID}}).get("Item")
    doc = _item_value(item) if item else None
    found.suppressed = isinstance(doc, dict) and pseudonym in (doc.get("subjects") or [])
    return found


def _plain(item: dict[str, Any]) -> dict[str, Any]:
    """A DynamoDB item as plain JSON values."""
    from boto3.dynamodb.types import TypeDeserializer

    deserializer = TypeDeserializer()
    out = {k: deserializer.deserialize(v) for k, v in item.items()}
    plain: dict[str, Any] = json.loads(json.dumps(out, default=lambda v: int(v) if v == int(v) else float(v)))
    return plain


def export(found: Found, kind: str) -> dict[str, Any]:
    return {
        "subject": {"kind": KINDS[kind], "pseudonym": found.pseudonym},
        "consent_receipts": found.receipts,
        "lake_records": found.lake_records,
        "failed_events": found.failed_events,
        "suppressed": found.suppressed,
    }


def _rewrite_lake(s3: Any, bucket: str, key: str, pseudonym: str) -> int:
    """Rewrite one lake object without the subject's lines, then delete every earlier version."""
    current = s3.get_object(Bucket=bucket, Key=key)
    lines = gzip.decompress(current["Body"].read()).splitlines()
    kept = [line for line in lines if line.strip() and not _is_subject(json.loads(line)["event"], pseudonym)]
    removed = len([line for line in lines if line.strip()]) - len(kept)
    new_version = None
    if kept:
        put = s3.put_object(
            Bucket=bucket,
            Key=key,
            ContentType="application/x-ndjson",
            ContentEncoding="gzip",
            Body=gzip.compress(b"\n".join(kept) + b"\n"),
        )
        new_version = put.get("VersionId")
    paginator = s3.get_paginator("list_object_versions")
    for page in paginator.paginate(Bucket=bucket, Prefix=key):
        for entry in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]:
            if entry["Key"] == key and entry.get("VersionId") != new_version:
                s3.delete_object(Bucket=bucket, Key=key, VersionId=entry["VersionId"])
    if not kept:
        s3.delete_object(Bucket=bucket, Key=key)
    return removed


def _rewrite_failed(s3: Any, bucket: str, key: str, pseudonym: str) -> int:
    doc = json.loads(gzip.decompress(s3.get_object(Bucket=bucket, Key=key)["Body"].read()))
    removed = 0
    entries = []
    for entry in doc.get("envelopes", []):
        events = [r for r in entry["envelope"].get("events", []) if not _is_subject(r["event"], pseudonym)]
        removed += len(entry["envelope"].get("events", [])) - len(events)
        if events:
            entries.append({**entry, "envelope": {**entry["envelope"], "events": events}})
    if entries:
        doc["envelopes"] = entries
        s3.put_object(
            Bucket=bucket,
            Key=key,
            ContentType="application/json",
            ContentEncoding="gzip",
            Body=gzip.compress(json.dumps(doc, separators=(",", ":")).encode()),
        )
    else:
        s3.delete_object(Bucket=bucket, Key=key)
    return removed


def suppress(ddb: Any, table: str, pseudonym: str, attempts: int = 5) -> None:
    """Add the pseudonym to the suppression list (read, add, write only if unchanged meanwhile)."""
    for _ in range(attempts):
        item = ddb.get_item(TableName=table, Key={"id": {"S": SUPPRESSED_ID}}, ConsistentRead=True).get("Item")
        doc = _item_value(item) if item else None
        subjects: list[str] = list(doc.get("subjects") or []) if isinstance(doc, dict) else []
        if pseudonym in subjects:
            return
        subjects.append(pseudonym)
        new = {"id": {"S": SUPPRESSED_ID}, "value": {"S": json.dumps({"subjects": subjects})}}
        try:
            if item is None:
                ddb.put_item(TableName=table, Item=new, ConditionExpression="attribute_not_exists(id)")
            else:
                ddb.put_item(
                    TableName=table,
                    Item=new,
                    ConditionExpression="#v = :old",
                    ExpressionAttributeNames={"#v": "value"},
                    ExpressionAttributeValues={":old": item["value"]},
                )
            return
        except ddb.exceptions.ConditionalCheckFailedException:
            continue  # another erasure wrote the list meanwhile: read it again
    raise RuntimeError("the suppression list kept changing; run the erasure again")


def erase(clients: dict[str, Any], where: Where, found: Found, who: str) -> dict[str, Any]:
    ddb, s3 = clients["dynamodb"], clients["s3"]
    for key in found.receipt_keys:
        ddb.delete_item(TableName=where.consent_table, Key=key)
    lake_removed = sum(_rewrite_lake(s3, where.lake_bucket, key, found.pseudonym) for key in found.lake_objects)
    failed_removed = sum(_rewrite_failed(s3, where.failed_bucket, key, found.pseudonym) for key in found.failed_objects)
    suppress(ddb, where.policy_table, found.pseudonym)
    now = datetime.now(UTC)
    record = {
        "who": who,
        "when": now.isoformat(timespec="seconds").replace("+00:00", "Z"),
        "what": {
            "consent_receipts_deleted": len(found.receipts),
            "lake_records_removed": lake_removed,
            "lake_objects_rewritten": len(found.lake_objects),
            "failed_events_removed": failed_removed,
            "suppressed": True,
        },
    }
    ddb.put_item(
        TableName=where.policy_table,
        Item={
            "id": {"S": f"erasure#{now:%Y%m%dT%H%M%SZ}#{uuid.uuid4().hex[:12]}"},
            "value": {"S": json.dumps(record)},
        },
    )
    return record


def default_range(days: int = 30) -> tuple[date, date]:
    today = datetime.now(UTC).date()
    return today - timedelta(days=days), today
