"""The delivery ledger: one conditional write per SQS message, for the destination that cannot
deduplicate by itself (GA4; see :mod:`fairtrack.guarantees`).

SQS delivers at least once, and a forwarder retries a whole message when any of its events needs a
retry. Meta, the webhook and the lake deduplicate downstream by a key every copy carries, so they
keep no ledger. GA4 counts every event it receives, so its forwarder *claims* each message before
sending it, with one ``PutItem`` (1 WRU: the item is far below 1 KB)::

    id = "ga4#<sha-256 of the message body, 32 hex>"   state = "claimed"   lease_until   expires_at
    message = <SQS message id>   holder = <token of this claim>   [settled = {event messageIds}]

``ConditionExpression``: the item does not exist, or its lease ran out. The key is the body's hash,
not the SQS message id, because the body is what stays the same when SQS redelivers a message,
when ``fairtrack replay --from dlq`` moves it back (a new SQS id, the same body) and when ingest
queued the same envelope twice. ``ReturnValuesOnConditionCheckFailure=ALL_OLD`` makes a refused
claim say who holds it at no extra read, and ``ReturnValues=ALL_OLD`` makes a granted one return
the events an earlier receive already settled.

- Claim granted: send (minus the events ``settled`` names). When every event of the message
  settled (sent, dropped or kept as failed), nothing more is written: the success path costs the
  one ``PutItem``.
- Claim refused, held by another SQS message (a copy of the same body): skip it, it is a duplicate.
  Held by the same SQS message (received again while an earlier receive still runs): left for
  retry, never skipped, so a crash cannot lose it.
- A message left for retry releases its claim: one ``UpdateItem`` records the events that did
  settle (they are not sent again) and ends the lease, or, when none did, one ``DeleteItem``.

The lease (``lease_until``) is the invocation's remaining time plus :data:`LEASE_MARGIN_SECONDS`,
which is shorter than the queue's visibility timeout (6x the function's timeout), so a message whose
forwarder died comes back after the lease ended and is claimed again. Items expire after
:data:`LEDGER_DAYS`, longer than a message can live in a DLQ (14 days).

Claims and releases are single-item writes (DynamoDB has no conditional batch write, and
``TransactWriteItems`` costs two WRUs per item), made concurrently through a small thread pool.
"""

from __future__ import annotations

import hashlib
import math
import secrets
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

from fairtrack.observability import logger
from fairtrack.stores.clients import LazyClient

__all__ = ["DEFAULT_INVOCATION_SECONDS", "LEASE_MARGIN_SECONDS", "LEDGER_DAYS", "Claim", "Ledger"]

LEDGER_DAYS = 15
LEASE_MARGIN_SECONDS = 30
# without the Lambda context (tests, tools): the template's forwarder timeout
DEFAULT_INVOCATION_SECONDS = 30
CLAIM_WORKERS = 8  # below botocore's default connection pool (10)
CLAIMED = "claimed"
KEY_HEX = 32

ClaimState = Literal["claimed", "duplicate", "held_here", "unavailable"]


@dataclass(frozen=True)
class Claim:
    """What a claim came to.

    - ``claimed``: this invocation holds the message; ``settled`` names the events an earlier
      receive already sent or kept as failed (not to be sent again);
    - ``duplicate``: another SQS message with the same body holds or sent it: skip it;
    - ``held_here``: this SQS message's own earlier receive holds it: leave it for retry;
    - ``unavailable``: the ledger could not be written: leave it for retry, never send blind.
    """

    key: str
    state: ClaimState
    settled: frozenset[str] = frozenset()
    holder: str = ""


class Ledger:
    def __init__(self, table: str, destination: str, client: Any = None, *, workers: int = CLAIM_WORKERS) -> None:
        self.table = table
        self.destination = destination
        self._client = client
        self._workers = workers
        self._pool: ThreadPoolExecutor | None = None

    client = LazyClient("dynamodb")

    def key(self, body: str) -> str:
        """The claim key of a queue message, from its body (see the module's docstring)."""
        return f"{self.destination}#{hashlib.sha256(body.encode()).hexdigest()[:KEY_HEX]}"

    def _map(self, fn: Any, items: list[Any]) -> list[Any]:
        if len(items) <= 1:
            return [fn(item) for item in items]
        if self._pool is None:  # kept with the container, like the clients
            self._pool = ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix="ledger")
        return list(self._pool.map(fn, items))

    def claim(self, wanted: Mapping[str, str], lease_seconds: float, now: float | None = None) -> dict[str, Claim]:
        """Claim each key of ``wanted`` (key -> the SQS message id asking) for ``lease_seconds``."""
        at = time.time() if now is None else now
        lease_until = math.ceil(at + lease_seconds)
        expires = int(at) + LEDGER_DAYS * 86400

        def one(entry: tuple[str, str]) -> Claim:
            key, message_id = entry
            holder = secrets.token_hex(8)
            try:
                answer = self.client.put_item(
                    TableName=self.table,
                    Item={
                        "id": {"S": key},
                        "state": {"S": CLAIMED},
                        "lease_until": {"N": str(lease_until)},
                        "expires_at": {"N": str(expires)},
                        "message": {"S": message_id},
                        "holder": {"S": holder},
                    },
                    ConditionExpression="attribute_not_exists(#id) OR (#state = :claimed AND #lease < :now)",
                    ExpressionAttributeNames={"#id": "id", "#state": "state", "#lease": "lease_until"},
                    ExpressionAttributeValues={":claimed": {"S": CLAIMED}, ":now": {"N": str(math.floor(at))}},
                    ReturnValues="ALL_OLD",
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
            except Exception as exc:  # noqa: BLE001 - classified below; never sent blind
                error = getattr(exc, "response", {}) or {}
                if error.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                    old = error.get("Item") or {}
                    same = old.get("message", {}).get("S") == message_id
                    return Claim(key, "held_here" if same else "duplicate")
                logger.warning("ledger claim failed", extra={"error_type": type(exc).__name__})
                return Claim(key, "unavailable")
            old = answer.get("Attributes") or {}
            return Claim(key, "claimed", frozenset(old.get("settled", {}).get("SS", [])), holder)

        entries = list(wanted.items())
        return dict(zip(wanted, self._map(one, entries), strict=True))

    def release(self, releases: Iterable[tuple[Claim, Iterable[str]]]) -> int:
        """End the lease of claims whose message is left for retry, recording the events that
        settled (with those the claim found settled); a claim with none is deleted. Only the claim's
        own holder can release it. Returns how many releases could not be written (logged): those
        messages' events may then be sent again once the lease runs out."""

        def one(entry: tuple[Claim, frozenset[str]]) -> bool:
            claim, settled = entry
            names = {"#holder": "holder"}
            values: dict[str, Any] = {":holder": {"S": claim.holder}}
            try:
                if settled:
                    self.client.update_item(
                        TableName=self.table,
                        Key={"id": {"S": claim.key}},
                        UpdateExpression="SET #settled = :settled, #lease = :zero",
                        ConditionExpression="#holder = :holder",
                        ExpressionAttributeNames={**names, "#settled": "settled", "#lease": "lease_until"},
                        ExpressionAttributeValues={**values, ":settled": {"SS": sorted(settled)}, ":zero": {"N": "0"}},
                    )
                else:
                    self.client.delete_item(
                        TableName=self.table,
                        Key={"id": {"S": claim.key}},
                        ConditionExpression="#holder = :holder",
                        ExpressionAttributeNames=names,
                        ExpressionAttributeValues=values,
                    )
            except Exception as exc:  # noqa: BLE001 - the message is retried either way
                code = (getattr(exc, "response", {}) or {}).get("Error", {}).get("Code")
                if code == "ConditionalCheckFailedException":
                    return True  # another receive holds it now: it is that receive's to settle
                logger.warning("ledger release failed", extra={"error_type": type(exc).__name__})
                return False
            return True

        entries = [(c, frozenset(c.settled | frozenset(s))) for c, s in releases if c.state == "claimed"]
        lost = sum(1 for ok in self._map(one, entries) if not ok)
        if lost:
            logger.warning("ledger claims not released: those messages wait for their lease", extra={"claims": lost})
        return lost

    def forget(self, keys: Iterable[str]) -> None:
        """Delete claims (``fairtrack replay --from failed`` does, for the bodies it queues again)."""

        def one(key: str) -> None:
            self.client.delete_item(TableName=self.table, Key={"id": {"S": key}})

        self._map(one, list(dict.fromkeys(keys)))
