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
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, get_args
from urllib.parse import parse_qs

from pydantic_core import to_json

from fairtrack.anonymise.pseudonym import DailySalts, Pseudonymiser, salt_id, secret_key
from fairtrack.consent import signals as consent
from fairtrack.errors import ClientError
from fairtrack.hit import EventType, Hit, iso
from fairtrack.ingest import IDENTIFIERS, Ingestor, IngestRequest, IngestResult, Visitor
from fairtrack.policy import Decision, Policy, evaluate, explain
from fairtrack.settings import DESTINATIONS, Destination, IngestSettings
from fairtrack.stores.policy_table import PolicyStore
from fairtrack.stores.queue import QueueSender
from fairtrack_tools.local.apiserver import RawBody

CAPACITY = 200
PENDING_LIMIT = 1000  # requests waiting for their preview; beyond it, previews are skipped (counted)
WITHHELD_USER_AGENT = "[full user agent: withheld from the debug view]"
PAGE_PATH = Path(__file__).with_name("debug_page.html")

# the ingest handler's routes: /v1/track and the short /v1/t ... (each kind's initial is unique)
_KINDS: tuple[EventType, ...] = get_args(EventType)
TYPED_ROUTES: dict[str, EventType] = {**{kind: kind for kind in _KINDS}, **{kind[0]: kind for kind in _KINDS}}
BATCH_ROUTES = frozenset({"batch", "b"})


# -- the preview's collaborators: read-only, in memory ---------------------------------------------
class CapturingSender(QueueSender):
    """Keeps what ingest would queue; never talks to SQS."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[tuple[str, str]] = []

    @property
    def client(self) -> Any:
        raise RuntimeError("the debug view's preview never queues")

    def send_all(self, messages: list[tuple[str, str]], correlation_id: str) -> list[BaseException | None]:
        self.messages.extend(messages)
        return [None] * len(messages)


class ReadOnlySalts(DailySalts):
    """Today's salt as the real ingest made it; the preview never makes or deletes one (no salt:
    the preview's hit goes without a cookieless id, as ingest's would if its salt store failed)."""

    def _load_or_create(self, day: Any) -> bytes:
        item = (
            self._client()
            .get_item(TableName=self.table_name, Key={"id": {"S": salt_id(day)}}, ConsistentRead=True)
            .get("Item")
        )
        if item is None:
            raise LookupError("no salt for today: the preview does not make one")
        return bytes.fromhex(json.loads(item["value"]["S"])["salt"])


class LocalPolicyStore(PolicyStore):
    """The real policy store, reading the local stack's table through the embedded AWS."""

    def __init__(self, table_name: str, cache_seconds: int, session: Any, endpoint_url: str | None) -> None:
        super().__init__(table_name, cache_seconds)
        from aws_lambda_powertools.utilities.parameters import DynamoDBProvider

        self._provider = DynamoDBProvider(table_name=table_name, endpoint_url=endpoint_url, boto3_session=session)


@dataclass
class HitTrace:
    """One hit as the preview routed it. ``payload`` is the anonymised hit before the policy cut
    (None when ingest stopped before anonymising it); it never leaves this module."""

    hit: Hit
    policy: Policy
    visitor: Visitor | None
    source_id: str
    payload: dict[str, Any] | None
    decisions: list[Decision]
    pii_findings: int


class PreviewIngestor(Ingestor):
    """The real Ingestor, observed: per hit, the anonymised payload it evaluated and the
    destination-level decisions it made. Records no metrics and logs no "hits routed" line (the
    real function does that)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.traces: list[HitTrace] = []
        self._payload: dict[str, Any] | None = None

    def route_hit(self, hit: Hit, policy: Policy, *args: Any, **kwargs: Any) -> None:
        result: IngestResult | None = kwargs.get("result")
        first = len(result.decisions) if result is not None else 0
        findings = result.pii_findings if result is not None else 0
        self._payload = None
        super().route_hit(hit, policy, *args, **kwargs)
        self.traces.append(
            HitTrace(
                hit=hit,
                policy=policy,
                visitor=kwargs.get("visitor"),
                source_id=str(kwargs.get("source_id", "")),
                payload=self._payload,
                decisions=list(result.decisions[first:]) if result is not None else [],
                pii_findings=(result.pii_findings - findings) if result is not None else 0,
            )
        )
        self._payload = None

    def anonymise(self, hit: Hit, policy: Policy, **kwargs: Any) -> dict[str, Any] | str:
        # the payload ingest goes on to evaluate per destination: what the anonymise stage made
        made = super().anonymise(hit, policy, **kwargs)
        self._payload = made if isinstance(made, dict) else None
        return made

    @staticmethod
    def record(result: IngestResult, source: Any) -> None:
        return None

    def forget(self) -> None:
        """Drop what the per-container memos keep of raw input (ids, URLs, user agents)."""
        self.anonymiser.forget()
        for policy in self.store.loaded_policies():
            policy.consent_cache.clear()  # keyed on the signals as sent


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


# -- turning a trace into an entry --------------------------------------------------------------------
def _plain(value: Any) -> Any:
    """A deep, JSON-ready copy (non-finite numbers as null, as the queue encodes them)."""
    return json.loads(to_json(value, inf_nan_mode="null"))


def _withhold(payload: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = _plain(payload)
    context = out.get("context")
    if isinstance(context, dict) and "userAgent" in context:
        context["userAgent"] = WITHHELD_USER_AGENT
    return out


def _union(parts: list[tuple[dict[str, Any], set[str]]]) -> dict[str, Any]:
    """Every field some destination gets, in its fullest queued form: a field one destination gets
    reduced (``url_origin``...) and another in full shows in full."""
    out: dict[str, Any] = {}

    def merge(into: dict[str, Any], src: dict[str, Any], prefix: str, reduced: set[str], fill: bool) -> None:
        # first pass (fill=False): every field sent in full; second (fill=True): reduced forms where
        # no destination got the field in full
        for key, value in src.items():
            path = f"{prefix}.{key}" if prefix else key
            if path in reduced:
                if fill and key not in into:
                    into[key] = value
                continue
            if isinstance(value, dict):
                child = into.setdefault(key, {})
                if isinstance(child, dict):
                    merge(child, value, path, reduced, fill)
            elif not fill and key not in into:
                into[key] = value

    for payload, reduced in parts:
        merge(out, payload, "", reduced, False)
    for payload, reduced in parts:
        merge(out, payload, "", reduced, True)
    return _prune_empty(out)


def _prune_empty(obj: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in obj.items():
        if isinstance(value, dict):
            value = _prune_empty(value)  # noqa: PLW2901
            if not value:
                continue
        out[key] = value
    return out


def _ordered(obj: dict[str, Any], like: dict[str, Any]) -> dict[str, Any]:
    """``obj``'s keys in the order the hit had them."""
    out: dict[str, Any] = {}
    for key in [*(k for k in like if k in obj), *(k for k in obj if k not in like)]:
        value = obj[key]
        ref = like.get(key)
        out[key] = _ordered(value, ref) if isinstance(value, dict) and isinstance(ref, dict) else value
    return out


def _route_name(method: str, path: str) -> str:
    """The route as the page shows it: a path segment the API does not know is not repeated."""
    parts = path.strip("/").split("/")
    if len(parts) == 2 and parts[0] == "v1" and (parts[1] in TYPED_ROUTES or parts[1] in BATCH_ROUTES):
        return f"{method} {path}"
    if path in ("/beacon/v1/batch", "/g/collect"):
        return f"{method} {path}"
    return f"{method} {'/v1/<unknown>' if parts[0] == 'v1' else '<other route>'}"


def _answer(response: Any) -> tuple[int, dict[str, Any] | None]:
    """The status and the safe part of the answer (ingest's errors name fields and reasons only)."""
    if not isinstance(response, dict):
        return 0, None
    status = int(response.get("statusCode") or 0)
    raw = response.get("body") or ""
    try:
        body = json.loads(base64.b64decode(raw) if response.get("isBase64Encoded") else raw) if raw else None
    except ValueError:
        return status, None
    if not isinstance(body, dict):
        return status, None
    out: dict[str, Any] = {}
    if isinstance(body.get("success"), bool):
        out["success"] = body["success"]
    if body.get("success") is False and "code" in body:  # ingest's error: code, message, fields at the top
        out["error"] = {
            "code": str(body.get("code", "")),
            "message": str(body.get("message", "")),
            "fields": [
                {"path": str(f.get("path", "")), "reason": str(f.get("reason", ""))}
                for f in body.get("fields") or []
                if isinstance(f, dict)
            ][:50],
        }
    if isinstance(body.get("rejected"), list):
        out["rejected"] = len(body["rejected"])
    return status, out


def _notes(trace: HitTrace, stored: dict[str, Any] | None, settings: IngestSettings) -> list[str]:
    """What anonymisation did to the hit, in words, without a value that was not queued."""
    notes: list[str] = []
    visitor = trace.visitor
    if visitor is not None and visitor.ip:
        bits = settings.ip_v6_prefix_length if ":" in visitor.ip else settings.ip_v4_prefix_length
        notes.append(f"address truncated to /{bits} ({visitor.ip}); the full address is stored nowhere")
    if visitor is not None:
        where = "trusted CloudFront header or registry data" if settings.proxy_mode == "cloudfront" else "registry data"
        notes.append(
            f"country {visitor.country} ({where}), worked out before truncation"
            if visitor.country
            else "country unknown (no registry allocation for the address)"
        )
    payload = trace.payload or {}
    for key in IDENTIFIERS:
        if getattr(trace.hit, key) is not None:
            if key in payload and stored is not None and key in stored:
                notes.append(f"{key}: keyed pseudonym (the raw id never leaves ingest)")
            elif key in payload:
                notes.append(f"{key}: pseudonymised, then withheld from every destination by the policy")
            elif trace.payload is not None:
                notes.append(f"{key}: dropped (no pseudonym key configured)")
    context = payload.get("context") or {}
    if "agent" in context:
        notes.append("user agent reduced to context.agent (browser, OS, device class, bot flag)")
    if "userAgent" in context:
        notes.append("the full user agent goes only where the policy lists context.userAgent; never shown here")
    page = context.get("page") or {}
    if "url" in page:
        notes.append("page URL cleaned: only utm_* parameters, no fragment, personal data and tokens replaced")
    if "referrer" in page:
        notes.append("referrer cut to its origin")
    if context.get("clickIds"):
        names = ", ".join(sorted(context["clickIds"]))
        notes.append(f"ad click ids set apart in context.clickIds ({names}): advertising purpose only")
    if trace.pii_findings:
        notes.append(
            f"{trace.pii_findings} personal-data finding(s) in properties/traits handled "
            f"as defaults.pii says ({trace.policy.defaults.pii})"
        )
    if "visitorId" in payload:
        notes.append("visitorId: cookieless id for today (no analytics consent), not linkable across days")
    if "userData" in payload:
        notes.append(f"user-provided data normalised and SHA-256 hashed for {', '.join(sorted(payload['userData']))}")
    elif trace.hit.userData is not None and trace.payload is not None:
        notes.append("user-provided data left behind: no purpose granted that may receive it")
    if trace.payload is None:
        notes.append("stopped before anonymisation: no destination may receive anything of it")
    if stored is None and trace.payload is not None:
        notes.append("nothing of this hit was queued")
    return notes


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
        self.ingestor = PreviewIngestor(
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

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every observed request has its preview (tests)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._pending.unfinished_tasks == 0:
                return True
            time.sleep(0.02)
        return False

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
        status, answer = _answer(response)
        epoch_ms = (event.get("requestContext") or {}).get("timeEpoch") or 0
        received = datetime.fromtimestamp(epoch_ms / 1000, UTC) if epoch_ms else datetime.now(UTC)
        base: dict[str, Any] = {
            "request_id": str((event.get("requestContext") or {}).get("requestId") or ""),
            "received_at": iso(received),
            "route": _route_name(method, path),
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
        self.ingestor.traces = []
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
            traces = self.ingestor.traces
            base["hits_in_request"] = len(traces)
            base["rejected_in_request"] = len(result.rejected)
            base["duplicates_in_request"] = result.duplicates
            return [self._entry(base, i, trace, queued) for i, trace in enumerate(traces)]
        finally:
            # nothing raw outlives the request: the traces (raw hits), the messages, the memos
            self.ingestor.traces = []
            self.sender.messages = []
            self.ingestor.forget()

    def _dispatch(self, method: str, path: str) -> Callable[[IngestRequest], IngestResult] | None:
        ing = self.ingestor
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

    def _entry(
        self,
        base: dict[str, Any],
        index: int,
        trace: HitTrace,
        queued: dict[str, deque[tuple[list[str], dict[str, Any]]]],
    ) -> dict[str, Any]:
        policy, hit = trace.policy, trace.hit
        country = trace.visitor.country if trace.visitor else None
        granted = consent.resolve(hit.consent, policy, country)  # the call ingest made (memoised)
        destinations: dict[str, dict[str, Any]] = {}
        parts: list[tuple[dict[str, Any], set[str]]] = []
        mismatch = False
        for dest in DESTINATIONS:
            if dest not in self.configured:
                destinations[dest] = {
                    "status": "not_configured",
                    "reason": "not_configured",
                    "explanation": explain.describe("not_configured"),
                }
                continue
            skip = next((d for d in trace.decisions if d.destination == dest and d.action == "skipped"), None)
            if trace.payload is None or (skip is not None and skip.reason != "nothing_allowed"):
                reason = skip.reason if skip is not None else "nothing_allowed"
                destinations[dest] = {"status": "skipped", "reason": reason, "explanation": explain.describe(reason)}
                continue
            minimal, decisions = evaluate(trace.payload, granted.granted, dest, policy, record=True)
            rows = [
                {k: v for k, v in row.items() if k not in ("destination", "policy_version")}
                for row in explain.field_rows(decisions)
            ]
            if minimal is None:
                destinations[dest] = {
                    "status": "skipped",
                    "reason": "nothing_allowed",
                    "explanation": explain.describe("nothing_allowed"),
                    "fields": rows,
                }
                continue
            purposes, sent = granted.purposes, minimal
            pending = queued.get(dest)
            if pending:
                purposes, sent = pending.popleft()
                mismatch = mismatch or sent != _plain(minimal)
            else:
                mismatch = True
            reduced = {r["field"] for r in rows if r["action"] == "reduced"}
            parts.append((sent, reduced))
            destinations[dest] = {
                "status": "queued",
                "purposes": purposes,
                "payload": _withhold(sent),
                "fields": rows,
            }
        stored = _ordered(_withhold(_union(parts)), trace.payload or {}) if parts else None
        visitor = trace.visitor
        agent = ((trace.payload or {}).get("context") or {}).get("agent")
        entry: dict[str, Any] = {
            **base,
            "index": index,
            "source": trace.source_id,
            "policy_version": policy.version,
            "type": hit.type,
            "outcome": self._outcome(trace, destinations),
            "visitor": {
                "ip": visitor.ip if visitor else None,
                "country": visitor.country if visitor else None,
                "agent": _plain(agent) if agent else None,
            },
            "consent": explain.explain_consent(hit.consent, granted, policy, country),
            "anonymisation": _notes(trace, stored, self.settings),
            "stored": stored,
            "destinations": destinations,
        }
        if stored is not None:
            # labels for the list, only as queued (an event name goes nowhere without analytics)
            for key in ("messageId", "event", "name"):
                if isinstance(stored.get(key), str):
                    entry[key] = stored[key]
        if mismatch:
            entry["preview_mismatch"] = True
        return entry

    @staticmethod
    def _outcome(trace: HitTrace, destinations: dict[str, dict[str, Any]]) -> str:
        reasons = {d.reason for d in trace.decisions if d.action == "skipped"}
        for reason in ("subject_suppressed", "bot_traffic", "pii_quarantined", "duplicate_message_id"):
            if reason in reasons:
                return reason
        return "queued" if any(d["status"] == "queued" for d in destinations.values()) else "queued_nowhere"

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
