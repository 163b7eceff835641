"""The canonical hit: what every protocol adapter produces and every later stage consumes.

Adapters (``fairtrack.protocols.segment``, ``fairtrack.protocols.gtag``) only translate; they never
decide privacy. The shape follows the Segment/RudderStack spec (fairtrack's native format), so a
forwarded event looks like what a Segment client would have sent, minus what the policy does not
allow. Field by field:

Identity and type
- ``type``: ``track`` | ``page`` | ``screen`` | ``identify`` | ``group`` | ``alias``. A gtag
  ``page_view`` becomes ``page``; any other gtag event is a ``track``.
- ``event``: the event name (``track``: Segment ``event``, gtag ``en``); ``name``: page/screen name.
- ``messageId``: the client's dedup id; gtag hits get a UUID derived from the page-load id, hit
  sequence and line, so a retried request keeps its ids; otherwise a server-made random UUID.
- ``anonymousId``: the client's visitor id (Segment ``anonymousId``, gtag ``cid``).
- ``userId``: the site's id for a signed-in user (Segment ``userId``, gtag ``uid``; may hold an
  e-mail in the wild, so it is personal data). ``groupId`` (group) and ``previousId`` (alias).

Time
- ``receivedAt``: when the gateway received the request (API Gateway's request time).
- ``timestamp``: when it happened, corrected for the client clock:
  ``receivedAt - (sentAt - originalTimestamp)`` when the client sent both, else as sent, else
  ``receivedAt`` (gtag hits carry no client time).

Context (:class:`Context`, a validated TypedDict; unknown client keys are kept and left for the
policy to drop)
- ``context.page``: ``url``, ``path``, ``search``, ``referrer``, ``title`` (gtag ``dl``/``dr``/``dt``).
- ``context.campaign``: ``name``, ``source``, ``medium``, ``term``, ``content``, ``id`` (UTM; gtag
  ``cn cs cm ck cc ci``).
- ``context.session``: ``id``, ``number``, ``engaged``, ``engagementTimeMs``, ``firstVisit``,
  ``start`` (gtag ``sid sct seg _et _fv _ss``); what GA4 realtime needs.
- device and user agent: ``context.userAgent`` (the client's, or the request's ``User-Agent``
  for gtag), ``context.userAgentData`` (client hints: ``brands``, ``fullVersionList``, ``mobile``,
  ``platform``, ``platformVersion``, ``model``, ``architecture``, ``bitness``, ``wow64``),
  ``context.device``, ``context.os``, ``context.screen`` (``width``/``height``), ``context.locale``,
  ``context.timezone``.
- network: ``context.ip`` is set by the gateway only, from the connection (or a trusted proxy),
  and holds the *truncated* address; a client-sent ``context.ip`` (or gtag ``_uip``) is discarded.
- ``context.library``: the sending client (``name``, ``version``); gtag hits say ``gtag``.
- ``context.traits``: user properties sent with a non-identify event (gtag ``up.*``/``upn.*``).

Payload
- ``properties`` (track/page/screen: Segment ``properties``; gtag ``ep.*`` as strings, ``epn.*`` as
  numbers, items ``prN`` as ``properties.items``) and ``traits`` (identify/group).

Kept out of every forwarded payload (``to_payload`` never emits them)
- ``consent``: the raw consent signals (:class:`ConsentSignals`) for the consent stage; they are
  evidence, not analytics data (a TC string can itself be personal data).
- ``userData``: user-provided data that ad destinations may receive hashed (:class:`UserData`),
  taken from the Segment spec traits (``email``, ``phone``, ``firstName``...).
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, with_config
from typing_extensions import TypedDict

from fairtrack import timestamps

__all__ = ["Campaign", "ConsentSignals", "Context", "EventType", "Hit", "Library", "Page", "Session", "UserData", "iso"]

iso = timestamps.iso  # defined in fairtrack.timestamps (no models); callers import it from here too

EventType = Literal["track", "page", "screen", "identify", "group", "alias"]


Text = Annotated[str, Field(max_length=8192)]
Short = Annotated[str, Field(max_length=512)]


# The parts of the context are TypedDicts validated by pydantic (as part of the Hit): typed and
# length-checked like models, but they stay plain dicts, which halves the cost of validating and
# serialising a hit (measured by bench/). Unknown client keys are kept as sent ("allow"); numbers
# sent where text is expected (versions, ids, titles) are taken as text.
_OPEN = ConfigDict(extra="allow", coerce_numbers_to_str=True)


@with_config(_OPEN)
class Page(TypedDict, total=False):
    url: Text | None
    path: Text | None
    search: Text | None
    referrer: Text | None
    title: Text | None


@with_config(_OPEN)
class Campaign(TypedDict, total=False):
    name: Short | None
    source: Short | None
    medium: Short | None
    term: Short | None
    content: Short | None
    id: Short | None


@with_config(_OPEN)
class Library(TypedDict, total=False):
    name: Short | None
    version: Short | None


@with_config(ConfigDict(extra="ignore", coerce_numbers_to_str=True))
class Session(TypedDict, total=False):
    id: Short | None
    number: int | None
    engaged: bool | None
    engagementTimeMs: int | None
    firstVisit: bool | None
    start: bool | None


@with_config(_OPEN)
class Context(TypedDict, total=False):
    page: Page | None
    campaign: Campaign | None
    library: Library | None
    session: Session | None
    userAgent: Text | None
    userAgentData: dict[str, Any] | None
    device: dict[str, Any] | None
    os: dict[str, Any] | None
    screen: dict[str, Any] | None
    locale: Short | None
    timezone: Short | None
    ip: str | None  # set by the gateway only (truncated); adapters discard the client's
    traits: dict[str, Any] | None


class ConsentSignals(BaseModel):
    """Consent signals exactly as the client sent them, for the consent stage to resolve."""

    model_config = ConfigDict(frozen=True)

    categoryPreferences: dict[str, Any] | None = None  # Segment context.consent.categoryPreferences
    consentManagement: dict[str, Any] | None = None  # RudderStack context.consentManagement
    gcs: str | None = None  # Google Consent Mode v1, e.g. G111
    gcd: str | None = None  # Google Consent Mode v2, e.g. 13r3r3r3r5
    npa: str | None = None  # non-personalised ads
    dma: str | None = None
    dmaCps: str | None = None
    gdpr: str | None = None  # gdpr applies (0/1)
    tcString: str | None = None  # IAB TCF TC string (gdpr_consent)
    usPrivacy: str | None = None  # IAB CCPA string (us_privacy)
    # Set by the adapters only, never from a client's field: the signals the request carried more
    # than once with different values (ConsentSignals field names, or "consent" for Segment's whole
    # context.consent), sorted. Each denies every purpose it could grant (fairtrack.consent.signals).
    conflicts: tuple[str, ...] | None = None

    def present(self) -> bool:
        return any(value is not None for value in self.__dict__.values())


class UserData(BaseModel):
    """User-provided data as sent; ad destinations may get it only normalised and hashed."""

    model_config = ConfigDict(frozen=True)

    email: str | None = None
    phone: str | None = None
    firstName: str | None = None
    lastName: str | None = None
    gender: str | None = None
    birthday: str | None = None
    city: str | None = None
    state: str | None = None
    postalCode: str | None = None
    country: str | None = None


@lru_cache(maxsize=64)
def _iso_received(ts: datetime) -> str:
    """``iso`` for receivedAt: one value per request, shared by all the hits of a batch."""
    return iso(ts)


class Hit(BaseModel):
    model_config = ConfigDict(frozen=True)

    type: EventType
    messageId: str
    timestamp: datetime
    receivedAt: datetime
    event: str | None = None
    name: str | None = None
    anonymousId: str | None = None
    userId: str | None = None
    groupId: str | None = None
    previousId: str | None = None
    context: Context = Field(default_factory=dict)  # type: ignore[assignment]
    properties: dict[str, Any] = {}
    traits: dict[str, Any] = {}
    consent: ConsentSignals = ConsentSignals()
    userData: UserData | None = None

    @classmethod
    def from_validated(cls, **values: Any) -> Hit:
        """A hit from values already validated against these fields' types (what
        ``model_construct`` does, without its per-field alias and default handling: every field
        is given). The segment adapter uses it, since its event model has just validated them."""
        if values.keys() != _HIT_FIELDS:
            raise TypeError(f"Hit.from_validated needs exactly the fields {sorted(_HIT_FIELDS)}")
        hit = cls.__new__(cls)
        _set = object.__setattr__
        _set(hit, "__dict__", values)
        _set(hit, "__pydantic_fields_set__", set(_HIT_FIELDS))
        _set(hit, "__pydantic_extra__", None)
        _set(hit, "__pydantic_private__", None)
        return hit

    def to_payload(self) -> dict[str, Any]:
        """The hit as a JSON-ready dict, leaving out what is absent or empty (and never the raw
        consent signals or user-provided data)."""
        out: dict[str, Any] = {"type": self.type, "messageId": self.messageId}
        for key in ("event", "name", "anonymousId", "userId", "groupId", "previousId"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        out["timestamp"] = iso(self.timestamp)
        out["receivedAt"] = _iso_received(self.receivedAt)
        context = {k: v for k, v in self.context.items() if v is not None}
        if context:
            out["context"] = context
        for key in ("properties", "traits"):
            value = getattr(self, key)
            if value:
                out[key] = value
        return out


_HIT_FIELDS = frozenset(Hit.model_fields)
