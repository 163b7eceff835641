"""Signed webhook: one JSON POST per message to a URL fixed in configuration.

Body: ``{"source", "policyVersion", "sentAt", "batch": [event, ...]}``. Header
``Fairtrack-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`` when a secret
is configured. To verify: recompute the HMAC over the timestamp, a dot and the raw body with the
shared secret, compare in constant time, and reject timestamps older than five minutes.
Redirects are never followed; connection pool kept per container; timeouts bounded.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime

import urllib3

from fairtrack.destinations import Delivery
from fairtrack.hit import iso
from fairtrack.observability import logger

SIGNATURE_HEADER = "Fairtrack-Signature"


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
        self.timeout = urllib3.Timeout(connect=min(2.0, timeout), read=timeout)
        self.pool = pool or urllib3.PoolManager(num_pools=2, maxsize=4, retries=False)

    def deliver(self, items: list[Delivery]) -> set[str]:
        failed: set[str] = set()
        secret = self.secret()
        for item in items:
            body = json.dumps(
                {
                    "source": item.source_id,
                    "policyVersion": item.policy_version,
                    "sentAt": iso(datetime.now(UTC)),
                    "batch": [event for _, event in item.events],
                },
                separators=(",", ":"),
            ).encode()
            headers = {"Content-Type": "application/json", "User-Agent": "fairtrack-webhook/1"}
            if secret:
                headers[SIGNATURE_HEADER] = sign(secret, int(time.time()), body)
            try:
                resp = self.pool.request(
                    "POST", self.url, body=body, headers=headers, timeout=self.timeout, redirect=False, retries=False
                )
                status = resp.status
            except urllib3.exceptions.HTTPError as exc:
                logger.warning("webhook delivery failed", extra={"error_type": type(exc).__name__})
                failed.add(item.message_id)
                continue
            if not 200 <= status < 300:
                logger.warning("webhook answered an error", extra={"status": status})
                failed.add(item.message_id)
        return failed
