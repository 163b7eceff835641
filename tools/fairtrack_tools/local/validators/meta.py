"""Meta Conversions API: the Graph API error a request would get, or none.

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

import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Final

from fairtrack_tools.local.validators.common import (
    CURRENCY_RE,
    FBC_RE,
    FBP_RE,
    is_hex64,
    is_int,
    is_ip,
    is_member,
    is_number,
    since_epoch,
)

# -- Meta --------------------------------------------------------------------------------------------

META_MAX_EVENTS: Final = 1000
META_MAX_AGE: Final = timedelta(days=7)
META_MAX_AHEAD: Final = timedelta(minutes=10)
META_MAX_EVENT_NAME: Final = 50
META_MAX_EVENT_ID: Final = 256
META_SUBCODE_TIMESTAMP_TOO_OLD: Final = 2804003  # Meta's own
META_SUBCODE_NOT_ENOUGH_CUSTOMER_INFO: Final = 2804050  # Meta's own
META_SUBCODE_INVALID_PARAMETER: Final = 2804000  # this stand-in's, for every other problem

# Meta's action_source values, as data written from its documentation (meta_action_sources.json)
META_ACTION_SOURCES_PATH: Final = Path(__file__).with_name("meta_action_sources.json")
META_ACTION_SOURCES: Final = frozenset(json.loads(META_ACTION_SOURCES_PATH.read_text("utf-8"))["action_sources"])
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
        if not is_hex64(item):
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
    if "client_ip_address" in user_data and not is_ip(user_data["client_ip_address"]):
        yield _Problem(
            "Invalid client_ip_address",
            f"{path}.client_ip_address: must be a valid IPv4 or IPv6 address.",
        )
    fbc = user_data.get("fbc")
    if "fbc" in user_data and not (isinstance(fbc, str) and FBC_RE.fullmatch(fbc)):
        yield _Problem("Invalid fbc", f"{path}.fbc: must look like fb.1.<creation time>.<fbclid>.")
    fbp = user_data.get("fbp")
    if "fbp" in user_data and not (isinstance(fbp, str) and FBP_RE.fullmatch(fbp)):
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
        if key in event and not is_int(event[key]):
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
    if "value" in custom and not is_number(custom["value"]):
        yield _Problem("Invalid value", f"{cpath}.value: must be a number.")
    currency = custom.get("currency")
    if "currency" in custom and not (isinstance(currency, str) and CURRENCY_RE.fullmatch(currency)):
        yield _Problem("Invalid currency", f"{cpath}.currency: must be a three-letter ISO 4217 code.")
    if purchase and ("value" not in custom or "currency" not in custom):
        yield _Problem("Missing currency and value", f"{cpath}: Purchase events require value and currency.")
    if "content_ids" in custom and not isinstance(custom["content_ids"], list):
        yield _Problem("Invalid content_ids", f"{cpath}.content_ids: must be a list.")
    contents = custom.get("contents")
    if "contents" in custom and not (isinstance(contents, list) and all(isinstance(c, dict) for c in contents)):
        yield _Problem("Invalid contents", f"{cpath}.contents: must be a list of objects.")
    if "num_items" in custom and not is_int(custom["num_items"]):
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
    elif not is_member(source, META_ACTION_SOURCES):
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
    problem = next(_meta_request(body, since_epoch(now) // timedelta(seconds=1)), None)
    return None if problem is None else _graph_error(problem)
