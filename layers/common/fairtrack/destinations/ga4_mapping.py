"""Canonical hits to GA4 Measurement Protocol request bodies (pure functions, no network).

:func:`map_ga4` takes the policy-filtered events of a forwarder batch and returns a
:class:`~fairtrack.destinations.Mapping`: the ``/mp/collect`` request bodies to send, the events
that will not be sent (each with a reason) and counts of the field-level changes it made to fit
GA4's limits. Every input event ends in exactly one request or in ``dropped``; nothing raises on
odd input (a field of the wrong type is left out and counted, an unusable event is dropped).
``measurement_id`` and ``api_secret`` are never in a body: the client puts them in the URL.

Request body (compact JSON, UTF-8, keys always in this order, absent parts left out)::

    {"client_id", "user_id"?, "consent", "user_properties"?, "user_data"?, "events": [
        {"name", "params": {...}, "timestamp_micros"}, ...]}

- ``client_id`` is ``anonymousId`` (already a pseudonym); without it the event is dropped
  (``missing_client_id``): GA4 cannot take an event without one and a made-up id would invent a
  visitor. ``user_id`` is ``userId`` when it is a string of at most 256 characters (GA4's limit;
  a longer one is left out, not cut, since a cut id is another user).
- ``consent``: ``ad_user_data`` and ``ad_personalization`` are ``GRANTED`` only when the
  advertising purpose (``purposes_granted_ads``) is among the event's granted purposes, else
  ``DENIED``. ``user_data`` (``userData.ga4``, hashed by ingest) is copied only then; values that
  are not SHA-256 hex are never sent (they could be plain personal data), at most 10 values per
  list, unknown keys left out.
- ``user_properties`` come from ``context.traits`` (scalars only): names sanitised to 24
  characters, values cut to 36, at most 25, reserved names left out.
- Everything request-level in MP (the five parts above) decides the request an event goes into:
  events are grouped by the exact serialised request head, groups in order of first appearance,
  events in input order within a group, then cut into requests of at most 25 events whose body
  stays under 130,000 bytes. The output depends only on the input.

Events
- ``page`` becomes ``page_view``, ``screen`` becomes ``screen_view`` (with ``screen_name`` from
  the screen's ``name``), ``group`` becomes GA4's recommended ``join_group`` (``group_id`` is the
  ``groupId``, a keyed pseudonym by then); ``identify``/``alias`` are dropped
  (``unsupported_type``), as are unknown types; an event without ``type`` or ``messageId`` is
  ``invalid_event``.
- ``track``: the Segment e-commerce spec names become GA4 recommended events
  (:data:`SEGMENT_EVENTS`, looked up after sanitising, so ``Order Completed``, ``order completed``
  and ``order_completed`` are all ``purchase``); any other name is sanitised: accents stripped,
  runs of characters outside ``[A-Za-z0-9]`` become one ``_``, leading and trailing ``_`` removed,
  lower-cased (GA4 names are case-sensitive: ``Signup`` and ``signup`` would be two events), cut to
  40 characters. A name that does not start with a letter after this is ``invalid_event_name``;
  a name the MP reference reserves (exactly :data:`RESERVED_EVENT_NAMES`, or starting with one of
  :data:`RESERVED_PREFIXES` ``ga_ google_ firebase_``) is ``reserved_event_name``. One exception:
  gtag.js's own ``user_engagement`` hit (named exactly so, with a positive
  ``context.session.engagementTimeMs`` from ``_et``) is relayed as ``user_engagement``: it is the
  event GA4 collects automatically, and its engagement time would be lost otherwise.
- ``timestamp_micros`` (event level) comes from ``timestamp`` (``receivedAt`` when the policy left
  no ``timestamp``; neither: ``missing_timestamp``; unparseable: ``invalid_timestamp``). Older
  than 72 hours before ``now``: ``too_old`` (GA4 would answer 2xx and discard it silently; a
  retried message is mapped again with a fresh ``now``). More than 15 minutes ahead:
  ``in_future``; up to 15 minutes ahead (client clock skew the ingest correction missed) it is
  sent as ``now`` (counted as ``clamped:timestamp``), since GA4 does not take future times.
- The same ``messageId`` twice in a batch: the later copy is dropped (``duplicate``): MP has no
  deduplication, a client retry would be counted twice.
- An event whose body alone cannot stay under 130,000 bytes is dropped (``too_large``) rather than
  sent with items or parameters silently cut.
- Drop reasons are checked in this order: ``invalid_event``, ``duplicate``, ``unsupported_type``,
  ``missing_client_id``, ``invalid_event_name``/``reserved_event_name``, ``missing_timestamp``/
  ``invalid_timestamp``, ``too_old``/``in_future``, ``too_large``. Adjustments are counted only
  for events that are sent.

Event parameters and items are built by :mod:`fairtrack.destinations.ga4_params`; GA4's limits,
reserved names and name and value normalisation are in :mod:`fairtrack.destinations.ga4_rules`.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from fairtrack.destinations import Delivery, EventRef, Mapping, WireRequest
from fairtrack.destinations.ga4_params import _params
from fairtrack.destinations.ga4_rules import (
    _USER_PROPERTIES,
    MAX_AGE,
    MAX_BODY_BYTES,
    MAX_EVENTS_PER_REQUEST,
    MAX_FUTURE,
    MAX_USER_DATA_VALUES,
    MAX_USER_ID_CHARS,
    MAX_USER_PROPERTIES,
    MAX_VALUE_CHARS,
    NAME_PATTERN,
    RESERVED_EVENT_NAMES,
    RESERVED_PREFIXES,
    SEGMENT_EVENTS,
    Scalar,
    _clean,
    _dict,
    _encode,
    _number,
    _put_custom,
    sanitise_name,
)

__all__ = ["map_ga4"]

_USER_DATA_LISTS = ("sha256_email_address", "sha256_phone_number")
_ADDRESS_HASHED = ("sha256_first_name", "sha256_last_name", "sha256_street")
_ADDRESS_PLAIN = ("city", "region", "postal_code", "country")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def map_ga4(
    items: list[Delivery],
    *,
    now: datetime,
    purposes_granted_ads: str = "advertising",
    max_events_per_request: int = MAX_EVENTS_PER_REQUEST,
    max_body_bytes: int = MAX_BODY_BYTES,
    max_age: timedelta = MAX_AGE,
    max_future: timedelta = MAX_FUTURE,
) -> Mapping:
    """Map the events of ``items`` to GA4 MP request bodies (see the module docstring).

    ``purposes_granted_ads`` is the purpose whose grant allows ``user_data`` and ``GRANTED`` ad
    consent; ``now`` (naive means UTC) is the reference for the 72-hour and 15-minute windows.
    """
    options = _Options(_utc(now), purposes_granted_ads, max_age, max_future)
    mapping = Mapping()
    groups: dict[bytes, list[_Mapped]] = {}
    seen: set[str] = set()
    for delivery in items:
        message_id = delivery.message_id
        events: Iterable[Any] = delivery.events if isinstance(delivery.events, list | tuple) else ()
        for entry in events:
            mapped = _map_entry(message_id, entry, options, seen)
            if isinstance(mapped, _Mapped):
                groups.setdefault(mapped.head, []).append(mapped)
            else:
                mapping.dropped.append(mapped)
    for head, group in groups.items():
        _cut(head, group, mapping, max_events_per_request, max_body_bytes)
    return mapping


@dataclass(frozen=True)
class _Options:
    now: datetime
    ads_purpose: str
    max_age: timedelta
    max_future: timedelta


@dataclass(frozen=True)
class _Mapped:
    ref: EventRef
    head: bytes  # the serialised request head: '{"client_id":...,"events":['
    body: bytes  # the serialised event object
    adjustments: Counter[str]


def _cut(head: bytes, group: list[_Mapped], mapping: Mapping, max_events: int, max_bytes: int) -> None:
    """Cut one group into requests: input order, at most ``max_events`` each, bodies under
    ``max_bytes`` (body = head + events joined by commas + ``]}``)."""
    batch: list[_Mapped] = []
    size = 0

    def flush() -> None:
        if batch:
            body = head + b",".join(m.body for m in batch) + b"]}"
            mapping.requests.append(WireRequest(body=body, events=tuple(m.ref for m in batch)))
            for m in batch:
                mapping.adjustments.update(m.adjustments)

    for mapped in group:
        if len(head) + len(mapped.body) + 2 >= max_bytes:
            mapping.dropped.append((mapped.ref, "too_large"))
            continue
        if batch and (len(batch) >= max_events or size + 1 + len(mapped.body) >= max_bytes):
            flush()
            batch = []
        if not batch:
            size = len(head) + 2 + len(mapped.body)
        else:
            size += 1 + len(mapped.body)
        batch.append(mapped)
    flush()


def _map_entry(message_id: str, entry: Any, options: _Options, seen: set[str]) -> _Mapped | tuple[EventRef, str]:
    if not isinstance(entry, list | tuple) or len(entry) != 2:
        return EventRef(message_id, ""), "invalid_event"
    purposes, event = entry
    if not isinstance(event, dict):
        return EventRef(message_id, ""), "invalid_event"
    event_id = event.get("messageId")
    if not isinstance(event_id, str) or not event_id:
        return EventRef(message_id, ""), "invalid_event"
    ref = EventRef(message_id, event_id)
    if event_id in seen:
        return ref, "duplicate"
    seen.add(event_id)
    kind = event.get("type")
    if not isinstance(kind, str):
        return ref, "invalid_event"
    if kind not in ("track", "page", "screen", "group"):
        return ref, "unsupported_type"
    client_id = event.get("anonymousId")
    if not isinstance(client_id, str) or not client_id.strip():
        return ref, "missing_client_id"
    adjustments: Counter[str] = Counter()
    name, invalid = _event_name(kind, event, adjustments)
    if invalid is not None:
        return ref, invalid
    micros = _timestamp_micros(event, options, adjustments)
    if isinstance(micros, str):
        return ref, micros
    ads = isinstance(purposes, list | tuple) and options.ads_purpose in purposes
    context = _dict(event, "context", "context", adjustments)
    head = _head(_clean(client_id, adjustments), event, context, ads, adjustments)
    params = _params(kind, name, event, context, adjustments)
    body = _encode({"name": name, "params": params, "timestamp_micros": micros})
    return _Mapped(ref=ref, head=head, body=body, adjustments=adjustments)


def _event_name(kind: str, event: dict[str, Any], adjustments: Counter[str]) -> tuple[str, str | None]:
    """The GA4 name and ``None``, or ``""`` and the drop reason."""
    if kind == "page":
        return "page_view", None
    if kind == "screen":
        return "screen_view", None
    if kind == "group":
        return "join_group", None
    raw = event.get("event")
    if not isinstance(raw, str):
        return "", "invalid_event_name"
    if raw == "user_engagement" and _relayed_engagement(event):
        return raw, None
    name, cut = sanitise_name(raw)
    if name in SEGMENT_EVENTS:
        return SEGMENT_EVENTS[name], None
    if not NAME_PATTERN.match(name):
        return "", "invalid_event_name"
    if name in RESERVED_EVENT_NAMES or name.startswith(RESERVED_PREFIXES):
        return "", "reserved_event_name"
    if cut:
        adjustments["truncated:event_name"] += 1
    return name, None


def _relayed_engagement(event: dict[str, Any]) -> bool:
    """Whether ``event`` is gtag.js's own ``user_engagement`` hit: named exactly so and carrying the
    engagement time gtag measured (``_et``, as ``context.session.engagementTimeMs``)."""
    context = event.get("context")
    session = context.get("session") if isinstance(context, dict) else None
    engagement = _number(session.get("engagementTimeMs")) if isinstance(session, dict) else None
    return engagement is not None and engagement >= 1


def _timestamp_micros(event: dict[str, Any], options: _Options, adjustments: Counter[str]) -> int | str:
    """Microseconds since the epoch, or the drop reason."""
    raw = event.get("timestamp")
    if raw is None:
        raw = event.get("receivedAt")
        if raw is None:
            return "missing_timestamp"
        adjustments["timestamp:from_receivedAt"] += 1
    when = _parse_time(raw)
    if when is None:
        return "invalid_timestamp"
    if options.now - when > options.max_age:
        return "too_old"
    if when - options.now > options.max_future:
        return "in_future"
    if when > options.now:
        adjustments["clamped:timestamp"] += 1
        when = options.now
    return (when - _EPOCH) // timedelta(microseconds=1)


def _parse_time(raw: Any) -> datetime | None:
    if not isinstance(raw, str):
        return None
    try:
        return _utc(datetime.fromisoformat(raw.strip()))
    except (ValueError, OverflowError):
        return None


def _utc(when: datetime) -> datetime:
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


# --- request head --------------------------------------------------------------------------------


def _head(client_id: str, event: dict[str, Any], context: dict[str, Any], ads: bool, adj: Counter[str]) -> bytes:
    """The request-level part of the body, serialised up to the opening of ``events``."""
    head: dict[str, Any] = {"client_id": client_id}
    user_id = event.get("userId")
    if isinstance(user_id, str) and user_id:
        if len(user_id) <= MAX_USER_ID_CHARS:
            head["user_id"] = _clean(user_id, adj)
        else:
            adj["dropped_field:userId_too_long"] += 1
    elif user_id is not None:
        adj["dropped_field:userId"] += 1
    state = "GRANTED" if ads else "DENIED"
    head["consent"] = {"ad_user_data": state, "ad_personalization": state}
    user_properties = _user_properties(context.get("traits"), adj)
    if user_properties:
        head["user_properties"] = user_properties
    user_data = event.get("userData")
    if isinstance(user_data, dict) and user_data.get("ga4") is not None:
        if ads:
            ga4 = _user_data(user_data["ga4"], adj)
            if ga4:
                head["user_data"] = ga4
        else:
            adj["dropped_user_data:no_advertising_consent"] += 1
    elif user_data is not None and not isinstance(user_data, dict):
        adj["dropped_field:userData"] += 1
    return _encode(head)[:-1] + b',"events":['


def _user_properties(raw: Any, adj: Counter[str]) -> dict[str, dict[str, Scalar]]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        adj["dropped_field:context.traits"] += 1
        return {}
    values: dict[str, Scalar] = {}
    _put_custom(_USER_PROPERTIES, raw.items(), values, MAX_USER_PROPERTIES, adj)
    return {name: {"value": value} for name, value in values.items()}


def _user_data(raw: Any, adj: Counter[str]) -> dict[str, Any]:
    """``userData.ga4`` as MP ``user_data``: only SHA-256 hex values (lower-cased, deduplicated,
    at most 10 per list) and the address fields MP defines."""
    if not isinstance(raw, dict):
        adj["dropped_user_data:invalid"] += 1
        return {}
    out: dict[str, Any] = {}
    for key in raw:
        if key not in (*_USER_DATA_LISTS, "address"):
            adj["dropped_user_data:unknown_field"] += 1
    for key in _USER_DATA_LISTS:
        if key in raw:
            hashes = _hashes(raw[key], adj)
            if hashes:
                out[key] = hashes
    if "address" in raw:
        entries = raw["address"]
        entries = [entries] if isinstance(entries, dict) else entries
        addresses = []
        if isinstance(entries, list):
            for entry in entries:
                address = _address(entry, adj)
                if address:
                    addresses.append(address)
        else:
            adj["dropped_user_data:invalid"] += 1
        if len(addresses) > MAX_USER_DATA_VALUES:
            adj["dropped_user_data:over_10"] += len(addresses) - MAX_USER_DATA_VALUES
        if addresses:
            out["address"] = addresses[:MAX_USER_DATA_VALUES]
    return out


def _hashes(raw: Any, adj: Counter[str]) -> list[str]:
    values = [raw] if isinstance(raw, str) else raw
    if not isinstance(values, list):
        adj["dropped_user_data:invalid"] += 1
        return []
    out: list[str] = []
    for value in values:
        digest = _hash(value)
        if digest is None:
            adj["dropped_user_data:invalid_hash"] += 1
        elif digest not in out:
            out.append(digest)
    if len(out) > MAX_USER_DATA_VALUES:
        adj["dropped_user_data:over_10"] += len(out) - MAX_USER_DATA_VALUES
    return out[:MAX_USER_DATA_VALUES]


def _hash(value: Any) -> str | None:
    if isinstance(value, str) and _HEX64.match(value.strip().lower()):
        return value.strip().lower()
    return None


def _address(raw: Any, adj: Counter[str]) -> dict[str, str]:
    if not isinstance(raw, dict):
        adj["dropped_user_data:invalid"] += 1
        return {}
    out: dict[str, str] = {}
    for key, value in raw.items():
        if key in _ADDRESS_HASHED:
            digest = _hash(value)
            if digest is None:
                adj["dropped_user_data:invalid_hash"] += 1
                continue
            out[key] = digest
        elif key in _ADDRESS_PLAIN:
            if isinstance(value, str) and 0 < len(value) <= MAX_VALUE_CHARS:
                out[key] = _clean(value, adj)
            else:
                adj["dropped_user_data:invalid"] += 1
        else:
            adj["dropped_user_data:unknown_field"] += 1
    return {key: out[key] for key in (*_ADDRESS_HASHED, *_ADDRESS_PLAIN) if key in out}
