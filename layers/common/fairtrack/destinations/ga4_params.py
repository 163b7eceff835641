"""GA4 event parameters and items from a canonical event (pure functions; the request and the
events are :mod:`fairtrack.destinations.ga4_mapping`'s).

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

from collections import Counter
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from fairtrack.destinations.ga4_rules import (
    _EVENT_PARAMS,
    _ITEM_KEYS,
    _ITEM_PARAMS,
    _SINGLE_PRODUCT_EVENTS,
    CURRENCIES,
    ECOMMERCE_EVENTS,
    ITEM_FIELDS,
    MAX_ITEM_CUSTOM_PARAMS,
    MAX_ITEMS,
    MAX_PARAMS,
    MAX_VALUE_CHARS,
    PROPERTY_RENAMES,
    REVENUE_WITHOUT_CURRENCY,
    Scalar,
    _dict,
    _first_present,
    _number,
    _put_custom,
    _put_text,
    _text,
)

__all__: list[str] = []  # the parameters are made for fairtrack.destinations.ga4_mapping only

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
    custom = ((key, value) for key, value in raw.items() if key not in _ITEM_KEYS)
    _put_custom(_ITEM_PARAMS, custom, item, MAX_ITEM_CUSTOM_PARAMS, adj)


def _property_params(
    name: str, properties: dict[str, Any], consumed: set[str], params: dict[str, Any], adj: Counter[str]
) -> None:
    renames = PROPERTY_RENAMES.get(name, {})
    custom = ((renames.get(key, key), value) for key, value in properties.items() if key not in consumed)
    _put_custom(_EVENT_PARAMS, custom, params, MAX_PARAMS - len(params), adj)
