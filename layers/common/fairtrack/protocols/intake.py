"""A request's body in, canonical hits out: the one entry point per wire format that ingest calls.

Each adapter validates every event on its own: bad events are reported by index (``rejected``, with
field paths and reasons, never the values) and the good ones kept; only a request with nothing valid
in it is refused (a :class:`~fairtrack.errors.ClientError`). ``ip`` is the visitor's address, already
truncated: the only form a hit may carry.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from fairtrack.errors import ClientError, FieldError, status_for
from fairtrack.hit import EventType, Hit
from fairtrack.protocols import gtag
from fairtrack.protocols.segment import batch_events, parse_event
from fairtrack.protocols.segment_consent import consent_conflicts

__all__ = ["Intake", "gtag_collect", "gtag_hits", "segment_batch", "segment_event"]


@dataclass
class Intake:
    """The hits of one request, and the events refused by index."""

    hits: list[Hit]
    rejected: list[dict[str, Any]] = field(default_factory=list)


def segment_event(raw: bytes, body: Any, implied_type: EventType, received_at: datetime, ip: str | None) -> Intake:
    """One event on a typed route (``/v1/track``, ``/v1/t`` ...); refused whole when invalid."""
    conflicts = consent_conflicts(raw, body).of(None)  # a consent key twice, disagreeing
    parsed = parse_event(body, implied_type=implied_type, ip=ip, conflicts=conflicts)
    if isinstance(parsed, list):
        raise ClientError(status_for(parsed), "invalid_event", "the event is not valid", parsed)
    return Intake([parsed.to_hit(received_at)])


def segment_batch(raw: bytes, body: Any, received_at: datetime, ip: str | None) -> Intake:
    """A batch (``/v1/batch``, ``/v1/b``, ``/beacon/v1/batch``)."""
    events, errors, sent_at = batch_events(body)
    if errors:
        raise ClientError(status_for(errors), "invalid_batch", "the batch is not valid", errors)
    conflicts = consent_conflicts(raw, body)  # consent keys given twice, disagreeing, per event
    parsed = (
        (index, parse_event(event, implied_type=None, path=f"batch[{index}]", ip=ip, conflicts=conflicts.of(index)))
        for index, event in events
    )
    intake = _kept((i, p if isinstance(p, list) else p.to_hit(received_at, sent_at)) for i, p in parsed)
    return _nonempty(intake, "invalid_batch", "no event in the batch is valid")


def gtag_collect(raw_query: str, body: bytes) -> gtag.Collect:
    """A gtag request (``GET|POST /g/collect``) split into its events; a request-level problem (the
    query or the body as a whole) refuses it."""
    collect = gtag.split_request(raw_query, body)
    if collect.errors and collect.errors[0][0] == -1:
        problems = collect.errors[0][1]
        raise ClientError(status_for(problems), "invalid_request", "the request is not valid", problems)
    return collect


def gtag_hits(collect: gtag.Collect, received_at: datetime, user_agent: str | None, ip: str | None) -> Intake:
    """The events of a :func:`gtag_collect` request as hits (gtag reads no answer: bad events are
    only counted, as Google does)."""
    refused = [_refused(index, errors) for index, errors in collect.errors]
    intake = _nonempty(
        _kept(gtag.hits(collect, received_at, user_agent, ip), refused),
        "invalid_events",
        "no event in the request is valid",
    )
    intake.rejected.sort(key=lambda r: int(r["index"]))
    return intake


def _refused(index: int, errors: list[FieldError]) -> dict[str, Any]:
    return {"index": index, "errors": [e.as_dict() for e in errors]}


def _kept(parsed: Iterable[tuple[int, Hit | list[FieldError]]], rejected: list[dict[str, Any]] | None = None) -> Intake:
    intake = Intake([], rejected or [])
    for index, hit in parsed:
        if isinstance(hit, list):
            intake.rejected.append(_refused(index, hit))
        else:
            intake.hits.append(hit)
    return intake


def _nonempty(intake: Intake, code: str, message: str) -> Intake:
    if not intake.hits:
        problems = [FieldError(e["path"], e["reason"]) for r in intake.rejected for e in r["errors"]][:50]
        raise ClientError(status_for(problems), code, message, problems)
    return intake
