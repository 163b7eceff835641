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

Parameters, in this order (the mapper's own first, then ``properties`` in input order), at most
25 (``dropped_param:over_25`` for the rest):

1. ``page_location`` (``context.page.url``, cut to 1000), ``page_referrer`` (``referrer``, 420),
   ``page_title`` (``title``, 300), ``page_path`` (``path``, 100; only without a URL: GA4 derives
   the path from ``page_location``, and when the policy kept only the path it is sent as is rather
   than with an invented host). For ``page`` calls the Segment page properties ``url``,
   ``referrer``, ``title`` and ``path`` fill what the context lacks and are never sent again as
   custom parameters.
2. ``screen_name`` (screen calls), ``session_id`` (``context.session.id``),
   ``engagement_time_msec`` (``context.session.engagementTimeMs`` when positive, else 1: GA4
   realtime and active-user counts ignore events without a positive engagement time, and 1 ms
   adds nothing measurable to engagement).
3. ``campaign``, ``source``, ``medium``, ``term``, ``content``, ``campaign_id`` from
   ``context.campaign``, each field the context lacks from the ``utm_*`` parameter of
   ``page_location`` (gtag.js sends UTMs only in ``dl``).
4. ``value``, ``currency``, ``transaction_id``, ``items``. ``value`` is ``properties.value``; on
   e-commerce events (:data:`ECOMMERCE_EVENTS`) also ``revenue`` then ``total`` (``value`` first,
   then ``revenue``: GA4's value excludes shipping and tax, as Segment's ``revenue`` does). It must
   be a finite number (numeric strings are parsed). ``currency`` must be an ISO 4217 code of a
   currency in use (:data:`CURRENCIES`; upper-cased, trimmed). A ``value`` without a valid
   ``currency`` is still sent, and counted as ``revenue_without_currency:missing_currency`` or
   ``:invalid_currency`` (GA4 computes no revenue from it; ``ga4.py`` meters it).
   ``transaction_id`` is ``transaction_id`` (or ``order_id`` on e-commerce events). ``items`` is
   ``properties.items`` (or ``products`` on e-commerce events), at most 200; on single-product
   events (``add_to_cart``, ``view_item``...) without a list, the product fields at the top of
   ``properties`` make the one item. Items keep only GA4's item fields (:data:`ITEM_FIELDS`, from
   their GA4 or Segment names: ``product_id``/``sku``/``id`` -> ``item_id``, ``name`` ->
   ``item_name``, ``category`` -> ``item_category``, ``brand`` -> ``item_brand``, ``variant`` ->
   ``item_variant``, ``position`` -> ``index``); fields of the wrong type are left out
   (``dropped_item_param:invalid``); an item without ``item_id`` and ``item_name`` is left out
   (``dropped_item:no_id``). An item's other keys (gtag's ``kN``/``vN`` pairs, Segment's extra
   product fields) are item-scoped custom parameters, under the rules of event parameters (names
   sanitised, scalars only, reserved prefixes left out), at most 27 per item (``over_27``).
5. ``properties``: scalars only (``dropped_param:not_scalar`` for objects and lists, ``null``
   left out), names sanitised like event names (40 characters), names GA4 reserves
   (``google_``, ``ga_``, ``firebase_`` prefixes) left out, the first of two names that sanitise
   alike wins. Booleans are sent as ``"true"``/``"false"``: MP takes strings and numbers only, and
   gtag.js sends every ``ep.*`` parameter as a string, so the same flag reads the same whichever
   client sent it. A few Segment spec properties get their GA4 names (:data:`PROPERTY_RENAMES`,
   e.g. ``query`` -> ``search_term`` on ``search``).

String values longer than 100 characters (or the ``page_*`` limits above) are cut and counted
(``truncated:<param_name>``); non-finite numbers are left out (JSON has no NaN). Adjustment keys
name parameters, never values.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from fairtrack.destinations import Delivery, EventRef, Mapping, WireRequest

__all__ = [
    "CURRENCIES",
    "ECOMMERCE_EVENTS",
    "ITEM_FIELDS",
    "MAX_AGE",
    "MAX_BODY_BYTES",
    "MAX_EVENTS_PER_REQUEST",
    "MAX_FUTURE",
    "MAX_ITEMS",
    "MAX_ITEM_CUSTOM_PARAMS",
    "MAX_NAME_CHARS",
    "MAX_PARAMS",
    "MAX_USER_DATA_VALUES",
    "MAX_USER_ID_CHARS",
    "MAX_USER_PROPERTIES",
    "MAX_USER_PROPERTY_NAME_CHARS",
    "MAX_USER_PROPERTY_VALUE_CHARS",
    "MAX_VALUE_CHARS",
    "NAME_PATTERN",
    "PROPERTY_RENAMES",
    "RESERVED_EVENT_NAMES",
    "RESERVED_PARAM_NAMES",
    "RESERVED_PREFIXES",
    "RESERVED_USER_PROPERTY_NAMES",
    "REVENUE_WITHOUT_CURRENCY",
    "SEGMENT_EVENTS",
    "VALUE_LIMITS",
    "map_ga4",
    "sanitise_name",
]

MAX_EVENTS_PER_REQUEST = 25
MAX_BODY_BYTES = 130_000  # a body must be strictly smaller
MAX_PARAMS = 25
MAX_NAME_CHARS = 40
MAX_VALUE_CHARS = 100
MAX_ITEMS = 200
MAX_ITEM_CUSTOM_PARAMS = 27  # MP events reference, ``items``: "up to 27 custom parameters"
MAX_USER_PROPERTIES = 25
MAX_USER_PROPERTY_NAME_CHARS = 24
MAX_USER_PROPERTY_VALUE_CHARS = 36
MAX_USER_ID_CHARS = 256
MAX_USER_DATA_VALUES = 10
MAX_AGE = timedelta(hours=72)
MAX_FUTURE = timedelta(minutes=15)

NAME_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
VALUE_LIMITS = {"page_location": 1000, "page_referrer": 420, "page_title": 300}

SEGMENT_EVENTS = {
    "order_completed": "purchase",
    "product_added": "add_to_cart",
    "product_removed": "remove_from_cart",
    "product_viewed": "view_item",
    "product_list_viewed": "view_item_list",
    "checkout_started": "begin_checkout",
    "payment_info_entered": "add_payment_info",
    "products_searched": "search",
    "signed_up": "sign_up",
    "signed_in": "login",
    "order_refunded": "refund",
    "promotion_viewed": "view_promotion",
    "promotion_clicked": "select_promotion",
    "product_clicked": "select_item",
    "product_added_to_wishlist": "add_to_wishlist",
    "cart_viewed": "view_cart",
}

ECOMMERCE_EVENTS = frozenset(
    {
        "purchase",
        "refund",
        "add_to_cart",
        "remove_from_cart",
        "view_item",
        "view_item_list",
        "select_item",
        "begin_checkout",
        "add_payment_info",
        "add_shipping_info",
        "view_cart",
        "add_to_wishlist",
        "view_promotion",
        "select_promotion",
    }
)
# The ISO 4217 codes of currencies in use (the standard's list one without fund codes, precious
# metals, XTS and XXX): what MP's ``currency`` ("3-letter ISO 4217 format") can name.
_CURRENCY_CODES = """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP BYN
    BZD CAD CDF CHF CLP CNY COP CRC CUC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL
    GHS GIP GMD GNF GTQ GYD HKD HNL HRK HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF
    KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR
    MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG
    SEK SGD SHP SLE SLL SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD
    UYU UZS VED VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG ZWL
"""
CURRENCIES = frozenset(re.findall(r"[A-Z]{3}", _CURRENCY_CODES))
REVENUE_WITHOUT_CURRENCY = "revenue_without_currency"
"""Adjustment (``revenue_without_currency:missing_currency|invalid_currency``): an event sent with
a ``value`` and no valid ``currency``, whose revenue GA4 does not count."""

_SINGLE_PRODUCT_EVENTS = frozenset({"add_to_cart", "remove_from_cart", "view_item", "select_item", "add_to_wishlist"})

_PROMOTION = {"creative": "creative_name", "name": "promotion_name", "position": "creative_slot"}
PROPERTY_RENAMES: dict[str, dict[str, str]] = {
    "search": {"query": "search_term"},
    "view_item_list": {"list_id": "item_list_id", "category": "item_list_name"},
    "select_item": {"list_id": "item_list_id"},
    "view_promotion": _PROMOTION,
    "select_promotion": _PROMOTION,
}

# Measurement Protocol reference, "Reserved names"
# (https://developers.google.com/analytics/devguides/collection/protocol/ga4/reference#reserved_names):
# these exact event names, and names starting with a reserved prefix; nothing else
# (``ad_banner_clicked`` and ``notification_bell_opened`` are ordinary custom names).
RESERVED_EVENT_NAMES = frozenset(
    {
        "ad_activeview",
        "ad_click",
        "ad_exposure",
        "ad_impression",
        "ad_query",
        "ad_reward",
        "adunit_exposure",
        "app_background",
        "app_clear_data",
        "app_exception",
        "app_remove",
        "app_store_refund",
        "app_store_subscription_cancel",
        "app_store_subscription_convert",
        "app_store_subscription_renew",
        "app_update",
        "app_upgrade",
        "dynamic_link_app_open",
        "dynamic_link_app_update",
        "dynamic_link_first_open",
        "error",
        "first_open",
        "first_visit",
        "in_app_purchase",
        "notification_dismiss",
        "notification_foreground",
        "notification_open",
        "notification_receive",
        "os_update",
        "session_start",
        "session_start_with_rollout",
        "user_engagement",
    }
)
RESERVED_PREFIXES = ("ga_", "google_", "firebase_")
RESERVED_PARAM_NAMES = frozenset({"firebase_conversion"})
RESERVED_USER_PROPERTY_NAMES = frozenset(
    {"first_open_time", "first_visit_time", "last_deep_link_referrer", "user_id", "first_open_after_install"}
)
_PARAM_PREFIXES = RESERVED_PREFIXES

# GA4 item fields: (field, the input keys it is read from in order of preference, kind).
ITEM_FIELDS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("item_id", ("item_id", "product_id", "sku", "id"), "text"),
    ("item_name", ("item_name", "name"), "text"),
    ("affiliation", ("affiliation",), "text"),
    ("coupon", ("coupon",), "text"),
    ("discount", ("discount",), "number"),
    ("index", ("index", "position"), "integer"),
    ("item_brand", ("item_brand", "brand"), "text"),
    ("item_category", ("item_category", "category"), "text"),
    ("item_category2", ("item_category2",), "text"),
    ("item_category3", ("item_category3",), "text"),
    ("item_category4", ("item_category4",), "text"),
    ("item_category5", ("item_category5",), "text"),
    ("item_list_id", ("item_list_id",), "text"),
    ("item_list_name", ("item_list_name",), "text"),
    ("item_variant", ("item_variant", "variant"), "text"),
    ("location_id", ("location_id",), "text"),
    ("price", ("price",), "number"),
    ("quantity", ("quantity",), "integer"),
    ("promotion_id", ("promotion_id",), "text"),
    ("promotion_name", ("promotion_name",), "text"),
    ("creative_name", ("creative_name",), "text"),
    ("creative_slot", ("creative_slot",), "text"),
)
_ITEM_KEYS = frozenset(key for _, keys, _ in ITEM_FIELDS for key in keys)

_USER_DATA_LISTS = ("sha256_email_address", "sha256_phone_number")
_ADDRESS_HASHED = ("sha256_first_name", "sha256_last_name", "sha256_street")
_ADDRESS_PLAIN = ("city", "region", "postal_code", "country")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_NOT_ALNUM = re.compile(r"[^A-Za-z0-9]+")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)
_PAGE_PROPERTIES = {"url": "url", "referrer": "referrer", "title": "title", "path": "path"}
_UTM_FIELDS = {
    "utm_campaign": "name",
    "utm_source": "source",
    "utm_medium": "medium",
    "utm_term": "term",
    "utm_content": "content",
    "utm_id": "id",
}
_CAMPAIGN = (
    ("name", "campaign"),
    ("source", "source"),
    ("medium", "medium"),
    ("term", "term"),
    ("content", "content"),
    ("id", "campaign_id"),
)

Scalar = str | int | float


def sanitise_name(raw: str, limit: int = MAX_NAME_CHARS) -> tuple[str, bool]:
    """``raw`` as a GA4 name: accents stripped, other characters outside ``[A-Za-z0-9]`` as one
    ``_`` per run, no leading or trailing ``_``, lower-case, at most ``limit`` characters.

    Returns the name and whether it had to be cut. The result may still be invalid (empty, or
    starting with a digit): check it against :data:`NAME_PATTERN`.
    """
    text = "".join(c for c in unicodedata.normalize("NFKD", raw) if not unicodedata.combining(c))
    text = _NOT_ALNUM.sub("_", text).strip("_").lower()
    if len(text) <= limit:
        return text, False
    return text[:limit].rstrip("_"), True


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
    out: dict[str, dict[str, Scalar]] = {}
    for key, value in raw.items():
        name = _name(key, MAX_USER_PROPERTY_NAME_CHARS, "user_property", adj)
        if name is None:
            continue
        if name in RESERVED_USER_PROPERTY_NAMES or name.startswith(_PARAM_PREFIXES):
            adj["dropped_user_property:reserved_name"] += 1
            continue
        if name in out:
            adj["dropped_user_property:duplicate_name"] += 1
            continue
        scalar = _scalar(value, MAX_USER_PROPERTY_VALUE_CHARS, f"user_properties.{name}", "user_property", adj)
        if scalar is None:
            continue
        if len(out) >= MAX_USER_PROPERTIES:
            adj["dropped_user_property:over_25"] += 1
            continue
        out[name] = {"value": scalar}
    return out


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


# --- event parameters ----------------------------------------------------------------------------


def _params(kind: str, name: str, event: dict[str, Any], context: dict[str, Any], adj: Counter[str]) -> dict[str, Any]:
    properties = _dict(event, "properties", "properties", adj)
    consumed: set[str] = set()
    params: dict[str, Any] = {}
    _page_params(kind, context, properties, consumed=consumed, params=params, adj=adj)
    if kind == "screen":
        _put_text(params, "screen_name", event.get("name"), "name", adj)
    if kind == "group":
        _put_text(params, "group_id", event.get("groupId"), "groupId", adj, numbers=True)
    session = _dict(context, "session", "context.session", adj)
    _put_text(params, "session_id", session.get("id"), "context.session.id", adj, numbers=True)
    params["engagement_time_msec"] = _engagement(session.get("engagementTimeMs"), adj)
    campaign = _dict(context, "campaign", "context.campaign", adj)
    utm = _utm(params.get("page_location"))
    for key, param in _CAMPAIGN:
        value = campaign.get(key)
        _put_text(params, param, utm.get(key) if value is None else value, f"context.campaign.{key}", adj)
    _commerce_params(name, properties, consumed, params, adj)
    _property_params(name, properties, consumed, params, adj)
    return params


def _utm(url: Any) -> dict[str, str]:
    """The campaign fields in the ``utm_*`` parameters of a page URL (``{"name": ..., "source": ...}``),
    the first value of each; GA4 reads the landing page's UTMs the same way."""
    if not isinstance(url, str) or "utm_" not in url:
        return {}
    try:
        query = urlsplit(url).query
    except ValueError:
        return {}
    found: dict[str, str] = {}
    for key, value in parse_qsl(query, keep_blank_values=False):
        field = _UTM_FIELDS.get(key)
        if field is not None and value:
            found.setdefault(field, value)
    return found


def _page_params(
    kind: str,
    context: dict[str, Any],
    properties: dict[str, Any],
    *,
    consumed: set[str],
    params: dict[str, Any],
    adj: Counter[str],
) -> None:
    page = _dict(context, "page", "context.page", adj)
    values: dict[str, Any] = {key: page.get(key) for key in _PAGE_PROPERTIES}
    if kind == "page":  # Segment page properties repeat the page fields: fill gaps, never resend
        for key in _PAGE_PROPERTIES:
            if key in properties:
                consumed.add(key)
                if values[key] is None:
                    values[key] = properties[key]
    _put_text(params, "page_location", values["url"], "context.page.url", adj)
    _put_text(params, "page_referrer", values["referrer"], "context.page.referrer", adj)
    _put_text(params, "page_title", values["title"], "context.page.title", adj)
    if "page_location" not in params:
        _put_text(params, "page_path", values["path"], "context.page.path", adj)


def _engagement(raw: Any, adj: Counter[str]) -> int:
    value = _number(raw)
    if value is not None and value >= 1:
        return int(value)
    if raw is not None and value is None:
        adj["dropped_field:context.session.engagementTimeMs"] += 1
    return 1


def _commerce_params(
    name: str, properties: dict[str, Any], consumed: set[str], params: dict[str, Any], adj: Counter[str]
) -> None:
    commerce = name in ECOMMERCE_EVENTS
    value_key = _first_present(properties, ("value", "revenue", "total") if commerce else ("value",))
    if value_key is not None:
        consumed.add(value_key)
        value = _number(properties[value_key])
        if value is None:
            adj["dropped_param:invalid_value"] += 1
        else:
            params["value"] = value
    currency = properties.get("currency")
    if "currency" in properties:
        consumed.add("currency")
        code = currency.strip().upper() if isinstance(currency, str) else None
        if code is not None and code in CURRENCIES:
            params["currency"] = code
        elif currency is not None:
            adj["dropped_param:invalid_currency"] += 1
    if "value" in params and "currency" not in params:
        # GA4 computes no revenue from a value without a currency: the event is sent as it is, and
        # the lost revenue counted with its reason (the forwarder logs it, Ga4Destination meters it)
        reason = "missing_currency" if currency is None else "invalid_currency"
        adj[f"{REVENUE_WITHOUT_CURRENCY}:{reason}"] += 1
    id_key = _first_present(properties, ("transaction_id", "order_id") if commerce else ("transaction_id",))
    if id_key is not None:
        consumed.add(id_key)
        _put_text(params, "transaction_id", properties[id_key], "transaction_id", adj, numbers=True)
    list_key = _first_present(properties, ("items", "products") if commerce else ("items",))
    if list_key is not None:
        consumed.add(list_key)
        if isinstance(properties[list_key], list):
            items = _items(properties[list_key], adj)
            if items:
                params["items"] = items
        else:
            adj["dropped_param:invalid_items"] += 1
    elif name in _SINGLE_PRODUCT_EVENTS:
        scratch: Counter[str] = Counter()
        item = _item(properties, scratch)
        if item is not None:  # the product fields at the top of properties are the one item
            params["items"] = [item]
            adj.update(scratch)
            consumed.update(key for key in properties if key in _ITEM_KEYS)


def _items(raw: list[Any], adj: Counter[str]) -> list[dict[str, Scalar]]:
    items: list[dict[str, Scalar]] = []
    for entry in raw:
        if not isinstance(entry, dict):
            adj["dropped_item:invalid"] += 1
            continue
        item = _item(entry, adj, unknown=True)
        if item is None:
            adj["dropped_item:no_id"] += 1
        elif len(items) >= MAX_ITEMS:
            adj["dropped_item:over_200"] += 1
        else:
            items.append(item)
    return items


def _item(raw: dict[str, Any], adj: Counter[str], *, unknown: bool = False) -> dict[str, Scalar] | None:
    """One GA4 item from GA4 or Segment product fields; ``None`` without an id or a name."""
    item: dict[str, Scalar] = {}
    for field, keys, kind in ITEM_FIELDS:
        key = _first_present(raw, keys)
        if key is None:
            continue
        value: Scalar | None
        if kind == "text":
            value = _text(raw[key], MAX_VALUE_CHARS, f"items.{field}", adj, numbers=True)
        else:
            value = _number(raw[key])
            if kind == "integer" and isinstance(value, float):
                value = int(value) if value.is_integer() else None
        if value is None:
            adj["dropped_item_param:invalid"] += 1
        else:
            item[field] = value
    if "item_id" not in item and "item_name" not in item:
        return None
    if unknown:
        _item_custom_params(raw, item, adj)
    return item


def _item_custom_params(raw: dict[str, Any], item: dict[str, Scalar], adj: Counter[str]) -> None:
    """The item's own keys beyond GA4's item fields, as item-scoped custom parameters: named like
    event parameters, scalars only, at most :data:`MAX_ITEM_CUSTOM_PARAMS`."""
    custom = 0
    for key, value in raw.items():
        if key in _ITEM_KEYS:
            continue
        name = _name(key, MAX_NAME_CHARS, "item_param", adj)
        if name is None:
            continue
        if name in RESERVED_PARAM_NAMES or name.startswith(_PARAM_PREFIXES):
            adj["dropped_item_param:reserved_name"] += 1
            continue
        if name in item:
            adj["dropped_item_param:duplicate_name"] += 1
            continue
        scalar = _scalar(value, MAX_VALUE_CHARS, f"items.{name}", "item_param", adj)
        if scalar is None:
            continue
        if custom >= MAX_ITEM_CUSTOM_PARAMS:
            adj["dropped_item_param:over_27"] += 1
            continue
        item[name] = scalar
        custom += 1


def _property_params(
    name: str, properties: dict[str, Any], consumed: set[str], params: dict[str, Any], adj: Counter[str]
) -> None:
    renames = PROPERTY_RENAMES.get(name, {})
    for key, value in properties.items():
        if key in consumed:
            continue
        param = _name(renames.get(key, key), MAX_NAME_CHARS, "param", adj)
        if param is None:
            continue
        if param in RESERVED_PARAM_NAMES or param.startswith(_PARAM_PREFIXES):
            adj["dropped_param:reserved_name"] += 1
            continue
        if param in params:
            adj["dropped_param:duplicate_name"] += 1
            continue
        scalar = _scalar(value, VALUE_LIMITS.get(param, MAX_VALUE_CHARS), param, "param", adj)
        if scalar is None:
            continue
        if len(params) >= MAX_PARAMS:
            adj["dropped_param:over_25"] += 1
            continue
        params[param] = scalar


# --- values --------------------------------------------------------------------------------------


def _name(raw: Any, limit: int, what: str, adj: Counter[str]) -> str | None:
    """A sanitised parameter or user property name, or ``None`` (counted) when there is none."""
    if not isinstance(raw, str):
        adj[f"dropped_{what}:invalid_name"] += 1
        return None
    name, cut = sanitise_name(raw, limit)
    if not NAME_PATTERN.match(name):
        adj[f"dropped_{what}:invalid_name"] += 1
        return None
    if cut:
        adj[f"truncated_name:{what}"] += 1
    return name


def _scalar(raw: Any, limit: int, label: str, what: str, adj: Counter[str]) -> Scalar | None:
    """A property value as MP takes it (string or finite number), or ``None`` (counted)."""
    if raw is None:
        adj[f"dropped_{what}:null"] += 1
        return None
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, int):
        return raw
    if isinstance(raw, float):
        if math.isfinite(raw):
            return raw
        adj[f"dropped_{what}:not_finite"] += 1
        return None
    if isinstance(raw, str):
        return _truncate(_clean(raw, adj), limit, label, adj)
    adj[f"dropped_{what}:not_scalar"] += 1
    return None


def _put_text(
    params: dict[str, Any], param: str, raw: Any, field: str, adj: Counter[str], *, numbers: bool = False
) -> None:
    value = _text(raw, VALUE_LIMITS.get(param, MAX_VALUE_CHARS), param, adj, numbers=numbers)
    if value is not None:
        params[param] = value
    elif raw is not None and not (isinstance(raw, str) and not raw):
        adj[f"dropped_field:{field}"] += 1


def _text(raw: Any, limit: int, label: str, adj: Counter[str], *, numbers: bool = False) -> str | None:
    """A non-empty string cut to ``limit`` (numbers as text when ``numbers``), else ``None``."""
    if numbers and isinstance(raw, int | float) and not isinstance(raw, bool) and math.isfinite(raw):
        raw = str(raw)
    if not isinstance(raw, str) or not raw:
        return None
    return _truncate(_clean(raw, adj), limit, label, adj)


def _truncate(text: str, limit: int, label: str, adj: Counter[str]) -> str:
    if len(text) <= limit:
        return text
    adj[f"truncated:{label}"] += 1
    return text[:limit]


def _number(raw: Any) -> int | float | None:
    """A finite number from a number or a numeric string; ``None`` otherwise (booleans too)."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw
    if isinstance(raw, float):
        return raw if math.isfinite(raw) else None
    if isinstance(raw, str):
        text = raw.strip()
        if re.fullmatch(r"[+-]?\d{1,18}", text):
            return int(text)
        if re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", text):
            number = float(text)
            return number if math.isfinite(number) else None
    return None


def _clean(text: str, adj: Counter[str]) -> str:
    """``text`` with lone UTF-16 surrogates (valid in JSON input, not in UTF-8) replaced."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        adj["replaced:invalid_unicode"] += 1
        return text.encode("utf-8", "replace").decode("utf-8")
    return text


def _dict(container: dict[str, Any], key: str, field: str, adj: Counter[str]) -> dict[str, Any]:
    value = container.get(key)
    if isinstance(value, dict):
        return value
    if value is not None:
        adj[f"dropped_field:{field}"] += 1
    return {}


def _first_present(container: dict[str, Any], keys: tuple[str, ...]) -> str | None:
    for key in keys:
        if container.get(key) is not None:
            return key
    return None


def _encode(value: dict[str, Any]) -> bytes:
    return _JSON.encode(value).encode("utf-8", "replace")
