"""Destinations: map minimised events to a wire format and deliver them.

Each destination takes the batch of :class:`Delivery` items a forwarder invocation holds and
returns a :class:`DeliveryReport` that accounts for every event. HTTP destinations map the batch
to wire requests first (a :class:`Mapping`, pure and golden-tested) and send them with
:mod:`fairtrack.destinations.transport`. A destination that is not configured fails every item, so
SQS retries them and the DLQ keeps them: nothing pretends to deliver, and nothing is lost.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = [
    "Delivery",
    "DeliveryReport",
    "DestinationClient",
    "EventRef",
    "Failure",
    "Mapping",
    "Stop",
    "UnavailableDestination",
    "WireRequest",
    "without_credential",
]

# Asked before each request (or lake object): True when the invocation's deadline is too close to
# start another; the rest is then left for retry (reason ``deadline``).
Stop = Callable[[], bool]


@dataclass(frozen=True)
class Delivery:
    """The events of one SQS message, re-checked against the active policy."""

    message_id: str
    source_id: str
    policy_version: int
    events: list[tuple[list[str], dict[str, Any]]]  # (purposes, minimal event)
    # the policy's Limited Data Use rule for this destination: every event, none, or by country
    limited_data_use: bool | frozenset[str] = False
    # where the source's events happen (its ``action_source`` setting; Meta's action_source)
    action_source: str = "website"

    def ldu_applies(self, event: dict[str, Any]) -> bool:
        """Whether ``event`` must be flagged for Limited Data Use; an unknown country is flagged."""
        if isinstance(self.limited_data_use, bool):
            return self.limited_data_use
        country = ((event.get("context") or {}).get("location") or {}).get("country")
        return not isinstance(country, str) or country in self.limited_data_use


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


@dataclass(frozen=True)
class Failure:
    """Events a destination refused for good (a permanent error): kept in the failed-events store
    with the destination's answer, never retried by SQS, sent again only by ``fairtrack replay``."""

    events: tuple[EventRef, ...]
    reason: str  # value-free: ``http_400``, ``meta_code_100``, ``ga4_validation``
    status: int | None
    answer: str  # the destination's answer (first 2 KB); stored, never logged


@dataclass
class DeliveryReport:
    """The outcome of one forwarder batch at a destination; every event ends in exactly one of:

    ``sent``, ``dropped`` (by the destination's own rules, with a reason), ``failed`` (permanent),
    or inside a message listed in ``retry`` (SQS redelivers the whole message; for GA4 the events
    of it that were sent or failed are recorded in its ledger claim, so they are not sent twice; the
    other destinations receive them again with the same idempotency key).
    """

    sent: list[EventRef] = field(default_factory=list)
    retry: set[str] = field(default_factory=set)
    failed: list[Failure] = field(default_factory=list)
    dropped: list[tuple[EventRef, str]] = field(default_factory=list)
    adjustments: Counter[str] = field(default_factory=Counter)
    retry_reasons: Counter[str] = field(default_factory=Counter)

    def retry_all(self, items: list[Delivery], reason: str) -> DeliveryReport:
        self.retry.update(item.message_id for item in items)
        self.retry_reasons[reason] += len(items)
        return self


def without_credential(items: list[Delivery], credential: str, reason: str) -> DeliveryReport:
    """Every item left for retry (``reason``), logged: the destination's ``credential`` (read
    from Secrets Manager each batch) is unavailable."""
    from fairtrack.observability import logger

    logger.error(f"{credential} unavailable: records left for retry")
    return DeliveryReport().retry_all(items, reason)


class DestinationClient(Protocol):
    def deliver(self, items: list[Delivery], stop: Stop | None = None) -> DeliveryReport:
        """Deliver ``items`` and say what became of every event."""
        ...


class UnavailableDestination:
    """A destination that cannot deliver (not configured): every item is left for retry and the DLQ."""

    def __init__(self, name: str, reason: str) -> None:
        self.name = name
        self.reason = reason

    def deliver(self, items: list[Delivery], stop: Stop | None = None) -> DeliveryReport:
        from fairtrack.observability import logger

        logger.error(
            "destination unavailable: records left for retry and the DLQ",
            extra={"destination": self.name, "reason": self.reason, "records": len(items)},
        )
        return DeliveryReport().retry_all(items, "unavailable")
