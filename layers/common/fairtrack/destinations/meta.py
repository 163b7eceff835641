"""Meta Conversions API delivery: map and validate (``meta_mapping``), then POST each request.

``POST {META_GRAPH_URL}/{pixel_id}/events?access_token=…`` with ``{"data": [...]}``; the token
comes from Secrets Manager (cached) and is only in the URL. One invalid event makes Meta reject a
whole request, so the mapper validates every event first and drops the ones Meta would refuse
(with a reason); what Meta still refuses is classified by its error code
(:func:`fairtrack.destinations.transport.meta_verdict`): transient and rate-limit codes are
retried through SQS, 100 (invalid parameter), 190 (invalid token) and other 4xx are kept in the
failed-events store with Meta's answer. ``META_TEST_EVENT_CODE`` sends to the Events Manager's
test view.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import urllib3

from fairtrack.destinations import Delivery, DeliveryReport, Stop, without_credential
from fairtrack.destinations.meta_mapping import map_meta
from fairtrack.destinations.transport import Answer, Transport, meta_error_code, meta_verdict, send_all

__all__ = ["MetaDestination"]


def meta_reason(answer: Answer) -> str:
    code = meta_error_code(answer)
    return f"meta_code_{code}" if code is not None else answer.describe()


class MetaDestination:
    def __init__(
        self,
        graph_url: str,
        pixel_id: str,
        access_token: Callable[[], bytes | None],
        *,
        timeout: float,
        test_event_code: str = "",
        pool: urllib3.PoolManager | None = None,
    ) -> None:
        if not pixel_id:
            raise ValueError("META_PIXEL_ID is not configured")
        self.base = f"{graph_url.rstrip('/')}/{pixel_id}/events"
        self.access_token = access_token
        self.test_event_code = test_event_code or None
        self.transport = Transport(timeout, "fairtrack-meta/1", pool)

    def deliver(self, items: list[Delivery], stop: Stop | None = None) -> DeliveryReport:
        token = self.access_token()
        if not token:
            return without_credential(items, "Meta access token", "missing_access_token")
        url = self.base + "?" + urlencode({"access_token": token.decode()})
        # one active policy per batch (the forwarder re-checks every item against the same one)
        rule = items[0] if items else None

        def ldu(event: dict[str, Any]) -> bool:
            return rule.ldu_applies(event) if rule else False

        mapping = map_meta(items, now=datetime.now(UTC), test_event_code=self.test_event_code, limited_data_use=ldu)
        return send_all(mapping, lambda body: self.transport.post(url, body), meta_verdict, meta_reason, stop=stop)
