"""The anonymise stage: every value a hit carries crosses it before anything is queued.

:meth:`Anonymiser.anonymise` takes a validated hit and the purposes its consent granted and returns
the payload routing may read, or the reason the hit goes nowhere. In order:

1. **identifiers**: ``anonymousId``, ``userId``, ``groupId``, ``previousId`` become keyed pseudonyms
   (:mod:`fairtrack.anonymise.pseudonym`), or go when the deployment has no key; a client ``messageId`` that
   is not an opaque id is replaced by one derived from it with the same key;
2. **erased subjects**: a hit of a data subject erased on request goes nowhere;
3. **user agent**: reduced to browser and OS family and major, device class and a bot flag
   (:mod:`fairtrack.anonymise.useragent`); bots go nowhere when the policy says ``defaults.bots: drop``;
4. **URLs and text**: page URLs cleaned (:mod:`fairtrack.anonymise.urls`: query allowlist, placeholders,
   click ids set apart), referrers cut to their origin, a URL that does not parse dropped with its
   query; names, titles and campaign values redacted; properties and traits scanned
   (:mod:`fairtrack.anonymise.pii`) and redacted, dropped or quarantined as ``defaults.pii`` says;
5. **echoed ids**: a hit's own raw ids found in its URL, title or properties become ``[id]``;
6. **gateway values**: the country (never the client's), hashed user-provided data for ad
   destinations when a purpose for it is granted, the cookieless daily id without analytics;
7. **conform**: the payload held to the catalogue (:func:`fairtrack.policy.engine.conform`): what is not
   catalogued goes, and so does every value its attribute's format
   (:mod:`fairtrack.anonymise.formats`) does not admit, each counted as ``format_mismatch``.

The memos here (pseudonyms, URLs, reduced agents, redacted texts) live as long as the container and
hold raw input: :meth:`Anonymiser.forget` clears them.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Container
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic_core import to_json

from fairtrack.anonymise import formats, pii, urls, useragent
from fairtrack.anonymise.pseudonym import DailySalts, Pseudonymiser
from fairtrack.hit import Hit, UserData
from fairtrack.memo import Memo
from fairtrack.observability import logger
from fairtrack.policy.decisions import Decision
from fairtrack.policy.engine import conform
from fairtrack.policy.model import Policy
from fairtrack.stores.policy_table import is_suppressed

__all__ = [
    "ANALYTICS",
    "BOT",
    "IDENTIFIERS",
    "QUARANTINED",
    "SUPPRESSED",
    "Anonymiser",
    "Tally",
    "Visitor",
    "echo_free",
    "user_data_for_destinations",
]

# Run over the JSON of a hit's properties first (one C-level search instead of a walk): "@", "%40"
# or any double encoding "%25" (e-mail), an entity, a full-width form (U+FF00-FF3F), a JWT, a run
# of 7+ digits with separators (phone, card, IBAN, IPv4), two colons among hex digits (IPv6). No
# match: the scan is skipped. It is narrower than the scanner (pii.PRECHECK, several times
# dearer per hit): what it lets pass unscanned (base64 of an e-mail, a street address) is not redacted
# but refused by the catalogue's `map` format instead, dropped with format_mismatch, never sent.
_MAYBE_PII = re.compile(rb"@|%40|%25|&#|&[a-z]+;|[\xef]\xbc|eyJ|\d[\d\s().+/-]{5,}\d|:[0-9A-Fa-f]{0,4}:")
_PAGE_KEYS = frozenset({"url", "search", "referrer", "path"})
IDENTIFIERS = ("anonymousId", "userId", "groupId", "previousId")  # pseudonymised before anything is queued
ANALYTICS = "analytics"  # without it, a hit gets a cookieless daily visitor id instead of its ids


_JSON_KEY = re.compile(rb'"([^"\\]{1,128})":')


_OPAQUE_ID = formats.checker("id")  # a messageId when the catalogue does not say (conform then drops it)

MIN_ECHOED_ID = 6  # shorter ids ("42") would match ordinary text: left to the other checks


def _replace_in(value: Any, ids: tuple[str, ...], marker: str = "[id]") -> Any:
    """``value`` with each id replaced by ``marker`` (``:id`` inside URLs, as urls.py marks them)."""
    if isinstance(value, str):
        for raw in ids:
            if raw in value:
                value = value.replace(raw, marker)
        return value
    if isinstance(value, dict):
        return {
            k: _replace_in(v, ids, ":id" if k in _PAGE_KEYS and isinstance(v, str) else marker)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_replace_in(v, ids, marker) for v in value]
    return value


MAX_COUNTED_IDS = 8  # more distinct ids in one request: each hit is searched on its own instead


def echo_free(raw: bytes, hits: list[Hit]) -> bool:
    """Whether no hit of a request can hold one of its own raw ids anywhere but in its id fields:
    each id occurs in the JSON body, as JSON writes it, no more often than hits carry it in an id
    field (one C-level count of the body per distinct id). False, so that each hit is searched
    (:func:`_strip_own_ids`), when that cannot be told cheaply: an escape in the body, or more
    than :data:`MAX_COUNTED_IDS` distinct ids."""
    if b"\\" in raw:
        return False
    carried: dict[str, int] = {}
    for hit in hits:
        for value in (hit.anonymousId, hit.userId, hit.groupId, hit.previousId):
            if value and len(value) >= MIN_ECHOED_ID:
                carried[value] = carried.get(value, 0) + 1
    if len(carried) > MAX_COUNTED_IDS:
        return False
    return all(raw.count(to_json(value)[1:-1]) <= n for value, n in carried.items())


def _strip_own_ids(payload: dict[str, Any], hit: Hit) -> None:
    """A hit's own raw ids, echoed in its URL, title or properties (``/users/<userId>/orders``),
    become ``[id]``: they leave ingest only as pseudonyms. One search of the encoded payload;
    parts are rewritten only when an id is in them."""
    ids = tuple(v for v in (hit.anonymousId, hit.userId, hit.groupId, hit.previousId) if v and len(v) >= MIN_ECHOED_ID)
    if not ids:
        return
    encoded = [to_json(raw)[1:-1] for raw in ids]  # as the id appears inside a JSON string
    whole = to_json(payload)  # the pseudonyms stand where the ids were: a match is an echo
    if not any(raw in whole for raw in encoded):
        return
    for key in ("context", "properties", "traits", "name", "event"):
        part = payload.get(key)
        if part is None:
            continue
        blob = to_json(part)
        if any(raw in blob for raw in encoded):
            payload[key] = _replace_in(part, ids)


def _may_hold_pii(properties: Any) -> bool:
    """Whether the scan could find anything in ``properties``: a value that may be personal data
    (``_MAYBE_PII``), a key named as personal data (``pii.is_personal_property``), or a key the
    quick look cannot read (escaped or very long)."""
    raw = to_json(properties)
    if _MAYBE_PII.search(raw) or b"\\" in raw:
        return True
    if isinstance(properties, dict) and raw.count(b"{") == 1 and b"[" not in raw:
        # flat (the usual case): no object or list inside, so its own keys are all the keys there are
        return any(map(pii.is_personal_property, properties))
    keys = _JSON_KEY.findall(raw)
    if raw.count(b'":') != len(keys):
        return True
    return any(pii.is_personal_property(key.decode()) for key in keys)


def user_data_for_destinations(data: UserData) -> dict[str, Any]:
    """User-provided data normalised and hashed per destination spec (``userData.ga4``,
    ``userData.meta``); the raw values are never part of a payload."""
    from fairtrack.anonymise import userdata  # loaded on the first hit that carries user data

    out: dict[str, Any] = {}
    if ga4 := userdata.ga4_user_data(data):
        out["ga4"] = ga4
    if meta := userdata.meta_user_data(data):
        out["meta"] = meta
    return out


@dataclass(frozen=True)
class Visitor:
    country: str | None
    ip: str | None  # truncated
    full_ip: str | None
    user_agent: str | None


class Tally(Protocol):
    """What the stage counts for a request (``fairtrack.ingest.IngestResult`` is one)."""

    pii_findings: int
    format_mismatches: int
    decisions: list[Decision]


SUPPRESSED, BOT, QUARANTINED = "subject_suppressed", "bot_traffic", "pii_quarantined"


class Anonymiser:
    """The stage, with its per-container memos (one per warm function, held by the Ingestor)."""

    def __init__(self, pseudonymiser: Callable[[], Pseudonymiser | None], salts: DailySalts) -> None:
        self._key = pseudonymiser  # read on first use: the key comes from Secrets Manager
        self.salts = salts
        self._user_data_routes: Memo[tuple[int, frozenset[str]], bool] = Memo(256)
        self._texts: Memo[str, str] = Memo(1024)  # campaign values, titles and names, redacted
        self._agents: Memo[tuple[str | None, bytes | None], dict[str, Any]] = Memo(1024)
        self._pseudonyms: Memo[tuple[str, str], str] = Memo(4096)
        self._urls: Memo[str, urls.CleanUrl | None] = Memo(1024)
        self._origins: Memo[str, str] = Memo(1024)
        self._message_ids: Memo[str, str] = Memo(1024)

    @property
    def pseudonymiser(self) -> Pseudonymiser | None:
        return self._key()

    def forget(self) -> None:
        """Drop what the memos keep of raw input (ids, URLs, user agents, texts)."""
        for memo in (self._texts, self._agents, self._pseudonyms, self._urls, self._origins, self._message_ids):
            memo.clear()

    def anonymise(
        self,
        hit: Hit,
        policy: Policy,
        *,
        granted: frozenset[str],
        visitor: Visitor | None,
        source_id: str,
        result: Tally,
        suppressed: Container[str] = frozenset(),
        echoes: bool = True,
    ) -> dict[str, Any] | str:
        """The hit's payload as routing may read it, or why it goes nowhere (``subject_suppressed``,
        ``bot_traffic``, ``pii_quarantined``). ``echoes=False``: the request was found
        :func:`echo_free`, so the hit is not searched for its own raw ids."""
        payload = hit.to_payload()
        self._pseudonymise(payload)
        self._own_message_id(payload, policy)
        if is_suppressed(payload, suppressed):
            return SUPPRESSED
        context = payload.get("context")
        user_agent = (context or {}).get("userAgent") or (visitor.user_agent if visitor else None)
        agent = self._agent(user_agent, (context or {}).get("userAgentData"))
        if agent is not None:
            # the reduced form (browser and OS family and major, device class, bot flag) is what the
            # catalogue offers destinations; the full user agent stays behind
            payload.setdefault("context", {})["agent"] = agent  # shared, read-only
            if agent.get("bot") and policy.defaults.bots == "drop":
                return BOT
        if self._minimise(payload, result, policy.defaults.pii):
            return QUARANTINED
        if echoes:
            _strip_own_ids(payload, hit)
        context = payload.get("context")
        if context is not None and "location" in context:
            del context["location"]  # a location is the gateway's word, never the client's
        if visitor is not None and visitor.country is not None:
            payload.setdefault("context", {})["location"] = {"country": visitor.country}
        if hit.userData is not None and self._hashes_user_data(policy, granted):
            hashed = user_data_for_destinations(hit.userData)
            if hashed:
                payload["userData"] = hashed
        if ANALYTICS not in granted and visitor is not None:
            visitor_id = self._daily_id(source_id, visitor, hit.context.get("userAgent"))
            if visitor_id is not None:
                payload["visitorId"] = visitor_id
        return self._conform(payload, policy, result)

    def _pseudonymise(self, payload: dict[str, Any]) -> None:
        pseudonymiser = self.pseudonymiser
        for key in IDENTIFIERS:
            value = payload.get(key)
            if value is None:
                continue
            if pseudonymiser is None:
                del payload[key]
                continue
            made = self._pseudonyms.get((key, value))
            if made is None:  # the hits of a page or batch share their ids: one HMAC each
                made = self._pseudonyms.keep((key, value), pseudonymiser.pseudonym(key, value))
            payload[key] = made

    def _own_message_id(self, payload: dict[str, Any], policy: Policy) -> None:
        """A client ``messageId`` that its catalogue format (an opaque ``id``) does not admit (an
        e-mail, a phone number, free text) is replaced by a gateway id derived from it with the
        keyed pseudonym function, so that a retried hit still deduplicates; without a key, by a
        random one."""
        raw = payload["messageId"]
        attr = policy.attributes.get("messageId")
        fits = attr.check if attr is not None else _OPAQUE_ID
        if fits(raw):
            return
        made = self._message_ids.get(raw)
        if made is None:
            pseudonymiser = self.pseudonymiser
            candidate = "m-" + pseudonymiser.pseudonym("messageId", raw)[2:] if pseudonymiser is not None else ""
            made = candidate if fits(candidate) else f"m-{uuid.uuid4().hex}"
            if pseudonymiser is not None:  # a random id is not kept: it cannot deduplicate anyway
                self._message_ids.keep(raw, made)
        payload["messageId"] = made

    def _agent(self, user_agent: str | None, hints: Any) -> dict[str, Any] | None:
        """The reduced user agent, memoised on the agent and its client hints (the hits of one page
        or batch repeat both; ua-parser's own cache is keyed on the agent string only)."""
        key = (user_agent, to_json(hints) if hints else None)
        agent = self._agents.get(key)
        if agent is None:
            reduced = useragent.reduce(user_agent, hints if isinstance(hints, dict) else None)
            agent = self._agents.keep(key, dict(reduced) if reduced is not None else {})
        return agent or None

    def _minimise(self, payload: dict[str, Any], result: Tally, action: pii.Action = "redact") -> bool:
        """URLs cleaned (query allowlist, PII and tokens redacted, click ids set apart for the
        advertising purpose, referrers cut to their origin) and free text scanned: personal data in
        properties and traits, and fields named as personal data (traits ``email``, ``name``...;
        properties ``email``, ``firstName``..., not a product's ``name``), redacted or dropped as
        the policy says (``defaults.pii``). Returns True when the policy quarantines the hit
        instead (nothing found is changed then; the hit goes nowhere).
        Everything here happens before anything is queued."""
        context = payload.get("context")
        page = context.get("page") if context else None
        if page:
            page = context["page"] = dict(page)  # type: ignore[index]
            click_ids = self._clean_page(page)
            if click_ids:
                context["clickIds"] = click_ids  # type: ignore[index]
        if context:
            self._clean_text_fields(context, result)
        for key in ("event", "name"):  # names are labels: personal data in one is redacted
            value = payload.get(key)
            if isinstance(value, str) and value:
                redacted = self._redacted(value)
                if redacted != value:
                    result.pii_findings += 1
                    payload[key] = redacted
        props = payload.get("properties")
        if props and payload.get("type") == "page" and not _PAGE_KEYS.isdisjoint(props):
            # page calls copy the page's url, search and referrer into their properties
            props = payload["properties"] = dict(props)
            self._clean_page(props)
        for key in ("properties", "traits"):
            value = payload.get(key)
            if not value:
                continue
            if key == "properties" and not _may_hold_pii(value):
                continue  # nothing that could be an e-mail, phone, card, IBAN, address or personal field
            # a trait named email or name is a person's; a property named name is a page's or product's
            named = True if key == "traits" else pii.is_personal_property
            cleaned, findings = pii.scan(value, action, path=key, by_name=named)
            if findings:
                if action == "quarantine":
                    return True
                result.pii_findings += len(findings)
                if cleaned is None:
                    del payload[key]
                else:
                    payload[key] = cleaned
        traits = context.get("traits") if context else None
        if traits:
            cleaned, findings = pii.scan(traits, action, path="context.traits", by_name=True)
            if findings and action == "quarantine":
                return True
            result.pii_findings += len(findings)
            if isinstance(cleaned, dict) and findings:
                # user properties are labels: one named as personal data goes, not a placeholder
                cleaned = {k: v for k, v in cleaned.items() if v != pii.FIELD_MARKER}
            if cleaned is None:
                del context["traits"]  # type: ignore[union-attr]
            else:
                context["traits"] = cleaned  # type: ignore[index]
        return False

    def _redacted(self, text: str) -> str:
        """``pii.redact`` memoised per container: a page's hits share their campaign and title."""
        done = self._texts.get(text)
        if done is None:
            done = self._texts.keep(text, pii.redact(text))
        return done

    def _clean_text_fields(self, context: dict[str, Any], result: Tally) -> None:
        """Free text that is not a URL but comes from one or from the page: the campaign (utm_*
        values, gtag ``cn cs cm ck cc``) and the page title. Personal data in them is redacted
        whatever ``defaults.pii`` says: these fields are labels, and a label with an e-mail in it
        is still a useful label without it."""
        campaign = context.get("campaign")
        if isinstance(campaign, dict) and campaign:
            cleaned = {k: self._redacted(v) if isinstance(v, str) else v for k, v in campaign.items()}
            changed = sum(1 for k, v in campaign.items() if cleaned[k] != v)
            if changed:
                result.pii_findings += changed
                context["campaign"] = cleaned
        page = context.get("page")
        title = page.get("title") if isinstance(page, dict) else None
        if isinstance(title, str) and title:
            redacted = self._redacted(title)
            if redacted != title:
                result.pii_findings += 1
                context["page"] = {**page, "title": redacted}  # type: ignore[dict-item]

    def _clean_page(self, page: dict[str, Any]) -> dict[str, str]:
        """Clean ``url``/``search``/``referrer`` in a page object in place; return the click ids."""
        click_ids: dict[str, str] = {}
        url = page.get("url")
        cleaned = self._clean_url(url) if isinstance(url, str) else None
        if cleaned is not None:
            page["url"] = cleaned.url
            if "path" in page:
                page["path"] = cleaned.path
            click_ids = cleaned.click_ids
            if cleaned.search is None:
                page.pop("search", None)
            else:
                page["search"] = cleaned.search
        else:
            # no URL, or one that does not parse (``app://shop``, a relative ``/account?...``): the
            # URL and its query go, whatever they hold; a path is cut at its query and fragment
            # and cleaned on its own
            page.pop("url", None)
            page.pop("search", None)
            path = page.get("path")
            if isinstance(path, str):
                page["path"] = urls.clean_path(path.split("?", 1)[0].split("#", 1)[0] or "/")
            elif isinstance(url, str) and url.startswith("/") and "path" not in page:
                page["path"] = urls.clean_path(url.split("?", 1)[0].split("#", 1)[0] or "/")
        referrer = page.get("referrer")
        if isinstance(referrer, str):
            origin = self._origins.get(referrer)
            if origin is None:
                origin = self._origins.keep(referrer, urls.referrer_origin(referrer) or "")
            origin = origin or None
            if origin is None:
                del page["referrer"]
            else:
                page["referrer"] = origin
        return click_ids

    def _clean_url(self, url: str) -> urls.CleanUrl | None:
        cached = self._urls.get(url)
        if cached is None and url not in self._urls:
            cached = self._urls.keep(url, urls.clean_url(url))
        return cached

    def _hashes_user_data(self, policy: Policy, granted: frozenset[str]) -> bool:
        """Whether any destination could get hashed user data under these purposes (the catalogue's
        ``userData.*`` entries): only then is it normalised and hashed; otherwise it stays behind."""
        key = (policy.version, granted)
        wanted = self._user_data_routes.get(key)
        if wanted is None:
            wanted = self._user_data_routes.keep(
                key,
                any(
                    path.startswith("userData") and not attr.every_purpose.isdisjoint(granted)
                    for path, attr in policy.attributes.items()
                ),
            )
        return wanted

    def _daily_id(self, source_id: str, visitor: Visitor, hit_user_agent: str | None) -> str | None:
        """The cookieless visitor id (see fairtrack.anonymise.pseudonym); None when it cannot be made (no
        address, or the salt store failing): the hit goes on without one, never lost for it."""
        if not visitor.full_ip:
            return None
        try:
            return self.salts.daily_id(source_id, visitor.full_ip, hit_user_agent or visitor.user_agent or "")
        except Exception as exc:  # noqa: BLE001 - an optional enrichment must not lose the hit
            logger.warning("no cookieless id: salt store failed", extra={"error_type": type(exc).__name__})
            return None

    def _conform(self, payload: dict[str, Any], policy: Policy, result: Tally) -> dict[str, Any]:
        """The last step of the anonymise stage: the payload held to the catalogue (uncatalogued
        keys out, objects with their catalogued children only, every value admitted by its
        attribute's format, see :func:`fairtrack.policy.engine.conform`); each value dropped for its
        format is counted and recorded as a ``format_mismatch`` decision."""
        conformed, mismatches = conform(payload, policy)
        if mismatches:
            result.format_mismatches += len(mismatches)
            result.decisions.extend(
                Decision("ingest", "dropped", "format_mismatch", path, policy_version=policy.version)
                for path in mismatches
            )
        return conformed
