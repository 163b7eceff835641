"""The canary workload: hits carrying personal data that is distinct per hit and per placement."""

from __future__ import annotations

import contextlib
import ipaddress
import json
import random
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote_plus, urlencode

from fairtrack.protocols import gtag as gtag_protocol
from fairtrack_tools.local.localcloud import DEV_MEASUREMENT_ID
from fairtrack_tools.proofs.traffic import (
    AUTH,
    CONSENT_STATES,
    GTAG_CONSENT,
    USER_AGENTS,
    Request,
    letters,
    now_iso,
    weighted,
)

_TAG_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"
MARKER = re.compile(r"cnry[a-z][a-z2-7]{8}", re.IGNORECASE)
IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d])")
IPV6 = re.compile(r"(?<![0-9A-Fa-f:])(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}(?![0-9A-Fa-f:])")
PHONE = re.compile(r"\+?\d[\d\s().\-/]{7,}\d")
UUID_TEXT = re.compile(r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}")
HEX24 = re.compile(r"(?<![0-9A-Fa-f])[0-9A-Fa-f]{24}(?![0-9A-Fa-f])")
# first octets of public IPv4 blocks (RIPE NCC and others): planted addresses look like visitors'
PUBLIC_V4_FIRST_OCTETS: tuple[int, ...] = (31, 37, 46, 62, 77, 78, 79, 80, 81, 82, 84, 85, 86, 87, 88, 89, 90, 91)
PUBLIC_V4_FIRST_OCTETS += (92, 93, 94, 95, 109, 176, 178, 185, 188, 193, 194, 195, 212, 213, 217)

# Placements where canaries are found in clear today (see KNOWN_LEAKS): each is tested on its own.
ECHOED_ID = "echoed id (the hit's own userId in its URL path and a property)"
CAMPAIGN_TERM = "context.campaign.term (utm_term copy)"
GTAG_CAMPAIGN_TERM = "gtag ck (campaign term)"
PAGE_TITLE = "context.page.title"
GTAG_PAGE_TITLE = "gtag dt (page title)"
KNOWN_LEAKS: dict[str, tuple[str, ...]] = {
    # analytics.js copies the URL's utm_* values into context.campaign, and gtag sends them as
    # cn/cs/cm/ck/cc: the URL cleaner redacts utm_term=<e-mail> in the URL, the copy goes out as sent
    "campaign": (CAMPAIGN_TERM, GTAG_CAMPAIGN_TERM),
    # page titles are free text ("Orders of jane@example.com"); no PII scan covers them
    "page_title": (PAGE_TITLE, GTAG_PAGE_TITLE),
    # a site's own short user id in its URL path or a property: neither a URL placeholder form nor a
    # PII pattern, though ingest holds the hit's raw ids when it cleans the URL
    "echoed_id": (ECHOED_ID,),
}


@dataclass(frozen=True)
class Planted:
    category: str  # email, phone, ip, client_ip, anonymous_id, user_id, ...
    placement: str  # where it was put, e.g. "properties.note (free text)"
    hit: int


@dataclass
class CanaryHit:
    index: int
    proof_id: str
    message_id: str  # gtag hits: the id the gateway derives (fairtrack.protocols.gtag)
    kind: str
    granted: frozenset[str]
    protocol: str  # segment | gtag


class CanaryWorkload:
    """Hits carrying personal data that is distinct per hit and per placement."""

    def __init__(self, hits: int, seed: int, *, gtag_share: float = 0.15, echo_share: float = 0.05) -> None:
        self.rng = random.Random(seed)  # noqa: S311 - a reproducible workload, not a secret
        self.run = letters(self.rng.randrange(24**4))
        self.counter = 0
        self.hits: list[CanaryHit] = []
        self.requests: list[Request] = []
        self.planted: dict[str, Planted] = {}  # marker tokens, IPs, UUIDs, hex tokens (lower case)
        self.phones: dict[str, Planted] = {}  # national part "1575NNNNNNN" -> where
        self.echo_share = echo_share
        self.invalid = 0
        segment = hits - int(hits * gtag_share)
        done = 0
        while done < segment:
            size = 1 if self.rng.random() < 0.3 else min(segment - done, self.rng.randint(2, 20))
            self._segment_request(size)
            done += size
        for _ in range(hits - segment):
            self._gtag_request()
        for _ in range(max(1, hits // 200)):  # whole requests refused: the answer must not echo them
            self._refused_request()
        self.rng.shuffle(self.requests)

    # planting ----------------------------------------------------------------------------------
    def _tag(self) -> str:
        while True:
            tag = "".join(self.rng.choice(_TAG_ALPHABET) for _ in range(8))
            if all(f"cnry{k}{tag}" not in self.planted for k in "eaugpcvndz"):
                return tag

    def marker(self, kind: str, category: str, placement: str, hit: int) -> str:
        token = f"cnry{kind}{self._tag()}"
        self.planted[token] = Planted(category, placement, hit)
        return token

    def email(self, placement: str, hit: int) -> str:
        return self.marker("e", "email", placement, hit) + "@mail.example"

    def phone(self, placement: str, hit: int, form: str | None = None) -> str:
        while True:
            national = "1575" + "".join(self.rng.choice("0123456789") for _ in range(7))
            if national not in self.phones:
                break
        self.phones[national] = Planted("phone", placement, hit)
        form = form or self.rng.choice(["+49 1575 {}", "+49-1575-{}", "+49 (0)1575 {}"])
        return form.format(national[4:]) if "{}" in form else national

    def ipv4(self, category: str, placement: str, hit: int) -> str:
        while True:
            ip = ".".join(
                [
                    str(self.rng.choice(PUBLIC_V4_FIRST_OCTETS)),
                    str(self.rng.randint(1, 254)),
                    str(self.rng.randint(1, 254)),
                    str(self.rng.randint(1, 254)),
                ]
            )
            if ip not in self.planted:
                self.planted[ip] = Planted(category, placement, hit)
                return ip

    def ipv6(self, category: str, placement: str, hit: int) -> str:
        while True:
            groups = ["2a02", *(f"{self.rng.randint(0x1000, 0xFFFF):x}" for _ in range(7))]
            ip = ":".join(groups)
            if ip not in self.planted:
                self.planted[ip] = Planted(category, placement, hit)
                return ip

    def uuid(self, placement: str, hit: int) -> str:
        value = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
        self.planted[value] = Planted("id in URL path", placement, hit)
        return value

    def hex_token(self, placement: str, hit: int) -> str:
        while True:
            value = "".join(self.rng.choice("0123456789abcdef") for _ in range(24))
            if re.search(r"\d", value) and re.search(r"[a-f]", value) and value not in self.planted:
                self.planted[value] = Planted("id in URL path", placement, hit)
                return value

    def _id(self) -> str:
        self.counter += 1
        return f"pf{self.run}{letters(self.counter)}"

    # Segment -----------------------------------------------------------------------------------
    def _segment_event(self, xff_hit: int) -> dict[str, Any]:
        rng = self.rng
        i = len(self.hits)
        kind = weighted(rng, (("track", 55), ("page", 25), ("identify", 10), ("group", 5), ("alias", 5)))
        state = weighted(rng, [(s, s.weight) for s in CONSENT_STATES])
        pid = self._id()
        echo = rng.random() < self.echo_share
        user = (
            self.marker("v", "echoed_id", ECHOED_ID, i)
            if echo
            else self.marker("u", "user_id", "userId", i)
            if rng.random() < 0.6 or kind == "alias"
            else None
        )
        path_id, path_token = self.uuid("URL path (UUID)", i), self.hex_token("URL path (24-hex token)", i)
        path = f"/account/{path_id}/orders/{path_token}"
        if echo:
            path = f"/account/{user}/orders"
        elif rng.random() < 0.3:
            path = f"/u/{self.email('URL path', i)}/settings"
        elif rng.random() < 0.2:
            path = f"/call/{self.phone('URL path', i, '+491575{}')}/x"
        elif rng.random() < 0.2:
            path = f"/ip/{self.ipv4('ip', 'URL path', i)}/x"
        query = urlencode(
            {
                "email": self.email("URL query", i),
                "phone": self.phone("URL query", i),
                "utm_source": "news",
                "utm_term": self.email("URL utm_term value", i),
                "fbclid": "IwAR"
                + "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwx") for _ in range(20)),
            }
        )
        url = f"https://shop.example{path}?{query}"
        context: dict[str, Any] = {
            "library": {"name": "analytics.js", "version": "next-1.70.0"},
            "userAgent": rng.choice(USER_AGENTS),
            "ip": self.ipv4("ip", "context.ip (client-sent)", i),
            "page": {
                "url": url,
                "path": path,
                "search": "?" + query,
                "title": f"Orders of {self.email(PAGE_TITLE, i)}",
                "referrer": f"https://mail.example/inbox?to={quote(self.email('referrer query', i))}",
            },
            # analytics.js copies the URL's utm_* parameters here
            "campaign": {"source": "news", "term": self.email(CAMPAIGN_TERM, i)},
            "device": {"id": self.marker("d", "device_id", "context.device.id (not catalogued)", i)},
            "traits": {
                "email": self.email("context.traits.email", i),
                "phone": self.phone("context.traits.phone", i),
                "firstName": self.marker("n", "name", "context.traits.firstName", i).capitalize(),
                "plan": "pro",
            },
        }
        state.apply(context)
        properties: dict[str, Any] = {
            "proof_id": pid,
            "email": self.email("properties.email (named field)", i),
            "note": (
                f"call {self.phone('properties.note (free text)', i)} or write to "
                f"{self.email('properties.note (free text)', i)} "
                f"from {self.ipv4('ip', 'properties.note (free text)', i)}"
                f" / {self.ipv6('ip', 'properties.note (free text)', i)}"
            ),
            "ip": self.ipv4("ip", "properties.ip (named field)", i),
            "contact": {"phone": self.phone("properties.contact.phone (nested)", i)},
            "history": [f"mailed {self.email('properties.history[] (list)', i)}"],
            self.email("properties key", i): True,
        }
        if echo:
            properties["customer_ref"] = user
        mid = self._id()
        event: dict[str, Any] = {"type": kind, "messageId": mid, "timestamp": now_iso(), "context": context}
        event["email"] = self.email("top-level field (not catalogued)", i)
        if kind != "alias":
            event["anonymousId"] = self.marker("a", "anonymous_id", "anonymousId", i)
        if user is not None:
            event["userId"] = user
        if kind == "track":
            event["event"] = rng.choice(["Order Completed", "Product Viewed", "Newsletter Opened"])
            event["properties"] = properties | {"revenue": 12.5, "currency": "EUR"}
        elif kind == "page":
            event["name"] = "Orders"
            event["properties"] = properties | {"url": url, "referrer": context["page"]["referrer"]}
        elif kind == "identify":
            event["traits"] = {
                "email": self.email("traits.email", i),
                "phone": self.phone("traits.phone", i),
                "firstName": self.marker("n", "name", "traits.firstName", i).capitalize(),
                "lastName": self.marker("n", "name", "traits.lastName", i).capitalize(),
                "note": f"reach me at {self.email('traits.note (free text)', i)}",
                "plan": "pro",
            }
        elif kind == "group":
            event["groupId"] = self.marker("g", "group_id", "groupId", i)
            event["traits"] = {"billingEmail": self.email("group traits.billingEmail", i), "seats": 3}
        else:
            event["previousId"] = self.marker("p", "previous_id", "previousId", i)
        self.hits.append(CanaryHit(i, pid, mid, kind, state.granted, "segment"))
        return event

    def _segment_request(self, size: int) -> None:
        xff_hit = len(self.hits)
        events = [self._segment_event(xff_hit) for _ in range(size)]
        xff = (
            self.ipv6("client_ip", "X-Forwarded-For (the client address)", xff_hit)
            if self.rng.random() < 0.2
            else self.ipv4("client_ip", "X-Forwarded-For (the client address)", xff_hit)
        )
        headers = {"Authorization": AUTH, "Content-Type": "application/json", "X-Forwarded-For": xff}
        rejected: list[int] = []
        if size > 1 and self.rng.random() < 0.2:  # one invalid event carrying canaries too
            rejected.append(len(events))
            i = len(self.hits) - 1
            events.append(
                {"type": "track", "userId": {"email": self.email("invalid event", i)}, "messageId": self._id()}
            )
            self.invalid += 1
        if size == 1 and not rejected:
            event = events[0]
            self.requests.append(Request("POST", f"/v1/{event['type']}", json.dumps(event).encode(), headers))
        else:
            body = json.dumps({"batch": events, "sentAt": now_iso()}).encode()
            self.requests.append(Request("POST", "/v1/batch", body, headers, expect_rejected=rejected))

    # gtag --------------------------------------------------------------------------------------
    def _gtag_request(self) -> None:
        rng = self.rng
        i = len(self.hits)
        gcs, granted, _ = weighted(rng, [(g, g[2]) for g in GTAG_CONSENT])
        pid = self._id()
        en = rng.choice(["page_view", "purchase", "sign_up"])
        url = (
            f"https://shop.example/u/{self.email('gtag dl (URL path)', i)}/o/{self.uuid('gtag dl (UUID in path)', i)}"
            f"?email={quote(self.email('gtag dl (URL query)', i))}&utm_source=news"
        )
        params = {
            "v": "2",
            "tid": DEV_MEASUREMENT_ID,
            "cid": self.marker("c", "gtag_client_id", "gtag cid", i),
            "en": en,
            "dl": url,
            "dr": f"https://mail.example/read?u={quote(self.email('gtag dr (referrer)', i))}",
            "dt": f"Orders of {self.email(GTAG_PAGE_TITLE, i)}",
            "cs": "news",
            "ck": self.email(GTAG_CAMPAIGN_TERM, i),
            "_p": str(rng.randrange(10**9)),
            "sid": str(rng.randrange(10**9)),
            "_et": "1200",
            "_uip": self.ipv4("ip", "gtag _uip (ignored)", i),
            "ep.proof_id": pid,
            "ep.email": self.email("gtag ep.email (named)", i),
            "ep.note": (
                f"call {self.phone('gtag ep.note (free text)', i)} / {self.email('gtag ep.note (free text)', i)}"
            ),
            "up.email": self.email("gtag up.email (user property)", i),
            "up.plan": "pro",
        }
        if rng.random() < 0.5:
            params["uid"] = self.marker("u", "user_id", "gtag uid", i)
        if gcs:
            params["gcs"] = gcs
        if en == "purchase":
            params |= {"epn.value": "10", "cu": "EUR"}
        xff = self.ipv4("client_ip", "X-Forwarded-For (gtag)", i)
        headers = {"User-Agent": rng.choice(USER_AGENTS[:3]), "X-Forwarded-For": xff}
        # the id the gateway derives for a gtag hit (measurement id, page load, sequence, line, name)
        mid = gtag_protocol.message_id(params, 0, en)
        self.hits.append(CanaryHit(i, pid, mid, "page" if en == "page_view" else "track", granted, "gtag"))
        if rng.random() < 0.5:
            self.requests.append(Request("GET", "/g/collect?" + urlencode(params), b"", headers))
        else:
            query: dict[str, str] = {k: params.pop(k) for k in ("v", "tid", "cid", "gcs") if k in params}
            body = urlencode(params).encode()
            self.requests.append(
                Request("POST", "/g/collect?" + urlencode(query), body, headers | {"Content-Type": "text/plain"})
            )

    def _refused_request(self) -> None:
        i = max(0, len(self.hits) - 1)
        body = {
            "type": "track",
            "event": "Order Completed",
            "userId": {"id": self.marker("u", "user_id", "refused request (userId)", i)},  # not a string: 400
            "properties": {"email": self.email("refused request (properties)", i)},
        }
        request = Request("POST", "/v1/track", json.dumps(body).encode(), {"Authorization": AUTH}, expect_status=400)
        self.requests.append(request)

    # searching ---------------------------------------------------------------------------------
    def find(self, text: str) -> Iterator[tuple[str, Planted]]:
        """Every planted value in ``text`` in clear: (the value, where it was planted)."""
        variants = [text]
        decoded = text
        for _ in range(2):
            if "%" not in decoded and "+" not in decoded:
                break
            decoded = unquote_plus(decoded)
            variants.append(decoded)
        seen: set[str] = set()
        for variant in variants:
            for pattern in (MARKER, IPV4, UUID_TEXT, HEX24):
                for match in pattern.finditer(variant):
                    value = match.group(0).lower()
                    planted = self.planted.get(value)
                    if planted is not None and value not in seen:
                        seen.add(value)
                        yield value, planted
            for match in IPV6.finditer(variant):
                with contextlib.suppress(ValueError):
                    value = str(ipaddress.ip_address(match.group(0)).exploded)
                    compact = ":".join(g.lstrip("0") or "0" for g in value.split(":"))
                    planted = self.planted.get(compact)
                    if planted is not None and compact not in seen:
                        seen.add(compact)
                        yield compact, planted
            for match in PHONE.finditer(variant):
                digits = re.sub(r"\D", "", match.group(0))
                for prefix in ("", "49", "0", "0049", "490"):
                    if digits.startswith(prefix) and (planted := self.phones.get(digits[len(prefix) :])) is not None:
                        if digits not in seen:
                            seen.add(digits)
                            yield match.group(0), planted
                        break
