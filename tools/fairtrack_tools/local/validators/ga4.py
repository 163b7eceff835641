"""GA4 Measurement Protocol: what ``/debug/mp/collect`` would say of a body.

:func:`validate_ga4` answers like ``/debug/mp/collect``: a list of ``validationMessages``, each
``{"fieldPath", "description", "validationCode"}`` with GA4's codes (``VALUE_INVALID``,
``VALUE_REQUIRED``, ``NAME_INVALID``, ``NAME_RESERVED``, ``VALUE_OUT_OF_BOUNDS``,
``EXCEEDED_MAX_ENTITIES``; ``NAME_DUPLICATED`` cannot arise from an already parsed JSON object).
An empty list means valid. It checks:

- the body is an object, of fewer than 130,000 bytes (compact UTF-8 JSON, or ``raw_size``);
- ``client_id`` (non-empty string) or ``app_instance_id`` (32 hex digits); ``user_id`` a string of
  at most 256 characters; ``timestamp_micros`` (top level and per event) an integer at most 72 h
  in the past;
- ``events``: 1 to 25 objects (keys ``name``, ``params``, ``timestamp_micros``); names match
  ``^[A-Za-z][A-Za-z0-9_]*$``, at most 40 characters, not reserved; ``params`` at most 25, names
  as event names with the reserved prefixes ``google_ ga_ firebase_ _``, values strings (at most
  100 characters; ``page_location`` 1000, ``page_referrer`` 420, ``page_title`` 300), finite
  numbers or booleans, ``items`` a list of at most 200 objects each with ``item_id`` or
  ``item_name``;
- ``user_properties``: at most 25, names at most 24 characters, not reserved, each
  ``{"value": scalar}`` with string values of at most 36 characters;
- ``consent``: only ``ad_user_data`` / ``ad_personalization``, each ``"GRANTED"`` or ``"DENIED"``;
- ``user_data``: only ``sha256_email_address`` / ``sha256_phone_number`` (lists of lowercase
  64-hex digests) and ``address`` (a list of objects with ``sha256_first_name``,
  ``sha256_last_name``, ``sha256_street`` digests and ``city region postal_code country`` strings);
- ``ip_override``, ``user_location``, ``device``, ``validation_behavior``, ``non_personalized_ads``
  have their documented types; any other top-level key is reported.

Field paths are more precise than GA4's own (which says ``events`` and puts the index in the
description): ``events[0].params.page_title``. A path only ever holds names that passed the name
rules, never a value, so it is safe to log. Deliberately stricter than GA4 may be: ``null`` values
are refused, hex digests must be lowercase. Not modelled: future timestamps, recommended-event
parameter checks (``validation_behavior: ENFORCE_RECOMMENDATIONS``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, Final

from fairtrack_tools.local.validators.common import (
    HEX32_RE,
    NAME_RE,
    is_hex64,
    is_int,
    is_ip,
    is_member,
    is_name,
    json_size,
    kind_of,
    shown,
    since_epoch,
)

# -- GA4 validation codes ----------------------------------------------------------------------------


class Ga4Code(StrEnum):
    """The ``validationCode`` of a message: the real enum of ``/debug/mp/collect``."""

    VALUE_INVALID = "VALUE_INVALID"
    VALUE_REQUIRED = "VALUE_REQUIRED"
    NAME_INVALID = "NAME_INVALID"
    NAME_RESERVED = "NAME_RESERVED"
    VALUE_OUT_OF_BOUNDS = "VALUE_OUT_OF_BOUNDS"
    EXCEEDED_MAX_ENTITIES = "EXCEEDED_MAX_ENTITIES"
    NAME_DUPLICATED = "NAME_DUPLICATED"


# -- GA4 limits --------------------------------------------------------------------------------------

GA4_MAX_BODY_BYTES: Final = 130_000
GA4_MAX_EVENTS: Final = 25
GA4_MAX_PARAMS: Final = 25
GA4_MAX_ITEMS: Final = 200
GA4_MAX_USER_PROPERTIES: Final = 25
GA4_MAX_NAME: Final = 40
GA4_MAX_USER_PROPERTY_NAME: Final = 24
GA4_MAX_VALUE: Final = 100
GA4_MAX_USER_PROPERTY_VALUE: Final = 36
GA4_MAX_USER_ID: Final = 256
GA4_LONG_VALUES: Final = {"page_location": 1000, "page_referrer": 420, "page_title": 300}
GA4_MAX_BACKDATE: Final = timedelta(hours=72)

# Reserved names: the MP reference's lists and what this validator refuses beyond them, as data
# (ga4_reserved.json, which tests/unit/test_ga4_golden.py also holds the layer's lists against).
GA4_RESERVED_PATH: Final = Path(__file__).with_name("ga4_reserved.json")
_RESERVED: Final[dict[str, Any]] = json.loads(GA4_RESERVED_PATH.read_text("utf-8"))
_REFERENCE: Final[dict[str, list[str]]] = _RESERVED["reference"]
_STRICTER: Final[dict[str, list[str]]] = _RESERVED["validator_stricter"]
GA4_REFERENCE_EVENT_NAMES: Final = frozenset(_REFERENCE["event_names"])
GA4_REFERENCE_PREFIXES: Final = tuple(_REFERENCE["prefixes"])
GA4_RESERVED_EVENT_NAMES: Final = GA4_REFERENCE_EVENT_NAMES | frozenset(_STRICTER["event_names"])
GA4_RESERVED_EVENT_PREFIXES: Final = (*GA4_REFERENCE_PREFIXES, *_STRICTER["event_prefixes"])
GA4_RESERVED_PARAM_PREFIXES: Final = (*GA4_REFERENCE_PREFIXES, *_STRICTER["param_prefixes"])
GA4_RESERVED_USER_PROPERTIES: Final = frozenset(_REFERENCE["user_property_names"])
GA4_RESERVED_USER_PROPERTY_PREFIXES: Final = GA4_REFERENCE_PREFIXES

GA4_TOP_LEVEL: Final = frozenset(
    {
        "client_id",
        "app_instance_id",
        "user_id",
        "timestamp_micros",
        "user_properties",
        "consent",
        "non_personalized_ads",
        "user_data",
        "events",
        "ip_override",
        "user_location",
        "device",
        "validation_behavior",
    }
)
GA4_EVENT_KEYS: Final = frozenset({"name", "params", "timestamp_micros"})
GA4_CONSENT_KEYS: Final = frozenset({"ad_user_data", "ad_personalization"})
GA4_CONSENT_VALUES: Final = frozenset({"GRANTED", "DENIED"})
GA4_USER_DATA_LISTS: Final = ("sha256_email_address", "sha256_phone_number")
GA4_ADDRESS_HASHED: Final = frozenset({"sha256_first_name", "sha256_last_name", "sha256_street"})
GA4_ADDRESS_PLAIN: Final = frozenset({"city", "region", "postal_code", "country"})
GA4_USER_LOCATION_KEYS: Final = frozenset({"city", "region_id", "country_id", "subcontinent_id", "continent_id"})
GA4_DEVICE_KEYS: Final = frozenset(
    {
        "category",
        "language",
        "screen_resolution",
        "operating_system",
        "operating_system_version",
        "model",
        "brand",
        "browser",
        "browser_version",
    }
)
GA4_VALIDATION_BEHAVIORS: Final = frozenset({"RELAXED", "ENFORCE_RECOMMENDATIONS"})


# -- GA4 ---------------------------------------------------------------------------------------------


class _Messages:
    def __init__(self) -> None:
        self.items: list[dict[str, str]] = []

    def add(self, path: str, description: str, code: Ga4Code) -> None:
        self.items.append({"fieldPath": path, "description": description, "validationCode": code.value})


def _is_a(value: Any, kind: type[list[Any]] | type[dict[Any, Any]], path: str, must_be: str, out: _Messages) -> bool:
    """True when ``value`` is a ``kind``; otherwise ``"<must_be>, not a <what it is>."`` is reported."""
    if isinstance(value, kind):
        return True
    out.add(path, f"{must_be}, not a {kind_of(value)}.", Ga4Code.VALUE_INVALID)
    return False


def _join(parent: str, name: str) -> str:
    return f"{parent}.{name}" if parent else name


@dataclass(frozen=True, slots=True)
class _NameRules:
    """What a kind of name may be: at most ``max_len`` characters, none of ``reserved``, starting
    with none of ``prefixes``."""

    max_len: int
    reserved: frozenset[str]
    prefixes: tuple[str, ...]


_EVENT_NAME: Final = _NameRules(GA4_MAX_NAME, GA4_RESERVED_EVENT_NAMES, GA4_RESERVED_EVENT_PREFIXES)
_PARAM_NAME: Final = _NameRules(GA4_MAX_NAME, frozenset(), GA4_RESERVED_PARAM_PREFIXES)
_USER_PROPERTY_NAME: Final = _NameRules(
    GA4_MAX_USER_PROPERTY_NAME, GA4_RESERVED_USER_PROPERTIES, GA4_RESERVED_USER_PROPERTY_PREFIXES
)


@dataclass(frozen=True, slots=True)
class _NamedEntries:
    """An object of named entries (an event's params, the user properties): at most ``limit`` of
    them, their names as ``names`` says. The messages' words are ``str.format`` templates (``{index}``
    the event's index, ``{count}`` the number of entries): ``what`` names the object, ``entry`` one
    entry."""

    limit: int
    names: _NameRules
    what: str
    too_many: str
    entry: str


_PARAMS: Final = _NamedEntries(
    GA4_MAX_PARAMS,
    _PARAM_NAME,
    what="Event at index [{index}] params",
    too_many="Event at index [{index}] has {count} params; at most {limit} are allowed.",
    entry="Event at index [{index}] param",
)
_USER_PROPERTIES: Final = _NamedEntries(
    GA4_MAX_USER_PROPERTIES,
    _USER_PROPERTY_NAME,
    what="user_properties",
    too_many="{count} user properties; at most {limit} are allowed.",
    entry="User property",
)


def _check_name(name: Any, rules: _NameRules, *, what: str, path: str, out: _Messages) -> bool:
    """Report a bad ``name`` at ``path``; True when the name is usable (valid and not reserved)."""
    max_len = rules.max_len
    if not isinstance(name, str) or not name:
        out.add(path, f"{what} has an empty or non-string name [{shown(name)}].", Ga4Code.NAME_INVALID)
        return False
    if NAME_RE.fullmatch(name) is None:
        out.add(
            path,
            f"{what} has invalid name [{shown(name)}]. Names must start with an alphabetic character and "
            "contain only alphanumeric characters and underscores.",
            Ga4Code.NAME_INVALID,
        )
        return False
    if len(name) > max_len:
        out.add(
            path,
            f"{what} has name [{shown(name)}] which is too long. The maximum length is {max_len}.",
            Ga4Code.NAME_INVALID,
        )
        return False
    if name in rules.reserved or name.startswith(rules.prefixes):
        out.add(path, f"{what} has name [{name}] which is reserved.", Ga4Code.NAME_RESERVED)
        return False
    return True


def _named_entries(
    kind: _NamedEntries, entries: Any, path: str, out: _Messages, *, index: int | None = None
) -> Iterator[tuple[str, Any]]:
    """The entries of the object ``entries`` whose names are usable, one at a time, so that what the
    caller reports of an entry's value follows what was reported of the names before it. Reported
    first: ``entries`` not an object (then nothing is yielded), more than ``kind.limit`` entries."""
    if not _is_a(entries, dict, path, f"{kind.what.format(index=index)} must be an object", out):
        return
    if len(entries) > kind.limit:
        too_many = kind.too_many.format(index=index, count=len(entries), limit=kind.limit)
        out.add(path, too_many, Ga4Code.EXCEEDED_MAX_ENTITIES)
    entry = kind.entry.format(index=index)
    for name, value in entries.items():
        if _check_name(name, kind.names, what=entry, path=path, out=out):
            yield name, value


def _each_object(values: list[Any], path: str, what: str, out: _Messages) -> Iterator[tuple[int, str, dict[Any, Any]]]:
    """Each object of ``values`` with its index and path, one at a time; an entry that is not an
    object is reported (``what`` names an entry) and passed over."""
    for index, value in enumerate(values):
        entry = f"{path}[{index}]"
        if _is_a(value, dict, entry, f"{what} at index [{index}] must be an object", out):
            yield index, entry, value


def _ga4_timestamp(value: Any, path: str, now_us: int, out: _Messages) -> None:
    if not is_int(value):
        out.add(
            path,
            f"{path} must be an integer (microseconds since the epoch), not a {kind_of(value)}.",
            Ga4Code.VALUE_INVALID,
        )
        return
    if now_us - value > GA4_MAX_BACKDATE // timedelta(microseconds=1):
        out.add(path, f"{path} is more than 72 hours in the past.", Ga4Code.VALUE_OUT_OF_BOUNDS)


def _ga4_scalar(name: str, value: Any, path: str, max_len: int, out: _Messages) -> None:
    """A parameter or item value: a string of at most ``max_len`` characters, a finite number, a boolean."""
    if isinstance(value, str):
        if len(value) > max_len:
            out.add(
                path,
                f"Value of [{name}] has {len(value)} characters; the maximum length is {max_len}.",
                Ga4Code.VALUE_OUT_OF_BOUNDS,
            )
    elif isinstance(value, bool) or is_int(value):
        return
    elif isinstance(value, float):
        if not math.isfinite(value):
            out.add(path, f"Value of [{name}] is not a finite number.", Ga4Code.VALUE_INVALID)
    else:
        out.add(
            path,
            f"Value of [{name}] must be a string, a number or a boolean, not a {kind_of(value)}.",
            Ga4Code.VALUE_INVALID,
        )


def _ga4_items(items: Any, path: str, out: _Messages) -> None:
    if not _is_a(items, list, path, "items must be an array", out):
        return
    if len(items) > GA4_MAX_ITEMS:
        out.add(path, f"{len(items)} items; at most {GA4_MAX_ITEMS} are allowed.", Ga4Code.EXCEEDED_MAX_ENTITIES)
    for index, item_path, item in _each_object(items, path, "Item", out):
        if not any(isinstance(item.get(key), str) and item.get(key) for key in ("item_id", "item_name")):
            out.add(item_path, f"Item at index [{index}] requires item_id or item_name.", Ga4Code.VALUE_REQUIRED)
        for key, value in item.items():
            if _check_name(key, _PARAM_NAME, what=f"Item at index [{index}] parameter", path=item_path, out=out):
                _ga4_scalar(key, value, _join(item_path, key), GA4_MAX_VALUE, out)


def _ga4_params(params: Any, path: str, index: int, out: _Messages) -> None:
    for name, value in _named_entries(_PARAMS, params, path, out, index=index):
        if name == "items":
            _ga4_items(value, _join(path, name), out)
        else:
            _ga4_scalar(name, value, _join(path, name), GA4_LONG_VALUES.get(name, GA4_MAX_VALUE), out)


def _ga4_event(event: dict[Any, Any], index: int, path: str, now_us: int, out: _Messages) -> None:
    for key in event:
        if key not in GA4_EVENT_KEYS:
            out.add(
                _join(path, key) if is_name(key) else path,
                f"Event at index [{index}] has unknown field [{shown(key)}].",
                Ga4Code.VALUE_INVALID,
            )
    if "name" not in event:
        out.add(_join(path, "name"), f"Event at index [{index}] requires a name.", Ga4Code.VALUE_REQUIRED)
    else:
        _check_name(event["name"], _EVENT_NAME, what=f"Event at index [{index}]", path=_join(path, "name"), out=out)
    if "timestamp_micros" in event:
        _ga4_timestamp(event["timestamp_micros"], _join(path, "timestamp_micros"), now_us, out)
    if "params" in event:
        _ga4_params(event["params"], _join(path, "params"), index, out)


def _ga4_identity(body: dict[Any, Any], out: _Messages) -> None:
    if "client_id" not in body and "app_instance_id" not in body:
        out.add("client_id", "A client_id (web) or app_instance_id (app) is required.", Ga4Code.VALUE_REQUIRED)
    if "client_id" in body:
        client_id = body["client_id"]
        if not isinstance(client_id, str) or not client_id.strip():
            out.add(
                "client_id", f"client_id must be a non-empty string, not [{shown(client_id)}].", Ga4Code.VALUE_INVALID
            )
    if "app_instance_id" in body:
        app_id = body["app_instance_id"]
        if not isinstance(app_id, str) or HEX32_RE.fullmatch(app_id) is None:
            out.add("app_instance_id", "app_instance_id must be 32 hexadecimal digits.", Ga4Code.VALUE_INVALID)
    if "user_id" in body:
        user_id = body["user_id"]
        if not isinstance(user_id, str):
            out.add("user_id", f"user_id must be a string, not a {kind_of(user_id)}.", Ga4Code.VALUE_INVALID)
        elif len(user_id) > GA4_MAX_USER_ID:
            out.add("user_id", f"user_id is longer than {GA4_MAX_USER_ID} characters.", Ga4Code.VALUE_OUT_OF_BOUNDS)


def _ga4_user_properties(props: Any, out: _Messages) -> None:
    path = "user_properties"
    for name, prop in _named_entries(_USER_PROPERTIES, props, path, out):
        prop_path = _join(path, name)
        if not isinstance(prop, dict):
            out.add(prop_path, f"User property [{name}] must be an object with a value.", Ga4Code.VALUE_INVALID)
            continue
        for key in prop:
            if key != "value":
                out.add(prop_path, f"User property [{name}] has unknown field [{shown(key)}].", Ga4Code.VALUE_INVALID)
        if "value" not in prop:
            out.add(prop_path, f"User property [{name}] requires a value.", Ga4Code.VALUE_REQUIRED)
        else:
            _ga4_scalar(name, prop["value"], _join(prop_path, "value"), GA4_MAX_USER_PROPERTY_VALUE, out)


def _ga4_consent(consent: Any, out: _Messages) -> None:
    if not _is_a(consent, dict, "consent", "consent must be an object", out):
        return
    for key, value in consent.items():
        if key not in GA4_CONSENT_KEYS:
            out.add(
                _join("consent", key) if is_name(key) else "consent",
                f"consent has unknown field [{shown(key)}]; only ad_user_data and ad_personalization are accepted.",
                Ga4Code.VALUE_INVALID,
            )
        elif not is_member(value, GA4_CONSENT_VALUES):
            out.add(_join("consent", key), f"consent.{key} must be GRANTED or DENIED.", Ga4Code.VALUE_INVALID)


def _ga4_digests(values: Any, path: str, out: _Messages) -> None:
    if not _is_a(values, list, path, f"{path} must be an array of SHA-256 hex digests", out):
        return
    for index, value in enumerate(values):
        if not is_hex64(value):
            out.add(
                f"{path}[{index}]", f"{path}[{index}] is not a lowercase SHA-256 hex digest.", Ga4Code.VALUE_INVALID
            )


def _ga4_user_data(user_data: Any, out: _Messages) -> None:
    path = "user_data"
    if not _is_a(user_data, dict, path, "user_data must be an object", out):
        return
    for key, value in user_data.items():
        if key in GA4_USER_DATA_LISTS:
            _ga4_digests(value, _join(path, key), out)
        elif key == "address":
            _ga4_addresses(value, _join(path, key), out)
        else:
            out.add(
                _join(path, key) if is_name(key) else path,
                f"user_data has unknown field [{shown(key)}].",
                Ga4Code.VALUE_INVALID,
            )


def _ga4_addresses(addresses: Any, path: str, out: _Messages) -> None:
    if not _is_a(addresses, list, path, "address must be an array of objects", out):
        return
    for index, entry, address in _each_object(addresses, path, "Address", out):
        for key, value in address.items():
            if key in GA4_ADDRESS_HASHED:
                if not is_hex64(value):
                    out.add(_join(entry, key), f"{key} is not a lowercase SHA-256 hex digest.", Ga4Code.VALUE_INVALID)
            elif key in GA4_ADDRESS_PLAIN:
                if not isinstance(value, str):
                    out.add(
                        _join(entry, key), f"{key} must be a string, not a {kind_of(value)}.", Ga4Code.VALUE_INVALID
                    )
            else:
                out.add(
                    _join(entry, key) if is_name(key) else entry,
                    f"Address at index [{index}] has unknown field [{shown(key)}].",
                    Ga4Code.VALUE_INVALID,
                )


def _ga4_string_object(value: Any, path: str, known: frozenset[str], out: _Messages) -> None:
    if not _is_a(value, dict, path, f"{path} must be an object", out):
        return
    for key, item in value.items():
        if key not in known:
            out.add(
                _join(path, key) if is_name(key) else path,
                f"{path} has unknown field [{shown(key)}].",
                Ga4Code.VALUE_INVALID,
            )
        elif not isinstance(item, str):
            out.add(_join(path, key), f"{path}.{key} must be a string, not a {kind_of(item)}.", Ga4Code.VALUE_INVALID)


def _ga4_extras(body: dict[Any, Any], out: _Messages) -> None:
    if "ip_override" in body and not is_ip(body["ip_override"]):
        out.add("ip_override", "ip_override must be an IPv4 or IPv6 address.", Ga4Code.VALUE_INVALID)
    if "user_location" in body:
        _ga4_string_object(body["user_location"], "user_location", GA4_USER_LOCATION_KEYS, out)
    if "device" in body:
        _ga4_string_object(body["device"], "device", GA4_DEVICE_KEYS, out)
    if "validation_behavior" in body and not is_member(body["validation_behavior"], GA4_VALIDATION_BEHAVIORS):
        out.add(
            "validation_behavior",
            "validation_behavior must be RELAXED or ENFORCE_RECOMMENDATIONS.",
            Ga4Code.VALUE_INVALID,
        )
    if "non_personalized_ads" in body and not isinstance(body["non_personalized_ads"], bool):
        out.add("non_personalized_ads", "non_personalized_ads must be a boolean.", Ga4Code.VALUE_INVALID)


def _ga4_events(events: Any, now_us: int, out: _Messages) -> None:
    if not _is_a(events, list, "events", "events must be an array", out):
        return
    if not events:
        out.add("events", "At least one event is required.", Ga4Code.VALUE_REQUIRED)
    elif len(events) > GA4_MAX_EVENTS:
        out.add("events", f"{len(events)} events; at most {GA4_MAX_EVENTS} are allowed.", Ga4Code.EXCEEDED_MAX_ENTITIES)
    for index, path, event in _each_object(events, "events", "Event", out):
        _ga4_event(event, index, path, now_us, out)


def validate_ga4(body: Any, *, now: datetime | None = None, raw_size: int | None = None) -> list[dict[str, str]]:
    """GA4 ``/debug/mp/collect``-style ``validationMessages`` for a Measurement Protocol body; [] if valid.

    ``now`` (default: the current time; naive means UTC) anchors the 72-hour back-dating limit.
    ``raw_size`` is the request body's size in bytes when known; otherwise the size of ``body`` as
    compact UTF-8 JSON is used.
    """
    out = _Messages()
    now_us = since_epoch(now) // timedelta(microseconds=1)
    if not _is_a(body, dict, "", "The request body must be a JSON object", out):
        return out.items
    for key in body:
        if key not in GA4_TOP_LEVEL:
            out.add(key if is_name(key) else "", f"Unknown field [{shown(key)}].", Ga4Code.VALUE_INVALID)
    _ga4_identity(body, out)
    if "timestamp_micros" in body:
        _ga4_timestamp(body["timestamp_micros"], "timestamp_micros", now_us, out)
    if "user_properties" in body:
        _ga4_user_properties(body["user_properties"], out)
    if "consent" in body:
        _ga4_consent(body["consent"], out)
    if "user_data" in body:
        _ga4_user_data(body["user_data"], out)
    _ga4_extras(body, out)
    if "events" not in body:
        out.add("events", "events is required.", Ga4Code.VALUE_REQUIRED)
    else:
        _ga4_events(body["events"], now_us, out)
    size = raw_size if raw_size is not None else json_size(body)
    if size is not None and size >= GA4_MAX_BODY_BYTES:
        out.add(
            "", f"The request body is {size} bytes; it must be under {GA4_MAX_BODY_BYTES}.", Ga4Code.VALUE_OUT_OF_BOUNDS
        )
    return out.items
