"""Destinations: map minimised events to a wire format and deliver them.

Each destination takes the batch of :class:`Delivery` items a forwarder invocation holds and
returns the SQS message ids that must be retried. A destination not built yet (GA4 and Meta in the
spine) delivers nothing and fails every item, so SQS retries them and the DLQ keeps them: nothing
pretends to deliver, and nothing is lost.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class Delivery:
    """The events of one SQS message, re-checked against the active policy."""

    message_id: str
    source_id: str
    policy_version: int
    events: list[tuple[list[str], dict[str, Any]]]  # (purposes, minimal event)


@dataclass(frozen=True)
class EventRef:
    """One event inside a forwarder batch: the SQS message that carried it and its ``messageId``
    (the event id destinations deduplicate on)."""

    message_id: str
    event_id: str


@dataclass(frozen=True)
class WireRequest:
    """One HTTP request body a destination will send, and the events it carries.

    ``body`` is the exact JSON bytes (secrets such as GA4's ``api_secret`` or Meta's access token
    are never in it: the client puts them in the URL), so golden tests can compare bodies byte
    for byte and a failed request can be kept without its credentials.
    """

    body: bytes
    events: tuple[EventRef, ...]


@dataclass
class Mapping:
    """What a destination's mapper made of a batch of deliveries.

    - ``requests``: the requests to send, each within the destination's limits;
    - ``dropped``: events that will not be sent, each with a reason (``too_old``,
      ``unsupported_type``, ``invalid_event_name``...): recorded, never silently lost;
    - ``adjustments``: counts of field-level decisions the mapper took to fit the destination's
      limits (``truncated:page_title``, ``dropped_param:reserved_name``...), without values.
    """

    requests: list[WireRequest] = field(default_factory=list)
    dropped: list[tuple[EventRef, str]] = field(default_factory=list)
    adjustments: Counter[str] = field(default_factory=Counter)


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
