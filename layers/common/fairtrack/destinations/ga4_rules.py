"""GA4 Measurement Protocol rules: the limits, the reserved names, the Segment spec names and
their GA4 counterparts, the currencies and item fields, and how names and values are normalised to
fit them (:mod:`fairtrack.destinations.ga4_mapping` describes how they are applied)."""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

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

_NOT_ALNUM = re.compile(r"[^A-Za-z0-9]+")
_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)

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


@dataclass(frozen=True, slots=True)
class _Custom:
    """The rules a kind of custom name-value pair is kept under: ``what`` names it in the
    adjustment keys (``dropped_<what>:reserved_name``...), ``label`` prefixes its name in a
    ``truncated:`` key, ``limit`` is the count past which the rest is dropped (``over_<limit>``),
    ``value_limits`` the value lengths of some names (else ``value_chars``)."""

    what: str
    label: str
    limit: int
    name_chars: int
    value_chars: int
    reserved: frozenset[str]
    value_limits: Mapping[str, int]


_EVENT_PARAMS = _Custom("param", "", MAX_PARAMS, MAX_NAME_CHARS, MAX_VALUE_CHARS, RESERVED_PARAM_NAMES, VALUE_LIMITS)
_ITEM_PARAMS = _Custom(
    "item_param", "items.", MAX_ITEM_CUSTOM_PARAMS, MAX_NAME_CHARS, MAX_VALUE_CHARS, RESERVED_PARAM_NAMES, {}
)
_USER_PROPERTIES = _Custom(
    "user_property",
    "user_properties.",
    MAX_USER_PROPERTIES,
    MAX_USER_PROPERTY_NAME_CHARS,
    MAX_USER_PROPERTY_VALUE_CHARS,
    RESERVED_USER_PROPERTY_NAMES,
    {},
)


def _put_custom(
    kind: _Custom, pairs: Iterable[tuple[Any, Any]], into: dict[str, Any], room: int, adj: Counter[str]
) -> None:
    """Put the ``pairs`` a destination may have into ``into``, at most ``room`` of them: names
    sanitised (GA4's reserved names and prefixes left out, the first of two names that sanitise
    alike wins), scalar values only; what is left out is counted."""
    for key, value in pairs:
        name = _name(key, kind.name_chars, kind.what, adj)
        if name is None:
            continue
        if name in kind.reserved or name.startswith(_PARAM_PREFIXES):
            adj[f"dropped_{kind.what}:reserved_name"] += 1
            continue
        if name in into:
            adj[f"dropped_{kind.what}:duplicate_name"] += 1
            continue
        scalar = _scalar(value, kind.value_limits.get(name, kind.value_chars), kind.label + name, kind.what, adj)
        if scalar is None:
            continue
        if room <= 0:
            adj[f"dropped_{kind.what}:over_{kind.limit}"] += 1
            continue
        into[name] = scalar
        room -= 1


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
