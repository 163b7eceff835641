"""The load run's workload: Segment requests under eight consent states, and what each
destination should make of every valid hit (accepted, or dropped with the mapper's reason).
"""

from __future__ import annotations

import gzip
import json
import random
import uuid
from dataclasses import dataclass
from typing import Any

from fairtrack_tools.local.localcloud import DEV_WRITE_KEY
from fairtrack_tools.proofs.traffic import (
    ADVERTISING,
    ANALYTICS,
    AUTH,
    CONSENT_STATES,
    KINDS,
    SHORT_ROUTE,
    TRACKS,
    USER_AGENTS,
    ConsentState,
    Request,
    letters,
    now_iso,
    weighted,
)


@dataclass
class Expected:
    """One valid hit, and what each destination should make of it."""

    message_id: str
    kind: str
    granted: frozenset[str]
    # destination -> None (delivered) or the destination's drop reason; absent: never queued to it
    routes: dict[str, str | None]


def expected_routes(
    kind: str,
    granted: frozenset[str],
    *,
    has_anonymous_id: bool,
    has_url: bool,
    has_user_agent: bool,
    ga4_name_drop: str | None = None,
    purchase_without_value: bool = False,
) -> dict[str, str | None]:
    """The oracle: where a hit goes under the default policy and the mappers' documented rules."""
    routes: dict[str, str | None] = {"lake": None}  # the lake needs only `necessary`
    if ANALYTICS in granted:
        routes["webhook"] = None
        if kind not in ("track", "page", "screen", "group"):  # a group call is GA4's join_group
            routes["ga4"] = "unsupported_type"
        elif not has_anonymous_id:
            routes["ga4"] = "missing_client_id"
        else:
            routes["ga4"] = ga4_name_drop if kind == "track" else None
    if ADVERTISING in granted:
        if kind not in ("track", "page"):
            routes["meta"] = "unsupported_type"
        elif not has_url:  # the name and the page URL serve advertising too, for Meta
            routes["meta"] = "missing_event_source_url"
        elif not has_user_agent:
            routes["meta"] = "missing_client_user_agent"
        elif ANALYTICS not in granted:  # no identifier: the IP and the pseudonymous ids need analytics
            routes["meta"] = "no_customer_information"
        elif purchase_without_value:
            routes["meta"] = "missing_purchase_value"
        else:
            routes["meta"] = None  # external_id: the anonymousId or userId pseudonym (analytics)
    return routes


class LoadWorkload:
    """Segment requests for the load run and the expected outcome of every valid hit."""

    def __init__(self, hits: int, seed: int, single_share: float = 0.05) -> None:
        self.rng = random.Random(seed)  # noqa: S311 - a reproducible workload, not a secret
        self.run = letters(self.rng.randrange(24**4))
        self.counter = 0
        self.expected: list[Expected] = []
        self.requests: list[Request] = []
        self.invalid = 0
        remaining = hits
        singles = max(1, int(hits * single_share))
        while remaining > 0:
            if singles > 0 and (self.rng.random() < 0.35 or remaining <= singles):
                self._single()
                singles -= 1
                remaining -= 1
            else:
                size = min(remaining - singles, self.rng.randint(2, 48)) if remaining > singles else 0
                if size <= 0:
                    continue
                self._batch(size)
                remaining -= size
        self.rng.shuffle(self.requests)

    def _id(self) -> str:
        self.counter += 1
        return f"pf{self.run}{letters(self.counter)}"

    def _event(self, visitor: str, state: ConsentState, *, consent_in_event: bool = True) -> dict[str, Any]:
        rng = self.rng
        kind = weighted(rng, KINDS)
        mid = self._id()
        user_id = f"user-{letters(rng.randrange(10**6))}" if rng.random() < 0.3 or kind == "alias" else None
        anonymous = kind != "alias" and rng.random() >= 0.05  # 5% signed-in hits without an anonymousId
        if not anonymous and user_id is None:
            user_id = f"user-{letters(rng.randrange(10**6))}"
        has_url = kind in ("track", "page") and rng.random() < 0.85
        has_ua = rng.random() < 0.9
        context: dict[str, Any] = {"library": {"name": "analytics.js", "version": "next-1.70.0"}, "locale": "de-DE"}
        if consent_in_event:
            state.apply(context)
        if has_ua:
            context["userAgent"] = rng.choice(USER_AGENTS)
        if has_url:
            slug = rng.choice(["", "products/blue-mug", "checkout/thanks", "blog/how-to-brew"])
            context["page"] = {
                "url": f"https://shop.example/{slug}?utm_source=news&utm_medium=email&gclid=Cj0K{mid}",
                "path": f"/{slug}",
                "title": "Shop",
                "referrer": "https://www.search.example/search?q=mugs",
            }
            context["campaign"] = {"source": "news", "medium": "email"}
        event: dict[str, Any] = {"type": kind, "messageId": mid, "context": context, "timestamp": now_iso()}
        if anonymous:
            event["anonymousId"] = visitor
        if user_id:
            event["userId"] = user_id
        ga4_drop: str | None = None
        unpriced = False
        if kind == "track":
            name, _, priced, ga4_drop = weighted(rng, [(t, t[1]) for t in TRACKS])
            event["event"] = name
            props: dict[str, Any] = {"proof_id": mid}
            if priced:
                props |= {
                    "revenue": 19.9,
                    "currency": "EUR",
                    "products": [{"product_id": "sku-1", "price": 9.95, "quantity": 2}],
                }
            elif name == "Order Completed":
                props["order_id"] = f"o-{mid}"
                unpriced = True
            event["properties"] = props
        elif kind in ("page", "screen"):
            event["name"] = rng.choice(["Home", "Product", "Checkout"])
            event["properties"] = {"proof_id": mid, "title": "Shop"}
            if has_url:
                event["properties"]["url"] = context["page"]["url"]  # analytics.js copies it; the policy drops it
        elif kind == "identify":
            event["traits"] = {"plan": "pro", "logins": rng.randint(1, 9)}
        elif kind == "group":
            event["groupId"] = f"grp-{mid}"  # one group per call: its join_group names the call (see group_ids)
            event["traits"] = {"seats": 3}
        else:  # alias
            event["previousId"] = visitor
        routes = expected_routes(
            kind,
            state.granted,
            has_anonymous_id=anonymous,
            has_url=has_url,
            has_user_agent=has_ua,
            ga4_name_drop=ga4_drop,
            purchase_without_value=unpriced,
        )
        self.expected.append(Expected(mid, kind, state.granted, routes))
        return event

    def _visitor(self) -> str:
        return f"anon-{uuid.UUID(int=self.rng.getrandbits(128))}"

    def _single(self) -> None:
        state = weighted(self.rng, [(s, s.weight) for s in CONSENT_STATES])
        event = self._event(self._visitor(), state)
        kind = event["type"]
        route = SHORT_ROUTE[kind] if self.rng.random() < 0.3 else kind
        if self.rng.random() < 0.5:
            event.pop("type")  # the route implies it
        self.requests.append(self._request(f"/v1/{route}", event))

    def _batch(self, size: int) -> None:
        rng = self.rng
        visitor = self._visitor()
        state = weighted(rng, [(s, s.weight) for s in CONSENT_STATES])
        top_context = rng.random() < 0.3
        mixed = rng.random() < 0.1  # each event its own consent
        events: list[dict[str, Any]] = []
        rejected: list[int] = []
        for _ in range(size):
            if rng.random() < 0.01:  # an invalid event: a track without its name
                rejected.append(len(events))
                events.append({"type": "track", "anonymousId": visitor, "messageId": self._id()})
                self.invalid += 1
            own = weighted(rng, [(s, s.weight) for s in CONSENT_STATES]) if mixed else state
            events.append(self._event(visitor, own, consent_in_event=mixed or not top_context))
        body: dict[str, Any] = {"batch": events, "sentAt": now_iso()}
        if top_context and not mixed:
            ctx: dict[str, Any] = {}
            state.apply(ctx)
            body["context"] = ctx
        route = rng.choice(["/v1/batch", "/v1/batch", "/v1/b", "/beacon/v1/batch"])
        self.requests.append(self._request(route, body, rejected))

    def _request(self, path: str, body: dict[str, Any], rejected: list[int] | None = None) -> Request:
        rng = self.rng
        headers = {"Content-Type": "text/plain" if path.startswith("/beacon") else "application/json"}
        how = rng.random()
        if how < 0.8:
            headers["Authorization"] = AUTH
        elif how < 0.9:
            body = {**body, "writeKey": DEV_WRITE_KEY}
        else:
            path += f"?writeKey={DEV_WRITE_KEY}"
        raw = json.dumps(body).encode()
        if rng.random() < 0.1:
            raw = gzip.compress(raw)
            headers["Content-Encoding"] = "gzip"
        return Request("POST", path, raw, headers, expect_rejected=rejected or [])
