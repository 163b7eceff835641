"""The local stack's debug view (``/_dev/``): recent hits, as ingest saw them, live.

Like server-side GTM's preview mode, for fairtrack's own questions. For each hit: what left
ingest (already anonymised: pseudonyms, truncated address, cleaned URLs), the purposes its
consent granted and the signals they came from, and per destination the payload queued or why
nothing was, field by field (sent / reduced, with its form / dropped, with reason and purpose).

How. The ingest function runs in worker subprocesses and queues to SQS as usual; nothing about that
changes. For each request it answered with a 2xx, the stack then runs a *preview* of the same code
in its own process, on a background thread, after the answer has gone: an
:class:`~fairtrack.ingest.Ingestor` with the function's settings (from template.yaml), the local
policy table (read only), the deployment's pseudonym key and today's cookieless-id salt (read,
never made), and a sender that keeps messages in memory instead of queueing them. So the preview
queues nothing and writes nothing. The field decisions come from
:func:`fairtrack.policy.engine.evaluate` with ``record=True`` on the anonymised payload, the call each
forwarder makes; the payload shown per destination is the one the preview's ingest queued.

What is kept: the last ``capacity`` hits, already reduced to what ingest queues (identifiers as
pseudonyms, the truncated address, cleaned URLs) and to the policy's vocabulary (purposes, signal
kinds, field paths, reasons). The raw request (body, address, user agent, query string) is read
by the preview and then dropped; the full user agent, which Meta may get under advertising, is
withheld from the view even then. The preview's own caches are cleared after each request.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import queue
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from fairtrack.anonymise.pseudonym import Pseudonymiser, secret_key
from fairtrack.api.routes import BATCH_ROUTES, TYPED_ROUTES
from fairtrack.errors import ClientError
from fairtrack.hit import iso
from fairtrack.ingest import IngestRequest, IngestResult
from fairtrack.settings import DESTINATIONS, Destination, IngestSettings
from fairtrack_tools.local.apiserver import RawBody
from fairtrack_tools.local.preview import (
    CapturingSender,
    LocalPolicyStore,
    Preview,
    ReadOnlySalts,
    answer_of,
    hit_entry,
    route_name,
)

CAPACITY = 200
PENDING_LIMIT = 1000  # requests waiting for their preview; beyond it, previews are skipped (counted)
PAGE_PATH = Path(__file__).with_name("debug_page.html")


# -- the buffer -------------------------------------------------------------------------------------
class HitBuffer:
    """The last ``capacity`` entries, each already free of raw personal data, numbered in order."""

    def __init__(self, capacity: int = CAPACITY) -> None:
        self.capacity = capacity
        self._entries: deque[dict[str, Any]] = deque(maxlen=capacity)
        self._seq = 0
        self._lock = threading.Lock()
        self.epoch = uuid.uuid4().hex[:12]

    def add(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self._seq += 1
            self._entries.append({"seq": self._seq, **entry})

    def since(self, after: int = 0) -> dict[str, Any]:
        with self._lock:
            hits = [e for e in self._entries if e["seq"] > after]
            return {"epoch": self.epoch, "last": self._seq, "capacity": self.capacity, "hits": hits}

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self.epoch = uuid.uuid4().hex[:12]


# -- the view ---------------------------------------------------------------------------------------
class DebugView:
    """Previews the ingest function's requests and keeps the last ``capacity`` hits for ``/_dev/``."""

    def __init__(
        self,
        settings: IngestSettings,
        *,
        function: str,
        dynamodb: Any,
        session: Any,
        endpoint_url: str | None,
        pseudonym_key: str | bytes | None,
        capacity: int = CAPACITY,
    ) -> None:
        self.function = function
        self.settings = settings
        self.buffer = HitBuffer(capacity)
        self.sender = CapturingSender()
        store = LocalPolicyStore(settings.policy_table, settings.policy_cache_seconds, session, endpoint_url)
        self.observed = Preview(
            settings,
            store,
            self.sender,
            pseudonymiser=Pseudonymiser(secret_key(pseudonym_key)) if pseudonym_key else None,
            salts=ReadOnlySalts(settings.policy_table, lambda: dynamodb),
        )
        self.configured: list[Destination] = [d for d in DESTINATIONS if settings.queue_url(d)]
        self._queues = {settings.queue_url(d): d for d in self.configured}
        self._pending: queue.Queue[tuple[dict[str, Any], Any] | None] = queue.Queue(maxsize=PENDING_LIMIT)
        self.skipped = 0  # previews not run because too many were waiting
        self._thread = threading.Thread(target=self._run, daemon=True, name="debug-view")
        self._page: tuple[dict[str, str], bytes] | None = None

    @classmethod
    def for_cloud(cls, cloud: Any, function: str, environment: dict[str, str]) -> DebugView:
        """For a function of a started :class:`~fairtrack_tools.local.localcloud.LocalCloud`."""
        settings = IngestSettings.model_validate(environment)
        key: str | bytes | None = None
        if settings.pseudonym_secret_arn:
            secret = cloud.client("secretsmanager").get_secret_value(SecretId=settings.pseudonym_secret_arn)
            key = secret.get("SecretString") or secret.get("SecretBinary")
        return cls(
            settings,
            function=function,
            dynamodb=cloud.client("dynamodb"),
            session=cloud.session,
            endpoint_url=cloud.endpoint or None,
            pseudonym_key=key,
        )

    # lifecycle
    def start(self) -> DebugView:
        self._thread.start()
        return self

    def stop(self) -> None:
        with contextlib.suppress(queue.Full):  # a full queue: the thread ends with the process (daemon)
            self._pending.put_nowait(None)
        self._thread.join(timeout=3)

    def observe(self, event: dict[str, Any], response: Any) -> None:
        """Called for each request the ingest function answered; returns at once."""
        try:
            self._pending.put_nowait((event, response))
        except queue.Full:
            self.skipped += 1

    def flush(self, timeout: float = 10.0) -> None:
        """Wait until every observed request has its preview (tests); ``TimeoutError`` when the
        previews are still pending after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while self._pending.unfinished_tasks:
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{self._pending.unfinished_tasks} previews still pending after {timeout} s")
            time.sleep(0.02)

    def _run(self) -> None:
        while True:
            item = self._pending.get()
            try:
                if item is None:
                    return
                try:
                    entries = self.preview(*item)
                except Exception as exc:  # noqa: BLE001 - the view must never take the stack down
                    entries = [{"outcome": "preview_failed", "error_type": type(exc).__name__}]
                for entry in entries:
                    self.buffer.add(entry)
            finally:
                item = None
                self._pending.task_done()

    # the preview
    def preview(self, event: dict[str, Any], response: Any) -> list[dict[str, Any]]:
        http = (event.get("requestContext") or {}).get("http") or {}
        method = str(http.get("method") or "").upper()
        path = str(event.get("rawPath") or "")
        if method in ("OPTIONS", "HEAD") or (method == "GET" and path == "/fairtrack.js"):
            return []  # a CORS preflight or the snippet's script carries no hit
        status, answer = answer_of(response)
        epoch_ms = (event.get("requestContext") or {}).get("timeEpoch") or 0
        received = datetime.fromtimestamp(epoch_ms / 1000, UTC) if epoch_ms else datetime.now(UTC)
        base: dict[str, Any] = {
            "request_id": str((event.get("requestContext") or {}).get("requestId") or ""),
            "received_at": iso(received),
            "route": route_name(method, path),
            "status": status,
            "answer": answer,
        }
        if not 200 <= status < 300:
            return [{**base, "outcome": "refused"}]
        run = self._dispatch(method, path)
        if run is None:
            return [{**base, "outcome": "not_previewed"}]
        from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

        from fairtrack.api.http import to_request

        request = to_request(APIGatewayProxyEventV2(event))
        self.observed.forget()
        self.sender.messages = []
        try:
            try:
                result = run(request)
            except ClientError as exc:
                return [{**base, "outcome": "preview_failed", "error_code": exc.code}]
            queued: dict[str, deque[tuple[list[str], dict[str, Any]]]] = {}
            for url, body in self.sender.messages:
                envelope = json.loads(body)
                dest = self._queues.get(url, envelope.get("destination", "?"))
                queued.setdefault(dest, deque()).extend((e["purposes"], e["event"]) for e in envelope["events"])
            traces = self.observed.traces
            base["hits_in_request"] = len(traces)
            base["rejected_in_request"] = len(result.rejected)
            base["duplicates_in_request"] = result.duplicates
            return [
                hit_entry(base, i, trace, queued, configured=self.configured, settings=self.settings)
                for i, trace in enumerate(traces)
            ]
        finally:
            # nothing raw outlives the request: the traces (raw hits), the messages, the memos
            self.sender.messages = []
            self.observed.forget()

    def _dispatch(self, method: str, path: str) -> Callable[[IngestRequest], IngestResult] | None:
        ing = self.observed.ingestor
        if path == "/g/collect" and method in ("GET", "POST"):
            return ing.gtag
        if path == "/beacon/v1/batch" and method == "POST":
            return ing.segment_batch
        parts = path.strip("/").split("/")
        if method == "POST" and len(parts) == 2 and parts[0] == "v1":
            if parts[1] in BATCH_ROUTES:
                return ing.segment_batch
            if parts[1] in TYPED_ROUTES:
                kind = TYPED_ROUTES[parts[1]]
                return lambda request: ing.segment(request, kind)
        return None

    # HTTP
    def handle(self, method: str, path: str, query: str) -> tuple[int, Any] | None:
        """``/_dev/``: the page (GET); ``/_dev/hits``: GET (``?after=<seq>``) the hits after a
        sequence number, DELETE clears them."""
        if path in ("/_dev", "/_dev/") and method in ("GET", "HEAD"):
            if path == "/_dev":
                return 308, RawBody({"location": "/_dev/"}, b"")
            headers, body = self.page()
            return 200, RawBody(headers, body)
        if path.rstrip("/") != "/_dev/hits":
            return None
        if method == "GET":
            after = parse_qs(query).get("after", ["0"])[0]
            out = self.buffer.since(int(after) if after.isdigit() else 0)
            out["pending"] = self._pending.unfinished_tasks
            out["skipped"] = self.skipped
            return 200, out
        if method == "DELETE":
            self.buffer.clear()
            return 200, {"cleared": True}
        return 405, {"message": "GET or DELETE"}

    def page(self) -> tuple[dict[str, str], bytes]:
        """The page and its headers; a CSP admits only its own inline script and style (by hash)."""
        if self._page is None:
            html = PAGE_PATH.read_text(encoding="utf-8")
            csp = (
                f"default-src 'none'; script-src {inline_hashes(html, 'script')}; "
                f"style-src {inline_hashes(html, 'style')}; "
                "connect-src 'self'; img-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
            )
            headers = {
                "content-type": "text/html; charset=utf-8",
                "cache-control": "no-store",
                "content-security-policy": csp,
                "x-content-type-options": "nosniff",
                "referrer-policy": "no-referrer",
            }
            self._page = (headers, html.encode("utf-8"))
        return self._page


def inline_hashes(html: str, tag: str) -> str:
    """CSP sources admitting exactly the page's inline ``<tag>`` blocks (by SHA-256), nothing else."""
    bodies = re.findall(rf"<{tag}>(.*?)</{tag}>", html, flags=re.S)
    return " ".join(f"'sha256-{base64.b64encode(hashlib.sha256(b.encode()).digest()).decode()}'" for b in bodies)
