"""Ingest: request -> adapter -> validate -> consent -> anonymise -> route -> queue.

The HTTP handler turns an API Gateway event into an :class:`IngestRequest` and calls one function
here. Bad input gives a :class:`~fairtrack.errors.ClientError` (status, field path, reason) and never
echoes a submitted value; in a batch, bad events are reported by index and the good ones kept.
"""

from __future__ import annotations

import hmac
from collections import Counter
from collections.abc import Callable, Container, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from fairtrack.anonymise import client_ip, geo, truncate_ip, viewer_address
from fairtrack.anonymise.pseudonym import DailySalts, Pseudonymiser, secret_key
from fairtrack.anonymise.stage import BOT, IDENTIFIERS, QUARANTINED, SUPPRESSED, Anonymiser, Visitor, echo_free
from fairtrack.api import cors
from fairtrack.api.body import MAX_REQUEST_BYTES, decode_body, parse_json, write_key_of
from fairtrack.consent import signals as consent
from fairtrack.errors import ClientError, FieldError, status_for
from fairtrack.hit import EventType, Hit
from fairtrack.memo import Memo
from fairtrack.observability import logger, metrics
from fairtrack.policy.decisions import Decision
from fairtrack.policy.engine import evaluate
from fairtrack.policy.model import Policy
from fairtrack.policy.routing import Route, plan_route, withheld_rows
from fairtrack.protocols import gtag as gtag_protocol
from fairtrack.protocols.segment import batch_events, parse_event
from fairtrack.protocols.segment_consent import consent_conflicts
from fairtrack.settings import DESTINATIONS, ORIGIN_VERIFY_HEADER, Destination, IngestSettings
from fairtrack.stores.clients import LazyClient
from fairtrack.stores.policy_table import NoActivePolicy, PolicyStore, Source
from fairtrack.stores.queue import QueueSender, Routed, enqueue

__all__ = [
    "IDENTIFIERS",
    "MAX_REQUEST_BYTES",
    "IngestRequest",
    "IngestResult",
    "Ingestor",
    "Visitor",
    "decode_body",
    "parse_json",
    "write_key_of",
]

# the counter of IngestResult each reason of the anonymise stage's for sending a hit nowhere bumps
_SKIP_COUNTS = {SUPPRESSED: "suppressed", BOT: "bots_dropped", QUARANTINED: "quarantined"}
DUPLICATE_MESSAGE_ID = "duplicate_message_id"


@dataclass(frozen=True)
class IngestRequest:
    """What ingest needs from an HTTP request, whatever the transport."""

    body: str | None
    is_base64: bool
    headers: dict[str, str]  # lower-case names
    query: dict[str, str]
    source_ip: str | None
    received_at: datetime
    request_id: str
    method: str = "POST"
    raw_query: str = ""  # as sent: gtag values may hold commas, which API Gateway's parsed map joins on


@dataclass
class IngestResult:
    accepted: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)
    queued: dict[str, int] = field(default_factory=dict)
    decisions: list[Decision] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    pii_findings: int = 0  # values redacted or fields dropped as personal data
    bots_dropped: int = 0  # hits the policy's `defaults.bots: drop` kept from every destination
    quarantined: int = 0  # hits holding personal data under `defaults.pii: quarantine`
    suppressed: int = 0  # hits of data subjects erased on request
    format_mismatches: int = 0  # values dropped because their attribute's format did not admit them
    duplicates: int = 0  # hits sent nowhere: an earlier, different hit of the request has their messageId

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"success": True}
        if self.rejected:
            out["rejected"] = self.rejected
        if self.duplicates:
            out["duplicates"] = self.duplicates
        return out


class Ingestor:
    """Holds the per-container clients and caches; one instance per warm function."""

    dynamodb = LazyClient("dynamodb")  # the daily salts' table

    def __init__(
        self,
        settings: IngestSettings,
        store: PolicyStore | None = None,
        sender: QueueSender | None = None,
        *,
        pseudonymiser: Pseudonymiser | None = None,
        salts: DailySalts | None = None,
    ):
        self.settings = settings
        self.store = store or PolicyStore(settings.policy_table, settings.policy_cache_seconds)
        self.sender = sender or QueueSender()
        self._pseudonymiser = pseudonymiser
        self.salts = salts or DailySalts(settings.policy_table, lambda: self.dynamodb)
        self._configured = [d for d in DESTINATIONS if settings.queue_url(d)]  # the others get nothing
        self._routes: Memo[tuple[int, frozenset[str]], Route] = Memo(256)
        self.anonymiser = Anonymiser(lambda: self.pseudonymiser, self.salts)

    @property
    def pseudonymiser(self) -> Pseudonymiser | None:
        """The deployment's keyed pseudonymiser (key read once per container from Secrets Manager);
        None without a key, and then identifiers are dropped rather than sent raw."""
        if self._pseudonymiser is None and self.settings.pseudonym_secret_arn:
            from aws_lambda_powertools.utilities import parameters

            raw = parameters.get_secret(self.settings.pseudonym_secret_arn, max_age=300)
            self._pseudonymiser = Pseudonymiser(secret_key(raw))
        return self._pseudonymiser

    def visitor(self, request: IngestRequest) -> Visitor:
        """What the anonymisation stage needs from the connection, worked out once per request:
        country (region defaults), the truncated address (what hits carry), and the full address
        and user agent, used only inside the cookieless daily id."""
        if self.settings.proxy_mode == "cloudfront":
            full_ip = viewer_address(request.headers.get("cloudfront-viewer-address"))
            if full_ip is None:  # the connection's address is CloudFront's, never the visitor's
                logger.warning("no CloudFront-Viewer-Address: add it to the origin request policy")
        else:
            full_ip = client_ip(request.source_ip, request.headers.get("x-forwarded-for"), self.settings.proxy_hops)
        return Visitor(
            country=self._country(request, full_ip),
            ip=truncate_ip(full_ip, self.settings.ip_v4_prefix_length, self.settings.ip_v6_prefix_length),
            full_ip=full_ip,
            user_agent=request.headers.get("user-agent"),
        )

    @property
    def origin_verify_secret(self) -> str | None:
        """The origin-verify header's expected value (``TrustedProxy=cloudfront``), read from
        Secrets Manager and cached for 5 minutes; None when no secret is configured."""
        if not self.settings.origin_verify_secret_arn:
            return None
        from aws_lambda_powertools.utilities import parameters

        value = parameters.get_secret(self.settings.origin_verify_secret_arn, max_age=300)
        return value.strip() if isinstance(value, str) and value.strip() else None

    def verify_proxy(self, headers: Mapping[str, str]) -> None:
        """Under ``TrustedProxy=cloudfront``, refuse (403 ``proxy_required``) a request without the
        origin-verify header CloudFront adds: one sent straight to the API, around the proxy, could
        set ``CloudFront-Viewer-*`` headers to anything. ``headers``: lower-case names. No check
        in the other modes."""
        if self.settings.proxy_mode != "cloudfront":
            return
        sent = headers.get(ORIGIN_VERIFY_HEADER)
        expected = self.origin_verify_secret
        if expected is None:
            logger.error("TrustedProxy is cloudfront but no origin-verify secret is set: every request is refused")
        if not sent or expected is None or not hmac.compare_digest(sent.strip().encode(), expected.encode()):
            raise ClientError(
                403, "proxy_required", "requests must come through the deployment's CloudFront distribution"
            )

    def authenticate(self, request: IngestRequest, body: Any) -> Source:
        key = write_key_of(request, body)
        if not key:
            raise ClientError(401, "missing_write_key", "a write key is required (Basic auth, body or ?writeKey=)")
        source = self.store.source_for_write_key(key)
        if source is None:
            raise ClientError(401, "invalid_write_key", "unknown write key")
        return source

    @staticmethod
    def check_origin(request: IngestRequest, source: Source) -> dict[str, str]:
        """Refuse a browser origin the source does not allow; the CORS headers for one it does."""
        origin = request.headers.get("origin")
        if origin is None:
            return {}
        if not source.allows_origin(origin):
            raise ClientError(403, "origin_not_allowed", "this source does not accept requests from this origin")
        return cors.response_headers(origin)

    def preflight(self, request: IngestRequest) -> dict[str, str] | None:
        """The headers answering a CORS preflight, or None to refuse it (see :mod:`fairtrack.api.cors`)."""
        origin = request.headers.get("origin")
        if not origin:
            return None
        named: Source | None = None
        if request.query.get("writeKey"):
            named = self.store.source_for_write_key(request.query["writeKey"])
        elif request.query.get("tid"):
            named = self.store.source_for_measurement_id(request.query["tid"])
        allowed = named.allows_origin(origin) if named is not None else self.store.origin_allowed(origin)
        return cors.preflight_headers(origin) if allowed else None

    def _from(self, request: IngestRequest, source: Source, work: Callable[[], IngestResult]) -> IngestResult:
        """Run ``work`` for a request once its source is known: the origin is checked first, and the
        answer (an error included) carries the CORS headers an allowed page needs to read it."""
        headers = self.check_origin(request, source)
        try:
            result = work()
        except ClientError as exc:
            exc.headers.update(headers)
            raise
        result.headers = headers
        return result

    def segment(self, request: IngestRequest, implied_type: EventType) -> IngestResult:
        """One event on a typed route (``/v1/track``, ``/v1/t`` ...)."""
        raw = decode_body(request)
        body = parse_json(raw)
        source = self.authenticate(request, body)

        def work() -> IngestResult:
            visitor = self.visitor(request)
            conflicts = consent_conflicts(raw, body).of(None)  # a consent key twice, disagreeing
            parsed = parse_event(body, implied_type=implied_type, ip=visitor.ip, conflicts=conflicts)
            if isinstance(parsed, list):
                raise ClientError(status_for(parsed), "invalid_event", "the event is not valid", parsed)
            return self.route(source, [parsed.to_hit(request.received_at)], request.request_id, visitor, raw=raw)

        return self._from(request, source, work)

    def segment_batch(self, request: IngestRequest) -> IngestResult:
        """A batch (``/v1/batch``, ``/v1/b``, ``/beacon/v1/batch``): good events are kept, bad ones
        reported by index; only a batch with nothing valid in it is refused."""
        raw = decode_body(request)
        body = parse_json(raw)
        source = self.authenticate(request, body)
        return self._from(request, source, lambda: self._segment_batch(request, raw, body, source))

    def _segment_batch(self, request: IngestRequest, raw: bytes, body: Any, source: Source) -> IngestResult:
        events, errors, sent_at = batch_events(body)
        if errors:
            raise ClientError(status_for(errors), "invalid_batch", "the batch is not valid", errors)
        hits: list[Hit] = []
        rejected: list[dict[str, Any]] = []
        visitor = self.visitor(request)  # one connection, one address: reduce it once
        conflicts = consent_conflicts(raw, body)  # consent keys given twice, disagreeing, per event
        for index, event in events:
            parsed = parse_event(
                event, implied_type=None, path=f"batch[{index}]", ip=visitor.ip, conflicts=conflicts.of(index)
            )
            if isinstance(parsed, list):
                rejected.append({"index": index, "errors": [e.as_dict() for e in parsed]})
            else:
                hits.append(parsed.to_hit(request.received_at, sent_at))
        if not hits:
            problems = [FieldError(e["path"], e["reason"]) for r in rejected for e in r["errors"]][:50]
            raise ClientError(status_for(problems), "invalid_batch", "no event in the batch is valid", problems)
        return self.route(source, hits, request.request_id, visitor, rejected=rejected, raw=raw)

    def gtag(self, request: IngestRequest) -> IngestResult:
        """GA4 gtag hits (``GET|POST /g/collect``): the measurement id (``tid``) names the source;
        good events are kept and bad ones counted (gtag reads no answer: Google says 204)."""
        body = b"" if request.method == "GET" else decode_body(request)
        collect = gtag_protocol.split_request(request.raw_query, body)
        if collect.errors and collect.errors[0][0] == -1:
            problems = collect.errors[0][1]
            raise ClientError(status_for(problems), "invalid_request", "the request is not valid", problems)
        if not collect.measurement_id:
            raise ClientError(401, "missing_measurement_id", "a measurement id (tid) is required")
        source = self.store.source_for_measurement_id(collect.measurement_id)
        if source is None:
            raise ClientError(401, "invalid_measurement_id", "unknown measurement id")
        return self._from(request, source, lambda: self._gtag(request, collect, source))

    def _gtag(self, request: IngestRequest, collect: gtag_protocol.Collect, source: Source) -> IngestResult:
        rejected: list[dict[str, Any]] = [
            {"index": i, "errors": [e.as_dict() for e in errs]} for i, errs in collect.errors
        ]
        hits: list[Hit] = []
        visitor = self.visitor(request)
        user_agent = request.headers.get("user-agent")
        for index, parsed in gtag_protocol.hits(collect, request.received_at, user_agent, visitor.ip):
            if isinstance(parsed, list):
                rejected.append({"index": index, "errors": [e.as_dict() for e in parsed]})
            else:
                hits.append(parsed)
        if not hits:
            errors = [FieldError(e["path"], e["reason"]) for r in rejected for e in r["errors"]][:50]
            raise ClientError(status_for(errors), "invalid_events", "no event in the request is valid", errors)
        rejected.sort(key=lambda r: int(r["index"]))
        return self.route(source, hits, request.request_id, visitor, rejected=rejected)

    def _country(self, request: IngestRequest, full_ip: str | None) -> str | None:
        """The visitor's country, worked out before the address is truncated: CloudFront's viewer
        header under ``TrustedProxy=cloudfront`` (whose requests carry the origin-verify header:
        see :meth:`verify_proxy`; in the other modes anyone can send the header, so it is ignored),
        else the registries' allocation data shipped with the layer (:mod:`fairtrack.anonymise.geo`). Used
        for the policy's region defaults and, as ``context.location.country``, the only geo a
        destination may get (never below country)."""
        if self.settings.proxy_mode == "cloudfront":
            country = request.headers.get("cloudfront-viewer-country", "").strip().upper()
            if len(country) == 2 and country.isalpha() and country.isascii():
                return country
        return geo.country_of(full_ip) if full_ip else None

    def route(
        self,
        source: Source,
        hits: list[Hit],
        correlation_id: str,
        visitor: Visitor | None = None,
        *,
        rejected: list[dict[str, Any]] | None = None,
        raw: bytes | None = None,
    ) -> IngestResult:
        """Anonymise and route ``hits``; ``raw``, the JSON body they came from, lets one count of
        it per id spare each hit the search for its own echoed ids (:func:`echo_free`)."""
        try:
            policy = self.store.active_policy()
        except NoActivePolicy:
            logger.error("no active policy: nothing is forwarded", extra={"source_id": source.source_id})
            raise ClientError(503, "no_active_policy", "the gateway has no active consent policy") from None
        result = IngestResult(accepted=len(hits), rejected=rejected or [])
        per_destination: dict[Destination, list[Routed]] = {}
        suppressed = self.store.suppressed()
        echoes = raw is None or not echo_free(raw, hits)
        repeated = _repeated_message_ids(hits)
        for index, hit in enumerate(hits):
            self.route_hit(
                hit,
                policy,
                per_destination=per_destination,
                result=result,
                visitor=visitor,
                source_id=source.source_id,
                suppressed=suppressed,
                echoes=echoes,
                duplicate=index in repeated,
            )
        skips = withheld_rows(result.decisions, policy, source.source_id, hits[0].receivedAt if hits else None)
        if skips and self.settings.lake_queue_url:
            per_destination.setdefault("lake", [])  # the lake forwarder writes them to the decision log
        enqueue(
            self.sender,
            per_destination,
            self.settings.queue_url,
            correlation_id,
            source_id=source.source_id,
            policy_version=policy.version,
            lake_rows=skips,
        )
        for dest, events in per_destination.items():
            if events:
                result.queued[dest] = len(events)
        self.record(result, source)
        return result

    def route_hit(
        self,
        hit: Hit,
        policy: Policy,
        *,
        per_destination: dict[Destination, list[Routed]],
        result: IngestResult,
        visitor: Visitor | None,
        source_id: str,
        suppressed: Container[str] = frozenset(),
        echoes: bool = True,
        duplicate: bool = False,
    ) -> None:
        """One hit on its way: consent resolved, the route for its purposes, anonymised, then each
        receiving destination's share (:func:`fairtrack.policy.engine.evaluate`) added to
        ``per_destination``; the decisions go to ``result``. A subclass may observe it (the debug view)."""
        if duplicate:
            # every destination deduplicates on messageId (the delivery ledger, GA4's batches, the
            # lake's readers): the forwarders would drop this hit as a copy of the earlier one
            result.duplicates += 1
            result.decisions.extend(
                Decision(dest, "skipped", DUPLICATE_MESSAGE_ID, policy_version=policy.version)
                for dest in self._configured
            )
            return
        granted = consent.resolve(hit.consent, policy, visitor.country if visitor else None)
        route = self._routes.get((policy.version, granted.granted))
        if route is None:
            route = self._routes.keep((policy.version, granted.granted), plan_route(policy, self._configured, granted))
        receiving, skipped, purposes = route
        result.decisions.extend(skipped)
        if not receiving:
            return
        anonymised = self.anonymise(
            hit,
            policy,
            granted=granted.granted,
            visitor=visitor,
            source_id=source_id,
            result=result,
            suppressed=suppressed,
            echoes=echoes,
        )
        if isinstance(anonymised, str):  # the hit goes nowhere, for this reason
            setattr(result, _SKIP_COUNTS[anonymised], getattr(result, _SKIP_COUNTS[anonymised]) + 1)
            result.decisions.extend(
                Decision(dest, "skipped", anonymised, policy_version=policy.version) for dest in receiving
            )
            return
        payload = anonymised
        for dest in receiving:
            minimal, decisions = evaluate(payload, granted.granted, dest, policy, record=False)
            result.decisions.extend(decisions)
            if minimal is not None:
                per_destination.setdefault(dest, []).append((purposes, minimal))

    def anonymise(
        self,
        hit: Hit,
        policy: Policy,
        *,
        granted: frozenset[str],
        visitor: Visitor | None,
        source_id: str,
        result: IngestResult,
        suppressed: Container[str] = frozenset(),
        echoes: bool = True,
    ) -> dict[str, Any] | str:
        """The anonymise stage (:class:`fairtrack.anonymise.stage.Anonymiser`) on one hit: the
        payload routing reads, or why the hit goes nowhere."""
        return self.anonymiser.anonymise(
            hit,
            policy,
            granted=granted,
            visitor=visitor,
            source_id=source_id,
            result=result,
            suppressed=suppressed,
            echoes=echoes,
        )

    @staticmethod
    def record(result: IngestResult, source: Source) -> None:
        """The request's metrics and its one log line (counts only)."""
        skipped = Counter(d.reason.split(":")[0] for d in result.decisions if d.action == "skipped")
        metrics.add_metric(name="HitsAccepted", unit="Count", value=result.accepted)
        if result.bots_dropped:
            metrics.add_metric(name="HitsDroppedBot", unit="Count", value=result.bots_dropped)
        if result.pii_findings:
            metrics.add_metric(name="PiiRedactions", unit="Count", value=result.pii_findings)
        if result.suppressed:
            metrics.add_metric(name="HitsSuppressedSubject", unit="Count", value=result.suppressed)
        if result.quarantined:
            metrics.add_metric(name="HitsQuarantinedPii", unit="Count", value=result.quarantined)
        if result.format_mismatches:
            metrics.add_metric(name="FormatMismatches", unit="Count", value=result.format_mismatches)
        if result.duplicates:
            metrics.add_metric(name="HitsDuplicateMessageId", unit="Count", value=result.duplicates)
        for dest, count in result.queued.items():
            metrics.add_metric(name=f"HitsQueued_{dest}", unit="Count", value=count)
        logger.info(
            "hits routed",
            extra={
                "source_id": source.source_id,
                "accepted": result.accepted,
                "queued": result.queued,
                "skipped": dict(skipped),
                "rejected": len(result.rejected),
                "format_mismatches": result.format_mismatches,
                "duplicates": result.duplicates,
            },
        )


def _repeated_message_ids(hits: list[Hit]) -> set[int]:
    """The positions of the hits whose ``messageId`` an earlier hit of the request has, with other
    content: two events that every destination would take for one (the later would disappear at
    the forwarders). A plain copy (a client sending one event twice) is left to their dedup."""
    first: dict[str, Hit] = {}
    repeated: set[int] = set()
    for index, hit in enumerate(hits):
        earlier = first.setdefault(hit.messageId, hit)
        if earlier is not hit and earlier != hit:
            repeated.add(index)
    return repeated
