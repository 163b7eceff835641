"""Ingest: request -> adapter -> validate -> consent -> anonymise -> route -> queue.

The HTTP handler turns an API Gateway event into an :class:`IngestRequest` and calls one function
here. Bad input gives a :class:`~fairtrack.errors.ClientError` (status, field path, reason) and never
echoes a submitted value; in a batch, bad events are reported by index and the good ones kept.
"""

from __future__ import annotations

import base64
import binascii
import json
import zlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from fairtrack import consent
from fairtrack.anonymise import client_ip, truncate_ip
from fairtrack.envelope import RoutedEvent
from fairtrack.errors import ClientError, FieldError
from fairtrack.hit import EventType, Hit
from fairtrack.observability import logger, metrics
from fairtrack.policy import Decision, Policy, evaluate
from fairtrack.protocols.segment import SegmentEvent, batch_events, parse_event
from fairtrack.queue import QueueSender, chunk_envelopes
from fairtrack.settings import DESTINATIONS, Destination, IngestSettings
from fairtrack.store import NoActivePolicy, PolicyStore, Source

MAX_REQUEST_BYTES = 500 * 1024


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


@dataclass
class IngestResult:
    accepted: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)
    queued: dict[str, int] = field(default_factory=dict)
    decisions: list[Decision] = field(default_factory=list)

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"success": True}
        if self.rejected:
            out["rejected"] = self.rejected
        return out


def decode_body(request: IngestRequest) -> bytes:
    raw_text = request.body or ""
    if request.is_base64:
        try:
            raw = base64.b64decode(raw_text, validate=False)
        except (binascii.Error, ValueError):
            raise ClientError(400, "invalid_body", "body is not valid base64") from None
    else:
        raw = raw_text.encode("utf-8", "surrogatepass")
    if len(raw) > MAX_REQUEST_BYTES and request.headers.get("content-encoding", "").lower() != "gzip":
        raise ClientError(413, "too_large", f"request body larger than {MAX_REQUEST_BYTES // 1024} KB")
    if request.headers.get("content-encoding", "").lower() == "gzip":
        raw = gunzip_bounded(raw, MAX_REQUEST_BYTES)
    return raw


def gunzip_bounded(data: bytes, limit: int) -> bytes:
    """Inflate a gzip body (every member, checked to its end) without ever holding more than ``limit``."""
    out = bytearray()
    while data:
        inflater = zlib.decompressobj(wbits=31)
        try:
            out += inflater.decompress(data, limit + 1 - len(out))
        except zlib.error:
            raise ClientError(400, "invalid_body", "body is not valid gzip") from None
        if len(out) > limit or inflater.unconsumed_tail:
            raise ClientError(413, "too_large", f"request body larger than {limit // 1024} KB")
        if not inflater.eof:
            raise ClientError(400, "invalid_body", "gzip body is truncated")
        data = inflater.unused_data
    return bytes(out)


def parse_json(raw: bytes) -> Any:
    if not raw.strip():
        raise ClientError(400, "invalid_json", "body is empty", [FieldError("body", "a JSON object is required")])
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        raise ClientError(
            400, "invalid_json", "body is not valid JSON", [FieldError("body", "not valid JSON")]
        ) from None


def write_key_of(request: IngestRequest, body: Any) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth[:6].lower() == "basic ":
        try:
            user = base64.b64decode(auth[6:].strip(), validate=True).decode("utf-8").split(":", 1)[0]
        except (binascii.Error, ValueError):
            user = ""
        if user:
            return user
    if isinstance(body, dict) and isinstance(body.get("writeKey"), str) and body["writeKey"]:
        key: str = body["writeKey"]
        return key
    return request.query.get("writeKey") or None


class Ingestor:
    """Holds the per-container clients and caches; one instance per warm function."""

    def __init__(self, settings: IngestSettings, store: PolicyStore | None = None, sender: QueueSender | None = None):
        self.settings = settings
        self.store = store or PolicyStore(settings.policy_table, settings.policy_cache_seconds)
        self.sender = sender or QueueSender()

    def authenticate(self, request: IngestRequest, body: Any) -> Source:
        key = write_key_of(request, body)
        if not key:
            raise ClientError(401, "missing_write_key", "a write key is required (Basic auth, body or ?writeKey=)")
        source = self.store.source_for_write_key(key)
        if source is None:
            raise ClientError(401, "invalid_write_key", "unknown write key")
        return source

    def segment(self, request: IngestRequest, implied_type: EventType) -> IngestResult:
        """One event on a typed route (``/v1/track``, ``/v1/t`` ...)."""
        body = parse_json(decode_body(request))
        source = self.authenticate(request, body)
        parsed = parse_event(body, implied_type=implied_type)
        if isinstance(parsed, list):
            raise ClientError(400, "invalid_event", "the event is not valid", parsed)
        return self.route(source, [self._hit(parsed, request, None, self._truncated_ip(request))], request.request_id)

    def segment_batch(self, request: IngestRequest) -> IngestResult:
        """A batch (``/v1/batch``, ``/v1/b``, ``/beacon/v1/batch``): good events are kept, bad ones
        reported by index; only a batch with nothing valid in it is refused."""
        body = parse_json(decode_body(request))
        source = self.authenticate(request, body)
        events, errors, sent_at = batch_events(body)
        if errors:
            raise ClientError(400, "invalid_batch", "the batch is not valid", errors)
        hits: list[Hit] = []
        rejected: list[dict[str, Any]] = []
        ip = self._truncated_ip(request)  # one connection, one address: reduce it once
        for index, raw in events:
            parsed = parse_event(raw, implied_type=None, path=f"batch[{index}]")
            if isinstance(parsed, list):
                rejected.append({"index": index, "errors": [e.as_dict() for e in parsed]})
            else:
                hits.append(self._hit(parsed, request, sent_at, ip))
        if not hits:
            raise ClientError(
                400,
                "invalid_batch",
                "no event in the batch is valid",
                [FieldError(e["path"], e["reason"]) for r in rejected for e in r["errors"]][:50],
            )
        result = self.route(source, hits, request.request_id)
        result.rejected = rejected
        return result

    def _truncated_ip(self, request: IngestRequest) -> str | None:
        return truncate_ip(
            client_ip(request.source_ip, request.headers.get("x-forwarded-for"), self.settings.trusted_proxy),
            self.settings.ip_v4_prefix_length,
            self.settings.ip_v6_prefix_length,
        )

    @staticmethod
    def _hit(parsed: SegmentEvent, request: IngestRequest, batch_sent_at: datetime | None, ip: str | None) -> Hit:
        return parsed.to_hit(request.received_at, batch_sent_at).with_ip(ip)

    def route(self, source: Source, hits: list[Hit], correlation_id: str) -> IngestResult:
        try:
            policy = self.store.active_policy()
        except NoActivePolicy:
            logger.error("no active policy: nothing is forwarded", extra={"source_id": source.source_id})
            raise ClientError(503, "no_active_policy", "the gateway has no active consent policy") from None
        result = IngestResult(accepted=len(hits))
        per_destination: dict[Destination, list[RoutedEvent]] = {}
        for hit in hits:
            self._route_hit(hit, policy, per_destination, result)
        messages: list[tuple[Destination, str]] = []
        for dest, events in per_destination.items():
            for body in chunk_envelopes(dest, source.source_id, policy.version, events):
                messages.append((dest, body))
        errors = self.sender.send_all(
            [(self.settings.queue_url(dest), body) for dest, body in messages], correlation_id
        )
        failed = sorted({dest for (dest, _), err in zip(messages, errors, strict=True) if err is not None})
        if failed:
            logger.error(
                "queueing failed",
                extra={
                    "destinations": failed,
                    "error_types": sorted({type(e).__name__ for e in errors if e is not None}),
                },
            )
            raise ClientError(503, "queue_unavailable", "events could not be queued; retry later")
        for dest, events in per_destination.items():
            result.queued[dest] = len(events)
        self._record(result, source)
        return result

    def _route_hit(
        self, hit: Hit, policy: Policy, per_destination: dict[Destination, list[RoutedEvent]], result: IngestResult
    ) -> None:
        granted = consent.resolve(hit.consent, policy)
        payload = hit.to_payload()
        purposes = sorted(granted.granted)
        for dest in DESTINATIONS:
            if not self.settings.queue_url(dest):
                continue
            minimal, decisions = evaluate(payload, granted.granted, dest, policy)
            result.decisions.extend(decisions)
            if minimal is not None:
                per_destination.setdefault(dest, []).append(RoutedEvent(purposes=purposes, event=minimal))

    @staticmethod
    def _record(result: IngestResult, source: Source) -> None:
        skipped = Counter(d.reason.split(":")[0] for d in result.decisions if d.action == "skipped")
        metrics.add_metric(name="HitsAccepted", unit="Count", value=result.accepted)
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
            },
        )
