"""The two data objects of a Conversions API event, from a policy-filtered canonical event:
``user_data`` (the customer information Meta matches on: hashes made at ingest, never a clear
value) and ``custom_data`` (value, currency, order and products), well-formed values only (see
:mod:`fairtrack.destinations.meta_mapping` for the rules)."""

from __future__ import annotations

import ipaddress
import math
import re
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from fairtrack.anonymise.userdata import META_KEYS, sha256_hex

__all__: list[str] = []  # the data objects are made for fairtrack.destinations.meta_mapping only

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")
_FBC = re.compile(r"fb\.[0-2]\.[0-9]{1,16}\.[\x21-\x7e]{1,500}")
_FBP = re.compile(r"fb\.[0-2]\.[0-9]{1,16}\.[0-9]{1,32}")
_FBCLID = re.compile(r"[\x21-\x7e]{1,500}")
_CURRENCY = re.compile(r"[A-Z]{3}")
_DECIMAL = re.compile(r"[0-9]{1,15}(\.[0-9]{1,15})?")
_MAX_TEXT = 8192
_MAX_ID = 512
_MAX_QUANTITY = 1_000_000


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any, limit: int = _MAX_TEXT) -> str | None:
    """``value`` trimmed, when it is non-empty text that encodes as UTF-8 (no lone surrogates)."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not text or len(text) > limit:
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return None
    return text


def _hashes(value: Any) -> tuple[list[str], bool]:
    """The SHA-256 hex digests in ``value`` (a list of them, or one), lowercased and without
    repeats, and whether anything else was found (and left out)."""
    values = value if isinstance(value, list) else [value]
    found: list[str] = []
    rejected = False
    for item in values:
        if isinstance(item, str) and _HEX64.fullmatch(item):
            digest = item.lower()
            if digest not in found:
                found.append(digest)
        else:
            rejected = True
    return found, rejected


def _user_data(
    event: dict[str, Any], context: dict[str, Any], user_agent: str | None, when: datetime, adjustments: Counter[str]
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    hashed = _dict(_dict(event.get("userData")).get("meta"))
    for key in META_KEYS:
        if key not in hashed:
            continue
        digests, rejected = _hashes(hashed[key])
        if digests:
            out[key] = digests
        if rejected:
            adjustments[f"dropped_field:user_data.{key}"] += 1
    for source in ("userId", "anonymousId"):
        pseudonym = _text(event.get(source), _MAX_ID)
        if pseudonym is not None and (digest := sha256_hex(pseudonym)) is not None:
            out["external_id"] = [digest]
            break
    if context.get("ip") is not None:
        ip = _ip(context.get("ip"))
        if ip is not None:
            out["client_ip_address"] = ip
        else:
            adjustments["dropped_field:client_ip_address"] += 1
    if user_agent is not None:
        out["client_user_agent"] = user_agent
    fbc = _cookie(_FBC, context.get("fbc"))
    if fbc is None:
        if context.get("fbc") is not None:
            adjustments["dropped_field:fbc"] += 1
        fbclid = _dict(context.get("clickIds")).get("fbclid")
        if isinstance(fbclid, str) and _FBCLID.fullmatch(fbclid.strip()):
            fbc = f"fb.1.{(when - _EPOCH) // timedelta(milliseconds=1)}.{fbclid.strip()}"
        elif fbclid is not None:
            adjustments["dropped_field:fbclid"] += 1
    if fbc is not None:
        out["fbc"] = fbc
    fbp = _cookie(_FBP, context.get("fbp"))
    if fbp is not None:
        out["fbp"] = fbp
    elif context.get("fbp") is not None:
        adjustments["dropped_field:fbp"] += 1
    return out


def _ip(value: Any) -> str | None:
    text = _text(value, 64)
    if text is None:
        return None
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return None
    return text


def _cookie(pattern: re.Pattern[str], value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    text = value.strip()
    return text if pattern.fullmatch(text) else None


def _has_customer_information(user_data: dict[str, Any]) -> bool:
    if any(key in user_data for key in ("em", "ph", "external_id", "fbc", "fbp")):
        return True
    return "client_ip_address" in user_data and "client_user_agent" in user_data


def _money(value: Any) -> float | None:
    """A finite, non-negative amount from a number or a decimal string."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = float(value) if abs(value) <= 10**15 else math.inf
    elif isinstance(value, float):
        number = value
    elif isinstance(value, str) and _DECIMAL.fullmatch(value.strip()):
        number = float(value.strip())
    else:
        return None
    return number if math.isfinite(number) and number >= 0 else None


def _quantity(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    elif isinstance(value, str) and value.strip().isdecimal() and value.strip().isascii():
        value = int(value.strip())
    return value if isinstance(value, int) and 0 < value <= _MAX_QUANTITY else None


def _content_id(value: Any) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value) if abs(value) < 10**18 else None
    return _text(value, _MAX_ID)


def _product(item: dict[str, Any]) -> dict[str, Any] | None:
    for key in ("product_id", "sku", "item_id"):
        pid = _content_id(item.get(key))
        if pid is not None:
            break
    else:
        return None
    content: dict[str, Any] = {"id": pid}
    quantity = _quantity(item.get("quantity"))
    if quantity is not None:
        content["quantity"] = quantity
    price = _money(item.get("price"))
    if price is not None:
        content["item_price"] = price
    return content


def _first(props: dict[str, Any], keys: tuple[str, ...], parse: Callable[[Any], Any], adjustments: Counter[str]) -> Any:
    """The first of ``keys`` in ``props`` that ``parse`` accepts; present but rejected values are
    counted as ``dropped_field:properties.<key>``."""
    for key in keys:
        if key not in props or props[key] is None:
            continue
        parsed = parse(props[key])
        if parsed is not None:
            return parsed
        adjustments[f"dropped_field:properties.{key}"] += 1
    return None


def _currency(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    code = value.strip().upper()
    return code if _CURRENCY.fullmatch(code) else None


def _custom_data(props: dict[str, Any], adjustments: Counter[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    value = _first(props, ("revenue", "total", "value"), _money, adjustments)
    if value is not None:
        out["value"] = value
    currency = _first(props, ("currency",), _currency, adjustments)
    if currency is not None:
        out["currency"] = currency
    order_id = _first(props, ("order_id", "transaction_id"), _content_id, adjustments)
    if order_id is not None:
        out["order_id"] = order_id

    listed = props.get("products") if isinstance(props.get("products"), list) else props.get("items")
    contents: list[dict[str, Any]] = []
    if isinstance(listed, list):
        for item in listed:
            content = _product(item) if isinstance(item, dict) else None
            if content is None:
                adjustments["dropped_field:properties.products[]"] += 1
            else:
                contents.append(content)
    else:
        single = _product(props)
        if single is not None:
            contents.append(single)
    if contents:
        out["content_ids"] = [content["id"] for content in contents]
        out["contents"] = contents
        out["content_type"] = "product"
        if isinstance(listed, list):
            out["num_items"] = sum(content.get("quantity", 1) for content in contents)

    for target, keys in (
        ("content_name", ("name",)),
        ("content_category", ("category",)),
        ("search_string", ("query", "search_term")),
    ):
        text = _first(props, keys, _text, adjustments)
        if text is not None:
            out[target] = text
    return out
