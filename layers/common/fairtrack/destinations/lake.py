"""The team's own S3 lake: gzip NDJSON, one object per (date, source) group of a batch.

Key: ``<prefix>/dt=YYYY-MM-DD/source=<source_id>/<32 hex>.ndjson.gz`` (Hive-style partitions for
Athena). One line per event::

    {"source": "...", "policy_version": 3, "purposes": ["analytics", "necessary"], "event": {...}}

where ``event`` is the policy-filtered canonical hit (``receivedAt`` decides the date partition).

Delivery is at least once. The object's name is a SHA-256 of its lines in sorted order
(:func:`object_name`), so a redelivered batch that writes the same events again overwrites its own
object instead of adding one; a message retried in another batch can still put its events in a
second object, so readers deduplicate on ``event.messageId`` (docs/destinations.md shows the Athena query).
"""

from __future__ import annotations

import gzip
import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from fairtrack.destinations import Delivery, DeliveryReport, EventRef, Stop
from fairtrack.observability import logger
from fairtrack.stores.clients import LazyClient

__all__ = ["LakeDestination", "object_name", "partition_date"]


def partition_date(event: dict[str, Any]) -> str:
    received = str(event.get("receivedAt") or "")
    return received[:10] if len(received) >= 10 else datetime.now(UTC).strftime("%Y-%m-%d")


def object_name(lines: list[str]) -> str:
    """The object's name: the same for the same rows, whatever their order in the batch."""
    digest = hashlib.sha256()
    for line in sorted(lines):
        digest.update(line.encode())
        digest.update(b"\n")
    return digest.hexdigest()[:32] + ".ndjson.gz"


class LakeDestination:
    def __init__(self, bucket: str, prefix: str = "lake", s3: Any = None) -> None:
        if not bucket:
            raise ValueError("LAKE_BUCKET is not configured")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self._s3 = s3

    s3 = LazyClient("s3")

    def deliver(self, items: list[Delivery], stop: Stop | None = None) -> DeliveryReport:
        groups: dict[tuple[str, str], tuple[list[str], list[EventRef]]] = {}
        for item in items:
            for purposes, event in item.events:
                lines, refs = groups.setdefault((partition_date(event), item.source_id), ([], []))
                lines.append(
                    json.dumps(
                        {
                            "source": item.source_id,
                            "policy_version": item.policy_version,
                            "purposes": purposes,
                            "event": event,
                        },
                        separators=(",", ":"),
                    )
                )
                refs.append(EventRef(item.message_id, str(event.get("messageId") or "")))
        report = DeliveryReport()
        for (day, source), (lines, refs) in groups.items():
            if stop is not None and stop():
                report.retry.update(ref.message_id for ref in refs)
                report.retry_reasons["deadline"] += 1
                continue
            key = f"{self.prefix}/dt={day}/source={source}/{object_name(lines)}"
            try:
                self.s3.put_object(
                    Bucket=self.bucket,
                    Key=key,
                    ContentType="application/x-ndjson",
                    ContentEncoding="gzip",
                    Body=gzip.compress(("\n".join(lines) + "\n").encode()),
                )
            except Exception as exc:  # noqa: BLE001 - any failure means retry these records
                logger.warning("lake write failed", extra={"error_type": type(exc).__name__, "events": len(lines)})
                report.retry.update(ref.message_id for ref in refs)
                report.retry_reasons[type(exc).__name__] += 1
                continue
            report.sent.extend(refs)
        return report
