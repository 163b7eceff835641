"""What the proofs send: requests, the consent states hits carry, and how they are sent."""

from __future__ import annotations

import base64
import http.client
import json
import random
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from fairtrack_tools.local.localcloud import DEV_WRITE_KEY
from fairtrack_tools.local.runtime import PROJECT_ROOT

NECESSARY, ANALYTICS, ADVERTISING = "necessary", "analytics", "advertising"
AUTH = "Basic " + base64.b64encode(f"{DEV_WRITE_KEY}:".encode()).decode()
POLICY_FILE = PROJECT_ROOT / "policies" / "default.yaml"

USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
)


@dataclass
class Request:
    method: str
    path: str
    body: bytes
    headers: dict[str, str]
    expect_rejected: list[int] = field(default_factory=list)
    expect_status: int | None = None  # None: any 2xx
    status: int = 0
    answer: bytes = b""
    attempts: int = 0


def send(base_url: str, requests: list[Request], concurrency: int = 4, attempts: int = 5) -> None:
    """Send every request (``Connection: close``: one connection each); a failed one (no answer, or
    a status other than 2xx/4xx) is sent again, up to ``attempts`` times, as an SDK would."""
    host, port = urlsplit(base_url).hostname or "127.0.0.1", urlsplit(base_url).port or 80

    def one(req: Request) -> None:
        for attempt in range(attempts):
            req.attempts = attempt + 1
            conn = http.client.HTTPConnection(host, port, timeout=60)
            try:
                conn.request(
                    req.method, req.path, body=req.body or None, headers={**req.headers, "Connection": "close"}
                )
                resp = conn.getresponse()
                req.status, req.answer = resp.status, resp.read()
            except OSError:
                req.status, req.answer = 0, b""
            finally:
                conn.close()
            if req.status and req.status < 500:
                return
            time.sleep(0.2 * (attempt + 1))

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(one, requests))


def letters(n: int, alphabet: str = "abcdefghijklmnopqrstuvwx") -> str:
    """``n`` in letters (no ``y`` or ``z``: an id can never spell a canary marker, ``cnry``)."""
    out = ""
    while True:
        n, r = divmod(n, len(alphabet))
        out = alphabet[r] + out
        if n == 0:
            return out


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class ConsentState:
    label: str
    granted: frozenset[str]
    weight: int
    preferences: dict[str, bool] | None = None  # Segment context.consent.categoryPreferences
    managed: dict[str, Any] | None = None  # RudderStack context.consentManagement

    def apply(self, context: dict[str, Any]) -> None:
        if self.preferences is not None:
            context["consent"] = {"categoryPreferences": dict(self.preferences)}
        if self.managed is not None:
            context["consentManagement"] = json.loads(json.dumps(self.managed))


def _purposes(*names: str) -> frozenset[str]:
    return frozenset((NECESSARY, *names))


# The states, and what the default policy makes of them (see fairtrack.consent.signals: granted when some
# signal grants and none denies; no signal: necessary only).
CONSENT_STATES = (
    ConsentState("no signal", _purposes(), 20),
    ConsentState("analytics", _purposes(ANALYTICS), 25, {"analytics": True, "advertising": False}),
    ConsentState(
        "analytics+advertising", _purposes(ANALYTICS, ADVERTISING), 25, {"analytics": True, "advertising": True}
    ),
    ConsentState("advertising only", _purposes(ADVERTISING), 8, {"analytics": False, "marketing": True}),
    ConsentState("all denied", _purposes(), 8, {"analytics": False, "advertising": False}),
    ConsentState(
        "rudder C0002", _purposes(ANALYTICS), 5, managed={"allowedConsentIds": ["C0002"], "deniedConsentIds": ["C0004"]}
    ),
    ConsentState(
        "rudder C0002+C0004",
        _purposes(ANALYTICS, ADVERTISING),
        6,
        managed={"allowedConsentIds": ["C0002", "C0004"], "deniedConsentIds": [], "resolutionStrategy": "and"},
    ),
    ConsentState("unknown category", _purposes(), 3, {"functional": True}),
)
# gtag Consent Mode v1 (gcs = G1<ad_storage><analytics_storage>): it grants analytics; advertising
# also needs ad_user_data and ad_personalization granted, which only v2's gcd says
GTAG_CONSENT = (
    ("", _purposes(), 2),
    ("G100", _purposes(), 2),
    ("G101", _purposes(ANALYTICS), 3),
    ("G110", _purposes(), 1),
    ("G111", _purposes(ANALYTICS), 3),
)

# track names: (name, weight, carries a value and currency, GA4's drop reason for the name)
TRACKS: tuple[tuple[str, int, bool, str | None], ...] = (
    ("Order Completed", 12, True, None),
    ("Order Completed", 3, False, None),  # Meta: missing_purchase_value
    ("Product Viewed", 20, True, None),
    ("Product Added", 10, True, None),
    ("Signed Up", 5, False, None),
    ("Newsletter Opened", 30, False, None),
    ("Video Played", 8, False, None),
    ("session_start", 7, False, "reserved_event_name"),
    ("404 Seen", 5, False, "invalid_event_name"),
)
KINDS: tuple[tuple[str, int], ...] = (
    ("track", 55),
    ("page", 30),
    ("screen", 3),
    ("identify", 7),
    ("group", 3),
    ("alias", 2),
)
SHORT_ROUTE = {"track": "t", "page": "p", "screen": "s", "identify": "i", "group": "g", "alias": "a"}


def weighted(rng: random.Random, table: Iterable[tuple[Any, int]]) -> Any:
    items = list(table)
    return rng.choices([i for i, _ in items], [w for _, w in items])[0]
