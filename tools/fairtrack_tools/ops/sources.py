"""Operator actions on sources: add, list, set where their events happen, rotate a write key, remove.

A source is a website or backend: its write key(s), GA4 measurement ids and allowed browser
origins (layout of the items in :mod:`fairtrack.stores.policy_table`). Write keys are stored only as SHA-256
hashes; a new key is printed once, when it is made, and cannot be read back. Every change rewrites
the ``source#`` item and the lookup items that ingest reads (``writekey#``, ``measurement#``,
``origin#``), so ingest always needs one read per request.
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

from fairtrack.stores.policy_table import Source, measurement_id_item, origin_item, write_key_id


class SourceError(Exception):
    """An operator mistake (unknown source, duplicate id, id already in use)."""


def new_write_key() -> str:
    return "ftk_" + secrets.token_urlsafe(24)


def _get(client: Any, table: str, item_id: str) -> Any | None:
    item = client.get_item(TableName=table, Key={"id": {"S": item_id}}, ConsistentRead=True).get("Item")
    return json.loads(item["value"]["S"]) if item else None


def _put(client: Any, table: str, item_id: str, value: Any, expires_at: int | None = None) -> None:
    item: dict[str, Any] = {"id": {"S": item_id}, "value": {"S": json.dumps(value, separators=(",", ":"))}}
    if expires_at is not None:
        item["expires_at"] = {"N": str(expires_at)}
    client.put_item(TableName=table, Item=item)


def _delete(client: Any, table: str, item_id: str) -> None:
    client.delete_item(TableName=table, Key={"id": {"S": item_id}})


def _record(client: Any, table: str, source_id: str) -> dict[str, Any]:
    doc = _get(client, table, f"source#{source_id}")
    if not isinstance(doc, dict):
        raise SourceError(f"no source with id {source_id!r}")
    return doc


def _lookup_doc(source: Source) -> dict[str, Any]:
    return source.model_dump(mode="json")


def _index_origins(client: Any, table: str, source_id: str, add: list[str], remove: list[str]) -> None:
    for origin in set(add) | set(remove):
        doc = _get(client, table, origin_item(origin)) or {"source_ids": []}
        ids = set(doc.get("source_ids", []))
        ids = (ids | {source_id}) if origin in add else (ids - {source_id})
        if ids:
            _put(client, table, origin_item(origin), {"source_ids": sorted(ids)})
        else:
            _delete(client, table, origin_item(origin))


def add_source(client: Any, table: str, source: Source, write_key: str | None = None) -> str:
    """Create ``source`` with ``write_key`` (a new random one when None); return the write key."""
    if _get(client, table, f"source#{source.source_id}") is not None:
        raise SourceError(f"a source with id {source.source_id!r} exists already")
    for mid in source.measurement_ids:
        owner = _get(client, table, measurement_id_item(mid))
        if owner is not None:
            raise SourceError(f"measurement id {mid} belongs to source {owner.get('source_id')!r}")
    key = write_key or new_write_key()
    key_id = write_key_id(key)
    if _get(client, table, key_id) is not None:
        raise SourceError("that write key is in use by another source")
    doc = _lookup_doc(source)
    _put(client, table, key_id, doc)
    for mid in source.measurement_ids:
        _put(client, table, measurement_id_item(mid), doc)
    _index_origins(client, table, source.source_id, source.origins, [])
    _put(client, table, f"source#{source.source_id}", {**doc, "key_ids": [key_id], "created_at": int(time.time())})
    return key


def list_sources(client: Any, table: str) -> list[dict[str, Any]]:
    """Every source, with a short fingerprint of each key hash (never a key)."""
    out = []
    kwargs: dict[str, Any] = {
        "TableName": table,
        "FilterExpression": "begins_with(id, :p)",
        "ExpressionAttributeValues": {":p": {"S": "source#"}},
    }
    while True:
        page = client.scan(**kwargs)
        for item in page.get("Items", []):
            doc = json.loads(item["value"]["S"])
            key_ids = doc.pop("key_ids", [])
            doc["keys"] = [k.removeprefix("writekey#")[:12] for k in key_ids]
            out.append(doc)
        if "LastEvaluatedKey" not in page:
            break
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return sorted(out, key=lambda d: str(d.get("source_id")))


def rotate_key(client: Any, table: str, source_id: str, keep_old_seconds: int = 0) -> str:
    """Give the source a new write key. Old keys stop working now, or after ``keep_old_seconds``
    (so clients can be redeployed first; ingest honours ``not_after`` even before TTL deletes)."""
    record = _record(client, table, source_id)
    source = Source.model_validate(record)
    key = new_write_key()
    new_id = write_key_id(key)
    _put(client, table, new_id, _lookup_doc(source))
    old_ids = [k for k in record.get("key_ids", []) if k != new_id]
    keep: list[str] = []
    if keep_old_seconds > 0:
        not_after = int(time.time()) + keep_old_seconds
        for old in old_ids:
            _put(client, table, old, {**_lookup_doc(source), "not_after": not_after}, expires_at=not_after)
        keep = old_ids
    else:
        for old in old_ids:
            _delete(client, table, old)
    _put(client, table, f"source#{source_id}", {**record, "key_ids": [new_id, *keep]})
    return key


def remove_source(client: Any, table: str, source_id: str) -> None:
    record = _record(client, table, source_id)
    source = Source.model_validate(record)
    for key_id in record.get("key_ids", []):
        _delete(client, table, key_id)
    for mid in source.measurement_ids:
        _delete(client, table, measurement_id_item(mid))
    _index_origins(client, table, source_id, [], source.origins)
    _delete(client, table, f"source#{source_id}")


def set_action_source(client: Any, table: str, source_id: str, action_source: str) -> Source:
    """Say where the source's events happen, for Meta (``website``, ``app``, ``system_generated``,
    ``physical_store``...): the ``source#`` item the Meta forwarder reads, and the lookup copies
    ingest reads, so every item says the same."""
    record = _record(client, table, source_id)
    source = Source.model_validate({**record, "action_source": action_source})
    doc = _lookup_doc(source)
    for key_id in record.get("key_ids", []):
        current = _get(client, table, key_id)
        if isinstance(current, dict) and "not_after" in current:
            continue  # a rotated-out key: it expires as it is
        _put(client, table, key_id, doc)
    for mid in source.measurement_ids:
        _put(client, table, measurement_id_item(mid), doc)
    _put(client, table, f"source#{source_id}", {**record, **doc})
    return source
