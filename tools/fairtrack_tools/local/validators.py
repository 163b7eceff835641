"""Payload judges for the capture server: GA4 Measurement Protocol and the Meta Conversions API.

A stand-in written from the public documentation (and from error answers seen in public code), not
Google's or Meta's validator: what the real services accept may differ in details, and both change
over time. It lets tests show that the forwarders send valid payloads, and lets GA4's
``/debug/mp/collect`` semantics be exercised offline. Neither function raises, whatever it is given.

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

:func:`validate_meta` answers like the Graph API: ``None`` when Meta would accept the request,
else the error object Meta sends with HTTP 400 (code 100, ``OAuthException``) describing the
first problem only, since one invalid event rejects the whole request. It accepts a JSON body or a
form-encoded one whose ``data`` is a JSON string, and checks:

- ``data``: 1 to 1,000 event objects; ``test_event_code`` a string if present;
- per event: ``event_name`` a non-empty string of at most 50 characters; ``event_time`` integer
  Unix seconds, at most 7 days old (Meta's subcode 2804003) and at most 10 minutes ahead;
  ``action_source`` one of Meta's values; website events need ``event_source_url`` and
  ``user_data.client_user_agent``; ``event_id`` a string of at most 256 characters (a chosen
  bound); ``opt_out`` a boolean;
- ``user_data`` an object: ``em ph fn ln ge db ct st zp country external_id`` lowercase SHA-256
  hex digests or lists of them (``external_id`` is only "recommended" hashed by Meta; fairtrack
  always hashes it, so an unhashed one is a bug here); ``client_ip_address`` an IP literal;
  ``fbc`` ``fb.<0-2>.<digits>.<click id>``; ``fbp`` ``fb.<0-2>.<digits>.<digits>``; and at least
  one customer information parameter (Meta's subcode 2804050);
- ``data_processing_options`` a list of strings, only ``"LDU"`` (or empty);
  ``data_processing_options_country`` / ``_state`` integers when present (Meta geolocates when
  they are absent);
- ``custom_data`` an object: ``value`` a finite number, ``currency`` three letters (both required
  for ``Purchase``), ``content_ids`` a list, ``contents`` a list of objects, ``num_items`` an
  integer.

Tolerated, as Meta tolerates or ignores them: unknown top-level keys of the body or of an event
(``access_token``, ``partner_agent``, ``app_data``, ``referrer_url``, ...) and unknown
``user_data`` keys. Subcodes other than 2804003 and 2804050 are not Meta's: every other problem
uses :data:`META_SUBCODE_INVALID_PARAMETER`; the ``error_user_title`` / ``error_user_msg`` name
the field (``data[0].user_data.em``) and the problem. ``fbtrace_id`` is random, as Meta's is.
"""

from __future__ import annotations

import ipaddress
import json
import math
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

# -- GA4 validation codes (the real enum of /debug/mp/collect) ---------------------------------------

VALUE_INVALID: Final = "VALUE_INVALID"
VALUE_REQUIRED: Final = "VALUE_REQUIRED"
NAME_INVALID: Final = "NAME_INVALID"
NAME_RESERVED: Final = "NAME_RESERVED"
VALUE_OUT_OF_BOUNDS: Final = "VALUE_OUT_OF_BOUNDS"
EXCEEDED_MAX_ENTITIES: Final = "EXCEEDED_MAX_ENTITIES"
NAME_DUPLICATED: Final = "NAME_DUPLICATED"

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

GA4_RESERVED_EVENT_NAMES: Final = frozenset(
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
        "app_uninstall",
        "app_update",
        "app_upgrade",
        "dynamic_link_app_open",
        "dynamic_link_app_update",
        "dynamic_link_first_open",
        "error",
        "firebase_campaign",
        "firebase_in_app_message_action",
        "firebase_in_app_message_dismiss",
        "firebase_in_app_message_impression",
        "first_open",
        "first_visit",
        "in_app_purchase",
        "notification_dismiss",
        "notification_foreground",
        "notification_open",
        "notification_receive",
        "notification_send",
        "os_update",
        "session_start",
        "session_start_with_rollout",
        "user_engagement",
    }
)
GA4_RESERVED_EVENT_PREFIXES: Final = ("ad_", "_", "firebase_", "google_", "ga_")
GA4_RESERVED_PARAM_PREFIXES: Final = ("google_", "ga_", "firebase_", "_")
GA4_RESERVED_USER_PROPERTIES: Final = frozenset(
    {"first_open_time", "first_visit_time", "last_deep_link_referrer", "user_id", "first_open_after_install"}
)
GA4_RESERVED_USER_PROPERTY_PREFIXES: Final = ("google_", "ga_", "firebase_")

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

# -- Meta --------------------------------------------------------------------------------------------

META_MAX_EVENTS: Final = 1000
META_MAX_AGE: Final = timedelta(days=7)
META_MAX_AHEAD: Final = timedelta(minutes=10)
META_MAX_EVENT_NAME: Final = 50
META_MAX_EVENT_ID: Final = 256
META_SUBCODE_TIMESTAMP_TOO_OLD: Final = 2804003  # Meta's own
META_SUBCODE_NOT_ENOUGH_CUSTOMER_INFO: Final = 2804050  # Meta's own
META_SUBCODE_INVALID_PARAMETER: Final = 2804000  # this stand-in's, for every other problem

META_ACTION_SOURCES: Final = frozenset(
    {
        "email",
        "website",
        "app",
        "phone_call",
        "chat",
        "physical_store",
        "system_generated",
        "business_messaging",
        "other",
    }
)
META_HASHED: Final = ("em", "ph", "fn", "ln", "ge", "db", "ct", "st", "zp", "country", "external_id")
META_CUSTOMER_INFO: Final = (
    *META_HASHED,
    "client_ip_address",
    "client_user_agent",
    "fbc",
    "fbp",
    "subscription_id",
    "fb_login_id",
    "lead_id",
    "anon_id",
    "madid",
    "page_id",
    "page_scoped_user_id",
    "ctwa_clid",
    "ig_account_id",
    "ig_sid",
)

_NAME_RE: Final = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_HEX64_RE: Final = re.compile(r"[0-9a-f]{64}")
_HEX32_RE: Final = re.compile(r"[0-9A-Fa-f]{32}")
_CURRENCY_RE: Final = re.compile(r"[A-Za-z]{3}")
_FBC_RE: Final = re.compile(r"fb\.[0-2]\.[0-9]+\.\S+")
_FBP_RE: Final = re.compile(r"fb\.[0-2]\.[0-9]+\.[0-9]+")
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


# -- shared helpers ----------------------------------------------------------------------------------


def _since_epoch(now: datetime | None) -> timedelta:
    """``now`` (default: the current time) as time since the Unix epoch; a naive ``now`` is UTC."""
    moment = datetime.now(UTC) if now is None else now
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment - _EPOCH


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, float) and math.isfinite(value)


def _is_name(value: Any) -> bool:
    return isinstance(value, str) and _NAME_RE.fullmatch(value) is not None


def _is_hex64(value: Any) -> bool:
    return isinstance(value, str) and _HEX64_RE.fullmatch(value) is not None


def _show(value: Any) -> str:
    """A short rendering of an offending name or value for a description (never a whole structure)."""
    if isinstance(value, str):
        return value if len(value) <= 60 else value[:57] + "..."
    if value is None or isinstance(value, bool | int | float):
        text = repr(value)
        return text if len(text) <= 60 else text[:57] + "..."
    return f"<{type(value).__name__}>"


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _json_size(body: Any) -> int | None:
    try:
        text = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        return None
    return len(text.encode("utf-8", "surrogatepass"))


def _member(value: Any, allowed: frozenset[str]) -> bool:
    """``value in allowed`` for a string, False otherwise (an unhashable value would raise)."""
    return isinstance(value, str) and value in allowed


def _is_ip(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


# -- GA4 ---------------------------------------------------------------------------------------------


class _Messages:
    def __init__(self) -> None:
        self.items: list[dict[str, str]] = []

    def add(self, path: str, description: str, code: str) -> None:
        self.items.append({"fieldPath": path, "description": description, "validationCode": code})


def _join(parent: str, name: str) -> str:
    return f"{parent}.{name}" if parent else name


def _check_name(
    name: Any,
    *,
    what: str,
    path: str,
    max_len: int,
    reserved: frozenset[str],
    prefixes: tuple[str, ...],
    out: _Messages,
) -> bool:
    """Report a bad ``name`` at ``path``; True when the name is usable (valid and not reserved)."""
    if not isinstance(name, str) or not name:
        out.add(path, f"{what} has an empty or non-string name [{_show(name)}].", NAME_INVALID)
        return False
    if _NAME_RE.fullmatch(name) is None:
        out.add(
            path,
            f"{what} has invalid name [{_show(name)}]. Names must start with an alphabetic character and "
            "contain only alphanumeric characters and underscores.",
            NAME_INVALID,
        )
        return False
    if len(name) > max_len:
        out.add(
            path, f"{what} has name [{_show(name)}] which is too long. The maximum length is {max_len}.", NAME_INVALID
        )
        return False
    if name in reserved or name.startswith(prefixes):
        out.add(path, f"{what} has name [{name}] which is reserved.", NAME_RESERVED)
        return False
    return True


def _ga4_timestamp(value: Any, path: str, now_us: int, out: _Messages) -> None:
    if not _is_int(value):
        out.add(path, f"{path} must be an integer (microseconds since the epoch), not a {_kind(value)}.", VALUE_INVALID)
        return
    if now_us - value > GA4_MAX_BACKDATE // timedelta(microseconds=1):
        out.add(path, f"{path} is more than 72 hours in the past.", VALUE_OUT_OF_BOUNDS)


def _ga4_scalar(name: str, value: Any, path: str, max_len: int, out: _Messages) -> None:
    """A parameter or item value: a string of at most ``max_len`` characters, a finite number, a boolean."""
    if isinstance(value, str):
        if len(value) > max_len:
            out.add(
                path,
                f"Value of [{name}] has {len(value)} characters; the maximum length is {max_len}.",
                VALUE_OUT_OF_BOUNDS,
            )
    elif isinstance(value, bool) or _is_int(value):
        return
    elif isinstance(value, float):
        if not math.isfinite(value):
            out.add(path, f"Value of [{name}] is not a finite number.", VALUE_INVALID)
    else:
        out.add(
            path, f"Value of [{name}] must be a string, a number or a boolean, not a {_kind(value)}.", VALUE_INVALID
        )


def _ga4_items(items: Any, path: str, out: _Messages) -> None:
    if not isinstance(items, list):
        out.add(path, f"items must be an array, not a {_kind(items)}.", VALUE_INVALID)
        return
    if len(items) > GA4_MAX_ITEMS:
        out.add(path, f"{len(items)} items; at most {GA4_MAX_ITEMS} are allowed.", EXCEEDED_MAX_ENTITIES)
    for index, item in enumerate(items):
        item_path = f"{path}[{index}]"
        if not isinstance(item, dict):
            out.add(item_path, f"Item at index [{index}] must be an object, not a {_kind(item)}.", VALUE_INVALID)
            continue
        if not any(isinstance(item.get(key), str) and item.get(key) for key in ("item_id", "item_name")):
            out.add(item_path, f"Item at index [{index}] requires item_id or item_name.", VALUE_REQUIRED)
        for key, value in item.items():
            if _check_name(
                key,
                what=f"Item at index [{index}] parameter",
                path=item_path,
                max_len=GA4_MAX_NAME,
                reserved=frozenset(),
                prefixes=GA4_RESERVED_PARAM_PREFIXES,
                out=out,
            ):
                _ga4_scalar(key, value, _join(item_path, key), GA4_MAX_VALUE, out)


def _ga4_params(params: Any, path: str, index: int, out: _Messages) -> None:
    if not isinstance(params, dict):
        out.add(path, f"Event at index [{index}] params must be an object, not a {_kind(params)}.", VALUE_INVALID)
        return
    if len(params) > GA4_MAX_PARAMS:
        out.add(
            path,
            f"Event at index [{index}] has {len(params)} params; at most {GA4_MAX_PARAMS} are allowed.",
            EXCEEDED_MAX_ENTITIES,
        )
    for name, value in params.items():
        if not _check_name(
            name,
            what=f"Event at index [{index}] param",
            path=path,
            max_len=GA4_MAX_NAME,
            reserved=frozenset(),
            prefixes=GA4_RESERVED_PARAM_PREFIXES,
            out=out,
        ):
            continue
        if name == "items":
            _ga4_items(value, _join(path, name), out)
        else:
            _ga4_scalar(name, value, _join(path, name), GA4_LONG_VALUES.get(name, GA4_MAX_VALUE), out)


def _ga4_event(event: Any, index: int, now_us: int, out: _Messages) -> None:
    path = f"events[{index}]"
    if not isinstance(event, dict):
        out.add(path, f"Event at index [{index}] must be an object, not a {_kind(event)}.", VALUE_INVALID)
        return
    for key in event:
        if key not in GA4_EVENT_KEYS:
            out.add(
                _join(path, key) if _is_name(key) else path,
                f"Event at index [{index}] has unknown field [{_show(key)}].",
                VALUE_INVALID,
            )
    if "name" not in event:
        out.add(_join(path, "name"), f"Event at index [{index}] requires a name.", VALUE_REQUIRED)
    else:
        _check_name(
            event["name"],
            what=f"Event at index [{index}]",
            path=_join(path, "name"),
            max_len=GA4_MAX_NAME,
            reserved=GA4_RESERVED_EVENT_NAMES,
            prefixes=GA4_RESERVED_EVENT_PREFIXES,
            out=out,
        )
    if "timestamp_micros" in event:
        _ga4_timestamp(event["timestamp_micros"], _join(path, "timestamp_micros"), now_us, out)
    if "params" in event:
        _ga4_params(event["params"], _join(path, "params"), index, out)


def _ga4_identity(body: dict[Any, Any], out: _Messages) -> None:
    if "client_id" not in body and "app_instance_id" not in body:
        out.add("client_id", "A client_id (web) or app_instance_id (app) is required.", VALUE_REQUIRED)
    if "client_id" in body:
        client_id = body["client_id"]
        if not isinstance(client_id, str) or not client_id.strip():
            out.add("client_id", f"client_id must be a non-empty string, not [{_show(client_id)}].", VALUE_INVALID)
    if "app_instance_id" in body:
        app_id = body["app_instance_id"]
        if not isinstance(app_id, str) or _HEX32_RE.fullmatch(app_id) is None:
            out.add("app_instance_id", "app_instance_id must be 32 hexadecimal digits.", VALUE_INVALID)
    if "user_id" in body:
        user_id = body["user_id"]
        if not isinstance(user_id, str):
            out.add("user_id", f"user_id must be a string, not a {_kind(user_id)}.", VALUE_INVALID)
        elif len(user_id) > GA4_MAX_USER_ID:
            out.add("user_id", f"user_id is longer than {GA4_MAX_USER_ID} characters.", VALUE_OUT_OF_BOUNDS)


def _ga4_user_properties(props: Any, out: _Messages) -> None:
    path = "user_properties"
    if not isinstance(props, dict):
        out.add(path, f"user_properties must be an object, not a {_kind(props)}.", VALUE_INVALID)
        return
    if len(props) > GA4_MAX_USER_PROPERTIES:
        out.add(
            path,
            f"{len(props)} user properties; at most {GA4_MAX_USER_PROPERTIES} are allowed.",
            EXCEEDED_MAX_ENTITIES,
        )
    for name, prop in props.items():
        if not _check_name(
            name,
            what="User property",
            path=path,
            max_len=GA4_MAX_USER_PROPERTY_NAME,
            reserved=GA4_RESERVED_USER_PROPERTIES,
            prefixes=GA4_RESERVED_USER_PROPERTY_PREFIXES,
            out=out,
        ):
            continue
        prop_path = _join(path, name)
        if not isinstance(prop, dict):
            out.add(prop_path, f"User property [{name}] must be an object with a value.", VALUE_INVALID)
            continue
        for key in prop:
            if key != "value":
                out.add(prop_path, f"User property [{name}] has unknown field [{_show(key)}].", VALUE_INVALID)
        if "value" not in prop:
            out.add(prop_path, f"User property [{name}] requires a value.", VALUE_REQUIRED)
        else:
            _ga4_scalar(name, prop["value"], _join(prop_path, "value"), GA4_MAX_USER_PROPERTY_VALUE, out)


def _ga4_consent(consent: Any, out: _Messages) -> None:
    if not isinstance(consent, dict):
        out.add("consent", f"consent must be an object, not a {_kind(consent)}.", VALUE_INVALID)
        return
    for key, value in consent.items():
        if key not in GA4_CONSENT_KEYS:
            out.add(
                _join("consent", key) if _is_name(key) else "consent",
                f"consent has unknown field [{_show(key)}]; only ad_user_data and ad_personalization are accepted.",
                VALUE_INVALID,
            )
        elif not _member(value, GA4_CONSENT_VALUES):
            out.add(_join("consent", key), f"consent.{key} must be GRANTED or DENIED.", VALUE_INVALID)


def _ga4_digests(values: Any, path: str, out: _Messages) -> None:
    if not isinstance(values, list):
        out.add(path, f"{path} must be an array of SHA-256 hex digests, not a {_kind(values)}.", VALUE_INVALID)
        return
    for index, value in enumerate(values):
        if not _is_hex64(value):
            out.add(f"{path}[{index}]", f"{path}[{index}] is not a lowercase SHA-256 hex digest.", VALUE_INVALID)


def _ga4_user_data(user_data: Any, out: _Messages) -> None:
    path = "user_data"
    if not isinstance(user_data, dict):
        out.add(path, f"user_data must be an object, not a {_kind(user_data)}.", VALUE_INVALID)
        return
    for key, value in user_data.items():
        if key in GA4_USER_DATA_LISTS:
            _ga4_digests(value, _join(path, key), out)
        elif key == "address":
            _ga4_addresses(value, _join(path, key), out)
        else:
            out.add(
                _join(path, key) if _is_name(key) else path,
                f"user_data has unknown field [{_show(key)}].",
                VALUE_INVALID,
            )


def _ga4_addresses(addresses: Any, path: str, out: _Messages) -> None:
    if not isinstance(addresses, list):
        out.add(path, f"address must be an array of objects, not a {_kind(addresses)}.", VALUE_INVALID)
        return
    for index, address in enumerate(addresses):
        entry = f"{path}[{index}]"
        if not isinstance(address, dict):
            out.add(entry, f"Address at index [{index}] must be an object, not a {_kind(address)}.", VALUE_INVALID)
            continue
        for key, value in address.items():
            if key in GA4_ADDRESS_HASHED:
                if not _is_hex64(value):
                    out.add(_join(entry, key), f"{key} is not a lowercase SHA-256 hex digest.", VALUE_INVALID)
            elif key in GA4_ADDRESS_PLAIN:
                if not isinstance(value, str):
                    out.add(_join(entry, key), f"{key} must be a string, not a {_kind(value)}.", VALUE_INVALID)
            else:
                out.add(
                    _join(entry, key) if _is_name(key) else entry,
                    f"Address at index [{index}] has unknown field [{_show(key)}].",
                    VALUE_INVALID,
                )


def _ga4_string_object(value: Any, path: str, known: frozenset[str], out: _Messages) -> None:
    if not isinstance(value, dict):
        out.add(path, f"{path} must be an object, not a {_kind(value)}.", VALUE_INVALID)
        return
    for key, item in value.items():
        if key not in known:
            out.add(
                _join(path, key) if _is_name(key) else path,
                f"{path} has unknown field [{_show(key)}].",
                VALUE_INVALID,
            )
        elif not isinstance(item, str):
            out.add(_join(path, key), f"{path}.{key} must be a string, not a {_kind(item)}.", VALUE_INVALID)


def _ga4_extras(body: dict[Any, Any], out: _Messages) -> None:
    if "ip_override" in body and not _is_ip(body["ip_override"]):
        out.add("ip_override", "ip_override must be an IPv4 or IPv6 address.", VALUE_INVALID)
    if "user_location" in body:
        _ga4_string_object(body["user_location"], "user_location", GA4_USER_LOCATION_KEYS, out)
    if "device" in body:
        _ga4_string_object(body["device"], "device", GA4_DEVICE_KEYS, out)
    if "validation_behavior" in body and not _member(body["validation_behavior"], GA4_VALIDATION_BEHAVIORS):
        out.add("validation_behavior", "validation_behavior must be RELAXED or ENFORCE_RECOMMENDATIONS.", VALUE_INVALID)
    if "non_personalized_ads" in body and not isinstance(body["non_personalized_ads"], bool):
        out.add("non_personalized_ads", "non_personalized_ads must be a boolean.", VALUE_INVALID)


def _ga4_events(events: Any, now_us: int, out: _Messages) -> None:
    if not isinstance(events, list):
        out.add("events", f"events must be an array, not a {_kind(events)}.", VALUE_INVALID)
        return
    if not events:
        out.add("events", "At least one event is required.", VALUE_REQUIRED)
    elif len(events) > GA4_MAX_EVENTS:
        out.add("events", f"{len(events)} events; at most {GA4_MAX_EVENTS} are allowed.", EXCEEDED_MAX_ENTITIES)
    for index, event in enumerate(events):
        _ga4_event(event, index, now_us, out)


def validate_ga4(body: Any, *, now: datetime | None = None, raw_size: int | None = None) -> list[dict[str, str]]:
    """GA4 ``/debug/mp/collect``-style ``validationMessages`` for a Measurement Protocol body; [] if valid.

    ``now`` (default: the current time; naive means UTC) anchors the 72-hour back-dating limit.
    ``raw_size`` is the request body's size in bytes when known; otherwise the size of ``body`` as
    compact UTF-8 JSON is used.
    """
    out = _Messages()
    now_us = _since_epoch(now) // timedelta(microseconds=1)
    if not isinstance(body, dict):
        out.add("", f"The request body must be a JSON object, not a {_kind(body)}.", VALUE_INVALID)
        return out.items
    for key in body:
        if key not in GA4_TOP_LEVEL:
            out.add(key if _is_name(key) else "", f"Unknown field [{_show(key)}].", VALUE_INVALID)
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
        out.add("events", "events is required.", VALUE_REQUIRED)
    else:
        _ga4_events(body["events"], now_us, out)
    size = raw_size if raw_size is not None else _json_size(body)
    if size is not None and size >= GA4_MAX_BODY_BYTES:
        out.add("", f"The request body is {size} bytes; it must be under {GA4_MAX_BODY_BYTES}.", VALUE_OUT_OF_BOUNDS)
    return out.items


# -- Meta --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Problem:
    title: str
    message: str
    subcode: int = META_SUBCODE_INVALID_PARAMETER


def _graph_error(problem: _Problem) -> dict[str, Any]:
    return {
        "error": {
            "message": "Invalid parameter",
            "type": "OAuthException",
            "code": 100,
            "error_subcode": problem.subcode,
            "is_transient": False,
            "error_user_title": problem.title,
            "error_user_msg": problem.message,
            "fbtrace_id": "A" + secrets.token_urlsafe(16)[:22],
        }
    }


def _meta_hashed(key: str, value: Any, path: str) -> Iterator[_Problem]:
    values = value if isinstance(value, list) else [value]
    for item in values:
        if not _is_hex64(item):
            yield _Problem(
                f"Invalid {key}",
                f"{path}: {key} must be a lowercase SHA-256 hex digest (64 characters) or a list of them; "
                "normalise and hash the value before sending it.",
            )
            return


def _meta_user_data(user_data: Any, path: str, website: bool) -> Iterator[_Problem]:
    if not isinstance(user_data, dict):
        yield _Problem("Missing user_data", f"{path}: user_data is required and must be an object.")
        return
    agent = user_data.get("client_user_agent")
    if website and (not isinstance(agent, str) or not agent):
        yield _Problem(
            "Missing client_user_agent",
            f"{path}.client_user_agent: a non-empty client_user_agent is required for website events.",
        )
    if "client_user_agent" in user_data and not isinstance(agent, str):
        yield _Problem("Invalid client_user_agent", f"{path}.client_user_agent: must be a string.")
    for key in META_HASHED:
        if key in user_data:
            yield from _meta_hashed(key, user_data[key], f"{path}.{key}")
    if "client_ip_address" in user_data and not _is_ip(user_data["client_ip_address"]):
        yield _Problem(
            "Invalid client_ip_address",
            f"{path}.client_ip_address: must be a valid IPv4 or IPv6 address.",
        )
    fbc = user_data.get("fbc")
    if "fbc" in user_data and not (isinstance(fbc, str) and _FBC_RE.fullmatch(fbc)):
        yield _Problem("Invalid fbc", f"{path}.fbc: must look like fb.1.<creation time>.<fbclid>.")
    fbp = user_data.get("fbp")
    if "fbp" in user_data and not (isinstance(fbp, str) and _FBP_RE.fullmatch(fbp)):
        yield _Problem("Invalid fbp", f"{path}.fbp: must look like fb.1.<creation time>.<random number>.")
    if not any(user_data.get(key) not in (None, "", [], {}) for key in META_CUSTOMER_INFO):
        yield _Problem(
            "Not enough customer information parameters",
            f"{path}: this event has no customer information parameters; add at least one "
            "(for example em, external_id, or client_ip_address with client_user_agent).",
            META_SUBCODE_NOT_ENOUGH_CUSTOMER_INFO,
        )


def _meta_processing_options(event: dict[Any, Any], path: str) -> Iterator[_Problem]:
    options = event.get("data_processing_options")
    if "data_processing_options" in event:
        if not isinstance(options, list) or not all(isinstance(option, str) for option in options):
            yield _Problem(
                "Invalid data_processing_options",
                f'{path}.data_processing_options: must be a list of strings, [] or ["LDU"].',
            )
            return
        if any(option != "LDU" for option in options):
            yield _Problem(
                "Invalid data_processing_options",
                f'{path}.data_processing_options: the only supported option is "LDU".',
            )
            return
    for key in ("data_processing_options_country", "data_processing_options_state"):
        if key in event and not _is_int(event[key]):
            yield _Problem(f"Invalid {key}", f"{path}.{key}: must be an integer (0 lets Meta geolocate).")


def _meta_custom_data(event: dict[Any, Any], path: str) -> Iterator[_Problem]:
    custom = event.get("custom_data")
    purchase = event.get("event_name") == "Purchase"
    if "custom_data" not in event:
        if purchase:
            yield _Problem(
                "Missing currency and value", f"{path}.custom_data: Purchase events require value and currency."
            )
        return
    cpath = f"{path}.custom_data"
    if not isinstance(custom, dict):
        yield _Problem("Invalid custom_data", f"{cpath}: must be an object.")
        return
    if "value" in custom and not _is_number(custom["value"]):
        yield _Problem("Invalid value", f"{cpath}.value: must be a number.")
    currency = custom.get("currency")
    if "currency" in custom and not (isinstance(currency, str) and _CURRENCY_RE.fullmatch(currency)):
        yield _Problem("Invalid currency", f"{cpath}.currency: must be a three-letter ISO 4217 code.")
    if purchase and ("value" not in custom or "currency" not in custom):
        yield _Problem("Missing currency and value", f"{cpath}: Purchase events require value and currency.")
    if "content_ids" in custom and not isinstance(custom["content_ids"], list):
        yield _Problem("Invalid content_ids", f"{cpath}.content_ids: must be a list.")
    contents = custom.get("contents")
    if "contents" in custom and not (isinstance(contents, list) and all(isinstance(c, dict) for c in contents)):
        yield _Problem("Invalid contents", f"{cpath}.contents: must be a list of objects.")
    if "num_items" in custom and not _is_int(custom["num_items"]):
        yield _Problem("Invalid num_items", f"{cpath}.num_items: must be an integer.")


def _meta_event(event: Any, path: str, now_s: int) -> Iterator[_Problem]:
    if not isinstance(event, dict):
        yield _Problem("Invalid event", f"{path}: each event must be an object.")
        return
    name = event.get("event_name")
    if not isinstance(name, str) or not name.strip():
        yield _Problem("Missing event_name", f"{path}.event_name: a non-empty event_name is required.")
    elif len(name) > META_MAX_EVENT_NAME:
        yield _Problem("Invalid event_name", f"{path}.event_name: must be at most {META_MAX_EVENT_NAME} characters.")
    event_time = event.get("event_time")
    if isinstance(event_time, bool) or not isinstance(event_time, int):
        yield _Problem("Invalid event_time", f"{path}.event_time: an integer Unix timestamp in seconds is required.")
    elif now_s - event_time > META_MAX_AGE // timedelta(seconds=1):
        yield _Problem(
            "Event Timestamp Too Old",
            f"{path}.event_time: the timestamp for this event is too far in the past. Events need to be sent "
            "within 7 days of when they occurred.",
            META_SUBCODE_TIMESTAMP_TOO_OLD,
        )
    elif event_time - now_s > META_MAX_AHEAD // timedelta(seconds=1):
        yield _Problem("Event Timestamp In The Future", f"{path}.event_time: the timestamp is in the future.")
    source = event.get("action_source")
    if "action_source" not in event:
        yield _Problem("Missing action_source", f"{path}.action_source: action_source is required.")
    elif not _member(source, META_ACTION_SOURCES):
        yield _Problem(
            "Invalid action_source",
            f"{path}.action_source: must be one of {', '.join(sorted(META_ACTION_SOURCES))}.",
        )
    website = source == "website"
    url = event.get("event_source_url")
    if website and (not isinstance(url, str) or not url.strip()):
        yield _Problem("Missing event_source_url", f"{path}.event_source_url: website events require event_source_url.")
    elif "event_source_url" in event and not isinstance(url, str):
        yield _Problem("Invalid event_source_url", f"{path}.event_source_url: must be a string.")
    yield from _meta_user_data(event.get("user_data"), f"{path}.user_data", website)
    yield from _meta_processing_options(event, path)
    yield from _meta_custom_data(event, path)
    if "event_id" in event:
        event_id = event["event_id"]
        if not isinstance(event_id, str) or not event_id:
            yield _Problem("Invalid event_id", f"{path}.event_id: must be a non-empty string.")
        elif len(event_id) > META_MAX_EVENT_ID:
            yield _Problem("Invalid event_id", f"{path}.event_id: must be at most {META_MAX_EVENT_ID} characters.")
    if "opt_out" in event and not isinstance(event["opt_out"], bool):
        yield _Problem("Invalid opt_out", f"{path}.opt_out: must be a boolean.")


def _meta_request(body: Any, now_s: int) -> Iterator[_Problem]:
    if not isinstance(body, dict):
        yield _Problem("Invalid request body", "The request body must be an object with a data parameter.")
        return
    if "data" not in body:
        yield _Problem("Missing data", "data: the data parameter (a list of events) is required.")
        return
    data = body["data"]
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except (ValueError, RecursionError):
            yield _Problem("Invalid data", "data: the data parameter is not valid JSON.")
            return
    if not isinstance(data, list):
        yield _Problem("Invalid data", "data: the data parameter must be a list of events.")
        return
    if not data:
        yield _Problem("Invalid data", "data: at least one event is required.")
        return
    if len(data) > META_MAX_EVENTS:
        yield _Problem("Too many events", f"data: at most {META_MAX_EVENTS} events can be sent in one request.")
        return
    if "test_event_code" in body and not isinstance(body["test_event_code"], str):
        yield _Problem("Invalid test_event_code", "test_event_code: must be a string.")
    for index, event in enumerate(data):
        yield from _meta_event(event, f"data[{index}]", now_s)


def validate_meta(body: Any, *, now: datetime | None = None) -> dict[str, Any] | None:
    """None when Meta would accept this Conversions API request, else Meta's error object for its first problem.

    ``body`` is the decoded request: ``{"data": [...]}`` from JSON, or a form whose ``data`` is a
    JSON string. ``now`` (default: the current time; naive means UTC) anchors the event_time window.
    """
    problem = next(_meta_request(body, _since_epoch(now) // timedelta(seconds=1)), None)
    return None if problem is None else _graph_error(problem)
