"""Segment / RudderStack tracking API: request bodies to canonical hits.

Decisions written down here:
- unknown top-level keys (``integrations``, ``_metadata``, ``channel``...) are accepted and not
  carried further: nothing the catalogue does not know can leave the gateway anyway;
- ``userId``/``anonymousId`` may be strings or numbers (SDKs send both); JSON ``null`` is absent;
- ``context.ip`` sent by a client is ignored (mass assignment): the address comes from the
  connection (or a trusted proxy) and is truncated before anything else sees it;
- known context fields are typed (:class:`fairtrack.hit.Context`): a ``context.page`` that is not an
  object, or a title longer than 8 KB, rejects the event with its field path;
- ``context.consent`` (Segment) and ``context.consentManagement`` (RudderStack) leave the context and
  become the hit's raw :class:`~fairtrack.hit.ConsentSignals`. Besides Segment's
  ``categoryPreferences``, ``context.consent`` may carry the strings gtag sends (``gcs``, ``gcd``,
  ``npa``, ``gdpr``, ``tcString``): fairtrack.js passes Google Consent Mode and TCF that way. A value
  that is not a string of at most 16 KB is no signal (consent fails closed), never an error. A
  JSON key given twice with different values inside ``context.consent``, its
  ``categoryPreferences`` or ``context.consentManagement`` (or ``consent``/``consentManagement``/
  ``context`` themselves given twice), which the JSON parser would settle by letting the last one
  win, is a conflict instead (:func:`consent_conflicts`, ``ConsentSignals.conflicts``): the consent
  stage denies every purpose that signal could grant;
  user-provided data in the Segment spec traits (``email``, ``phone``, ``firstName``,
  ``address.city``...) is copied to ``userData``;
- limits follow the original service: 32 KB per event, nesting at most 8 levels, 500 KB per request.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
)
from pydantic_core import PydanticSerializationError, to_json

from fairtrack.errors import (
    EVENT_TOO_LARGE,
    MAX_BATCH_EVENTS,
    MAX_EVENT_BYTES,
    TOO_MANY_EVENTS,
    FieldError,
    field_errors,
)
from fairtrack.hit import ConsentSignals, Context, EventType, Hit, UserData

# Structural bounds, against abuse only: the byte limits (32 KB per event, 500 KB per request) size
# events. Depth stops a small body from nesting thousands of levels (``[[[...]]]``: 2 bytes a level)
# that every recursive walk after ingest would follow; the count stops a 32 KB event from holding
# 16,000 values (``[0,0,...]``) for the policy, anonymisation and PII scan to visit one by one.
# 5,000 admits a 200-product order (``Order Completed``: 200 products of the Segment spec's 12
# fields, item custom parameters besides) and GA4's 200 items per event.
MAX_DEPTH = 8
MAX_KEYS = 5000


def _absent(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)


def _utc_in_range(value: datetime) -> datetime:
    """A time without an offset is UTC (as Segment reads it); the range keeps clock correction
    (``receivedAt - (sentAt - originalTimestamp)``) inside what a datetime can hold."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    if not EARLIEST <= value <= LATEST:
        raise ValueError("must be between 1970 and 2200")
    return value


# Ids may be strings or numbers (SDKs send both; the model takes numbers as text); "" is absent.
Id = Annotated[str, Field(min_length=1, max_length=200)] | None
# The range is checked in pydantic-core (which compares a time without an offset as UTC); the
# missing offset is added where the time is used (``corrected_timestamp``): a Python validator
# per timestamp cost about 0.7 us each, for up to three timestamps per event.
Timestamp = Annotated[datetime, Field(ge=EARLIEST, le=LATEST)] | None
Name = Annotated[str, Field(min_length=1, max_length=200)] | None
MessageId = Annotated[str, Field(min_length=1, max_length=100)] | None


def _shape_problem(value: dict[str, Any]) -> str | None:
    """Whether a JSON object nests too deep or holds too many keys/items: values may sit at most
    ``MAX_DEPTH`` levels below it, and it may hold ``MAX_KEYS`` keys and items in all. Iterative,
    and only containers are visited: this runs for every event."""
    count = 0
    stack: list[tuple[dict[str, Any] | list[Any], int]] = [(value, 0)]
    while stack:
        container, depth = stack.pop()
        if not container:
            continue
        if depth >= MAX_DEPTH:
            return f"nested deeper than {MAX_DEPTH} levels"
        count += len(container)
        if count > MAX_KEYS:
            return f"more than {MAX_KEYS} keys"
        for item in container.values() if type(container) is dict else container:
            if type(item) is dict or type(item) is list:
                stack.append((item, depth + 1))
    return None


# Where user-provided data sits in traits, as the specs and SDK docs put it, each UserData field
# with the trait names read for it, in order of preference. Segment's identify spec: ``email``,
# ``phone``, ``firstName``, ``lastName``, ``gender``, ``birthday`` and an ``address`` object of
# ``street``, ``city``, ``state``, ``postalCode``, ``country``. RudderStack's spec is the same, and
# its own destinations also read ``first_name``/``firstname``, ``last_name``/``lastname``, flat
# ``city``/``state``/``country`` and ``zip``/``zipcode``/``zip_code``/``zipCode``/``postal_code``/
# ``postalcode`` beside ``postalCode``, flat or in ``address`` (rudder-transformer,
# GenericFieldMapping). ``street`` is not read: no ad destination takes it.
_POSTAL_CODE = ("postalCode", "postal_code", "postalcode", "zip", "zipcode", "zip_code", "zipCode")
_USER_DATA_TRAITS: dict[str, tuple[str, ...]] = {
    "email": ("email",),
    "phone": ("phone",),
    "firstName": ("firstName", "first_name", "firstname"),
    "lastName": ("lastName", "last_name", "lastname"),
    "gender": ("gender",),
    "birthday": ("birthday",),
    "city": ("city",),
    "state": ("state",),
    "postalCode": _POSTAL_CODE,
    "country": ("country",),
}
_USER_DATA_ADDRESS: dict[str, tuple[str, ...]] = {
    "city": ("city",),
    "state": ("state",),
    "postalCode": _POSTAL_CODE,
    "country": ("country",),
}


def _text(value: Any) -> str | None:
    if isinstance(value, str) and value.strip():
        return value[:512]
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def user_data(*sources: dict[str, Any] | None) -> UserData | None:
    """User-provided data from traits in the shapes the Segment and RudderStack specs use
    (:data:`_USER_DATA_TRAITS`). The first source holding a field wins; within a source the
    ``address`` object before flat traits, then the names in their order of preference."""
    found: dict[str, str] = {}
    for traits in sources:
        if not traits:
            continue
        raw_address = traits.get("address")
        if isinstance(raw_address, dict):
            _first_found(found, raw_address, _USER_DATA_ADDRESS)
        _first_found(found, traits, _USER_DATA_TRAITS)
    return UserData(**found) if found else None


def _first_found(found: dict[str, str], traits: dict[str, Any], names: dict[str, tuple[str, ...]]) -> None:
    """Into ``found``, each field not yet there from the first of its ``names`` ``traits`` holds."""
    for name, keys in names.items():
        if name in found:
            continue
        for key in keys:
            text = _text(traits.get(key))
            if text is not None:
                found[name] = text
                break


class SegmentEvent(BaseModel):
    """One event of the tracking API, as a client sends it."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True, coerce_numbers_to_str=True)

    type: EventType
    event: Name = None
    name: Name = None
    userId: Id = None
    anonymousId: Id = None
    groupId: Id = None
    previousId: Id = None
    messageId: MessageId = None
    timestamp: Timestamp = None
    originalTimestamp: Timestamp = None
    sentAt: Timestamp = None
    context: Context = Field(default_factory=dict)  # type: ignore[assignment]
    properties: dict[str, Any] = {}
    traits: dict[str, Any] = {}
    consentSignals: ConsentSignals = ConsentSignals()  # set by parse_event only, never by a client

    def to_hit(self, received_at: datetime, batch_sent_at: datetime | None = None) -> Hit:
        """The canonical hit. Built without validating again: every value was validated just now,
        by this model, against the same types the hit declares (``Context``, the ids, the event
        type, the consent signals), or is made here (time, message id, user data)."""
        client = self.context
        return Hit.from_validated(
            type=self.type,
            event=self.event,
            name=self.name,
            userId=self.userId,
            anonymousId=self.anonymousId,
            groupId=self.groupId,
            previousId=self.previousId,
            messageId=self.messageId or str(uuid.uuid4()),
            timestamp=corrected_timestamp(
                received_at, self.originalTimestamp or self.timestamp, self.sentAt or batch_sent_at
            ),
            receivedAt=received_at,
            context=client,
            properties=self.properties,
            traits=self.traits,
            consent=self.consentSignals,
            userData=user_data(self.traits, client.get("traits")),
        )


def corrected_timestamp(received_at: datetime, original: datetime | None, sent_at: datetime | None) -> datetime:
    """Segment's clock correction: ``receivedAt - (sentAt - originalTimestamp)``. A time sent
    without an offset is UTC, as Segment reads it."""
    if original is None:
        return received_at
    if original.tzinfo is None:
        original = original.replace(tzinfo=UTC)
    if sent_at is None:
        return original
    if sent_at.tzinfo is None:
        sent_at = sent_at.replace(tzinfo=UTC)
    return received_at - (sent_at - original)


def parse_event(
    raw: Any,
    *,
    implied_type: EventType | None,
    path: str = "",
    ip: str | None = None,
    conflicts: tuple[str, ...] = (),
) -> SegmentEvent | list[FieldError]:
    """Validate one event; on failure return its field errors (paths prefixed with ``path``).
    ``conflicts``: the consent signals the request body gave this event twice with different values
    (:meth:`ConsentConflicts.of`)."""
    if not isinstance(raw, dict):
        return [FieldError(path or "body", "must be a JSON object")]
    try:
        size = len(to_json(raw))  # compact UTF-8 JSON, as the event would travel (Rust: ~3 us/KB)
    except PydanticSerializationError:  # an unpaired surrogate is not text (parse_json reads them as U+FFFD)
        return [FieldError(path or "body", "holds invalid Unicode (an unpaired surrogate escape)")]
    if size > MAX_EVENT_BYTES:
        return [FieldError(path or "body", EVENT_TOO_LARGE)]
    if implied_type is not None and raw.get("type", implied_type) != implied_type:
        return [FieldError(f"{path}.type" if path else "type", f"must be '{implied_type}' on this route")]
    errors = _missing_required(raw, path)
    data = _prepare(raw, implied_type, ip, errors, path)
    if conflicts:
        data["consentSignals"]["conflicts"] = conflicts
    try:
        event = SegmentEvent.model_validate(data)
    except ValidationError as exc:
        found = field_errors(exc, path, model=SegmentEvent, data=raw)
        errors += [e for e in found if e.path not in {m.path for m in errors}]
    return errors or event


_IDS = ("userId", "anonymousId", "groupId", "previousId")
_OBJECTS = ("context", "properties", "traits")
_CONSENT_STRINGS = ("gcs", "gcd", "npa", "gdpr", "tcString")
_MAX_CONSENT_STRING = 16384


def _prepare(
    raw: dict[str, Any], implied_type: EventType | None, ip: str | None, errors: list[FieldError], path: str
) -> dict[str, Any]:
    """The event as the model reads it (a copy; ``raw`` is left alone): empty ids and null objects
    absent, shapes checked, the consent shapes of both peers moved out of the context into the raw
    consent signals, and any client ``context.ip`` (mass assignment) replaced by the gateway's."""
    data = dict(raw)
    if implied_type is not None:
        data["type"] = implied_type
    for key in _IDS:
        value = data.get(key)
        if isinstance(value, str) and not value.strip():
            data[key] = None  # RudderStack JS sends userId "" until identify: absent, like null
    for key in _OBJECTS:
        value = data.get(key)
        if value is None:
            data[key] = {}
        elif isinstance(value, dict):
            problem = _shape_problem(value)
            if problem:
                errors.append(FieldError(f"{path}.{key}" if path else key, problem))
    signals: dict[str, Any] = {}
    ctx = data["context"]
    if isinstance(ctx, dict):
        ctx = data["context"] = dict(ctx)
        consent = ctx.pop("consent", None)
        if isinstance(consent, dict):
            prefs = consent.get("categoryPreferences")
            if isinstance(prefs, dict):
                signals["categoryPreferences"] = prefs
            for key in _CONSENT_STRINGS:  # fairtrack.js: Google Consent Mode and IAB TCF, as gtag sends them
                value = consent.get(key)
                if isinstance(value, str) and 0 < len(value) <= _MAX_CONSENT_STRING:
                    signals[key] = value
        managed = ctx.pop("consentManagement", None)
        if isinstance(managed, dict):
            signals["consentManagement"] = managed
        ctx.pop("ip", None)
        if ip is not None:
            ctx["ip"] = ip
        _sdk_session(ctx, data.get("integrations"))
    data["consentSignals"] = signals
    return data


def _sdk_session(ctx: dict[str, Any], integrations: Any) -> None:
    """The SDKs' own session id as the canonical ``context.session`` (``id`` as a string: an epoch
    time in milliseconds, which the ``id`` format admits; ``start`` from ``sessionStart``):
    RudderStack's ``context.sessionId``/``context.sessionStart``, else Segment's, which
    analytics.js keeps in ``integrations["Actions Amplitude"].session_id``. A client's own
    ``context.session.id`` wins."""
    session = ctx.get("session")
    if session is not None and (not isinstance(session, dict) or session.get("id") is not None):
        return
    raw = ctx.get("sessionId")
    start = ctx.get("sessionStart")
    if raw is None and isinstance(integrations, dict):
        amplitude = integrations.get("Actions Amplitude")
        raw = amplitude.get("session_id") if isinstance(amplitude, dict) else None
        start = None
    if isinstance(raw, int) and not isinstance(raw, bool) and raw > 0:
        raw = str(raw)
    if not isinstance(raw, str) or not raw.strip():
        return
    found: dict[str, Any] = {**(session or {}), "id": raw.strip()}
    if start is True:
        found.setdefault("start", True)
    ctx["session"] = found


def _missing_required(raw: dict[str, Any], path: str) -> list[FieldError]:
    """Requirements that depend on several fields, reported on the field a client should fix."""

    def at(name: str) -> str:
        return f"{path}.{name}" if path else name

    errors = []
    if _absent(raw.get("userId")) and _absent(raw.get("anonymousId")):
        errors.append(FieldError(at("anonymousId"), "userId or anonymousId is required"))
    if raw.get("type") == "track" and raw.get("event") in (None, ""):
        errors.append(FieldError(at("event"), "required for track events"))
    if raw.get("type") == "group" and _absent(raw.get("groupId")):
        errors.append(FieldError(at("groupId"), "required for group events"))
    if raw.get("type") == "alias" and _absent(raw.get("previousId")):
        errors.append(FieldError(at("previousId"), "required for alias events"))
    return errors


def batch_events(body: Any) -> tuple[list[tuple[int, Any]], list[FieldError], datetime | None]:
    """A batch body's events, each with the batch's top-level ``context`` merged in (the event's own
    keys win), plus request-level errors and the batch's ``sentAt``."""
    if not isinstance(body, dict):
        return [], [FieldError("body", "must be a JSON object")], None
    batch = body.get("batch")
    if not isinstance(batch, list):
        return [], [FieldError("batch", "must be a list of events")], None
    if not batch:
        return [], [FieldError("batch", "must hold at least one event")], None
    if len(batch) > MAX_BATCH_EVENTS:
        return [], [FieldError("batch", TOO_MANY_EVENTS)], None
    shared = body.get("context")
    sent_at = None
    if isinstance(body.get("sentAt"), str):
        try:
            sent_at = _SENT_AT.validate_python(body["sentAt"])
        except ValidationError:
            return [], [FieldError("sentAt", "must be an ISO 8601 date-time between 1970 and 2200")], None
    events = []
    for index, event in enumerate(batch):
        merged = event
        if isinstance(event, dict) and isinstance(shared, dict):
            own = event.get("context")
            merged = {**event, "context": {**shared, **own} if isinstance(own, dict) else shared}
        events.append((index, merged))
    return events, [], sent_at


_SENT_AT: TypeAdapter[datetime] = TypeAdapter(Annotated[datetime, AfterValidator(_utc_in_range)])


def now_utc() -> datetime:
    return datetime.now(UTC)


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
