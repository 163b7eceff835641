"""Signed webhook: one JSON POST per message to a URL fixed in configuration.

Body: ``{"source", "policyVersion", "sentAt", "batch": [event, ...]}``. Header
``Fairtrack-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`` when a secret
is configured. To verify: recompute the HMAC over the timestamp, a dot and the raw body with the
shared secret, compare in constant time, and reject timestamps older than five minutes.

Delivery is at least once (a redelivered message is posted again). Every request carries
``Idempotency-Key: <32 hex>``, the same on every redelivery of the same events
(:func:`idempotency_key`: a SHA-256 of the source and the events' ``messageId``s in sorted order),
so a receiver drops a request whose key it already processed; each event of the batch carries its
``messageId`` too, for a receiver that deduplicates per event. The signature covers the body as
before; the key is derived from signed content (the ``messageId``s), so a receiver can recompute it.
Redirects are never followed; connection pool kept per container; timeouts bounded
(:mod:`fairtrack.destinations.transport`). 408, 429, 5xx and no answer are retried through SQS;
any other status is permanent and the message goes to the failed-events store with the answer.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import urllib3

from fairtrack.destinations import Delivery, DeliveryReport, EventRef, Mapping, Stop, WireRequest
from fairtrack.destinations.transport import Answer, Transport, send_all
from fairtrack.observability import logger
from fairtrack.timestamps import iso

__all__ = ["IDEMPOTENCY_HEADER", "SIGNATURE_HEADER", "WebhookDestination", "idempotency_key", "sign", "verify"]

SIGNATURE_HEADER = "Fairtrack-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"


def idempotency_key(source_id: str, events: list[dict[str, Any]]) -> str:
    """The request's idempotency key: the same for the same events of a source, in any order. An
    event without a ``messageId`` (a policy can keep it from the webhook) stands for itself by a
    hash of its canonical JSON."""
    ids = sorted(
        str(e.get("messageId") or "")
        or "sha256:" + hashlib.sha256(json.dumps(e, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
        for e in events
    )
    return hashlib.sha256("\n".join([source_id, *ids]).encode()).hexdigest()[:32]


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret, str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(secret: bytes, header: str, body: bytes, now: float | None = None, tolerance: int = 300) -> bool:
    """The receiving side's check, shipped so it can be tested and copied."""
    if not header.isascii():
        return False
    try:
        parts = dict(p.split("=", 1) for p in header.split(","))
        if not parts["t"].isdigit():
            return False
        ts = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((now if now is not None else time.time()) - ts) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, ts, body).encode(), header.encode())


class WebhookDestination:
    def __init__(
        self, url: str, secret: Callable[[], bytes | None], timeout: float, pool: urllib3.PoolManager | None = None
    ):
        if not url:
            raise ValueError("WEBHOOK_URL is not configured")
        self.url = url
        self.secret = secret
        self.transport = Transport(timeout, "fairtrack-webhook/1", pool)

    def mapping(self, items: list[Delivery]) -> Mapping:
        """One request per queue message: the batch of its events, as the policy left them."""
        sent_at = iso(datetime.now(UTC))
        return Mapping(
            requests=[
                WireRequest(
                    json.dumps(
                        {
                            "source": item.source_id,
                            "policyVersion": item.policy_version,
                            "sentAt": sent_at,
                            "batch": [event for _, event in item.events],
                        },
                        separators=(",", ":"),
                    ).encode(),
                    tuple(EventRef(item.message_id, str(event.get("messageId") or "")) for _, event in item.events),
                )
                for item in items
            ]
        )

    def deliver(self, items: list[Delivery], stop: Stop | None = None) -> DeliveryReport:
        secret = self.secret()
        mapping = self.mapping(items)
        # one request per message, so each body names one key (its sentAt is shared by the batch,
        # its events differ between messages)
        keys = {
            request.body: idempotency_key(item.source_id, [e for _, e in item.events])
            for request, item in zip(mapping.requests, items, strict=True)
        }

        def post(body: bytes) -> Answer:
            headers = {IDEMPOTENCY_HEADER: keys[body]}
            if secret:
                headers[SIGNATURE_HEADER] = sign(secret, int(time.time()), body)
            return self.transport.post(self.url, body, headers)

        report = send_all(mapping, post, stop=stop, executor=self.transport.executor)
        if report.retry or report.failed:
            logger.warning(
                "webhook delivery incomplete",
                extra={"retried": dict(report.retry_reasons), "failed": [f.reason for f in report.failed]},
            )
        return report
