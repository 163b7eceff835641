"""Destinations: map minimised events to a wire format and deliver them.

Each destination takes the batch of :class:`Delivery` items a forwarder invocation holds and
returns the SQS message ids that must be retried. A destination not built yet (GA4 and Meta in the
spine) delivers nothing and fails every item, so SQS retries them and the DLQ keeps them: nothing
pretends to deliver, and nothing is lost.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class Delivery:
    """The events of one SQS message, re-checked against the active policy."""

    message_id: str
    source_id: str
    policy_version: int
    events: list[tuple[list[str], dict[str, Any]]]  # (purposes, minimal event)


class DestinationClient(Protocol):
    def deliver(self, items: list[Delivery]) -> set[str]:
        """Deliver ``items``; return the message ids that failed and must be retried."""
        ...


class UnavailableDestination:
    """A destination that cannot deliver (not built yet, or not configured): every item fails."""

    def __init__(self, name: str, reason: str) -> None:
        self.name = name
        self.reason = reason

    def deliver(self, items: list[Delivery]) -> set[str]:
        from fairtrack.observability import logger

        logger.error(
            "destination unavailable: records left for retry and the DLQ",
            extra={"destination": self.name, "reason": self.reason, "records": len(items)},
        )
        return {item.message_id for item in items}
