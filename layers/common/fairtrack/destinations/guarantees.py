"""What each destination is guaranteed under retries, timeouts, throttles and redeliveries.

One table, read by the forwarder (which destinations keep a delivery ledger), the load and fault
proof (which duplicates each destination may receive) and the table in docs/destinations.md (a
test compares them row by row).

- ``once unless an answer is lost``: redeliveries, copies, DLQ redrive and replay never send an
  event again (the delivery ledger, since the destination does not deduplicate: GA4 counts every
  event it receives). What no sender can rule out remains: a request the destination received
  whose answer never came back (a read timeout or a reset after delivery) is sent again, and the
  destination has no key to drop the copy.
- ``at least once``: a redelivered message may send an event again, always with the same
  idempotency key, which the destination (Meta) or its reader (webhook receiver, lake queries)
  deduplicates on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["GUARANTEES", "TABLE_HEAD", "Guarantee", "keeps_ledger"]

Delivery = Literal["once unless an answer is lost", "at least once"]


@dataclass(frozen=True)
class Guarantee:
    name: str  # as docs/destinations.md names the destination
    delivery: Delivery
    key: str  # the idempotency key every copy carries, as docs/destinations.md shows it
    ledger: bool  # whether the forwarder claims each message in the delivery ledger first

    def table_row(self) -> str:
        return f"| {self.name} | {self.delivery} | {self.key} | {'one claim per message' if self.ledger else 'none'} |"


GUARANTEES: dict[str, Guarantee] = {
    "ga4": Guarantee("GA4", "once unless an answer is lost", "none (GA4 does not deduplicate)", ledger=True),
    "meta": Guarantee("Meta", "at least once", "`event_name` + `event_id` (Meta deduplicates)", ledger=False),
    "webhook": Guarantee(
        "Webhook", "at least once", "`Idempotency-Key` header per request, `messageId` per event", ledger=False
    ),
    "lake": Guarantee("Lake", "at least once", "`event.messageId` per row", ledger=False),
}

TABLE_HEAD = "| Destination | Delivery | Idempotency key | Delivery ledger |"


def keeps_ledger(destination: str) -> bool:
    guarantee = GUARANTEES.get(destination)
    return guarantee is not None and guarantee.ledger
