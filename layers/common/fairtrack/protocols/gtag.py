"""GA4 gtag.js hits (``GET|POST /g/collect``) to canonical hits.

The wire format is not officially documented; the community-known parameter set is in
``shared/reference/protocols.md``. One request carries shared parameters in its query string and,
in a batched ``POST``, one event per body line (URL-encoded ``k=v&...``); a line's parameters win
over the query's. A ``GET`` (or a ``POST`` with an empty body) is one event.

Decisions written down here:
- parameters fairtrack does not know are ignored, as unknown Segment keys are: nothing the
  catalogue does not know can leave the gateway anyway;
- ``_uip`` (an IP override a client could set) is never trusted: the address comes from the
  connection, like ``context.ip`` on the Segment routes;
- the consent parameters (``gcs gcd npa dma dma_cps gdpr gdpr_consent us_privacy``) are kept raw
  in the hit's consent signals for the consent stage, never in the forwarded payload. One sent twice
  with different values (twice in the query or in a body line, or in both the query and a line) is
  a conflict (``ConsentSignals.conflicts``): the consent stage denies what it could grant, rather
  than letting the last one win;
- ``page_view`` becomes a ``page`` hit, any other event a ``track`` hit named by ``en``;
- ``epn.*``/``upn.*`` must be numbers: a value that is not rejects that event with its path;
- item parameters ``prN`` (``~``-joined two-letter fields, ``kN``/``vN`` custom pairs) become
  ``properties.items`` with GA4 item names; ``cu`` becomes ``properties.currency``;
- ``messageId`` is a UUID derived from the measurement id, client id ``cid``, page-load id
  ``_p``, hit sequence ``_s``, line and event name, so a retried request yields the same ids;
  without ``_p`` it is random.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from pydantic import ValidationError

from fairtrack.errors import (
    EVENT_TOO_LARGE,
    MAX_BATCH_EVENTS,
    MAX_EVENT_BYTES,
    TOO_MANY_EVENTS,
    FieldError,
    field_errors,
)
from fairtrack.hit import ConsentSignals, Context, Hit, Page

__all__ = ["Collect", "hits", "message_id", "split_request", "to_hit"]

MAX_PARAMS = 500
MAX_VALUE_CHARS = 8192
_NAMESPACE = uuid.UUID("7b0f7e2e-4a36-4f0e-9d7a-6a1f3b3c9e21")
_EVENT_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,99}$")

_CAMPAIGN = {"cn": "name", "cs": "source", "cm": "medium", "ck": "term", "cc": "content", "ci": "id"}
_CONSENT = {
    "gcs": "gcs",
    "gcd": "gcd",
    "npa": "npa",
    "dma": "dma",
    "dma_cps": "dmaCps",
    "gdpr": "gdpr",
    "gdpr_consent": "tcString",
    "us_privacy": "usPrivacy",
}
_ITEM_FIELDS = {
    "id": "item_id",
    "nm": "item_name",
    "af": "affiliation",
    "cp": "coupon",
    "ds": "discount",
    "lp": "index",
    "br": "item_brand",
    "ca": "item_category",
    "c2": "item_category2",
    "c3": "item_category3",
    "c4": "item_category4",
    "c5": "item_category5",
    "li": "item_list_id",
    "ln": "item_list_name",
    "va": "item_variant",
    "lo": "location_id",
    "pr": "price",
    "qt": "quantity",
}
_ITEM_NUMBERS = {"discount", "index", "price", "quantity"}
_ITEM = re.compile(r"^pr([1-9][0-9]{0,2})$")


@dataclass(frozen=True)
class Collect:
    """A ``/g/collect`` request split into events: ``(index, params)`` pairs, each event's
    parameters already merged with the request's."""

    measurement_id: str | None
    events: list[tuple[int, dict[str, str]]]
    errors: list[tuple[int, list[FieldError]]]
    # per event index: the consent parameters it carried twice with different values (hit names)
    conflicts: dict[int, tuple[str, ...]] = dataclass_field(default_factory=dict)


@dataclass(frozen=True)
class _Params:
    values: dict[str, str]
    conflicts: frozenset[str]  # consent parameters (wire names) given twice with different values


def _pairs(text: str, path: str) -> _Params | FieldError:
    try:
        pairs = parse_qsl(
            text, keep_blank_values=True, strict_parsing=False, errors="strict", max_num_fields=MAX_PARAMS
        )
    except UnicodeDecodeError:
        return FieldError(path, "not valid percent-encoded UTF-8")
    except ValueError:
        return FieldError(path, f"more than {MAX_PARAMS} parameters")
    values = dict(pairs)
    conflicts: frozenset[str] = frozenset()
    if len(values) < len(pairs):  # a parameter repeated: the last one wins, except for consent
        seen: dict[str, str] = {}
        for key, value in pairs:
            if key in _CONSENT and seen.setdefault(key, value) != value:
                conflicts |= {key}
    return _Params(values, conflicts)


def _merge(shared: _Params, own: _Params) -> tuple[dict[str, str], tuple[str, ...]]:
    """A line's parameters over the query's, and the consent parameters in conflict: within either,
    or given in both with different values."""
    merged = {**shared.values, **own.values}
    if not shared.conflicts and not own.conflicts and own.values.keys().isdisjoint(_CONSENT):
        return merged, ()  # the common line: its consent, if any, is the query's
    conflicts = shared.conflicts | own.conflicts
    for key in _CONSENT:
        if key in own.values and key in shared.values and own.values[key] != shared.values[key]:
            conflicts |= {key}
    return merged, tuple(sorted(_CONSENT[key] for key in conflicts))


def split_request(raw_query: str, body: bytes) -> Collect:
    """The request's events. Request-level problems raise nothing: they come back as errors at
    index -1 (query) so the caller decides the status."""
    parsed = _pairs(raw_query, "query")
    if isinstance(parsed, FieldError):
        return Collect(None, [], [(-1, [parsed])])
    shared = parsed.values
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return Collect(shared.get("tid"), [], [(-1, [FieldError("body", "not valid UTF-8")])])
    lines = [line for line in text.replace("\r\n", "\n").split("\n") if line.strip()]
    if len(lines) > MAX_BATCH_EVENTS:
        return Collect(shared.get("tid"), [], [(-1, [FieldError("body", TOO_MANY_EVENTS)])])
    if not lines:
        alone = tuple(sorted(_CONSENT[key] for key in parsed.conflicts))
        return Collect(shared.get("tid"), [(0, shared)], [], {0: alone} if alone else {})
    events: list[tuple[int, dict[str, str]]] = []
    errors: list[tuple[int, list[FieldError]]] = []
    conflicts: dict[int, tuple[str, ...]] = {}
    for index, line in enumerate(lines):
        path = f"events[{index}]"
        if len(line.encode()) > MAX_EVENT_BYTES:
            errors.append((index, [FieldError(path, EVENT_TOO_LARGE)]))
            continue
        own = _pairs(line.strip(), path)
        if isinstance(own, FieldError):
            errors.append((index, [own]))
            continue
        params, conflicting = _merge(parsed, own)
        events.append((index, params))
        if conflicting:
            conflicts[index] = conflicting
    tid = shared.get("tid") or next((p.get("tid") for _, p in events if p.get("tid")), None)
    return Collect(tid, events, errors, conflicts)


def _number(value: str) -> int | float | None:
    try:
        number = float(value)
    except ValueError:
        return None
    if not math.isfinite(number):
        return None
    return int(number) if number.is_integer() and "." not in value and "e" not in value.lower() else number


def _int(value: str | None) -> int | None:
    if value is None or not value.isdigit() or len(value) > 15:
        return None
    return int(value)


def _flag(value: str | None) -> bool | None:
    return None if value is None else value == "1"


def _items(params: dict[str, str]) -> list[dict[str, Any]]:
    found: list[tuple[int, dict[str, Any]]] = []
    for key, value in params.items():
        match = _ITEM.match(key)
        if not match or not value:
            continue
        item: dict[str, Any] = {}
        custom: dict[str, str] = {}
        for field in value.split("~"):
            code, rest = field[:2], field[2:]
            if code in _ITEM_FIELDS:
                name = _ITEM_FIELDS[code]
                number = _number(rest) if name in _ITEM_NUMBERS else None
                item[name] = number if number is not None else rest
            elif code[:1] in ("k", "v") and code[1:].isdigit():
                custom[code] = rest
        for k, name in custom.items():
            if k.startswith("k") and name and ("v" + k[1:]) in custom:
                item.setdefault(name, custom["v" + k[1:]])
        found.append((int(match.group(1)), item))
    return [item for _, item in sorted(found, key=lambda pair: pair[0])]


def _user_agent_data(params: dict[str, str]) -> dict[str, Any] | None:
    """Client hints (``uaa uab uafvl uamb uam uap uapv uaw``) in the User-Agent Client Hints shape."""
    out: dict[str, Any] = {}
    if "uafvl" in params:
        brands = []
        for entry in params["uafvl"].split("|"):
            brand, _, version = entry.partition(";")
            if brand:
                brands.append({"brand": unquote(brand), "version": version})
        out["fullVersionList"] = brands
    for key, name in (("uaa", "architecture"), ("uab", "bitness"), ("uam", "model"), ("uap", "platform")):
        if key in params:
            out[name] = params[key]
    if "uapv" in params:
        out["platformVersion"] = params["uapv"]
    if "uamb" in params:
        out["mobile"] = params["uamb"] == "1"
    if "uaw" in params:
        out["wow64"] = params["uaw"] == "1"
    return out or None


def _typed_params(params: dict[str, str], path: str) -> tuple[dict[str, Any], dict[str, Any], list[FieldError]]:
    """``ep.*``/``epn.*`` to properties, ``up.*``/``upn.*`` to user traits."""
    properties: dict[str, Any] = {}
    traits: dict[str, Any] = {}
    errors: list[FieldError] = []
    for key, value in params.items():
        prefix, dot, name = key.partition(".")
        if not dot or not name:
            continue
        if prefix in ("ep", "up"):
            (properties if prefix == "ep" else traits)[name] = value
        elif prefix in ("epn", "upn"):
            number = _number(value)
            if number is None:
                # the path names the parameter's prefix only: a parameter name is client text
                errors.append(FieldError(f"{path}.{prefix}", "must be a finite number"))
            else:
                (properties if prefix == "epn" else traits)[name] = number
    return properties, traits, errors


def _page(params: dict[str, str]) -> Page | None:
    url = params.get("dl")
    if url is None and "dr" not in params and "dt" not in params:
        return None
    path = search = None
    if url:
        try:
            parts = urlsplit(url)
        except ValueError:  # "http://[" and friends: not a URL anyone can vouch for
            url = None
        else:
            path = parts.path or "/"
            search = f"?{parts.query}" if parts.query else None
    page: Page = {"url": url or None, "path": path, "search": search, "referrer": params.get("dr") or None}
    page["title"] = params.get("dt")
    return {k: v for k, v in page.items() if v is not None}  # type: ignore[return-value]


def _screen(value: str | None) -> dict[str, int] | None:
    if not value:
        return None
    width, sep, height = value.partition("x")
    if not sep or not width.isdigit() or not height.isdigit() or len(width) > 6 or len(height) > 6:
        return None
    return {"width": int(width), "height": int(height)}


def message_id(params: dict[str, str], index: int, name: str) -> str:
    """The id the gateway gives a gtag hit: the same for a resent hit, distinct for every other."""
    page_load = params.get("_p")
    if not page_load:
        return str(uuid.uuid4())
    # the client id too: ``_p`` is drawn from 2^31, so two visitors' page loads share one now and
    # then, and their hits would be one event to every destination
    key = "|".join((params.get("tid", ""), params.get("cid", ""), page_load, params.get("_s", ""), str(index), name))
    return str(uuid.uuid5(_NAMESPACE, key))


def to_hit(
    params: dict[str, str],
    index: int,
    received_at: datetime,
    user_agent: str | None,
    ip: str | None = None,
    *,
    conflicts: tuple[str, ...] = (),
) -> Hit | list[FieldError]:
    """One gtag event's parameters to a canonical hit, or its field errors. ``ip`` is the gateway's
    truncated address for ``context.ip`` (a client's ``_uip`` never is); ``conflicts``: the consent
    signals (hit names) the request gave this event twice with different values."""
    path = f"events[{index}]"
    errors: list[FieldError] = []
    if params.get("v", "2") != "2":
        errors.append(FieldError(f"{path}.v", "only GA4 hits (v=2) are accepted"))
    name = params.get("en", "")
    if not name:
        errors.append(FieldError(f"{path}.en", "an event name is required"))
    elif not _EVENT_NAME.match(name):
        errors.append(FieldError(f"{path}.en", "must start with a letter and hold only letters, digits and _"))
    if any(len(value) > MAX_VALUE_CHARS for value in params.values()):
        errors.append(FieldError(path, f"a parameter value is longer than {MAX_VALUE_CHARS} characters"))
    properties, traits, typed_errors = _typed_params(params, path)
    errors += typed_errors
    if errors:
        return errors
    items = _items(params)
    if items:
        properties["items"] = items
    if params.get("cu"):
        properties["currency"] = params["cu"]
    campaign = {name: params[key] for key, name in _CAMPAIGN.items() if params.get(key)}
    session = {
        "id": params.get("sid") or None,
        "number": _int(params.get("sct")),
        "engaged": _flag(params.get("seg")),
        "engagementTimeMs": _int(params.get("_et")),
        "firstVisit": _flag(params.get("_fv")),
        "start": _flag(params.get("_ss")),
    }
    consent: dict[str, Any] = {name: params[key] for key, name in _CONSENT.items() if params.get(key)}
    if conflicts:
        consent["conflicts"] = conflicts
    parts: dict[str, Any] = {
        "page": _page(params),
        "campaign": campaign or None,
        "library": {"name": "gtag", "version": params.get("v", "2")},
        "session": {k: v for k, v in session.items() if v is not None} or None,
        "userAgent": user_agent or None,
        "userAgentData": _user_agent_data(params),
        "locale": params.get("ul") or None,
        "screen": _screen(params.get("sr")),
        "traits": traits or None,
        "ip": ip,
    }
    # validated (types, lengths) as part of the Hit below
    context = Context(**{k: v for k, v in parts.items() if v is not None})  # type: ignore[typeddict-item]
    try:
        return Hit(
            type="page" if name == "page_view" else "track",
            event=None if name == "page_view" else name,
            messageId=message_id(params, index, name),
            timestamp=received_at,
            receivedAt=received_at,
            anonymousId=params.get("cid") or None,
            userId=params.get("uid") or None,
            context=context,
            properties=properties,
            consent=ConsentSignals(**consent),
        )
    except ValidationError as exc:
        return field_errors(exc, path, model=Hit)


def hits(
    collect: Collect, received_at: datetime, user_agent: str | None, ip: str | None = None
) -> Iterator[tuple[int, Hit | list[FieldError]]]:
    for index, params in collect.events:
        if collect.measurement_id and params.get("tid", collect.measurement_id) != collect.measurement_id:
            yield index, [FieldError(f"events[{index}].tid", "must match the request's measurement id")]
            continue
        yield index, to_hit(params, index, received_at, user_agent, ip, conflicts=collect.conflicts.get(index, ()))
