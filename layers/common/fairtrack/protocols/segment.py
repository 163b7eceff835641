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
  win, is a conflict instead (``ConsentSignals.conflicts``, found by
  :mod:`~fairtrack.protocols.segment_consent`): the consent stage denies every purpose that signal
  could grant;
  user-provided data in the Segment spec traits (``email``, ``phone``, ``firstName``,
  ``address.city``...) is copied to ``userData``;
- limits follow the original service: 32 KB per event, nesting at most 8 levels, 500 KB per request.
"""

from __future__ import annotations

import uuid
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

__all__ = ["MAX_DEPTH", "MAX_EVENT_BYTES", "MAX_KEYS", "SegmentEvent", "batch_events", "parse_event"]

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
# missing offset is added where the time is used (``corrected_timestamp``), not by a Python
# validator per timestamp (up to three per event).
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
        size = len(to_json(raw))  # compact UTF-8 JSON, as the event would travel
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
