"""Consent keys a Segment / RudderStack request body gives twice with different values.

The JSON parser lets the last of two equal keys win; for consent that would let a client send a
denial and a grant and have the grant count. These functions find such repeats in the raw body, per
event, so that the consent stage denies every purpose the repeated signal could grant.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from fairtrack.protocols.segment import _CONSENT_STRINGS

__all__ = ["NO_CONFLICTS", "ConsentConflicts", "consent_conflicts", "duplicate_fields"]

# -- consent keys given twice ----------------------------------------------------------------------
#
# The body is parsed by pydantic-core, where a key given twice takes the last value: a client could
# send ``{"analytics": false, "analytics": true}`` and have the second win. Only consent objects
# matter here, and the check must cost next to nothing on the common body:
# - no ``consent`` in the bytes (and no letter written as a ``\u00XX`` escape, which JSON encoders
#   never do, but a client could, to spell the key) -> no conflict, after two C-level scans;
# - otherwise the consent keys found in the text must be as many as the parsed body holds where
#   they are read (each event's ``context`` and the batch's), and each consent object, parsed on
#   its own (identical objects once), must repeat no key with a different value -> no conflict;
# - anything else (a repeat, a consent key elsewhere, an escaped letter) parses the whole body once
#   more with the standard library, keeping every repeated value, to tell which events it concerns.

_CONSENT_KEYS = ("consent", "consentManagement")
_CONSENT_VALUE = re.compile(rb'(?:Management)?"[ \t\r\n]*:[ \t\r\n]*')  # after '"consent'
_ESCAPED_LETTER = re.compile(rb"\\u00[4-7][0-9a-fA-F]")


@dataclass(frozen=True)
class ConsentConflicts:
    """The consent signals a request body gave twice with different values, per event:
    :meth:`of` ``None`` for the one-event routes, the batch index for ``/v1/batch``."""

    single: tuple[str, ...] = ()
    batch: dict[int, tuple[str, ...]] = field(default_factory=dict)

    def of(self, index: int | None = None) -> tuple[str, ...]:
        return self.single if index is None else self.batch.get(index, ())


NO_CONFLICTS = ConsentConflicts()


def consent_conflicts(raw: bytes, body: Any) -> ConsentConflicts:
    """The consent conflicts of a request body: ``raw`` its JSON bytes (decoded), ``body`` what
    :func:`fairtrack.ingest.parse_json` made of them. Names are ``ConsentSignals`` fields, or
    ``consent`` for a whole ``context.consent`` given twice with different content."""
    escaped = b"\\" in raw and _ESCAPED_LETTER.search(raw) is not None  # memchr first: most bodies hold no "\\"
    if not escaped:
        parts = raw.split(b'"consent')  # one C-level scan; most bodies: one part, nothing to do
        if len(parts) == 1:
            return NO_CONFLICTS
        text = raw.decode("utf-8", "replace")
        if _consent_objects_clean(text if len(text) == len(raw) else None, parts, body):
            return NO_CONFLICTS
    return _attribute(raw.decode("utf-8", "replace"), body)


def _read_contexts(body: Any) -> list[Any]:
    """The contexts ingest reads consent from: the body's own (an event's, or a batch's shared
    one) and, in a batch, each event's."""
    if not isinstance(body, dict):
        return []
    found = [body.get("context")]
    batch = body.get("batch")
    if isinstance(batch, list):
        found += [event.get("context") for event in batch if isinstance(event, dict)]
    return found


class _Repeated(Exception):
    pass


def _refuse_repeats(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) < len(pairs):
        first: dict[str, Any] = {}
        for key, value in pairs:
            if key in first and not _same(first[key], value):
                raise _Repeated
            first.setdefault(key, value)
    return out


_STRICT = json.JSONDecoder(object_pairs_hook=_refuse_repeats)


def _consent_objects_clean(text: str | None, parts: list[bytes], body: Any) -> bool:
    """Whether every ``"consent`` key in the body (``parts``: its bytes split there; ``text``: the
    body decoded, when it is ASCII and so shares their offsets) is one the parsed body holds where it
    is read, and no consent object repeats a key with a different value."""
    if text is None:  # not ASCII: offsets differ; rare enough to take the second parse
        return False
    expected = sum(
        1 for context in _read_contexts(body) if isinstance(context, dict) for key in _CONSENT_KEYS if key in context
    )
    seen: tuple[bytes, ...] = ()  # consent objects already checked (a batch's are nearly always the same)
    count = 0
    offset = len(parts[0]) + 8
    for part in parts[1:]:
        at, offset = offset, offset + len(part) + 8
        match = _CONSENT_VALUE.match(part)
        if match is None:  # "consentGiven", a value that starts with consent...: not the key
            continue
        count += 1
        if count > expected:
            return False
        start = match.end()
        if part.startswith(b"{", start) and not (seen and part.startswith(seen, start)):
            try:
                _, end = _STRICT.raw_decode(text, at + start)
            except (_Repeated, ValueError):
                return False
            seen += (part[start : end - at],)
    return count == expected


class _Versions(dict[str, Any]):
    """A JSON object that gave some keys more than once with different values: ``versions`` holds
    every value of each such key, in order (the object itself holds the last, as the parser did)."""

    versions: dict[str, list[Any]]


def _keep_repeats(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) == len(pairs):
        return out
    values: dict[str, list[Any]] = {}
    for key, value in pairs:
        values.setdefault(key, []).append(value)
    versions = {k: v for k, v in values.items() if any(not _same(v[0], other) for other in v[1:])}
    if not versions:
        return out
    marked = _Versions(out)
    marked.versions = versions
    return marked


def _same(a: Any, b: Any) -> bool:
    """JSON equality that tells ``true`` from ``1`` and ``1`` from ``1.0``."""
    if type(a) is not type(b) and not (isinstance(a, dict) and isinstance(b, dict)):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)  # NaN differs from NaN: never a grant, so a repeat of it fails closed


_ABSENT = object()


def _repeats(value: Any) -> dict[str, list[Any]]:
    return value.versions if isinstance(value, _Versions) else {}


def _any_repeat(value: Any) -> bool:
    """Whether ``value`` or anything in it gave a key twice with different values."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, _Versions):
            return True
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _context_conflicts(holder: Any) -> dict[str, set[str]]:
    """Per consent key of the context ``holder`` (an event, or a batch body) holds: the signals in
    conflict. A key is listed when the context speaks of it at all (so an event's own context can
    replace the batch's)."""
    out: dict[str, set[str]] = {}
    if not isinstance(holder, dict):
        return out
    context = holder.get("context")
    versions = _repeats(holder).get("context", [])  # "context" itself given twice, differently
    for key in _CONSENT_KEYS:
        said = [version.get(key, _ABSENT) if isinstance(version, dict) else _ABSENT for version in versions]
        if any(not _same(said[0], other) for other in said[1:]):
            out.setdefault(key, set()).add(key)
    if not isinstance(context, dict):
        return out
    repeated = _repeats(context)
    for key in _CONSENT_KEYS:
        if key in context or key in repeated:
            out.setdefault(key, set())
        if key in repeated:
            out[key].add(key)
    consent = context.get("consent")
    if isinstance(consent, dict):
        inner = _repeats(consent)
        if "categoryPreferences" in inner or _any_repeat(consent.get("categoryPreferences")):
            out["consent"].add("categoryPreferences")
        out["consent"].update(key for key in _CONSENT_STRINGS if key in inner)
    if _any_repeat(context.get("consentManagement")):
        out["consentManagement"].add("consentManagement")
    return out


def _attribute(text: str, body: Any) -> ConsentConflicts:
    """Which events the body's repeated consent keys concern (the slow path: a second parse)."""
    try:
        tree = json.loads(text, object_pairs_hook=_keep_repeats)
    except (ValueError, RecursionError):  # pydantic-core read it: fail closed on what json cannot
        tree = None
    if tree is None:
        everything = ("consent", "consentManagement")
        events = body.get("batch") if isinstance(body, dict) else None
        count = len(events) if isinstance(events, list) else 0
        return ConsentConflicts(everything, dict.fromkeys(range(count), everything))
    shared = _context_conflicts(tree)
    single = tuple(sorted(set().union(*shared.values()))) if shared else ()
    batch: dict[int, tuple[str, ...]] = {}
    events = tree.get("batch") if isinstance(tree, dict) else None
    if isinstance(events, list):
        for index, event in enumerate(events):
            own = _context_conflicts(event)
            names: set[str] = set()
            for key in _CONSENT_KEYS:
                names |= own[key] if key in own else shared.get(key, set())
            if names:
                batch[index] = tuple(sorted(names))
    return ConsentConflicts(single, batch)


def duplicate_fields(text: str, fields: tuple[str, ...]) -> list[str]:
    """For a consent receipt: the paths (among ``fields``, the request's own field names, and the
    consent objects inside them) where a JSON object gave a key twice with different values. Keys a
    client chose are never named: a repeat inside ``categoryPreferences`` is reported on it."""
    try:
        tree = json.loads(text, object_pairs_hook=_keep_repeats)
    except (ValueError, RecursionError):
        return []
    if not isinstance(tree, dict):
        return []
    top = _repeats(tree)
    paths = [name for name in fields if name in top]
    consent = tree.get("consent")
    if "consent" not in top and isinstance(consent, dict):
        inner = _repeats(consent)
        if "categoryPreferences" in inner or _any_repeat(consent.get("categoryPreferences")):
            paths.append("consent.categoryPreferences")
    if "consentManagement" not in top and _any_repeat(tree.get("consentManagement")):
        paths.append("consentManagement")
    return paths
