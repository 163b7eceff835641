"""GA4 Measurement Protocol delivery: map (``ga4_mapping``), then POST each request.

``POST {GA4_ENDPOINT}/mp/collect?measurement_id=…&api_secret=…`` with the mapped JSON body; the
``api_secret`` comes from Secrets Manager (cached) and is only ever in the URL, never in a body,
a log line or the failed-events store. ``GA4_ENDPOINT`` set to ``https://region1.google-analytics.com``
keeps collection in the EU.

GA4 answers 2xx even to a malformed payload, so production mode cannot see validation errors. The
dev mode (``GA4_DEBUG=true``) posts to ``/debug/mp/collect`` instead, where GA4 validates and does
not record: a request with ``validationMessages`` is a permanent failure (reason
``ga4_validation``), kept in the failed-events store with GA4's answer, and the messages' field
paths and codes (never descriptions or values) are logged so a developer sees what to fix.

An event sent with a ``value`` but no valid ``currency`` keeps its place (GA4 records it) but GA4
computes no revenue from it: each batch's count of them, by reason (``missing_currency``,
``invalid_currency``), is logged as a warning and metered as ``Ga4RevenueWithoutCurrency``
(dimensions ``destination`` and ``reason``), besides the ``revenue_without_currency:<reason>``
adjustment in the forwarder's batch line. Counts only, never the amounts.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import urlencode

import urllib3

from fairtrack.destinations import Delivery, DeliveryReport, Stop, without_credential
from fairtrack.destinations.ga4_mapping import map_ga4
from fairtrack.destinations.ga4_rules import REVENUE_WITHOUT_CURRENCY
from fairtrack.destinations.transport import Answer, Transport, Verdict, send_all, verdict
from fairtrack.observability import count_by_reason, logger

__all__ = ["Ga4Destination", "meter_revenue_without_currency"]

REVENUE_METRIC = "Ga4RevenueWithoutCurrency"


def meter_revenue_without_currency(adjustments: Counter[str]) -> dict[str, int]:
    """Log and meter the events of a mapping sent with a value GA4 will not count as revenue (no
    valid currency); returns the counts by reason."""
    counts = {
        reason: count
        for key, count in adjustments.items()
        for action, _, reason in [key.partition(":")]
        if action == REVENUE_WITHOUT_CURRENCY and count > 0
    }
    if not counts:
        return counts
    logger.warning(
        "GA4 events sent with a value and no valid currency: GA4 counts no revenue for them",
        extra={"revenue_without_currency": counts},
    )
    count_by_reason(REVENUE_METRIC, counts, "ga4")
    return counts


def validation_messages(answer: Answer) -> list[dict[str, str]]:
    try:
        messages = json.loads(answer.body).get("validationMessages")
    except (ValueError, AttributeError):
        return []
    return [m for m in messages if isinstance(m, dict)] if isinstance(messages, list) else []


def debug_verdict(answer: Answer) -> Verdict:
    base = verdict(answer)
    if base == "ok" and validation_messages(answer):
        return "permanent"
    return base


def debug_reason(answer: Answer) -> str:
    return "ga4_validation" if answer.status is not None and answer.status < 300 else answer.describe()


class Ga4Destination:
    def __init__(
        self,
        endpoint: str,
        measurement_id: str,
        api_secret: Callable[[], bytes | None],
        *,
        timeout: float,
        debug: bool = False,
        pool: urllib3.PoolManager | None = None,
    ) -> None:
        if not measurement_id:
            raise ValueError("GA4_MEASUREMENT_ID is not configured")
        self.base = endpoint.rstrip("/") + ("/debug/mp/collect" if debug else "/mp/collect")
        self.measurement_id = measurement_id
        self.api_secret = api_secret
        self.debug = debug
        self.transport = Transport(timeout, "fairtrack-ga4/1", pool)

    def deliver(self, items: list[Delivery], stop: Stop | None = None) -> DeliveryReport:
        secret = self.api_secret()
        if not secret:
            return without_credential(items, "GA4 api_secret", "missing_api_secret")
        url = self.base + "?" + urlencode({"measurement_id": self.measurement_id, "api_secret": secret.decode()})

        def post(body: bytes) -> Answer:
            answer = self.transport.post(url, body)
            if self.debug and (messages := validation_messages(answer)):
                logger.warning(
                    "GA4 validation messages",
                    extra={
                        "messages": [
                            {"fieldPath": str(m.get("fieldPath", ""))[:80], "code": str(m.get("validationCode", ""))}
                            for m in messages[:25]
                        ]
                    },
                )
            return answer

        mapping = map_ga4(items, now=datetime.now(UTC))
        meter_revenue_without_currency(mapping.adjustments)
        executor = self.transport.executor
        if self.debug:
            return send_all(mapping, post, debug_verdict, debug_reason, stop=stop, executor=executor)
        return send_all(mapping, post, stop=stop, executor=executor)
