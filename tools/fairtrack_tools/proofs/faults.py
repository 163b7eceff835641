"""The fault-injecting proxy the proofs put in front of the capture server.

A share of destination requests (:class:`FaultPlan`) is failed before it reaches the capture
server: 500, 503 or 429, held past the forwarders' timeout, reset, or refused for good with the
destination's own permanent error. The destination never saw a failed request, so an
exactly-once outcome stays provable.
"""

from __future__ import annotations

import random
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from fairtrack_tools.local.loopback import HOP_HEADERS, LoopbackServer, QuietHandler, relay

RETRYABLE_FAULTS = ("http_500", "http_503", "http_429", "timeout", "reset")
PERMANENT_FAULT = "permanent"
FORWARD_DROP = HOP_HEADERS | {"host"}
# what a permanent refusal looks like at each destination, and the reason the forwarder gives it
PERMANENT_ANSWERS: dict[str, tuple[int, bytes, str]] = {
    "ga4": (403, b'{"error":"forbidden (proof fault)"}', "http_403"),
    "webhook": (410, b'{"error":"gone (proof fault)"}', "http_410"),
    "meta": (
        400,
        b'{"error":{"message":"Invalid OAuth access token (proof fault).","type":"OAuthException",'
        b'"code":190,"fbtrace_id":"proof"}}',
        "meta_code_190",
    ),
}


@dataclass(frozen=True)
class FaultPlan:
    """Which share of destination requests fails, and how (weights within the failing share)."""

    rate: float = 0.30
    mix: tuple[tuple[str, float], ...] = (
        ("http_500", 0.25),
        ("http_503", 0.10),
        ("http_429", 0.25),
        ("timeout", 0.10),
        ("reset", 0.20),
        (PERMANENT_FAULT, 0.10),
    )
    seed: int = 1
    hold_seconds: float = 3.0  # a "timeout" holds the request this long (the forwarders wait 2.5 s)


class FaultProxy(LoopbackServer):
    """A loopback HTTP proxy in front of the capture server that fails a share of requests.

    Faults happen before the request is forwarded, so the capture server never sees a failed one.
    Counts per destination: requests, forwarded, and each fault kind injected."""

    def __init__(self, plan: FaultPlan) -> None:
        self.plan = plan
        self.upstream: tuple[str, int] | None = None
        # one sequence per destination, so that how the forwarders' requests interleave does not
        # change which of a destination's requests fail
        self._rngs: dict[str, random.Random] = {}
        self.stats: dict[str, Counter[str]] = defaultdict(Counter)
        self._kinds = [k for k, _ in plan.mix]
        self._weights = [w for _, w in plan.mix]
        outer = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                body = self.read_body()
                name = urlsplit(self.path).path.strip("/").split("/", 1)[0]
                fault = outer.draw(name)
                if fault == "timeout":
                    time.sleep(outer.plan.hold_seconds)
                    self.close_connection = True
                elif fault == "reset":
                    self.reset()  # no answer at all
                elif fault == PERMANENT_FAULT:
                    status, answer, _ = PERMANENT_ANSWERS.get(name, (400, b'{"error":"proof"}', "http_400"))
                    self.answer(status, answer)
                elif fault is not None:
                    self.answer(int(fault.removeprefix("http_")), b'{"error":"failing on purpose (proof)"}')
                else:
                    status, answer, ctype = outer.forward(name, self.path, body, self.headers.items())
                    self.answer(status, answer, ctype)

        super().__init__(Handler, name="fault-proxy")

    def draw(self, name: str) -> str | None:
        """The fault for the next request to destination ``name`` (None: forward it), counted."""
        with self.lock:
            rng = self._rngs.get(name)
            if rng is None:  # a reproducible fault sequence, not a secret
                rng = self._rngs[name] = random.Random(f"{self.plan.seed}:{name}")  # noqa: S311
            fault = rng.choices(self._kinds, self._weights)[0] if rng.random() < self.plan.rate else None
            self.stats[name]["requests"] += 1
            self.stats[name][fault or "forwarded"] += 1
        return fault

    def forward(self, name: str, path: str, body: bytes, headers: Iterable[tuple[str, str]]) -> tuple[int, bytes, str]:
        """One request to the capture server: its status, body and content type (502 when the
        capture server cannot be reached, counted as ``upstream_error``)."""
        assert self.upstream is not None, "upstream not set"
        try:
            status, answer_headers, answer = relay(self.upstream, "POST", path, body, headers, drop=FORWARD_DROP)
        except OSError:
            with self.lock:
                self.stats[name]["upstream_error"] += 1
            return 502, b'{"error":"upstream"}', "application/json"
        return status, answer, answer_headers.get("Content-Type") or "application/json"


def injected(faults: dict[str, Counter[str]], destination: str) -> tuple[int, int]:
    """(retryable faults, permanent faults) the proxy injected for a destination."""
    counts = faults.get(destination, Counter())
    return sum(counts[k] for k in RETRYABLE_FAULTS), counts[PERMANENT_FAULT]
