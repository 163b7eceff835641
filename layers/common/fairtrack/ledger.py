"""The delivery ledger: which events a destination has already settled, so a redelivered SQS
message does not send them twice.

SQS delivers at least once, and a forwarder retries a whole message when any of its events needs
a retry; the events of that message that were already sent (or already stored as failed) must not
go out again. The ledger is a DynamoDB table (``DELIVERY_TABLE``) with one item per settled event:

    id = "<destination>#<source_id>#<event messageId>"   outcome = "sent" | "failed"   expires_at

Per forwarder batch it costs one ``BatchGetItem`` per 100 events before sending and one
``BatchWriteItem`` per 25 events after, instead of a conditional write per event: Powertools'
idempotency utility makes a function call idempotent (two writes per call), while a forwarder
sends up to 1,000 events in one call and needs the answer per event, so this module does the
batched version of the same idea. Items expire after :data:`LEDGER_DAYS`, longer than a message
can live in a DLQ (14 days), so a replay from the DLQ cannot resend what was delivered.

A ledger that cannot be read leaves the batch for redelivery rather than send blind. A ledger
that cannot be written is logged and counted; the worst case is then the at-least-once delivery
that every destination's own dedup key (``messageId``, Meta's ``event_id``) covers.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any, Literal

from fairtrack.observability import logger

LEDGER_DAYS = 15
Outcome = Literal["sent", "failed"]
_GET_CHUNK = 100
_WRITE_CHUNK = 25
_ATTEMPTS = 4


class LedgerUnavailable(Exception):
    """The ledger could not be read: the caller must not send (it would risk duplicates)."""


class Ledger:
    def __init__(self, table: str, destination: str, client: Any = None) -> None:
        self.table = table
        self.destination = destination
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3

            self._client = boto3.client("dynamodb")
        return self._client

    def key(self, source_id: str, event_id: str) -> str:
        return f"{self.destination}#{source_id}#{event_id}"

    def settled(self, keys: Iterable[str]) -> dict[str, Outcome]:
        """The outcome already recorded for each of ``keys`` that has one."""
        wanted = list(dict.fromkeys(keys))
        found: dict[str, Outcome] = {}
        try:
            for start in range(0, len(wanted), _GET_CHUNK):
                request: dict[str, Any] = {
                    self.table: {
                        "Keys": [{"id": {"S": k}} for k in wanted[start : start + _GET_CHUNK]],
                        "ConsistentRead": True,
                        "ProjectionExpression": "id, outcome",
                    }
                }
                for attempt in range(_ATTEMPTS):
                    answer = self.client.batch_get_item(RequestItems=request)
                    for item in answer.get("Responses", {}).get(self.table, []):
                        outcome = item.get("outcome", {}).get("S")
                        if outcome in ("sent", "failed"):
                            found[item["id"]["S"]] = outcome
                    request = answer.get("UnprocessedKeys") or {}
                    if not request:
                        break
                    time.sleep(0.05 * 2**attempt)
                else:
                    raise LedgerUnavailable("ledger reads kept being throttled")
        except LedgerUnavailable:
            raise
        except Exception as exc:
            raise LedgerUnavailable(type(exc).__name__) from exc
        return found

    def record(self, entries: Iterable[tuple[str, Outcome]]) -> int:
        """Record outcomes; returns how many could not be written (logged, never raised)."""
        expires = int(time.time()) + LEDGER_DAYS * 86400
        items = [
            {"PutRequest": {"Item": {"id": {"S": k}, "outcome": {"S": o}, "expires_at": {"N": str(expires)}}}}
            for k, o in dict(entries).items()
        ]
        lost = 0
        for start in range(0, len(items), _WRITE_CHUNK):
            pending: list[dict[str, Any]] = items[start : start + _WRITE_CHUNK]
            try:
                for attempt in range(_ATTEMPTS):
                    answer = self.client.batch_write_item(RequestItems={self.table: pending})
                    pending = (answer.get("UnprocessedItems") or {}).get(self.table, [])
                    if not pending:
                        break
                    time.sleep(0.05 * 2**attempt)
            except Exception as exc:  # noqa: BLE001 - the events are delivered; only dedup is weakened
                logger.warning("ledger write failed", extra={"error_type": type(exc).__name__})
            lost += len(pending)
        if lost:
            logger.warning("ledger entries not written: a redelivery may resend them", extra={"entries": lost})
        return lost

    def forget(self, keys: Iterable[str]) -> None:
        """Remove entries (replay does this for failed events it puts back on the queue)."""
        requests = [{"DeleteRequest": {"Key": {"id": {"S": k}}}} for k in dict.fromkeys(keys)]
        for start in range(0, len(requests), _WRITE_CHUNK):
            pending = requests[start : start + _WRITE_CHUNK]
            for attempt in range(_ATTEMPTS):
                answer = self.client.batch_write_item(RequestItems={self.table: pending})
                pending = (answer.get("UnprocessedItems") or {}).get(self.table, [])
                if not pending:
                    break
                time.sleep(0.05 * 2**attempt)
