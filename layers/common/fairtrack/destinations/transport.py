"""HTTP delivery shared by the HTTP destinations (GA4, Meta, webhook): one pool, one verdict rule.

- One ``urllib3.PoolManager`` per destination per container (created with the destination when
  the module-level forwarder is built), so connections are kept alive across invocations.
- GA4 sends one request per visitor and the webhook one per queue message, so a batch of single
  hits is as many requests: they go out :data:`CONCURRENCY` at a time
  (``send_all(executor=...)``), and the batch waits for its slowest rounds of answers rather than
  for the sum of them (Lambda bills the wait). Meta sends up to 1,000 events in one request.
- Timeouts are bounded (connect at most 2 s, read as configured); redirects are never followed
  and urllib3's own retries are off: SQS redelivery is the retry mechanism, so a failing request
  costs one attempt per receive, and ``maxReceiveCount`` bounds the total.
- :func:`verdict` classifies an answer: ``ok`` (2xx), ``retry`` (no answer: timeout, reset,
  refused; 408, 429, 5xx), or ``permanent`` (any other status, 3xx included: a redirect means the
  configured URL is wrong and retrying cannot fix it). Meta's error codes refine it
  (:func:`meta_verdict`).

The destination's answer body is kept (its first :data:`ANSWER_LIMIT` characters) for the
failed-events store, which is access-controlled; it is never logged, since an error message may
quote a submitted value.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal

import urllib3

from fairtrack.destinations import DeliveryReport, Failure, Mapping, Stop

__all__ = [
    "ANSWER_LIMIT",
    "CONCURRENCY",
    "Answer",
    "Transport",
    "Verdict",
    "meta_error_code",
    "meta_verdict",
    "send_all",
    "verdict",
]

Verdict = Literal["ok", "retry", "permanent"]

ANSWER_LIMIT = 2048
CONCURRENCY = 8  # requests of one batch in flight at once; also the pool's connections per host
RETRYABLE_STATUS = frozenset({408, 429})
# Meta Graph API error codes (developers.facebook.com/docs/graph-api/guides/error-handling):
# 1 unknown and 2 service (transient), 4 application rate limit, 17 user rate limit, 32 page rate
# limit, 613 calls within one hour exceeded, 80004 ad account rate limit: all retryable.
META_RETRYABLE_CODES = frozenset({1, 2, 4, 17, 32, 613, 80004})


@dataclass(frozen=True)
class Answer:
    """What a destination answered: a status and body, or the error that stopped the request."""

    status: int | None
    body: str = ""
    error: str | None = None  # exception type when there was no answer

    def describe(self) -> str:
        """A value-free description for logs and metrics: ``http_429``, ``ReadTimeoutError``."""
        return f"http_{self.status}" if self.status is not None else (self.error or "no_answer")


def verdict(answer: Answer) -> Verdict:
    if answer.status is None:
        return "retry"
    if 200 <= answer.status < 300:
        return "ok"
    if answer.status in RETRYABLE_STATUS or answer.status >= 500:
        return "retry"
    return "permanent"


def meta_error_code(answer: Answer) -> int | None:
    try:
        error = json.loads(answer.body).get("error")
    except (ValueError, AttributeError):
        return None
    if not isinstance(error, dict):
        return None
    code = error.get("code")
    return code if isinstance(code, int) and not isinstance(code, bool) else None


def meta_verdict(answer: Answer) -> Verdict:
    """Meta answers errors with an HTTP status *and* an error code; the code decides.

    Transient and rate-limit codes are retried whatever the status (Meta sends rate limits as
    400); ``is_transient: true`` is honoured too; 100 (invalid parameter), 190 (invalid token) and
    other codes on a 4xx are permanent.
    """
    base = verdict(answer)
    if base == "ok" or answer.status is None:
        return base
    code = meta_error_code(answer)
    if code in META_RETRYABLE_CODES:
        return "retry"
    try:
        error = json.loads(answer.body).get("error") or {}
        if isinstance(error, dict) and error.get("is_transient") is True:
            return "retry"
    except (ValueError, AttributeError):
        pass
    return base


class Transport:
    """A kept-alive connection pool for one destination, with bounded timeouts and no redirects."""

    def __init__(self, timeout: float, user_agent: str, pool: urllib3.PoolManager | None = None) -> None:
        self.timeout = urllib3.Timeout(connect=min(2.0, timeout), read=timeout)
        self.user_agent = user_agent
        self.pool = pool or urllib3.PoolManager(num_pools=2, maxsize=CONCURRENCY, retries=False)
        self._executor: ThreadPoolExecutor | None = None

    @property
    def executor(self) -> ThreadPoolExecutor:
        """Threads for a batch's requests, made on first use and kept with the container."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=CONCURRENCY, thread_name_prefix="send")
        return self._executor

    def post(self, url: str, body: bytes, headers: dict[str, str] | None = None) -> Answer:
        all_headers = {"Content-Type": "application/json", "User-Agent": self.user_agent, **(headers or {})}
        try:
            resp = self.pool.request(
                "POST",
                url,
                body=body,
                headers=all_headers,
                timeout=self.timeout,
                redirect=False,
                retries=False,
                preload_content=False,
            )
        except urllib3.exceptions.HTTPError as exc:
            return Answer(None, error=type(exc).__name__)
        try:
            raw = resp.read(ANSWER_LIMIT * 4, decode_content=True)
        except urllib3.exceptions.HTTPError as exc:  # the answer broke off: the outcome is unknown
            return Answer(None, error=type(exc).__name__)
        finally:
            resp.drain_conn()
            resp.release_conn()
        return Answer(resp.status, raw.decode("utf-8", "replace")[:ANSWER_LIMIT])


def send_all(
    mapping: Mapping,
    post: Callable[[bytes], Answer],
    judge: Callable[[Answer], Verdict] = verdict,
    reason: Callable[[Answer], str] = Answer.describe,
    *,
    stop: Stop | None = None,
    executor: ThreadPoolExecutor | None = None,
) -> DeliveryReport:
    """Send every request of ``mapping`` and account for every event in a report.

    A request that failed retryably puts its messages up for redelivery; one that failed for good
    becomes a :class:`Failure` with the destination's answer. Requests are independent: one
    failure does not stop the others. ``stop``: asked before each request; once it says so, the
    remaining requests' messages are left for retry (reason ``deadline``), none of them sent.
    ``executor``: send the requests through it, several at once (answers are accounted in the
    requests' order either way).
    """

    def attempt(body: bytes) -> Answer | None:
        if stop is not None and stop():
            return None
        return post(body)

    bodies = [request.body for request in mapping.requests]
    if executor is not None and len(bodies) > 1:
        answers = list(executor.map(attempt, bodies))
    else:
        answers = [attempt(body) for body in bodies]
    report = DeliveryReport(dropped=list(mapping.dropped), adjustments=Counter(mapping.adjustments))
    for request, answer in zip(mapping.requests, answers, strict=True):
        if answer is None:
            report.retry.update(ref.message_id for ref in request.events)
            report.retry_reasons["deadline"] += 1
            continue
        outcome = judge(answer)
        if outcome == "ok":
            report.sent.extend(request.events)
        elif outcome == "retry":
            report.retry.update(ref.message_id for ref in request.events)
            report.retry_reasons[answer.describe()] += 1
        else:
            report.failed.append(Failure(request.events, reason(answer), answer.status, answer.body))
    return report
