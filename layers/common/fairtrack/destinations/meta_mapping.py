"""Meta Conversions API mapping: policy-filtered canonical events -> ``/{pixel_id}/events`` bodies.

Pure functions, no I/O: :func:`map_meta` turns the events of a forwarder batch into request bodies
(``{"data": [...], "test_event_code"?: ...}``, compact JSON, UTF-8, no access token: the client
puts it in the URL) plus the events it will not send, each with its reason. Every input event ends
in exactly one request or in ``dropped``; output is deterministic and keeps the input order.

Requests
- At most :data:`MAX_EVENTS_PER_REQUEST` (1,000) events and fewer than :data:`MAX_BODY_BYTES`
  bytes per body; a new request starts when either would be exceeded. An event too big to fit a
  request on its own is dropped (``too_large``).
- Meta rejects the *whole* request when one event is invalid, so each event is validated here
  first and invalid ones are dropped with a reason instead of being sent.

Event fields
- ``event_name``: ``page`` -> ``PageView``; Segment e-commerce/B2B spec names -> Meta standard events
  (:data:`STANDARD_EVENTS`; GA4 recommended names from gtag hits too, e.g. ``purchase``); any other
  ``track`` name is sent as a custom event name, trimmed and cut to 50 characters.
- ``event_time``: Unix seconds from ``timestamp``; ``event_id``: the site's ``properties.event_id``
  (Segment; gtag's ``ep.event_id``) when usable, else ``messageId``: the Pixel's ``eventID``, which
  Meta deduplicates on together with the name ("Handling Duplicate Pixel and Conversions API
  Events"); ``action_source``: the source's setting (:class:`fairtrack.stores.policy_table.Source`, carried by
  each :class:`~fairtrack.destinations.Delivery`; ``website`` by default); ``event_source_url``:
  ``context.page.url`` (required for ``website``, sent when present otherwise); ``app_data`` for
  ``app`` sources from ``context.os`` (``extinfo`` ``i2``/``a2`` and the OS version).
- ``user_data``: the hashes in ``userData.meta`` (made at ingest by
  :func:`fairtrack.anonymise.userdata.meta_user_data`; only values that are SHA-256 hex are copied, so a
  clear value can never leak through), ``external_id`` = SHA-256 of the ``userId`` pseudonym, else
  of the ``anonymousId`` one (Meta recommends hashing it), and, never hashed and only when the
  policy left them in the event: ``client_ip_address`` (``context.ip``, must parse as an IP
  address), ``client_user_agent`` (``context.userAgent``), ``fbc`` (``context.fbc``, else built as
  ``fb.1.<event time in ms>.<fbclid>`` from ``context.clickIds.fbclid``) and ``fbp``
  (``context.fbp``). ``fbc`` must look like ``fb.<0-2>.<digits>.<fbclid>`` and ``fbp`` like
  ``fb.<0-2>.<digits>.<digits>``; malformed ones are left out (Meta rejects them).
- ``custom_data`` from the Segment ``properties`` (GA4 item names accepted too), only well-formed
  values: ``value`` (first of ``revenue``, ``total``, ``value``: a finite number >= 0, or a decimal
  string), ``currency`` (3 letters, upper-cased), ``order_id`` (``order_id``, else
  ``transaction_id``), ``content_ids``/``contents`` (``[{id, quantity, item_price}]``) and
  ``content_type: "product"`` from ``products`` (``product_id``, else ``sku``; GA4 ``items`` with
  ``item_id``) or, for single-product events such as ``Product Viewed``, from the properties
  themselves; ``num_items`` (sum of the quantities of a products list, 1 where missing),
  ``content_name`` (``name``), ``content_category`` (``category``), ``search_string``
  (``query``, else GA4 ``search_term``).
- Limited Data Use: when ``limited_data_use(event)`` is true, ``data_processing_options: ["LDU"]``
  with ``data_processing_options_country: 0`` and ``_state: 0`` (Meta geolocates the event from its
  IP address). Otherwise the three fields are left out: Meta reads a missing
  ``data_processing_options`` exactly as an empty list, and leaving it out keeps bodies smaller.
  If the callable raises, LDU is applied (fail closed) and counted as ``ldu:callback_failed``.

Drop reasons, checked in the order listed (the first that applies is recorded)
- ``invalid_event``: not an object, or no usable ``messageId`` (blank, or longer than 256
  characters: it is sent as ``event_id`` exactly as the Pixel sent it, so it cannot be cut).
  Later structural problems are ``invalid_event`` too: a ``type`` that is not a known one (after
  the purpose check), an unreadable ``timestamp`` (after the name checks), a body that cannot be
  encoded (last).
- ``purpose_not_granted``: the event's granted purposes lack ``advertising`` (the Conversions API
  exists to measure and target ads; the policy's ``requires`` should already stop such events, so
  this is a second lock, never a silent one).
- ``unsupported_type``: ``identify``, ``group`` and ``alias`` (not events) and ``screen`` (app
  events need ``action_source: "app"`` and app data this website mapping does not build).
- ``missing_event_name`` (no or empty name), ``invalid_event_name`` (control characters).
- ``too_old``: ``event_time`` more than :data:`MAX_EVENT_AGE` before ``now``. Meta's limit is 7 days;
  the check keeps :data:`AGE_MARGIN` (5 minutes) in hand, because an event that crosses the limit
  between mapping and Meta's receipt (timeouts, retries) would fail every event of its request.
- ``in_future``: ``event_time`` more than :data:`FUTURE_TOLERANCE` (1 minute) after ``now``.
  ``timestamp`` is already corrected for the client clock at ingest and API clocks are
  NTP-synchronised, so a minute absorbs clock error while rejecting broken clients.
- ``missing_event_source_url``: a ``website`` event without ``context.page.url``, or not an
  absolute http(s) URL ("Server Event Parameters": website events require ``event_source_url``
  and ``client_user_agent``, other action sources only ``action_source``).
- ``missing_client_user_agent``: website events require ``client_user_agent``.
- ``missing_app_data``: an ``app`` event without ``context.os`` name (iOS, Android) and version,
  from which ``app_data.extinfo`` is built (Meta requires ``app_data`` for app events).
- ``no_customer_information``: Meta needs a usable identifier. An event is sent only with at least
  one of ``em``, ``ph``, ``external_id``, ``fbc``, ``fbp``, or both ``client_ip_address`` and
  ``client_user_agent``; names, gender, birth date and location alone are not enough (Meta's
  v13.0 rules reject such combinations).
- ``missing_purchase_value``: Meta requires ``value`` and ``currency`` on ``Purchase`` events.
- ``too_large``: the event alone would not fit in a request.

Adjustments (counts, no values): ``truncated:event_name``, ``dropped_field:<field>`` (a present but
malformed value left out), ``ldu`` (LDU applied), ``ldu:callback_failed``,
``dropped_field:test_event_code``; counted only for events that are sent.

An event's ``user_data`` and ``custom_data`` are built by :mod:`fairtrack.destinations.meta_data`.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from urllib.parse import urlsplit

from fairtrack.destinations import Delivery, EventRef, Mapping, WireRequest
from fairtrack.destinations.meta_data import _EPOCH, _custom_data, _dict, _has_customer_information, _text, _user_data

__all__ = [
    "AGE_MARGIN",
    "FUTURE_TOLERANCE",
    "MAX_BODY_BYTES",
    "MAX_EVENTS_PER_REQUEST",
    "MAX_EVENT_AGE",
    "STANDARD_EVENTS",
    "map_meta",
]

MAX_EVENTS_PER_REQUEST: Final = 1000
MAX_BODY_BYTES: Final = 1_000_000  # every body is strictly smaller
AGE_MARGIN: Final = timedelta(minutes=5)
MAX_EVENT_AGE: Final = timedelta(days=7) - AGE_MARGIN
FUTURE_TOLERANCE: Final = timedelta(minutes=1)
MAX_CUSTOM_EVENT_NAME: Final = 50

STANDARD_EVENTS: Final[dict[str, str]] = {
    # Segment e-commerce and B2B spec
    "Order Completed": "Purchase",
    "Product Added": "AddToCart",
    "Product Viewed": "ViewContent",
    "Checkout Started": "InitiateCheckout",
    "Payment Info Entered": "AddPaymentInfo",
    "Products Searched": "Search",
    "Signed Up": "CompleteRegistration",
    "Product Added to Wishlist": "AddToWishlist",
    "Lead Generated": "Lead",
    # GA4 recommended events, as gtag hits name them
    "purchase": "Purchase",
    "add_to_cart": "AddToCart",
    "view_item": "ViewContent",
    "begin_checkout": "InitiateCheckout",
    "add_payment_info": "AddPaymentInfo",
    "search": "Search",
    "sign_up": "CompleteRegistration",
    "add_to_wishlist": "AddToWishlist",
    "generate_lead": "Lead",
}
"""Source event name -> Meta standard event name."""

ACTION_SOURCES: Final = frozenset(
    {
        "website",
        "app",
        "email",
        "phone_call",
        "chat",
        "physical_store",
        "system_generated",
        "business_messaging",
        "other",
    }
)
"""Meta's ``action_source`` values ("Server Event Parameters"); a source's setting names one."""

_UNSUPPORTED_TYPES = frozenset({"identify", "group", "alias", "screen"})
_MAX_EVENT_ID = 256
_DUMPS_OPTIONS: Final[dict[str, Any]] = {"separators": (",", ":"), "ensure_ascii": False, "allow_nan": False}


def map_meta(
    items: list[Delivery],
    *,
    now: datetime,
    test_event_code: str | None = None,
    limited_data_use: Callable[[dict[str, Any]], bool] | None = None,
    advertising: str = "advertising",
) -> Mapping:
    """Map the events of ``items`` to Conversions API request bodies.

    ``now`` is the reference time for the age checks (naive means UTC); ``test_event_code`` (Events
    Manager's test code) goes into every body; ``limited_data_use(event)`` says whether an event
    must be processed under Limited Data Use (it gets the policy-filtered event and must not
    change it); ``advertising`` is the name of the purpose the events must have been granted.
    """
    mapping = Mapping()
    now = _aware(now)
    tail = b"}"
    if test_event_code is not None:
        code = _text(test_event_code)
        if code is not None:
            tail = b',"test_event_code":' + _dumps(code) + b"}"
        else:
            mapping.adjustments["dropped_field:test_event_code"] += 1
    head = b'{"data":['
    overhead = len(head) + len(b"]") + len(tail)

    batch: list[bytes] = []
    refs: list[EventRef] = []
    size = overhead

    def flush() -> None:
        nonlocal size
        if batch:
            body = head + b",".join(batch) + b"]" + tail
            mapping.requests.append(WireRequest(body=body, events=tuple(refs)))
        batch.clear()
        refs.clear()
        size = overhead

    for delivery in items:
        message_id = str(getattr(delivery, "message_id", ""))
        action_source = getattr(delivery, "action_source", "website")
        events = getattr(delivery, "events", None)
        for entry in events if isinstance(events, list | tuple) else ():
            purposes, event = entry if isinstance(entry, tuple | list) and len(entry) == 2 else ((), None)
            ref = EventRef(message_id, _ref_id(event))
            adjustments: Counter[str] = Counter()
            result = _map_event(
                purposes,
                event,
                now=now,
                limited_data_use=limited_data_use,
                advertising=advertising,
                adjustments=adjustments,
                action_source=action_source if action_source in ACTION_SOURCES else "website",
            )
            if isinstance(result, str):
                mapping.dropped.append((ref, result))
                continue
            if overhead + len(result) >= MAX_BODY_BYTES:
                mapping.dropped.append((ref, "too_large"))
                continue
            separator = 1 if batch else 0
            if len(batch) >= MAX_EVENTS_PER_REQUEST or size + separator + len(result) >= MAX_BODY_BYTES:
                flush()
                separator = 0
            batch.append(result)
            refs.append(ref)
            size += separator + len(result)
            mapping.adjustments.update(adjustments)
    flush()
    return mapping


def _map_event(
    purposes: Any,
    event: Any,
    *,
    now: datetime,
    limited_data_use: Callable[[dict[str, Any]], bool] | None,
    advertising: str,
    adjustments: Counter[str],
    action_source: str = "website",
) -> bytes | str:
    """One event's JSON bytes, or the reason it is dropped."""
    if not isinstance(event, dict):
        return "invalid_event"
    event_id = _event_id(event)
    if event_id is None:
        return "invalid_event"
    if not isinstance(purposes, list | tuple | set | frozenset) or advertising not in purposes:
        return "purpose_not_granted"
    kind = event.get("type")
    if not isinstance(kind, str):
        return "invalid_event"
    if kind in _UNSUPPORTED_TYPES:
        return "unsupported_type"
    if kind not in ("track", "page"):
        return "invalid_event"

    name, problem = _event_name(kind, event.get("event"), adjustments)
    if problem is not None:
        return problem
    when = _time(event.get("timestamp"))
    if when is None:
        return "invalid_event"
    if now - when > MAX_EVENT_AGE:
        return "too_old"
    if when - now > FUTURE_TOLERANCE:
        return "in_future"

    context = _dict(event.get("context"))
    url = _url(_dict(context.get("page")).get("url"))
    user_agent = _text(context.get("userAgent"))
    app_data: dict[str, Any] | None = None
    if action_source == "website":  # Meta requires both for website events, neither for the others
        if url is None:
            return "missing_event_source_url"
        if user_agent is None:
            return "missing_client_user_agent"
    elif action_source == "app":
        app_data = _app_data(context)
        if app_data is None:
            return "missing_app_data"
    user_data = _user_data(event, context, user_agent, when, adjustments)
    if not _has_customer_information(user_data):
        return "no_customer_information"
    custom_data = _custom_data(_dict(event.get("properties")), adjustments)
    if name == "Purchase" and not ("value" in custom_data and "currency" in custom_data):
        return "missing_purchase_value"

    out: dict[str, Any] = {
        "event_name": name,
        "event_time": int((when - _EPOCH) // timedelta(seconds=1)),
        "event_id": event_id,
        "action_source": action_source,
    }
    if url is not None:
        out["event_source_url"] = url
    out["user_data"] = user_data
    if app_data is not None:
        out["app_data"] = app_data
    if custom_data:
        out["custom_data"] = custom_data
    if limited_data_use is not None and _ldu(limited_data_use, event, adjustments):
        out["data_processing_options"] = ["LDU"]
        out["data_processing_options_country"] = 0
        out["data_processing_options_state"] = 0
        adjustments["ldu"] += 1
    try:
        return _dumps(out)
    except (UnicodeEncodeError, ValueError, TypeError):
        return "invalid_event"


def _dumps(value: Any) -> bytes:
    return json.dumps(value, **_DUMPS_OPTIONS).encode("utf-8")


def _aware(ts: datetime) -> datetime:
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts


def _ref_id(event: Any) -> str:
    """The ``messageId`` to report the event under (as sent, or ``""``)."""
    message_id = event.get("messageId") if isinstance(event, dict) else None
    return message_id if isinstance(message_id, str) else ""


def _event_id(event: dict[str, Any]) -> str | None:
    """Meta's ``event_id``, which must equal the Pixel's ``eventID`` for Meta to deduplicate the
    browser's and the server's copy ("Handling Duplicate Pixel and Conversions API Events"): the
    site's own ``properties.event_id`` (Segment ``properties.event_id``, gtag ``ep.event_id``) when
    usable, else ``messageId`` (what Segment's own Pixel integration passes as ``eventID``). Used
    exactly as sent, so it must be usable as is: not blank, at most 256 characters, valid UTF-8."""
    own = _dict(event.get("properties")).get("event_id")
    if isinstance(own, str) and own == own.strip() and _text(own, _MAX_EVENT_ID) is not None:
        return own
    message_id = event.get("messageId")
    if not isinstance(message_id, str) or _text(message_id, _MAX_EVENT_ID) is None:
        return None
    return message_id


_EXTINFO_VERSION: Final = {"ios": "i2", "ipados": "i2", "android": "a2"}
_OS_VERSION = re.compile(r"[0-9A-Za-z._-]{1,32}")


def _app_data(context: dict[str, Any]) -> dict[str, Any] | None:
    """Meta's ``app_data`` for an app event ("App Data Parameters"): ``extinfo`` needs its version
    (``i2`` iOS, ``a2`` Android) and the OS version, every other of its 16 places may be empty;
    ``advertiser_tracking_enabled`` and ``application_tracking_enabled`` are 1, since the event
    reached here with advertising consent. None when the OS or its version is missing."""
    os = _dict(context.get("os"))
    name, version = os.get("name"), os.get("version")
    kind = _EXTINFO_VERSION.get(name.lower()) if isinstance(name, str) else None
    if kind is None or not isinstance(version, str) or not _OS_VERSION.fullmatch(version):
        return None
    extinfo = [kind, "", "", "", version] + [""] * 11
    return {"advertiser_tracking_enabled": 1, "application_tracking_enabled": 1, "extinfo": extinfo}


def _event_name(kind: str, raw: Any, adjustments: Counter[str]) -> tuple[str, str | None]:
    """(Meta event name, ``None``), or (``""``, drop reason)."""
    if kind == "page":
        return "PageView", None
    if not isinstance(raw, str) or not raw.strip():
        return "", "missing_event_name"
    name = raw.strip()
    if name in STANDARD_EVENTS:
        return STANDARD_EVENTS[name], None
    if any(unicodedata.category(ch) in ("Cc", "Cs") for ch in name):
        return "", "invalid_event_name"
    if len(name) > MAX_CUSTOM_EVENT_NAME:
        name = name[:MAX_CUSTOM_EVENT_NAME].rstrip()
        adjustments["truncated:event_name"] += 1
    return name, None


def _time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return _aware(value)
    if not isinstance(value, str) or not 10 <= len(value) <= 64:
        return None
    try:
        return _aware(datetime.fromisoformat(value))
    except ValueError:
        return None


def _url(value: Any) -> str | None:
    text = _text(value)
    if text is None or any(ch.isspace() for ch in text):
        return None
    try:
        parts = urlsplit(text)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return text


def _ldu(limited_data_use: Callable[[dict[str, Any]], bool], event: dict[str, Any], adjustments: Counter[str]) -> bool:
    try:
        return bool(limited_data_use(event))
    except Exception:  # noqa: BLE001 - any failure of the caller's rule: fail closed, apply LDU
        adjustments["ldu:callback_failed"] += 1
        return True
