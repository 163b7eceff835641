"""Ingest: one request's hits on their way, in the order they travel.

1. the proxy check (:mod:`fairtrack.api.proxy`, run by the routes before anything is read);
2. the body decoded and parsed (:mod:`fairtrack.api.body`), and the source it speaks for, with the
   CORS headers its page may read the answer with (:mod:`fairtrack.api.access`);
3. the protocol's adapter: canonical hits, bad events reported by index (:mod:`fairtrack.protocols.intake`);
4. the visitor: country and truncated address (:mod:`fairtrack.api.proxy`);
5. per hit: consent resolved (:mod:`fairtrack.consent`); the destinations its purposes may reach,
   planned once per policy and consent state (:mod:`fairtrack.policy.routing`), so that a hit no
   destination may receive is never anonymised; the anonymise stage
   (:class:`~fairtrack.anonymise.stage.Anonymiser`); each destination's share of what is left
   (:func:`fairtrack.policy.engine.evaluate`);
6. the shares queued, one message per destination (:mod:`fairtrack.stores.queue`), and the
   request's metrics and one log line (counts only).

Bad input gives a :class:`~fairtrack.errors.ClientError` (status, field path, reason) and never
echoes a submitted value; in a batch, bad events are reported by index and the good ones kept.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Container
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from fairtrack.anonymise.pseudonym import DailySalts, Pseudonymiser, secret_key
from fairtrack.anonymise.stage import BOT, QUARANTINED, SUPPRESSED, Anonymiser, Visitor, echo_free
from fairtrack.api.access import SourceAccess
from fairtrack.api.body import decode_body, parse_json
from fairtrack.api.proxy import TrustedProxy
from fairtrack.consent import signals as consent
from fairtrack.errors import ClientError
from fairtrack.hit import EventType, Hit
from fairtrack.memo import Memo
from fairtrack.observability import logger, metrics
from fairtrack.policy.decisions import Decision
from fairtrack.policy.engine import evaluate
from fairtrack.policy.model import Policy
from fairtrack.policy.routing import Route, plan_route, withheld_rows
from fairtrack.protocols import intake
from fairtrack.settings import DESTINATIONS, Destination, IngestSettings
from fairtrack.stores.clients import LazyClient
from fairtrack.stores.policy_table import NoActivePolicy, PolicyStore, Source
from fairtrack.stores.queue import QueueSender, Routed, enqueue

__all__ = ["IngestRequest", "IngestResult", "Ingestor", "RoutedHit", "Visitor", "record"]

DUPLICATE_MESSAGE_ID = "duplicate_message_id"
# the counter of IngestResult each reason of the anonymise stage's for sending a hit nowhere bumps
_SKIP_COUNTS = {SUPPRESSED: "suppressed", BOT: "bots_dropped", QUARANTINED: "quarantined"}


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


@dataclass(frozen=True)
class RoutedHit:
    """One hit as ingest routed it, for an observer (the local debug view): the anonymised payload
    each destination's share was cut from (None when ingest stopped before anonymising it), the
    hit's decisions and how many values of it were redacted as personal data."""

    hit: Hit
    policy: Policy
    visitor: Visitor | None
    source_id: str
    payload: dict[str, Any] | None
    decisions: list[Decision]
    pii_findings: int


class Ingestor:
    """Holds the per-container clients and caches; one instance per warm function.

    ``observer`` is called with a :class:`RoutedHit` per hit, ``report`` with each request's result
    (default :func:`record`: metrics and a log line)."""

    dynamodb = LazyClient("dynamodb")  # the daily salts' table

    def __init__(
        self,
        settings: IngestSettings,
        store: PolicyStore | None = None,
        sender: QueueSender | None = None,
        *,
        pseudonymiser: Pseudonymiser | None = None,
        salts: DailySalts | None = None,
        observer: Callable[[RoutedHit], None] | None = None,
        report: Callable[[IngestResult, Source], None] | None = None,
    ):
        self.settings = settings
        self.store = store or PolicyStore(settings.policy_table, settings.policy_cache_seconds)
        self.sender = sender or QueueSender()
        self.proxy = TrustedProxy(settings)
        self.access = SourceAccess(self.store)
        self._pseudonymiser = pseudonymiser
        self.salts = salts or DailySalts(settings.policy_table, lambda: self.dynamodb)
        self.anonymiser = Anonymiser(lambda: self.pseudonymiser, self.salts)
        self._configured = [d for d in DESTINATIONS if settings.queue_url(d)]  # the others get nothing
        self._routes: Memo[tuple[int, frozenset[str]], Route] = Memo(256)
        self.observer = observer
        self.report = report or record

    @property
    def pseudonymiser(self) -> Pseudonymiser | None:
        """The deployment's keyed pseudonymiser (key read once per container from Secrets Manager);
        None without a key, and then identifiers are dropped rather than sent raw."""
        if self._pseudonymiser is None and self.settings.pseudonym_secret_arn:
            from aws_lambda_powertools.utilities import parameters

            raw = parameters.get_secret(self.settings.pseudonym_secret_arn, max_age=300)
            self._pseudonymiser = Pseudonymiser(secret_key(raw))
        return self._pseudonymiser

    # -- the routes' entry points: steps 2 to 4, then route() ------------------------------------------
    def segment(self, request: IngestRequest, implied_type: EventType) -> IngestResult:
        """One event on a typed route (``/v1/track``, ``/v1/t`` ...)."""
        raw = decode_body(request)
        body = parse_json(raw)
        source = self.access.by_write_key(request, body)

        def work() -> IngestResult:
            visitor = self.proxy.visitor(request)
            hits = intake.segment_event(raw, body, implied_type, request.received_at, visitor.ip)
            return self.route(source, hits, request.request_id, visitor, raw=raw)

        return self._answer(request, source, work)

    def segment_batch(self, request: IngestRequest) -> IngestResult:
        """A batch (``/v1/batch``, ``/v1/b``, ``/beacon/v1/batch``): good events are kept, bad ones
        reported by index; only a batch with nothing valid in it is refused."""
        raw = decode_body(request)
        body = parse_json(raw)
        source = self.access.by_write_key(request, body)

        def work() -> IngestResult:
            visitor = self.proxy.visitor(request)  # one connection, one address: reduced once
            hits = intake.segment_batch(raw, body, request.received_at, visitor.ip)
            return self.route(source, hits, request.request_id, visitor, raw=raw)

        return self._answer(request, source, work)

    def gtag(self, request: IngestRequest) -> IngestResult:
        """GA4 gtag hits (``GET|POST /g/collect``): the measurement id (``tid``) names the source;
        good events are kept and bad ones counted (gtag reads no answer: Google says 204)."""
        collect = intake.gtag_collect(request.raw_query, b"" if request.method == "GET" else decode_body(request))
        source = self.access.by_measurement_id(collect.measurement_id)

        def work() -> IngestResult:
            visitor = self.proxy.visitor(request)
            user_agent = request.headers.get("user-agent")
            hits = intake.gtag_hits(collect, request.received_at, user_agent, visitor.ip)
            return self.route(source, hits, request.request_id, visitor)

        return self._answer(request, source, work)

    def _answer(self, request: IngestRequest, source: Source, work: Callable[[], IngestResult]) -> IngestResult:
        result, headers = self.access.answer(request, source, work)
        result.headers = headers
        return result

    # -- steps 5 and 6 -------------------------------------------------------------------------------
    def route(
        self,
        source: Source,
        hits: intake.Intake,
        correlation_id: str,
        visitor: Visitor | None = None,
        *,
        raw: bytes | None = None,
    ) -> IngestResult:
        """Anonymise and route the request's hits, and queue each destination's shares. ``raw``, the
        JSON body the hits came from, lets one count of it per id spare each hit the search for its
        own echoed ids (:func:`~fairtrack.anonymise.stage.echo_free`)."""
        try:
            policy = self.store.active_policy()
        except NoActivePolicy:
            logger.error("no active policy: nothing is forwarded", extra={"source_id": source.source_id})
            raise ClientError(503, "no_active_policy", "the gateway has no active consent policy") from None
        result = IngestResult(accepted=len(hits.hits), rejected=hits.rejected)
        per_destination: dict[Destination, list[Routed]] = {}
        suppressed = self.store.suppressed()
        echoes = raw is None or not echo_free(raw, hits.hits)
        repeated = _repeated_message_ids(hits.hits)
        for index, hit in enumerate(hits.hits):
            first, findings = len(result.decisions), result.pii_findings
            payload = None
            if index in repeated:
                self._duplicate(policy, result)
            else:
                payload = self.route_hit(
                    hit,
                    policy,
                    per_destination=per_destination,
                    result=result,
                    visitor=visitor,
                    source_id=source.source_id,
                    suppressed=suppressed,
                    echoes=echoes,
                )
            if self.observer is not None:
                decisions = result.decisions[first:]
                pii = result.pii_findings - findings
                self.observer(RoutedHit(hit, policy, visitor, source.source_id, payload, decisions, pii))
        received = hits.hits[0].receivedAt if hits.hits else None
        skips = withheld_rows(result.decisions, policy, source.source_id, received)
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
        result.queued = {dest: len(events) for dest, events in per_destination.items() if events}
        self.report(result, source)
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
    ) -> dict[str, Any] | None:
        """One hit: consent resolved, the destinations its purposes may reach, anonymised, then each
        receiving destination's share added to ``per_destination``; the decisions go to ``result``.
        Returns the anonymised payload, or None when the hit stopped before it."""
        granted = consent.resolve(hit.consent, policy, visitor.country if visitor else None)
        route = self._routes.get((policy.version, granted.granted))
        if route is None:
            route = self._routes.keep((policy.version, granted.granted), plan_route(policy, self._configured, granted))
        receiving, skipped, purposes = route
        result.decisions.extend(skipped)
        if not receiving:
            return None
        payload = self.anonymiser.anonymise(
            hit,
            policy,
            granted=granted.granted,
            visitor=visitor,
            source_id=source_id,
            result=result,
            suppressed=suppressed,
            echoes=echoes,
        )
        if isinstance(payload, str):  # the hit goes nowhere, for this reason
            setattr(result, _SKIP_COUNTS[payload], getattr(result, _SKIP_COUNTS[payload]) + 1)
            result.decisions.extend(Decision(d, "skipped", payload, policy_version=policy.version) for d in receiving)
            return None
        for dest in receiving:
            minimal, decisions = evaluate(payload, granted.granted, dest, policy, record=False)
            result.decisions.extend(decisions)
            if minimal is not None:
                per_destination.setdefault(dest, []).append((purposes, minimal))
        return payload

    def _duplicate(self, policy: Policy, result: IngestResult) -> None:
        # every destination deduplicates on messageId (the delivery ledger, GA4's batches, the lake's
        # readers): the forwarders would drop this hit as a copy of the earlier one
        result.duplicates += 1
        result.decisions.extend(
            Decision(dest, "skipped", DUPLICATE_MESSAGE_ID, policy_version=policy.version) for dest in self._configured
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


# IngestResult's counters and the metric each is reported as (a zero count is not reported)
_METRICS = (
    ("bots_dropped", "HitsDroppedBot"),
    ("pii_findings", "PiiRedactions"),
    ("suppressed", "HitsSuppressedSubject"),
    ("quarantined", "HitsQuarantinedPii"),
    ("format_mismatches", "FormatMismatches"),
    ("duplicates", "HitsDuplicateMessageId"),
)


def record(result: IngestResult, source: Source) -> None:
    """A request's metrics and its one log line (counts only)."""
    metrics.add_metric(name="HitsAccepted", unit="Count", value=result.accepted)
    for counter, metric in _METRICS:
        if count := getattr(result, counter):
            metrics.add_metric(name=metric, unit="Count", value=count)
    for dest, count in result.queued.items():
        metrics.add_metric(name=f"HitsQueued_{dest}", unit="Count", value=count)
    skipped = Counter(d.reason.split(":")[0] for d in result.decisions if d.action == "skipped")
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
