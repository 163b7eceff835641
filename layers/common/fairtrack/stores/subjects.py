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

``export`` prints all of it as one JSON document. ``erase`` runs in an order that a failure
halfway cannot make unsafe, and that a second run completes:

1. the suppression first (the ``suppress#<pseudonym>`` item, see :mod:`fairtrack.stores.policy_table`), so the
   subject's later hits are dropped at ingest with the reason ``subject_suppressed`` from then on,
   whatever fails after; the item says whether an erasure was started or completed before;
2. the receipts, then the pointers to them (a pointer left by a failure leads the next run to the
   receipt);
3. each lake object holding the subject, in any version: rewritten without the subject's records
   (deleted when nothing else is left), then every other version deleted (the bucket is
   versioned); a run that stopped between the two finds the earlier version and deletes it;
4. each failed-events object holding the subject, rewritten or deleted;
5. the erasure recorded in the policy table (who, when, the range covered, what was removed, as
   counts: never the erased data, nor the pseudonym) and the suppression item marked complete.

Every step is idempotent; a run after a failure reports what an earlier run had done
(``already_done``) and removes what is left.

Range: by default every partition under ``lake/`` that exists, whatever its age, and every
failed-events object, so nothing retained is missed however long the lake keeps data (its
lifecycle rule, ``LakeRetentionDays``). ``--from``/``--to`` (the route's ``from``/``to``) narrow
the lake scan to those ``dt=`` days. The answer names the range covered and the counts per store.
Cost: every lake object (and version) is read once; at a scale where that is slow, find the
subject's objects in Athena and erase with a range.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from fairtrack.anonymise.pseudonym import Pseudonymiser, secret_key
from fairtrack.stores.policy_table import SUPPRESSED_ID, suppress_item_id

__all__ = [
    "KINDS",
    "Found",
    "Where",
    "erase",
    "export",
    "find",
    "migrate_suppressed",
    "pseudonym_for",
    "suppress",
    "suppression_state",
]

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
    lake_old_versions: dict[str, int] = field(default_factory=dict)  # key -> earlier versions holding it
    start: date | None = None  # the lake days asked for (None: every partition)
    end: date | None = None
    lake_days: set[str] = field(default_factory=set)  # the dt= partitions scanned
    lake_versions_scanned: int = 0
    failed_objects_scanned: int = 0

    def lake_range(self) -> dict[str, Any]:
        days = sorted(self.lake_days)
        return {
            "from": self.start.isoformat() if self.start else (days[0] if days else None),
            "to": self.end.isoformat() if self.end else (days[-1] if days else None),
            "whole_lake": self.start is None and self.end is None,
            "partitions_scanned": len(days),
            "object_versions_scanned": self.lake_versions_scanned,
        }


def pseudonym_for(secrets: Any, where: Where, kind: str, value: str) -> str:
    raw = secrets.get_secret_value(SecretId=where.pseudonym_secret_arn)
    key = secret_key(raw.get("SecretString") or raw["SecretBinary"])
    return Pseudonymiser(key).pseudonym(KINDS[kind], value)


def _item_value(item: dict[str, Any]) -> Any:
    return json.loads(item["value"]["S"]) if "value" in item else None


def _is_subject(event: dict[str, Any], pseudonym: str) -> bool:
    return event.get("anonymousId") == pseudonym or event.get("userId") == pseudonym


def _day_of(key: str) -> str | None:
    """``lake/dt=2026-11-25/...`` -> ``2026-11-25``."""
    part = key.split("/", 2)[1] if key.count("/") >= 2 else ""
    return part[3:] if part.startswith("dt=") else None


def _in_range(day: str | None, start: date | None, end: date | None) -> bool:
    if day is None or (start is None and end is None):
        return True  # no range, or a key outside the dt= layout: scanned, so nothing is missed
    try:
        when = date.fromisoformat(day)
    except ValueError:
        return True
    return (start is None or when >= start) and (end is None or when <= end)


def _lake_versions(s3: Any, bucket: str, start: date | None, end: date | None) -> Iterator[tuple[str, str, bool]]:
    """(key, version id, is latest) of every object version under ``lake/`` in the range."""
    paginator = s3.get_paginator("list_object_versions")
    for page in paginator.paginate(Bucket=bucket, Prefix="lake/"):
        for version in page.get("Versions", []):
            key = str(version["Key"])
            if _in_range(_day_of(key), start, end):
                yield key, str(version["VersionId"]), bool(version.get("IsLatest"))


def _records(body: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in gzip.decompress(body).splitlines() if line.strip()]


def find(
    clients: dict[str, Any], where: Where, pseudonym: str, start: date | None = None, end: date | None = None
) -> Found:
    """What is held on the subject: by default in every lake partition and every failed event."""
    ddb, s3 = clients["dynamodb"], clients["s3"]
    found = Found(pseudonym, start=start, end=end)
    pages = ddb.get_paginator("query").paginate(
        TableName=where.consent_table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"subject#{pseudonym}"}},
    )
    pointers = []
    for page in pages:
        for pointer in page.get("Items", []):
            pointers.append({"pk": pointer["pk"], "sk": pointer["sk"]})
            receipt_id = pointer["sk"]["S"].rsplit("#", 1)[-1]
            receipt_key = {"pk": {"S": f"receipt#{receipt_id}"}, "sk": {"S": "receipt"}}
            item = ddb.get_item(TableName=where.consent_table, Key=receipt_key).get("Item")
            if item is not None:
                found.receipt_keys.append(receipt_key)
                found.receipts.append(_plain(item))
    found.receipt_keys.extend(pointers)  # receipts first: a pointer left by a failure finds its receipt again
    for key, version_id, latest in _lake_versions(s3, where.lake_bucket, start, end):
        found.lake_versions_scanned += 1
        found.lake_days.add(_day_of(key) or "")
        body = s3.get_object(Bucket=where.lake_bucket, Key=key, VersionId=version_id)["Body"].read()
        mine = [record for record in _records(body) if _is_subject(record["event"], pseudonym)]
        if not mine:
            continue
        if latest:
            found.lake_records.extend(mine)
            found.lake_objects[key] = len(mine)
        else:  # an earlier version (a rewrite that stopped before deleting it): deleted on erasure
            found.lake_old_versions[key] = found.lake_old_versions.get(key, 0) + 1
    found.lake_days.discard("")
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=where.failed_bucket, Prefix="failed/"):
        for obj in page.get("Contents", []):
            found.failed_objects_scanned += 1
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
    found.suppressed = suppression_state(ddb, where.policy_table, pseudonym) is not None
    return found


def suppression_state(ddb: Any, table: str, pseudonym: str) -> dict[str, Any] | None:
    """The subject's ``suppress#`` item (``since``, ``erasure``), or ``{}`` when only the former
    single-item list holds it, or None when the subject is not suppressed."""
    item = ddb.get_item(TableName=table, Key={"id": {"S": suppress_item_id(pseudonym)}}, ConsistentRead=True)
    if "Item" in item:
        doc = _item_value(item["Item"])
        return doc if isinstance(doc, dict) else {}
    legacy = ddb.get_item(TableName=table, Key={"id": {"S": SUPPRESSED_ID}}, ConsistentRead=True).get("Item")
    doc = _item_value(legacy) if legacy else None
    return {} if isinstance(doc, dict) and pseudonym in (doc.get("subjects") or []) else None


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


def _rewrite_lake(s3: Any, bucket: str, key: str, pseudonym: str) -> tuple[int, int]:
    """Rewrite one lake object without the subject's lines (unless the current version holds none,
    after an earlier run), then delete every other version. Returns (records removed, versions
    deleted)."""
    try:
        current = s3.get_object(Bucket=bucket, Key=key)
    except s3.exceptions.NoSuchKey:
        current = None  # only earlier versions (or a delete marker) left
    keep_version = None
    removed = 0
    if current is not None:
        lines = [line for line in gzip.decompress(current["Body"].read()).splitlines() if line.strip()]
        kept = [line for line in lines if not _is_subject(json.loads(line)["event"], pseudonym)]
        removed = len(lines) - len(kept)
        if not removed:
            keep_version = current.get("VersionId")
        elif kept:
            put = s3.put_object(
                Bucket=bucket,
                Key=key,
                ContentType="application/x-ndjson",
                ContentEncoding="gzip",
                Body=gzip.compress(b"\n".join(kept) + b"\n"),
            )
            keep_version = put.get("VersionId")
    deleted = 0
    paginator = s3.get_paginator("list_object_versions")
    for page in paginator.paginate(Bucket=bucket, Prefix=key):
        for entry in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]:
            if entry["Key"] == key and entry.get("VersionId") != keep_version:
                s3.delete_object(Bucket=bucket, Key=key, VersionId=entry["VersionId"])
                deleted += 1
    return removed, deleted


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


def _put_all(ddb: Any, table: str, items: Iterable[dict[str, Any]]) -> int:
    """BatchWriteItem in 25s, unprocessed items retried."""
    batch = list(items)
    written = 0
    for offset in range(0, len(batch), 25):
        requests: list[dict[str, Any]] = [{"PutRequest": {"Item": i}} for i in batch[offset : offset + 25]]
        for _ in range(8):
            left = ddb.batch_write_item(RequestItems={table: requests}).get("UnprocessedItems", {}).get(table, [])
            written += len(requests) - len(left)
            if not left:
                break
            requests = left
        else:
            raise RuntimeError("DynamoDB kept throttling the suppression writes; run again")
    return written


def _suppress_item(pseudonym: str, doc: dict[str, Any]) -> dict[str, Any]:
    return {"id": {"S": suppress_item_id(pseudonym)}, "value": {"S": json.dumps(doc)}}


def migrate_suppressed(ddb: Any, table: str) -> int:
    """Move the former single-item list (``suppressed``) to one ``suppress#`` item per subject,
    then delete it (unless it changed meanwhile). Returns how many subjects it held."""
    item = ddb.get_item(TableName=table, Key={"id": {"S": SUPPRESSED_ID}}, ConsistentRead=True).get("Item")
    if item is None:
        return 0
    doc = _item_value(item)
    subjects = [s for s in (doc.get("subjects") or []) if isinstance(s, str)] if isinstance(doc, dict) else []
    _put_all(
        ddb, table, (_suppress_item(p, {"since": None, "erasure": "complete", "migrated": True}) for p in subjects)
    )
    # written meanwhile by an older release: still read by ingest, moved by the next erasure
    with contextlib.suppress(ddb.exceptions.ConditionalCheckFailedException):
        ddb.delete_item(
            TableName=table,
            Key={"id": {"S": SUPPRESSED_ID}},
            ConditionExpression="#v = :old",
            ExpressionAttributeNames={"#v": "value"},
            ExpressionAttributeValues={":old": item["value"]},
        )
    return len(subjects)


def suppress(ddb: Any, table: str, *pseudonyms: str) -> int:
    """Suppress the subjects' later hits: one ``suppress#<pseudonym>`` item each (written again
    when already there, keeping nothing else). Returns how many were written."""
    since = _now_text()
    return _put_all(
        ddb, table, (_suppress_item(p, {"since": since, "erasure": "none"}) for p in dict.fromkeys(pseudonyms))
    )


def _now_text(now: datetime | None = None) -> str:
    return (now or datetime.now(UTC)).isoformat(timespec="seconds").replace("+00:00", "Z")


def erase(clients: dict[str, Any], where: Where, found: Found, who: str) -> dict[str, Any]:
    """Erase what :func:`find` found, suppression first; safe to run again after a failure."""
    ddb, s3 = clients["dynamodb"], clients["s3"]
    migrate_suppressed(ddb, where.policy_table)
    before = suppression_state(ddb, where.policy_table, found.pseudonym)
    since = (before or {}).get("since") or _now_text()
    ddb.put_item(
        TableName=where.policy_table, Item=_suppress_item(found.pseudonym, {"since": since, "erasure": "started"})
    )
    deleted_receipts = 0
    for key in found.receipt_keys:
        gone = ddb.delete_item(TableName=where.consent_table, Key=key, ReturnValues="ALL_OLD")
        deleted_receipts += int(key["pk"]["S"].startswith("receipt#") and "Attributes" in gone)
    lake_removed = versions_deleted = 0
    for lake_key in dict.fromkeys([*found.lake_objects, *found.lake_old_versions]):
        removed, deleted = _rewrite_lake(s3, where.lake_bucket, lake_key, found.pseudonym)
        lake_removed += removed
        versions_deleted += deleted
    failed_removed = sum(_rewrite_failed(s3, where.failed_bucket, key, found.pseudonym) for key in found.failed_objects)
    now = datetime.now(UTC)
    record = {
        "who": who,
        "when": _now_text(now),
        "range": {
            "lake": found.lake_range(),
            "failed_events": {"whole_store": True, "objects_scanned": found.failed_objects_scanned},
            "consent": "every receipt of the subject",
        },
        "what": {
            "consent_receipts_deleted": deleted_receipts,
            "lake_records_removed": lake_removed,
            "lake_objects_rewritten": len(found.lake_objects),
            "lake_versions_deleted": versions_deleted,
            "failed_events_removed": failed_removed,
            "failed_objects_rewritten": len(found.failed_objects),
            "suppressed": True,
        },
        "already_done": {
            "suppressed": before is not None,
            "suppressed_since": (before or {}).get("since"),
            "earlier_erasure": (before or {}).get("erasure") if before else None,
        },
    }
    ddb.put_item(
        TableName=where.policy_table,
        Item={
            "id": {"S": f"erasure#{now:%Y%m%dT%H%M%SZ}#{uuid.uuid4().hex[:12]}"},
            "value": {"S": json.dumps(record)},
        },
    )
    ddb.put_item(
        TableName=where.policy_table,
        Item=_suppress_item(found.pseudonym, {"since": since, "erasure": "complete", "completed": record["when"]}),
    )
    return record
