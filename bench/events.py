"""Realistic analytics.js-like hits and the requests that carry them.

Deterministic (no randomness): hit ``i`` of a run is always the same, so two runs measure the same
bytes. Each hit looks like what analytics.js 2.0 sends from a shop: ``context.page``,
``context.library``, a user agent, a campaign, Segment consent preferences granting analytics, and
event properties; about 900 bytes of JSON, like the hit the per-hit figures in the AWS notes used.
"""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.fakes import ORIGIN
from fairtrack.ingest import IngestRequest

_IDS = uuid.UUID("6f1c2b7e-3d4a-4b5c-8e9f-0a1b2c3d4e5f")  # reproducible message ids

WRITE_KEY = "bench-write-key"
SOURCE_ID = "bench"
RECEIVED_AT = datetime(2026, 11, 24, 10, 15, 0, 250_000, tzinfo=UTC)
SOURCE_IP = "198.51.100.7"

_PRODUCTS = [
    ("sku-1042", "Merino Crew Sweater", "Knitwear", 89.9),
    ("sku-2210", "Linen Shirt", "Shirts", 59.0),
    ("sku-3307", "Canvas Tote Bag", "Accessories", 24.5),
    ("sku-4415", "Trail Running Shoe", "Footwear", 129.95),
]
_EVENTS = ["Product Viewed", "Product Added", "Checkout Started", "Order Completed"]
_USER_AGENT = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)


def _iso(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


def analytics_js_hit(i: int, *, consent: bool = True) -> dict[str, Any]:
    """Hit number ``i``: mostly ``track`` events, every fifth a ``page`` call."""
    sku, product, category, price = _PRODUCTS[i % len(_PRODUCTS)]
    path = f"/products/{sku}"
    happened = RECEIVED_AT - timedelta(seconds=2, milliseconds=37 * i)
    context: dict[str, Any] = {
        "library": {"name": "analytics.js", "version": "next-1.70.0"},
        "page": {
            "path": path,
            "referrer": "https://www.example.com/search?q=sweater",
            "search": "?utm_source=newsletter&utm_medium=email",
            "title": f"{product} | Example Shop",
            "url": f"https://shop.example.com{path}?utm_source=newsletter&utm_medium=email",
        },
        "userAgent": _USER_AGENT,
        "userAgentData": {
            "brands": [{"brand": "Chromium", "version": "131"}, {"brand": "Google Chrome", "version": "131"}],
            "mobile": False,
            "platform": "macOS",
        },
        "locale": "de-DE",
        "timezone": "Europe/Berlin",
        "campaign": {"source": "newsletter", "medium": "email", "name": "autumn-sale"},
    }
    if consent:
        context["consent"] = {
            "categoryPreferences": {"analytics": True, "advertising": False, "functional": True},
        }
    hit: dict[str, Any] = {
        # as analytics-next makes them: a random hex token (a run of digits alone is no opaque id:
        # ingest would replace it with a keyed one, an HMAC that real ids never cost)
        "messageId": f"ajs-next-{uuid.uuid5(_IDS, str(i)).hex}",
        "anonymousId": str(uuid.UUID(int=(i // 10) + 7_000_000)),
        "timestamp": _iso(happened),
        "sentAt": _iso(happened + timedelta(milliseconds=5)),
        "context": context,
        "integrations": {},
        "_metadata": {"bundled": ["Segment.io"], "unbundled": [], "bundledIds": []},
    }
    if i % 5 == 4:
        hit.update(type="page", name=product, properties={"path": path, "title": product, "category": category})
    else:
        hit.update(
            type="track",
            event=_EVENTS[i % len(_EVENTS)],
            properties={
                "product_id": sku,
                "sku": sku,
                "name": product,
                "category": category,
                "brand": "Example",
                "price": price,
                "currency": "EUR",
                "quantity": 1 + i % 3,
            },
        )
    return hit


def single_track_body() -> str:
    """The body of one ``POST /v1/track`` (hit 0, a track event)."""
    return json.dumps(analytics_js_hit(0))


def batch_body(n: int, *, consent: bool = True) -> str:
    """The body of one ``POST /v1/batch`` with ``n`` hits, as analytics.js batches them."""
    return json.dumps({"batch": [analytics_js_hit(i, consent=consent) for i in range(n)], "sentAt": _iso(RECEIVED_AT)})


def basic_auth(write_key: str) -> str:
    return "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()


def request(body: str, *, write_key: str | None = WRITE_KEY, headers: dict[str, str] | None = None) -> IngestRequest:
    """An API Gateway request as ingest sees it from a browser: text/plain JSON, Basic auth, an
    ``Origin`` the source allows (so the per-source CORS check runs too)."""
    all_headers = {"content-type": "text/plain;charset=UTF-8", "user-agent": _USER_AGENT, "origin": ORIGIN}
    if write_key is not None:
        all_headers["authorization"] = basic_auth(write_key)
    all_headers.update(headers or {})
    return IngestRequest(
        body=body,
        is_base64=False,
        headers=all_headers,
        query={},
        source_ip=SOURCE_IP,
        received_at=RECEIVED_AT,
        request_id="bench-request",
    )
