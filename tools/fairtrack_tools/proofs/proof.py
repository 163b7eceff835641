"""Proof runs against the whole local stack: nothing lost under faults, nothing personal leaks.

``python -m fairtrack_tools.proofs.proof load --hits 100000`` and ``python -m fairtrack_tools.proofs.proof
canaries --hits 100000`` are the long forms; ``tests/proof`` runs the same code with a few
thousand hits. Both print their tables and exit non-zero on any violation. Everything stays on
loopback and is bounded in count (``--hits``) and time (``--drain-timeout``).

The stack is :class:`~fairtrack_tools.local.stack.DevStack` (what ``fairtrack dev`` runs), started in
this process with three additions made from the outside, without changing it:

- **a fault-injecting proxy** (:class:`FaultProxy`) in front of the capture server: the stack is
  started with ``WebhookUrl``, ``Ga4Endpoint`` and ``MetaGraphUrl`` pointing at it. A share of
  the requests (``--fault-rate``, 30% for ``load``) never reaches the capture server: the proxy
  answers 500, 503 or 429, holds the request past the forwarders' timeout, resets the connection,
  or refuses it for good (GA4 403, webhook 410, Meta Graph error 190). Every fault happens
  *before* the destination saw the request, so an exactly-once outcome is provable: a fault
  after delivery (answer lost) would make any at-least-once system send twice. The proxy talks to
  the capture server with one connection per request (``Connection: close``), and answers with
  ``TCP_NODELAY``: the capture server writes an answer in two sends, which on a kept-alive
  connection waits for the client's delayed ACK (Nagle's algorithm): ~44 ms per request, against
  ~2 ms through this proxy.
- **worker logs**: each function worker's stderr (where the worker puts the handler's stdout: the
  Powertools JSON log lines and the EMF metric lines) goes to a file per worker, read at the end;
  the stack's own stderr (pollers) is teed. Forwarder timeouts are cut to 1 s
  (``DESTINATION_TIMEOUT_SECONDS``/``WEBHOOK_TIMEOUT_SECONDS``, inherited by the workers) so a
  timeout costs a second, and visibility timeouts to ``--visibility`` seconds (2) so SQS redelivers
  within seconds (after 5 receives the DLQ keeps a message). The decision log
  (``DECISION_LOG_BUCKET``, the lake bucket) is switched on when the layer has it.
- **an AWS tap** (:class:`AwsTap`): the ingest workers reach the embedded AWS through a recording
  loopback proxy, so every message ingest queued can be searched, however many (reading them back
  from moto is not an option: its ReceiveMessage walks the whole queue on every call).

Load and faults (:func:`run_load`)
----------------------------------
N Segment hits (single requests and batches of 2-48, typed and short routes, beacon, gzip, write
key in the header, body or query; track/page/screen/identify/group/alias; 1% invalid events in
batches) under eight consent states, sent through the real ingest API. For each destination:

- **accepted** is what ingest queued to it, counted from what was sent and the policy
  (``policies/default.yaml``): every valid hit goes to the lake (it needs only ``necessary``),
  hits granting ``analytics`` to GA4 and the webhook, hits granting ``advertising`` to Meta. It
  is checked against the sum of ``queued`` in ingest's ``hits routed`` log lines.
- **delivered**: unique event ids the capture server accepted (Meta ``event_id``, webhook and lake
  ``messageId``, GA4 the ``proof_id`` parameter every hit carries in its properties), lake records.
- **dropped** by the destination's rules, with the reason, predicted for each hit by the rules the
  mappers document (GA4: ``unsupported_type`` for identify and alias (a group is
  ``join_group``), ``missing_client_id`` without an anonymousId, ``reserved_event_name``,
  ``invalid_event_name``; Meta: ``unsupported_type``, ``missing_event_source_url`` without a page
  URL, ``missing_client_user_agent``, ``no_customer_information`` without analytics consent (the IP
  and the pseudonymous ids need it), ``missing_purchase_value``),
  checked against the decision log's settled counts when it is on.
- **failed**: events in the failed-events store (listed with boto3 at the ``/_dev/aws``
  endpoint), with the reason; **in DLQ**: events of dead-lettered messages not settled otherwise.
- **lost** = accepted minus all of the above (must be 0); **unexpected**: delivered though it
  should not have been (consent, or a predicted drop).
- **duplicates**, per destination's guarantee (:data:`~fairtrack.destinations.guarantees.GUARANTEES`,
  the README's table): *raw*, every copy of an event beyond the first, and *after dedup*, the
  copies left once deduplicated by the destination's idempotency key (:func:`dedup_keys`: Meta
  ``event_name`` + ``event_id``, the webhook's ``Idempotency-Key`` header, the lake's
  ``event.messageId``; GA4 has none). Exactly once (GA4, its ledger) must show 0 raw duplicates;
  at least once must show 0 after dedup, its raw copies printed.

Cross-checks: the forwarders' ``batch forwarded`` lines (events delivered = every copy delivered,
failed = the failed store, retried requests = the retryable faults the proxy injected, duplicates
skipped = re-sends the GA4 ledger stopped), the failed-store objects = permanent faults injected.

Privacy canaries (:func:`run_canaries`)
---------------------------------------
Hits (Segment and gtag, random consent states) carrying personal data that is distinct per hit *and
per placement*, so a value found names the place it was planted: e-mails (URL path, query and
``utm_term``, referrer, properties by name, in free text, nested, in a list and as a *key*, traits,
``context.traits``, page title, ``context.campaign``, gtag ``dl dr dt ck ep.* up.*``), phone
numbers, IPv4/IPv6 addresses (properties, free text, URL path, the client-sent ``context.ip`` and
gtag ``_uip``, and ``X-Forwarded-For``, whose last entry the canary stack trusts,
``TrustedProxy=hops:1``, so it is the client address), raw ids (``anonymousId``, ``userId``,
``groupId``, ``previousId``, gtag ``cid``/``uid``, ``context.device.id``; all
``cnry<kind><8 chars>``), first and last names, and ids in URL paths in the forms the URL cleaner
claims (UUIDs, 24-hex tokens); invalid events and a refused request carry some too. Then every surface is searched:
each queue message (as ingest sent it, through the tap), DLQs and what is left on the queues, every
captured request (body, query, headers), every lake and decision-log object, the failed-events
store, every DynamoDB item, every line the workers and the stack printed (logs and EMF metrics),
every answer of the ingest API. A canary may appear hashed (SHA-256, keyed pseudonyms) or reduced
(``/24``), never in clear (e-mails and ids by their marker, also URL-decoded; IPs, UUIDs and tokens
by pattern; phone numbers by their digits in any of their forms).

Then every field each destination received is traced to the catalogue (:data:`GA4_FIELDS`,
:data:`META_FIELDS`; webhook and lake events are canonical hits, traced by their path's longest
catalogued prefix): the destination must list the attribute, and its purpose must be one the
hit's consent granted (``requires`` too), with the purpose's legal basis. Fields that carry no
hit data (``consent``, ``action_source``, the envelope) are traced to ``necessary``.
Placements that leak today are listed in :data:`KNOWN_LEAKS` (utm values copied into
``context.campaign``, page titles, a hit's own short user id echoed in its URL path): the report
shows them like any other leak and ``tests/proof`` tests each on its own, as a strict xfail.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import gzip
import http.client
import inspect
import io
import ipaddress
import json
import os
import random
import re
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any, Self, TextIO
from unittest import mock
from urllib.parse import quote, unquote_plus, urlencode, urlsplit

import boto3

from fairtrack.destinations.guarantees import GUARANTEES
from fairtrack.protocols import gtag as gtag_protocol
from fairtrack_tools.local import runtime as runtime_module
from fairtrack_tools.local.localcloud import DEV_MEASUREMENT_ID, DEV_WRITE_KEY
from fairtrack_tools.local.runtime import PROJECT_ROOT, Worker
from fairtrack_tools.local.stack import DevStack
from fairtrack_tools.ops import policy_ops

DESTINATIONS = ("ga4", "meta", "webhook", "lake")
QUEUES = {"ga4": "Ga4Queue", "meta": "MetaQueue", "webhook": "WebhookQueue", "lake": "LakeQueue"}
DLQS = {d: q.removesuffix("Queue") + "DeadLetterQueue" for d, q in QUEUES.items()}
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


# ------------------------------------------------------------------------------------------------
# The fault-injecting proxy
# ------------------------------------------------------------------------------------------------

RETRYABLE_FAULTS = ("http_500", "http_503", "http_429", "timeout", "reset")
PERMANENT_FAULT = "permanent"
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


class _LoopbackServer:
    """A threaded HTTP server on a free loopback port, serving ``handler`` on a daemon thread."""

    def __init__(self, handler: type[BaseHTTPRequestHandler], name: str) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True, name=name)

    @property
    def base_url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> Self:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


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
    hold_seconds: float = 1.5  # a "timeout" holds the request this long (the forwarders wait 1 s)


class FaultProxy(_LoopbackServer):
    """A loopback HTTP proxy in front of the capture server that fails a share of requests.

    Faults happen before the request is forwarded, so the capture server never sees a failed one.
    Counts per destination: requests, forwarded, and each fault kind injected."""

    def __init__(self, plan: FaultPlan) -> None:
        self.plan = plan
        self.upstream: tuple[str, int] | None = None
        # one sequence per destination, so that how the forwarders' requests interleave does not
        # change which of a destination's requests fail
        self._rngs: dict[str, random.Random] = {}
        self._lock = threading.Lock()
        self.stats: dict[str, Counter[str]] = defaultdict(Counter)
        kinds = [k for k, _ in plan.mix]
        weights = [w for _, w in plan.mix]
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # answers are written in two parts: no 40 ms stall

            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                name = urlsplit(self.path).path.strip("/").split("/", 1)[0]
                with outer._lock:
                    rng = outer._rngs.get(name)
                    if rng is None:  # a reproducible fault sequence, not a secret
                        rng = outer._rngs[name] = random.Random(f"{outer.plan.seed}:{name}")  # noqa: S311
                    fault = rng.choices(kinds, weights)[0] if rng.random() < outer.plan.rate else None
                    outer.stats[name]["requests"] += 1
                    outer.stats[name][fault or "forwarded"] += 1
                if fault == "timeout":
                    time.sleep(outer.plan.hold_seconds)
                    self.close_connection = True
                    return
                if fault == "reset":
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.close_connection = True
                    with contextlib.suppress(OSError):
                        self.connection.close()  # RST: no answer at all
                    return
                if fault == PERMANENT_FAULT:
                    status, answer, _ = PERMANENT_ANSWERS.get(name, (400, b'{"error":"proof"}', "http_400"))
                    self._answer(status, answer)
                    return
                if fault is not None:
                    self._answer(int(fault.removeprefix("http_")), b'{"error":"failing on purpose (proof)"}')
                    return
                try:
                    status, answer, ctype = outer.forward(self.path, body, self.headers)
                except OSError:
                    with outer._lock:
                        outer.stats[name]["upstream_error"] += 1
                    status, answer, ctype = 502, b'{"error":"upstream"}', "application/json"
                self._answer(status, answer, ctype)

            def _answer(self, status: int, body: bytes, ctype: str = "application/json") -> None:
                self.send_response(status)
                if status != 204:
                    self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        super().__init__(Handler, "fault-proxy")

    def forward(self, path: str, body: bytes, headers: Any) -> tuple[int, bytes, str]:
        """One request to the capture server, on its own connection (``Connection: close``: the
        capture server writes an answer in two parts, which on a kept-alive connection waits for
        the client's delayed ACK, about 40 ms)."""
        assert self.upstream is not None, "upstream not set"
        conn = http.client.HTTPConnection(*self.upstream, timeout=30)
        try:
            sent = {k: v for k, v in headers.items() if k.lower() not in ("host", "connection", "content-length")}
            conn.request("POST", path, body=body, headers={**sent, "Connection": "close"})
            resp = conn.getresponse()
            return resp.status, resp.read(), resp.getheader("Content-Type") or "application/json"
        finally:
            conn.close()


def injected(faults: dict[str, Counter[str]], destination: str) -> tuple[int, int]:
    """(retryable faults, permanent faults) the proxy injected for a destination."""
    counts = faults.get(destination, Counter())
    return sum(counts[k] for k in RETRYABLE_FAULTS), counts[PERMANENT_FAULT]


# ------------------------------------------------------------------------------------------------
# The stack, with logs, faults and a tap on what ingest queues
# ------------------------------------------------------------------------------------------------


def _logging_worker(log_dir: Path, tap: AwsTap | None) -> type[Worker]:
    """A :class:`Worker` whose stderr (the handler's logs and metrics) goes to a file of its own;
    the function that queues (ingest: it has the queue URLs) reaches the embedded AWS through
    ``tap``."""
    counter = iter(range(1_000_000))

    class LoggingWorker(Worker):
        log_handles: list[IO[str]] = []

        def _spawn(self) -> subprocess.Popen[str]:
            handle = (log_dir / f"{self.spec.logical_id}-{next(counter)}.log").open("a")
            LoggingWorker.log_handles.append(handle)
            env = self.spec.process_env(self.aws_env)
            if tap is not None and "LAKE_QUEUE_URL" in self.spec.environment and "AWS_ENDPOINT_URL" in env:
                upstream = urlsplit(env["AWS_ENDPOINT_URL"])
                tap.upstream = (upstream.hostname or "127.0.0.1", upstream.port or 80)
                env["AWS_ENDPOINT_URL"] = tap.base_url
            return subprocess.Popen(
                [sys.executable, "-m", "fairtrack_tools.local.worker", self.spec.handler],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=handle,
                env=env,
                cwd=str(self.spec.code_dir),
                text=True,
                bufsize=1,
            )

    return LoggingWorker


class AwsTap(_LoopbackServer):
    """A recording loopback proxy in front of the embedded AWS, used by the ingest function only:
    every SQS message body ingest sends is kept, so each queued message can be searched, however
    many there are, without taking it from a queue (moto's ReceiveMessage walks the whole queue on
    every call: reading 2,000 queued messages back takes minutes)."""

    def __init__(self) -> None:
        self.upstream: tuple[str, int] | None = None
        self.messages: list[str] = []
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:
                return

            def _relay(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                outer.record(self.headers.get("X-Amz-Target", ""), body)
                assert outer.upstream is not None
                conn = http.client.HTTPConnection(*outer.upstream, timeout=60)
                try:
                    sent = {k: v for k, v in self.headers.items() if k.lower() not in ("connection", "content-length")}
                    conn.request(self.command, self.path, body=body or None, headers={**sent, "Connection": "close"})
                    resp = conn.getresponse()
                    data = resp.read()
                    self.send_response(resp.status)
                    for k, v in resp.getheaders():
                        if k.lower() not in ("connection", "content-length", "transfer-encoding", "server", "date"):
                            self.send_header(k, v)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                finally:
                    conn.close()

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _relay

        super().__init__(Handler, "aws-tap")

    def record(self, target: str, body: bytes) -> None:
        bodies: list[str] = []
        with contextlib.suppress(ValueError, TypeError, AttributeError):
            if target.endswith(".SendMessage"):
                bodies.append(str(json.loads(body)["MessageBody"]))
            elif target.endswith(".SendMessageBatch"):
                bodies.extend(str(e["MessageBody"]) for e in json.loads(body)["Entries"])
            elif b"Action=SendMessage" in body:  # the query protocol
                from urllib.parse import parse_qs

                form = parse_qs(body.decode())
                bodies.extend(v[0] for k, v in form.items() if k == "MessageBody" or k.endswith(".MessageBody"))
        if bodies:
            with self._lock:
                self.messages.extend(bodies)


class _Tee(io.TextIOBase):
    def __init__(self, *streams: TextIO) -> None:
        self.streams = streams
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        with self._lock:
            for s in self.streams:
                s.write(text)
        return len(text)

    def flush(self) -> None:
        for s in self.streams:
            s.flush()


class ProofStack:
    """The local stack for a proof run; use as a context manager."""

    def __init__(
        self,
        log_dir: Path,
        *,
        faults: FaultPlan,
        parameters: dict[str, str] | None = None,
        visibility_seconds: int = 2,
        destination_timeout: float = 1.0,
        decision_log: bool = True,
        tap: bool = False,
    ) -> None:
        self.log_dir = log_dir
        self.proxy = FaultProxy(faults)
        self.parameters = dict(parameters or {})
        self.visibility_seconds = visibility_seconds
        self.tap = AwsTap() if tap else None
        self.env = {
            "DESTINATION_TIMEOUT_SECONDS": str(destination_timeout),
            "WEBHOOK_TIMEOUT_SECONDS": str(destination_timeout),
        }
        if decision_log and _has_module("fairtrack.stores.decision_log"):
            self.env["DECISION_LOG_BUCKET"] = "fairtrack-local-lakebucket"  # LocalCloud's name for LakeBucket
        self.decision_log = "DECISION_LOG_BUCKET" in self.env
        self._saved_env: dict[str, str | None] = {}
        self._stderr = io.StringIO()
        self._redirect: contextlib.AbstractContextManager[Any] | None = None
        self._worker_cls = _logging_worker(log_dir, self.tap)
        self.dev: DevStack | None = None
        self.aws: dict[str, Any] = {}
        self._api_thread: threading.Thread | None = None

    # lifecycle ---------------------------------------------------------------------------------
    def __enter__(self) -> ProofStack:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for k, v in self.env.items():
            self._saved_env[k] = os.environ.get(k)
            os.environ[k] = v
        self._redirect = contextlib.redirect_stderr(_Tee(sys.stderr, self._stderr))
        self._redirect.__enter__()
        self.proxy.start()
        base = self.proxy.base_url
        params = {
            "WebhookUrl": f"{base}/webhook",
            "Ga4Endpoint": f"{base}/ga4",
            "MetaGraphUrl": f"{base}/meta/v21.0",
            **self.parameters,
        }
        kwargs: dict[str, Any] = {"port": 0, "quiet": True, "parameters": params}
        if "debug_view" in inspect.signature(DevStack).parameters:
            kwargs["debug_view"] = False  # it previews every request again in this process
        if self.tap is not None:
            self.tap.start()
        with mock.patch.object(runtime_module, "Worker", self._worker_cls):
            self.dev = DevStack(**kwargs).start()
        capture = self.dev.cloud.capture_server
        assert capture is not None and self.dev.api is not None
        host, port = capture.httpd.server_address[:2]
        self.proxy.upstream = (str(host), int(port))
        self._api_thread = threading.Thread(target=self.dev.api.serve_forever, daemon=True, name="proof-api")
        self._api_thread.start()
        with urllib.request.urlopen(self.base_url + "/_dev/aws", timeout=10) as resp:
            self.aws = json.loads(resp.read())
        sqs = self.client("sqs")
        for logical in QUEUES.values():
            sqs.set_queue_attributes(
                QueueUrl=self.queue_url(logical), Attributes={"VisibilityTimeout": str(self.visibility_seconds)}
            )
        time.sleep(1.2)  # a long poll already waiting took the old timeout with it: let it end

    def stop(self) -> None:
        if self.dev is not None:
            if self.dev.api is not None:
                with contextlib.suppress(Exception):
                    self.dev.api.httpd.shutdown()
            with contextlib.suppress(Exception):
                self.dev.stop()
        with contextlib.suppress(Exception):
            self.proxy.stop()
        if self.tap is not None:
            with contextlib.suppress(Exception):
                self.tap.stop()
        for handle in self._worker_cls.log_handles:  # type: ignore[attr-defined]
            with contextlib.suppress(Exception):
                handle.close()
        if self._redirect is not None:
            self._redirect.__exit__(None, None, None)
            self._redirect = None
        for k, v in self._saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        self._saved_env.clear()

    # access ------------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        assert self.dev is not None and self.dev.api is not None
        return self.dev.api.base_url

    def client(self, service: str) -> Any:
        """A boto3 client for the embedded AWS, found through ``/_dev/aws`` like operator commands."""
        session = boto3.Session(
            aws_access_key_id="local",
            aws_secret_access_key="local",  # noqa: S106 - the embedded AWS takes any key
            region_name=self.aws["region"],
        )
        return session.client(service, endpoint_url=self.aws["endpoint_url"])  # type: ignore[call-overload]

    def queue_url(self, logical: str) -> str:
        assert self.dev is not None
        return self.dev.cloud.physical_id(logical)

    def output(self, name: str) -> str:
        value: str = self.aws["outputs"][name]
        return value

    def depths(self) -> dict[str, dict[str, int]]:
        assert self.dev is not None
        return self.dev.cloud.queue_depths()

    def drain(self, timeout: float) -> bool:
        """Wait until every destination queue is empty (nothing visible or in flight) three checks
        in a row; False when ``timeout`` passes first."""
        deadline = time.monotonic() + timeout
        calm = 0
        while time.monotonic() < deadline:
            depths = self.depths()
            busy = sum(depths[q]["visible"] + depths[q]["in_flight"] for q in QUEUES.values())
            calm = calm + 1 if busy == 0 else 0
            if calm >= 3:
                return True
            time.sleep(0.5)
        return False

    def read_queue(self, logical: str, hold: int = 300) -> list[tuple[str, str]]:
        """Every message of a queue: (receipt handle, body); they stay invisible for ``hold`` s."""
        sqs, url = self.client("sqs"), self.queue_url(logical)
        out: list[tuple[str, str]] = []
        empty = 0
        while empty < 2:
            got = sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=hold, WaitTimeSeconds=0
            ).get("Messages", [])
            empty = 0 if got else empty + 1
            out.extend((m["ReceiptHandle"], m["Body"]) for m in got)
        return out

    def objects(self, bucket: str, prefix: str = "") -> Iterator[tuple[str, bytes]]:
        """(key, body, gunzipped when gzip) of every object under ``prefix``."""
        s3 = self.client("s3")
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                raw = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
                yield obj["Key"], gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw

    def captured(self) -> dict[str, list[tuple[Any, dict[str, Any]]]]:
        """What each destination received: (decoded body, the capture server's request record)."""
        assert self.dev is not None
        store = self.dev.cloud.captures
        snap = store.snapshot()
        return {n: list(zip(snap[n], store.requests(n), strict=False)) for n in ("ga4", "meta", "webhook")}

    def log_lines(self) -> list[str]:
        for handle in self._worker_cls.log_handles:  # type: ignore[attr-defined]
            with contextlib.suppress(Exception):
                handle.flush()
        lines: list[str] = []
        for path in sorted(self.log_dir.glob("*.log")):
            lines.extend(path.read_text(errors="replace").splitlines())
        return lines

    def stack_stderr(self) -> str:
        return self._stderr.getvalue()


def _has_module(name: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


# ------------------------------------------------------------------------------------------------
# Sending
# ------------------------------------------------------------------------------------------------


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


def _letters(n: int, alphabet: str = "abcdefghijklmnopqrstuvwx") -> str:
    """``n`` in letters (no ``y`` or ``z``: an id can never spell a canary marker, ``cnry``)."""
    out = ""
    while True:
        n, r = divmod(n, len(alphabet))
        out = alphabet[r] + out
        if n == 0:
            return out


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# ------------------------------------------------------------------------------------------------
# The workload: consent states, events, and what each destination should make of them
# ------------------------------------------------------------------------------------------------


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


def _weighted(rng: random.Random, table: Iterable[tuple[Any, int]]) -> Any:
    items = list(table)
    return rng.choices([i for i, _ in items], [w for _, w in items])[0]


class LoadWorkload:
    """Segment requests for the load run and the expected outcome of every valid hit."""

    def __init__(self, hits: int, seed: int, single_share: float = 0.05) -> None:
        self.rng = random.Random(seed)  # noqa: S311 - a reproducible workload, not a secret
        self.run = _letters(self.rng.randrange(24**4))
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
        return f"pf{self.run}{_letters(self.counter)}"

    def _event(self, visitor: str, state: ConsentState, *, consent_in_event: bool = True) -> dict[str, Any]:
        rng = self.rng
        kind = _weighted(rng, KINDS)
        mid = self._id()
        user_id = f"user-{_letters(rng.randrange(10**6))}" if rng.random() < 0.3 or kind == "alias" else None
        anonymous = kind != "alias" and rng.random() >= 0.05  # 5% signed-in hits without an anonymousId
        if not anonymous and user_id is None:
            user_id = f"user-{_letters(rng.randrange(10**6))}"
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
        event: dict[str, Any] = {"type": kind, "messageId": mid, "context": context, "timestamp": _now_iso()}
        if anonymous:
            event["anonymousId"] = visitor
        if user_id:
            event["userId"] = user_id
        ga4_drop: str | None = None
        unpriced = False
        if kind == "track":
            name, _, priced, ga4_drop = _weighted(rng, [(t, t[1]) for t in TRACKS])
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
            event["groupId"] = f"grp-{mid}"  # one group per call: its join_group names the call (see _group_ids)
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
        state = _weighted(self.rng, [(s, s.weight) for s in CONSENT_STATES])
        event = self._event(self._visitor(), state)
        kind = event["type"]
        route = SHORT_ROUTE[kind] if self.rng.random() < 0.3 else kind
        if self.rng.random() < 0.5:
            event.pop("type")  # the route implies it
        self.requests.append(self._request(f"/v1/{route}", event))

    def _batch(self, size: int) -> None:
        rng = self.rng
        visitor = self._visitor()
        state = _weighted(rng, [(s, s.weight) for s in CONSENT_STATES])
        top_context = rng.random() < 0.3
        mixed = rng.random() < 0.1  # each event its own consent
        events: list[dict[str, Any]] = []
        rejected: list[int] = []
        for _ in range(size):
            if rng.random() < 0.01:  # an invalid event: a track without its name
                rejected.append(len(events))
                events.append({"type": "track", "anonymousId": visitor, "messageId": self._id()})
                self.invalid += 1
            own = _weighted(rng, [(s, s.weight) for s in CONSENT_STATES]) if mixed else state
            events.append(self._event(visitor, own, consent_in_event=mixed or not top_context))
        body: dict[str, Any] = {"batch": events, "sentAt": _now_iso()}
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


# ------------------------------------------------------------------------------------------------
# Evidence: what the stack did, read back from its stores, queues and logs
# ------------------------------------------------------------------------------------------------


def _json_lines(lines: Iterable[str]) -> Iterator[dict[str, Any]]:
    for line in lines:
        if line.startswith("{"):
            with contextlib.suppress(ValueError):
                doc = json.loads(line)
                if isinstance(doc, dict):
                    yield doc


@dataclass
class LogSums:
    """Counts summed over the stack's log lines."""

    routed_lines: int = 0
    accepted: int = 0
    rejected: int = 0
    queued: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    batches: Counter[str] = field(default_factory=Counter)
    delivered: Counter[str] = field(default_factory=Counter)
    duplicates: Counter[str] = field(default_factory=Counter)
    dropped: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    failed: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    retried: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    errors: int = 0
    metric_lines: int = 0
    other_lines: int = 0

    @classmethod
    def read(cls, lines: list[str]) -> LogSums:
        out = cls()
        for doc in _json_lines(lines):
            if "_aws" in doc:
                out.metric_lines += 1
                continue
            message = doc.get("message")
            if doc.get("level") == "ERROR":
                out.errors += 1
            if message == "hits routed":
                out.routed_lines += 1
                out.accepted += int(doc.get("accepted", 0))
                out.rejected += int(doc.get("rejected", 0))
                out.queued.update(doc.get("queued") or {})
                out.skipped.update(doc.get("skipped") or {})
            elif message == "batch forwarded":
                d = str(doc.get("destination"))
                out.batches[d] += 1
                out.delivered[d] += int(doc.get("events_delivered", 0))
                out.duplicates[d] += int(doc.get("duplicates_skipped", 0))
                out.dropped[d].update(doc.get("dropped") or {})
                out.failed[d].update(doc.get("failed") or {})
                out.retried[d].update(doc.get("retried") or {})
            else:
                out.other_lines += 1
        return out


INTERNAL_RETRY_REASONS = frozenset(
    {"ledger_unavailable", "claim_held", "deadline", "no_active_policy", "failed_store_unavailable", "unavailable"}
)


def _event_ids_in_envelope(body: str) -> Iterator[tuple[str, str]]:
    """(destination, event messageId) of each event of a queue message."""
    with contextlib.suppress(ValueError, KeyError, TypeError):
        env = json.loads(body)
        for routed in env.get("events", []):
            yield str(env["destination"]), str(routed["event"].get("messageId"))


def _group_ids(lake: list[dict[str, Any]]) -> dict[str, str]:
    """The group pseudonym -> the message id of the group call that carried it, from the lake (a
    GA4 join_group carries no properties, so no proof_id: its group_id names the call)."""
    out: dict[str, str] = {}
    for record in lake:
        event = record["event"]
        if event.get("type") == "group" and event.get("groupId"):
            out.setdefault(str(event["groupId"]), str(event.get("messageId")))
    return out


def delivered_ids(
    captured: dict[str, list[tuple[Any, dict[str, Any]]]], lake: list[dict[str, Any]]
) -> dict[str, Counter[str]]:
    """Event ids each destination accepted (requests the capture server judged valid)."""
    out: dict[str, Counter[str]] = {d: Counter() for d in DESTINATIONS}
    groups = _group_ids(lake)
    for body, request in captured["ga4"]:
        if request.get("valid") and isinstance(body, dict):
            for ev in body.get("events") or []:
                params = ev.get("params") or {}
                out["ga4"][str(params.get("proof_id") or groups.get(str(params.get("group_id"))))] += 1
    for body, request in captured["meta"]:
        if request.get("valid") and isinstance(body, dict):
            for ev in body.get("data") or []:
                out["meta"][str(ev.get("event_id"))] += 1
    for body, _ in captured["webhook"]:
        if isinstance(body, dict):
            for ev in body.get("batch") or []:
                out["webhook"][str(ev.get("messageId"))] += 1
    for record in lake:
        out["lake"][str(record["event"].get("messageId"))] += 1
    return out


def dedup_keys(
    captured: dict[str, list[tuple[Any, dict[str, Any]]]], lake: list[dict[str, Any]]
) -> dict[str, dict[str, set[str]]]:
    """Each destination's event id -> the idempotency keys its delivered copies carried (a receiver
    deduplicating by the key keeps one copy per key). GA4 has no key: every copy counts."""
    out: dict[str, dict[str, set[str]]] = {d: defaultdict(set) for d in DESTINATIONS}
    for body, request in captured["meta"]:
        if request.get("valid") and isinstance(body, dict):
            for ev in body.get("data") or []:
                out["meta"][str(ev.get("event_id"))].add(f"{ev.get('event_name')}/{ev.get('event_id')}")
    for body, request in captured["webhook"]:
        if isinstance(body, dict):
            headers = {k.lower(): v for k, v in (request.get("headers") or {}).items()}
            for ev in body.get("batch") or []:
                out["webhook"][str(ev.get("messageId"))].add(str(headers.get("idempotency-key")))
    for record in lake:
        mid = str(record["event"].get("messageId"))
        out["lake"][mid].add(mid)
    return out


@dataclass
class Evidence:
    captured: dict[str, list[tuple[Any, dict[str, Any]]]]
    lake: list[dict[str, Any]]
    lake_raw: list[tuple[str, bytes]]
    decisions: list[dict[str, Any]]
    failed_docs: list[dict[str, Any]]
    failed_raw: list[tuple[str, bytes]]
    dlq: dict[str, list[str]]
    leftover: dict[str, list[str]]
    logs: list[str]
    stderr: str
    drained: bool

    @classmethod
    def collect(cls, stack: ProofStack, drained: bool) -> Evidence:
        lake_bucket, failed_bucket = stack.output("LakeBucketName"), stack.output("FailedEventsBucketName")
        lake_raw = list(stack.objects(lake_bucket))
        lake: list[dict[str, Any]] = []
        decisions: list[dict[str, Any]] = []
        for key, body in lake_raw:
            rows = [json.loads(line) for line in body.decode().splitlines() if line.strip()]
            (decisions if key.startswith("decisions/") else lake).extend(rows)
        failed_raw = list(stack.objects(failed_bucket, "failed/"))
        return cls(
            captured=stack.captured(),
            lake=lake,
            lake_raw=lake_raw,
            decisions=decisions,
            failed_docs=[json.loads(body) for _, body in failed_raw],
            failed_raw=failed_raw,
            dlq={d: [b for _, b in stack.read_queue(q)] for d, q in DLQS.items()},
            leftover={d: [b for _, b in stack.read_queue(q)] for d, q in QUEUES.items()},
            logs=stack.log_lines(),
            stderr=stack.stack_stderr(),
            drained=drained,
        )

    def failed_events(self) -> dict[str, dict[str, str]]:
        """destination -> event messageId -> reason, from the failed-events store."""
        out: dict[str, dict[str, str]] = defaultdict(dict)
        for doc in self.failed_docs:
            for item in doc.get("envelopes", []):
                for routed in item["envelope"].get("events", []):
                    out[str(doc["destination"])][str(routed["event"].get("messageId"))] = str(doc.get("reason"))
        return out

    def decision_counts(self) -> dict[str, Counter[tuple[str, str]]]:
        """destination -> (action, reason) -> events, from the decision log's event rows."""
        out: dict[str, Counter[tuple[str, str]]] = defaultdict(Counter)
        for row in self.decisions:
            if row.get("field") is None:
                out[str(row.get("destination"))][(str(row.get("action")), str(row.get("reason")))] += int(
                    row.get("count", 0)
                )
        return out


# ------------------------------------------------------------------------------------------------
# Load: conservation per destination
# ------------------------------------------------------------------------------------------------


@dataclass
class Check:
    name: str
    ok: bool
    detail: str = ""


@dataclass
class Row:
    accepted: int = 0
    delivered: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)
    dlq: int = 0
    queued: int = 0  # still on the destination queue (the drain timed out)
    lost: list[str] = field(default_factory=list)
    duplicates: int = 0  # raw: copies beyond the first
    after_dedup: int = 0  # copies left after deduplicating by the destination's idempotency key
    unexpected: Counter[str] = field(default_factory=Counter)

    @property
    def settled(self) -> int:
        return self.delivered + sum(self.dropped.values()) + sum(self.failed.values()) + self.dlq + self.queued


@dataclass
class LoadReport:
    hits: int
    valid_hits: int
    requests: int
    timings: dict[str, float]
    rows: dict[str, Row]
    logs: LogSums
    faults: dict[str, Counter[str]]
    checks: list[Check]
    decision_log: bool

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def render(self) -> str:
        def reasons(c: Counter[str]) -> str:
            return ", ".join(f"{k} {v}" for k, v in sorted(c.items())) or "-"

        head = (
            "destination",
            "accepted",
            "= delivered",
            "+ dropped",
            "+ failed",
            "+ in DLQ",
            "lost",
            "dup raw",
            "dup after key",
            "unexpected",
        )
        rows = [
            (
                d,
                str(r.accepted),
                str(r.delivered),
                str(sum(r.dropped.values())),
                str(sum(r.failed.values())),
                str(r.dlq) + (f" (+{r.queued} still queued)" if r.queued else ""),
                str(len(r.lost)),
                str(r.duplicates),
                str(r.after_dedup),
                str(sum(r.unexpected.values())),
            )
            for d, r in self.rows.items()
        ]
        out = [
            f"load: {self.hits} hits ({self.valid_hits} valid) in {self.requests} requests; "
            + ", ".join(f"{k} {v:.1f}s" for k, v in self.timings.items()),
            "",
            "conservation per destination: accepted = delivered + dropped + failed + in DLQ, 0 lost",
            *_table(head, rows),
            "reasons:",
            *(
                f"  {d}: dropped {reasons(r.dropped)}; failed {reasons(r.failed)}"
                for d, r in self.rows.items()
                if r.dropped or r.failed
            ),
            "",
            "duplicates against each destination's guarantee (README, fairtrack.destinations.guarantees):",
            *(
                f"  {d}: {GUARANTEES[d].delivery}, key {GUARANTEES[d].key}: "
                f"{r.duplicates} raw, {r.after_dedup} after dedup by the key"
                for d, r in self.rows.items()
            ),
            "",
            "cross-checks per destination (forwarder `batch forwarded` lines, proxy, failed store):",
        ]
        head2 = (
            "destination",
            "requests",
            "faults injected",
            "retried (log)",
            "ledger skips",
            "delivered (log)",
            "failed (log)",
        )
        rows2 = []
        for d in self.rows:
            f = self.faults.get(d, Counter())
            injected = ", ".join(f"{k} {f[k]}" for k in (*RETRYABLE_FAULTS, PERMANENT_FAULT) if f[k]) or "-"
            rows2.append(
                (
                    d,
                    str(f["requests"]) if d != "lake" else "(S3)",
                    injected if d != "lake" else "-",
                    str(sum(self.logs.retried[d].values())),
                    str(self.logs.duplicates[d]),
                    str(self.logs.delivered[d]),
                    str(sum(self.logs.failed[d].values())),
                )
            )
        out += _table(head2, rows2)
        out += ["", "checks:"]
        out += [f"  [{'ok' if c.ok else 'FAIL'}] {c.name}" + (f": {c.detail}" if c.detail else "") for c in self.checks]
        return "\n".join(out)


def _table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows, strict=True)]
    line = "  ".join("-" * w for w in widths)
    fmt = "  ".join("{:<%d}" % w for w in widths)  # noqa: UP031 - widths are computed
    return [fmt.format(*head), line, *(fmt.format(*r) for r in rows)]


def run_load(
    hits: int,
    *,
    seed: int = 7,
    fault_rate: float = FaultPlan.rate,
    visibility_seconds: int = 2,
    drain_timeout: float = 600.0,
    concurrency: int = 4,
    log_dir: Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> LoadReport:
    say = progress or (lambda _: None)
    timings: dict[str, float] = {}
    started = time.monotonic()
    workload = LoadWorkload(hits, seed)
    say(f"workload: {len(workload.expected)} valid hits, {workload.invalid} invalid, {len(workload.requests)} requests")
    with contextlib.ExitStack() as exits:
        directory = log_dir or Path(exits.enter_context(tempfile.TemporaryDirectory(prefix="proof-load-")))
        stack = exits.enter_context(
            ProofStack(directory, faults=FaultPlan(rate=fault_rate, seed=seed), visibility_seconds=visibility_seconds)
        )
        timings["start"] = time.monotonic() - started
        mark = time.monotonic()
        send(stack.base_url, workload.requests, concurrency)
        timings["send"] = time.monotonic() - mark
        say(f"sent in {timings['send']:.1f}s; draining")
        mark = time.monotonic()
        drained = stack.drain(drain_timeout)
        timings["drain"] = time.monotonic() - mark
        mark = time.monotonic()
        evidence = Evidence.collect(stack, drained)
        faults = {k: Counter(v) for k, v in stack.proxy.stats.items()}
        decision_log = stack.decision_log
        timings["collect"] = time.monotonic() - mark
    timings["total"] = time.monotonic() - started
    return judge_load(workload, evidence, faults, timings, decision_log)


INGEST_LOG_REJECTED = "ingest log: rejected = invalid events sent"


def judge_load(
    workload: LoadWorkload,
    evidence: Evidence,
    faults: dict[str, Counter[str]],
    timings: dict[str, float],
    decision_log: bool,
) -> LoadReport:
    logs = LogSums.read(evidence.logs)
    delivered = delivered_ids(evidence.captured, evidence.lake)
    failed = evidence.failed_events()
    rows = _classify(workload, evidence, delivered, failed)
    keys = dedup_keys(evidence.captured, evidence.lake)
    for d, row in rows.items():
        # no key (GA4): every copy stays a duplicate
        row.after_dedup = row.duplicates if GUARANTEES[d].ledger else sum(len(k) - 1 for k in keys[d].values() if k)
    checks = _request_checks(workload, evidence, logs, rows)
    for d, row in rows.items():
        checks += _destination_checks(
            d, row, evidence=evidence, logs=logs, delivered=delivered[d], failed=failed[d], faults=faults
        )
    if decision_log:
        checks += _decision_checks(evidence, rows, len(workload.expected))
    checks.append(Check("no ERROR log lines", logs.errors == 0, str(logs.errors)))
    return LoadReport(
        hits=len(workload.expected) + workload.invalid,
        valid_hits=len(workload.expected),
        requests=len(workload.requests),
        timings=timings,
        rows=rows,
        logs=logs,
        faults=faults,
        checks=checks,
        decision_log=decision_log,
    )


def _ids_in(queues: dict[str, list[str]]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {d: set() for d in DESTINATIONS}
    for bodies in queues.values():
        for body in bodies:
            for dest, mid in _event_ids_in_envelope(body):
                out[dest].add(mid)
    return out


def _classify(
    workload: LoadWorkload,
    evidence: Evidence,
    delivered: dict[str, Counter[str]],
    failed: dict[str, dict[str, str]],
) -> dict[str, Row]:
    """Each event a destination accepted, in exactly one column (the first that applies):
    delivered, failed, in the DLQ, dropped (as predicted), still queued, else lost."""
    in_dlq, left = _ids_in(evidence.dlq), _ids_in(evidence.leftover)
    rows = {d: Row() for d in DESTINATIONS}
    expected_by_dest: dict[str, dict[str, str | None]] = {d: {} for d in DESTINATIONS}
    for hit in workload.expected:
        for dest, outcome in hit.routes.items():
            expected_by_dest[dest][hit.message_id] = outcome
    for dest, expected in expected_by_dest.items():
        row = rows[dest]
        row.accepted = len(expected)
        got = delivered[dest]
        for mid, outcome in expected.items():
            count = got.get(mid, 0)
            if count:
                row.delivered += 1
                row.duplicates += count - 1
                if outcome is not None:
                    row.unexpected[f"delivered though {outcome}"] += 1
            elif mid in failed[dest]:
                row.failed[failed[dest][mid]] += 1
            elif mid in in_dlq[dest]:  # not settled: a replay decides again (a rule may drop it then)
                row.dlq += 1
            elif outcome is not None:
                row.dropped[outcome] += 1
            elif mid in left[dest]:
                row.queued += 1
            else:
                row.lost.append(mid)
        for mid, count in got.items():
            if mid not in expected:
                row.unexpected["not routed to it"] += count
    return rows


def _request_checks(workload: LoadWorkload, evidence: Evidence, logs: LogSums, rows: dict[str, Row]) -> list[Check]:
    checks: list[Check] = []
    bad = [r for r in workload.requests if r.status != 200]
    checks.append(Check("every request answered 200", not bad, f"{len(bad)} not: {Counter(r.status for r in bad)}"))
    wrong = sum(
        1
        for r in workload.requests
        if r.status == 200
        and [x["index"] for x in json.loads(r.answer or b"{}").get("rejected", [])] != r.expect_rejected
    )
    checks.append(Check("invalid events rejected by index, the others accepted", wrong == 0, f"{wrong} requests"))
    checks.append(Check("drained within the time limit", evidence.drained))
    # a request sent again (no answer the first time) may have been queued twice: then >=
    resent = sum(r.attempts - 1 for r in workload.requests)
    valid = len(workload.expected)
    checks.append(
        Check(
            "ingest log: accepted = valid hits sent",
            logs.accepted == valid or resent > 0,
            f"{logs.accepted} vs {valid}",
        )
    )
    checks.append(
        Check(INGEST_LOG_REJECTED, logs.rejected == workload.invalid, f"{logs.rejected} vs {workload.invalid}")
    )
    not_routed = sum(valid - row.accepted for row in rows.values())
    checks.append(
        Check(
            "ingest log: skipped = hits kept from a destination by their consent",
            sum(logs.skipped.values()) == not_routed and set(logs.skipped) <= {"purpose_not_granted"},
            f"{dict(logs.skipped)} vs {not_routed}",
        )
    )
    for d in DESTINATIONS:
        ok = logs.queued[d] == rows[d].accepted or (resent > 0 and logs.queued[d] >= rows[d].accepted)
        checks.append(Check(f"{d}: queued by ingest (log) = accepted", ok, f"{logs.queued[d]} vs {rows[d].accepted}"))
    return checks


def _destination_checks(
    d: str,
    row: Row,
    *,
    evidence: Evidence,
    logs: LogSums,
    delivered: Counter[str],
    failed: dict[str, str],
    faults: dict[str, Counter[str]],
) -> list[Check]:
    checks = [
        Check(
            f"{d}: conservation, 0 lost",
            not row.lost and row.settled == row.accepted,
            f"lost {len(row.lost)} e.g. {row.lost[:3]}" if row.lost else "",
        ),
        _guarantee_check(d, row),
        Check(f"{d}: nothing delivered that should not be", not row.unexpected, repr(dict(row.unexpected))),
        Check(
            f"{d}: events delivered (log) = delivered at the destination",
            logs.delivered[d] == sum(delivered.values()),
            f"{logs.delivered[d]} vs {sum(delivered.values())}",
        ),
        Check(
            f"{d}: failed (log) = failed-events store",
            sum(logs.failed[d].values()) == (stored := _failed_entries(evidence, d)),
            f"{sum(logs.failed[d].values())} vs {stored} ({len(failed)} distinct)",
        ),
    ]
    if d == "lake":  # no HTTP, no faults injected
        return checks
    retryable, permanent = injected(faults, d)
    reason = PERMANENT_ANSWERS[d][2]
    docs = sum(1 for doc in evidence.failed_docs if doc.get("destination") == d)
    retried = sum(v for k, v in logs.retried[d].items() if k not in INTERNAL_RETRY_REASONS)
    internal = sum(v for k, v in logs.retried[d].items() if k in INTERNAL_RETRY_REASONS)
    refused = sum(1 for _, req in evidence.captured[d] if not req.get("valid"))
    return [
        *checks,
        Check(
            f"{d}: one failed-store object per permanent fault, reason {reason}",
            docs == permanent and set(row.failed) <= {reason},
            f"{docs} objects, {permanent} faults, reasons {dict(row.failed)}",
        ),
        Check(
            f"{d}: retried requests (log) = retryable faults injected",
            retried == retryable and internal == 0,
            f"{retried} vs {retryable}; internal {internal}",
        ),
        Check(f"{d}: no request the destination itself refused", refused == 0, f"{refused} invalid"),
    ]


def _guarantee_check(d: str, row: Row) -> Check:
    """The destination's duplicates against its guarantee: exactly once allows no copy at all, at
    least once none left after deduplicating by its idempotency key."""
    guarantee = GUARANTEES[d]
    if guarantee.delivery == "exactly once":
        return Check(f"{d}: exactly once: 0 duplicates delivered", row.duplicates == 0, str(row.duplicates))
    return Check(
        f"{d}: at least once: 0 duplicates after dedup by {guarantee.key}",
        row.after_dedup == 0,
        f"{row.duplicates} raw, {row.after_dedup} after dedup",
    )


def _failed_entries(evidence: Evidence, d: str) -> int:
    """Events in the failed-events store, every copy (an at-least-once destination can refuse a
    resent event again)."""
    return sum(
        len(item["envelope"].get("events", []))
        for doc in evidence.failed_docs
        if doc.get("destination") == d
        for item in doc.get("envelopes", [])
    )


def _decision_checks(evidence: Evidence, rows: dict[str, Row], valid: int) -> list[Check]:
    """The decision log counts events once they settle: it must agree with the table exactly.
    Skips: the hits ingest kept from a destination (when ingest writes its rows), never the
    forwarders' (the policy does not change during the run)."""
    counts = evidence.decision_counts()
    checks = []
    for d, row in rows.items():
        logged = counts.get(d, Counter())
        drops = Counter({reason: n for (action, reason), n in logged.items() if action == "dropped"})
        skipped = sum(n for (action, _), n in logged.items() if action == "skipped")
        sent = sum(n for (action, _), n in logged.items() if action == "sent")
        failed = sum(n for (action, _), n in logged.items() if action == "failed")
        checks.append(
            Check(
                f"{d}: decision log: dropped = predicted, sent = delivered, failed = failed, skipped = not routed",
                drops == row.dropped
                and sent == row.delivered + row.duplicates  # every copy sent is counted
                and failed == _failed_entries(evidence, d)
                and skipped in (0, valid - row.accepted),
                f"dropped {dict(drops)} vs {dict(row.dropped)}; sent {sent} vs {row.delivered} + {row.duplicates}; "
                f"failed {failed} vs {_failed_entries(evidence, d)}; "
                f"skipped {skipped} (ingest: {valid - row.accepted})",
            )
        )
    return checks


# ------------------------------------------------------------------------------------------------
# Privacy canaries: planted personal data, searched for everywhere
# ------------------------------------------------------------------------------------------------

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
        self.run = _letters(self.rng.randrange(24**4))
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
        return f"pf{self.run}{_letters(self.counter)}"

    # Segment -----------------------------------------------------------------------------------
    def _segment_event(self, xff_hit: int) -> dict[str, Any]:
        rng = self.rng
        i = len(self.hits)
        kind = _weighted(rng, (("track", 55), ("page", 25), ("identify", 10), ("group", 5), ("alias", 5)))
        state = _weighted(rng, [(s, s.weight) for s in CONSENT_STATES])
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
        event: dict[str, Any] = {"type": kind, "messageId": mid, "timestamp": _now_iso(), "context": context}
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
            body = json.dumps({"batch": events, "sentAt": _now_iso()}).encode()
            self.requests.append(Request("POST", "/v1/batch", body, headers, expect_rejected=rejected))

    # gtag --------------------------------------------------------------------------------------
    def _gtag_request(self) -> None:
        rng = self.rng
        i = len(self.hits)
        gcs, granted, _ = _weighted(rng, [(g, g[2]) for g in GTAG_CONSENT])
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
        mid = gtag_protocol._message_id(params, 0, en)
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


# ------------------------------------------------------------------------------------------------
# Tracing every forwarded field to the catalogue
# ------------------------------------------------------------------------------------------------

# Pseudo-attributes: fields that carry no data of the hit (traced to `necessary`).
DERIVED = "@derived"  # a constant or a default the mapper sets (action_source, engagement_time_msec 1)
CONSENT_STATE = "@consent"  # the consent the hit granted, as the destination's own fields
ENVELOPE = "@envelope"  # the gateway's delivery metadata (source id, policy version, sent at)
POLICY_RULE = "@policy"  # data_processing_options from the policy's limited_data_use

# GA4 Measurement Protocol fields -> the catalogue attributes they are made from (any of)
# (ga4_mapping.py). Parameters not listed here are properties (`properties`).
GA4_FIELDS: dict[str, tuple[str, ...]] = {
    "client_id": ("anonymousId",),
    "user_id": ("userId",),
    "consent": (CONSENT_STATE,),
    "user_properties": ("context.traits",),
    "user_data": ("userData.ga4",),
    "events[].name": ("type", "event"),  # page_view/screen_view: type; any other name: event
    "events[].timestamp_micros": ("timestamp", "receivedAt"),
    "events[].params.page_location": ("context.page.url",),
    "events[].params.page_referrer": ("context.page.referrer",),
    "events[].params.page_title": ("context.page.title", "properties"),
    "events[].params.page_path": ("context.page.path", "properties"),
    "events[].params.screen_name": ("name",),
    "events[].params.group_id": ("groupId",),
    "events[].params.session_id": ("context.session",),
    "events[].params.engagement_time_msec": ("context.session", DERIVED),
    "events[].params.campaign": ("context.campaign",),
    "events[].params.source": ("context.campaign",),
    "events[].params.medium": ("context.campaign",),
    "events[].params.term": ("context.campaign",),
    "events[].params.content": ("context.campaign",),
    "events[].params.campaign_id": ("context.campaign",),
    "events[].params.<property>": ("properties",),
}
# Meta Conversions API fields (meta_mapping.py)
META_FIELDS: dict[str, tuple[str, ...]] = {
    "data[].event_name": ("type", "event"),  # PageView: type; any other name: event
    "data[].event_time": ("timestamp",),
    "data[].event_id": ("properties.event_id", "messageId"),
    "data[].action_source": (DERIVED,),
    "data[].event_source_url": ("context.page.url",),
    "data[].user_data.<hashed>": ("userData.meta",),
    "data[].user_data.external_id": ("userId", "anonymousId"),
    "data[].user_data.client_ip_address": ("context.ip",),
    "data[].user_data.client_user_agent": ("context.userAgent",),
    "data[].user_data.fbc": ("context.fbc", "context.clickIds"),  # the cookie, else built from fbclid
    "data[].app_data": ("context.os.name", "context.os.version"),
    "data[].user_data.fbp": ("context.fbp",),
    "data[].custom_data": ("properties",),
    "data[].data_processing_options": (POLICY_RULE,),
    "data[].data_processing_options_country": (POLICY_RULE,),
    "data[].data_processing_options_state": (POLICY_RULE,),
    "test_event_code": (DERIVED,),
}
META_HASHED = frozenset({"em", "ph", "fn", "ln", "ge", "db", "ct", "st", "zp", "country"})


def _purpose_list(value: Any) -> tuple[str, ...]:
    """A catalogue ``purpose``: one name, or a list of names any one of which allows."""
    return (str(value),) if isinstance(value, str) else tuple(str(p) for p in value)


class Catalogue:
    """The policy's catalogue and destination lists, read from ``policies/default.yaml``."""

    def __init__(self, path: Path = POLICY_FILE) -> None:
        doc = policy_ops.load_policy_file(path)
        self.legal = {name: str(p["legal_basis"]) for name, p in doc["purposes"].items()}
        # attribute -> (the purposes any one of which allows it, its reduced form); a destination
        # of its own purposes (``purpose_for``) in ``by_destination``
        self.attributes = {
            name: (_purpose_list(a["purpose"]), str(a.get("reduced", "drop"))) for name, a in doc["attributes"].items()
        }
        self.by_destination = {
            (destination, name): _purpose_list(purposes)
            for name, a in doc["attributes"].items()
            for destination, purposes in (a.get("purpose_for") or {}).items()
        }
        self.allowed = {name: frozenset(d["attributes"]) for name, d in doc["destinations"].items()}
        self.objects = frozenset(name for name, a in doc["attributes"].items() if a.get("format") == "object")
        self.requires = {
            name: (frozenset(d["requires"].get("all", [])), frozenset(d["requires"].get("any", [])))
            for name, d in doc["destinations"].items()
        }

    def attribute_of(self, path: str) -> str | None:
        parts = path.split(".")
        for end in range(len(parts), 0, -1):
            candidate = ".".join(parts[:end])
            if candidate in self.attributes:
                return candidate
        return None

    def listed(self, destination: str, attribute: str) -> bool:
        """The destination lists the attribute, or an object attribute holding it (an object
        listed brings its catalogued children)."""
        allowed = self.allowed.get(destination, frozenset())
        parent = attribute
        while parent:
            if parent in allowed and (parent == attribute or parent in self.objects):
                return True
            parent = parent.rpartition(".")[0]
        return False

    def purposes(self, attribute: str, destination: str | None = None) -> tuple[str, ...]:
        """The purposes any one of which allows ``attribute`` at ``destination``."""
        if attribute.startswith("@"):
            return (NECESSARY,)
        own = self.by_destination.get((destination, attribute)) if destination else None
        return own or self.attributes[attribute][0]

    def purpose(self, attribute: str, destination: str | None = None) -> str:
        """The purposes as the table shows them: ``analytics|advertising`` for any of them."""
        return "|".join(self.purposes(attribute, destination))

    def legal_basis(self, attribute: str, destination: str | None = None) -> str:
        return "|".join(dict.fromkeys(self.legal[p] for p in self.purposes(attribute, destination)))

    def judge(
        self, destination: str, candidates: Iterable[str | None], granted: frozenset[str]
    ) -> tuple[str, str | None]:
        """(the attribute that allows the field, None) or (the first candidate, why none does)."""
        problem, first = "not_catalogued", ""
        for candidate in candidates:
            if candidate is None:
                continue
            first = first or candidate
            if candidate.startswith("@"):
                return candidate, None
            if candidate not in self.attributes:
                problem = "not_catalogued"
                continue
            if not self.listed(destination, candidate):
                problem = "not_allowed_for_destination"
                continue
            purposes, reduced = self.purposes(candidate, destination), self.attributes[candidate][1]
            if granted.isdisjoint(purposes) and reduced == "drop":
                problem = f"purpose_not_granted ({'|'.join(purposes)})"
                continue
            return candidate, None
        return first or "?", problem

    def requirement_missing(self, destination: str, granted: frozenset[str]) -> str | None:
        every, some = self.requires.get(destination, (frozenset(), frozenset()))
        missing = sorted(every - granted)
        if some and not (some & granted):
            missing.append("any of " + "|".join(sorted(some)))
        return ", ".join(missing) or None


def _leaves(value: Any, prefix: str = "") -> Iterator[str]:
    """Dotted paths of the leaves of a JSON value (list items share their list's path)."""
    if isinstance(value, dict) and value:
        for key, inner in value.items():
            yield from _leaves(inner, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(value, list) and value:
        for inner in value:
            yield from _leaves(inner, prefix)
    else:
        yield prefix


@dataclass
class Trace:
    """Every forwarded field, traced: (destination, wire field, attribute) -> count; and problems."""

    catalogue: Catalogue
    fields: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    problems: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    examples: dict[tuple[str, str, str], str] = field(default_factory=dict)
    events: Counter[str] = field(default_factory=Counter)

    def field(
        self, destination: str, wire: str, candidates: Iterable[str | None], granted: frozenset[str], ref: str
    ) -> None:
        attribute, problem = self.catalogue.judge(destination, candidates, granted)
        if problem is None:
            self.fields[(destination, wire, attribute)] += 1
        else:
            key = (destination, wire, problem)
            self.problems[key] += 1
            self.examples.setdefault(key, ref)

    def problem(self, destination: str, wire: str, problem: str, ref: str) -> None:
        key = (destination, wire, problem)
        self.problems[key] += 1
        self.examples.setdefault(key, ref)

    def event(self, destination: str, granted: frozenset[str], ref: str) -> None:
        self.events[destination] += 1
        missing = self.catalogue.requirement_missing(destination, granted)
        if missing:
            self.problem(destination, "(event)", f"destination requires {missing}", ref)

    def canonical(self, destination: str, event: dict[str, Any], granted: frozenset[str], ref: str) -> None:
        """A canonical hit (webhook batch item, lake record event): each path by its longest
        catalogued prefix (counted once per event)."""
        self.event(destination, granted, ref)
        for label in {self.catalogue.attribute_of(path) or path for path in _leaves(event)}:
            self.field(destination, label, [self.catalogue.attribute_of(label)], granted, ref)

    def ga4(self, body: dict[str, Any], hits: list[tuple[frozenset[str], str]]) -> None:
        """One GA4 request: request-level fields against every event's hit."""
        for key, value in body.items():
            if key == "events":
                continue
            # one label per field received: consent.ad_user_data, user_data.sha256_email_address...
            labels = {"user_properties.<name>"} if key == "user_properties" else set(_leaves(value, key))
            for label in labels:
                for granted, ref in hits:
                    self.field("ga4", label, GA4_FIELDS.get(key, ()), granted, ref)
        for (granted, ref), event in zip(hits, body.get("events") or [], strict=False):
            self.event("ga4", granted, ref)
            fields: dict[str, tuple[str, ...]] = {}  # each counted once per event
            for key in event:
                if key == "params":
                    for param in event["params"]:
                        wire = f"events[].params.{param}"
                        wire = wire if wire in GA4_FIELDS else "events[].params.<property>"
                        fields[wire] = GA4_FIELDS[wire]
                elif key == "name":  # page_view/screen_view say the hit's type; other names are `event`
                    fields["events[].name"] = ("type" if event["name"] in ("page_view", "screen_view") else "event",)
                else:
                    fields[f"events[].{key}"] = GA4_FIELDS.get(f"events[].{key}", ())
            for wire, candidates in fields.items():
                self.field("ga4", wire, candidates, granted, ref)

    def meta(self, event: dict[str, Any], granted: frozenset[str], ref: str) -> None:
        self.event("meta", granted, ref)
        fields: dict[str, tuple[str, ...]] = {}  # each counted once per event
        for key, value in event.items():
            if key == "user_data" and isinstance(value, dict):
                for user_key in value:
                    wire = "data[].user_data." + ("<hashed>" if user_key in META_HASHED else user_key)
                    fields[wire] = META_FIELDS.get(wire, ())
            elif key == "event_name":  # PageView says the hit's type; other names are `event`
                fields["data[].event_name"] = ("type" if value == "PageView" else "event",)
            else:
                fields[f"data[].{key}"] = META_FIELDS.get(f"data[].{key}", ())
        for wire, candidates in fields.items():
            self.field("meta", wire, candidates, granted, ref)

    def render(self) -> list[str]:
        head = ("destination", "field received", "catalogue attribute", "purpose", "legal basis", "events")
        rows = [
            (
                d,
                wire,
                attribute if not attribute.startswith("@") else f"{attribute} (no hit data)",
                self.catalogue.purpose(attribute, d),
                self.catalogue.legal_basis(attribute, d),
                str(n),
            )
            for (d, wire, attribute), n in sorted(self.fields.items())
        ]
        return _table(head, rows)


# ------------------------------------------------------------------------------------------------
# The canary run
# ------------------------------------------------------------------------------------------------


@dataclass
class Leak:
    surface: str
    value: str
    planted: Planted
    where: str  # e.g. the capture request or log line it was found in, cut short


@dataclass
class CanaryReport:
    hits: int
    requests: int
    timings: dict[str, float]
    surfaces: dict[str, tuple[int, int]]  # surface -> (items, bytes)
    leaks: list[Leak]
    planted: Counter[str]  # category -> values planted
    placements: Counter[str]  # placement -> values planted
    trace: Trace
    checks: list[Check]

    def leaks_by_placement(self) -> Counter[tuple[str, str]]:
        return Counter((leak.planted.category, leak.planted.placement) for leak in self.leaks)

    def leaks_outside(self, placements: Iterable[str] = ()) -> list[Leak]:
        skip = set(placements)
        return [leak for leak in self.leaks if leak.planted.placement not in skip]

    @property
    def ok(self) -> bool:
        return not self.leaks and all(c.ok for c in self.checks) and not self.trace.problems

    def render(self) -> str:
        out = [
            f"canaries: {self.hits} hits in {self.requests} requests; "
            + ", ".join(f"{k} {v:.1f}s" for k, v in self.timings.items()),
            "planted (distinct values): " + ", ".join(f"{k} {v}" for k, v in sorted(self.planted.items())),
            "",
        ]
        per_surface = Counter(leak.surface for leak in self.leaks)
        rows = [
            (name, str(items), f"{size / 1e6:.1f} MB", str(per_surface[name]))
            for name, (items, size) in self.surfaces.items()
        ]
        out += _table(("surface searched", "items", "size", "canaries in clear"), rows)
        out += [""]
        if self.leaks:
            out.append("canaries found in clear, by where they were planted:")
            by: dict[tuple[str, str], list[Leak]] = defaultdict(list)
            for leak in self.leaks:
                by[(leak.planted.category, leak.planted.placement)].append(leak)
            leak_rows = [
                (
                    category,
                    placement,
                    f"{len({x.value for x in found})} of {self.placements[placement]}",
                    str(len(found)),
                    ", ".join(sorted({x.surface.split(" (")[0].split(":")[0] for x in found})),
                )
                for (category, placement), found in sorted(by.items(), key=lambda kv: -len(kv[1]))
            ]
            out += _table(("category", "planted in", "values leaked", "found", "surfaces"), leak_rows)
            out.append("first occurrence of each:")
            for (category, placement), found in by.items():
                out.append(
                    f"  {category} / {placement}: {found[0].value!r} in {found[0].surface}: ...{found[0].where}..."
                )
            out.append("")
        out.append("every forwarded field, traced to the catalogue (policies/default.yaml):")
        out += self.trace.render()
        out.append("")
        if self.trace.problems:
            out.append("fields NOT traceable to an allowed attribute and a granted purpose:")
            for (d, wire, problem), n in self.trace.problems.most_common():
                out.append(f"  {d} {wire}: {problem} x{n} (e.g. {self.trace.examples[(d, wire, problem)]})")
            out.append("")
        out.append("checks:")
        out += [f"  [{'ok' if c.ok else 'FAIL'}] {c.name}" + (f": {c.detail}" if c.detail else "") for c in self.checks]
        return "\n".join(out)


def collect_surfaces(stack: ProofStack, evidence: Evidence, requests: list[Request]) -> dict[str, list[str]]:
    """Every surface a planted value could reach, by name: what ingest queued (through the tap),
    DLQs and leftovers, each destination request, lake and decision-log objects, failed events,
    every table item, log and metric line, and every HTTP answer. The stack must still be up."""
    surfaces: dict[str, list[str]] = {}
    assert stack.tap is not None
    surfaces["queue messages (every one ingest sent)"] = list(stack.tap.messages)
    ddb = stack.client("dynamodb")
    items: list[str] = []
    for output in ("PolicyTableName", "ConsentTableName", "DeliveryTableName"):
        for page in ddb.get_paginator("scan").paginate(TableName=stack.output(output)):
            items.extend(json.dumps(item) for item in page.get("Items", []))
    surfaces["DynamoDB items (policy, consent, ledger)"] = items
    surfaces["DLQ messages"] = [b for bodies in evidence.dlq.values() for b in bodies]
    surfaces["queue messages left at the end"] = [b for bodies in evidence.leftover.values() for b in bodies]
    for name in ("ga4", "meta", "webhook"):
        surfaces[f"{name}: requests received (body, query, headers)"] = [
            json.dumps(body)
            + "\n"
            + str(req.get("path"))
            + "?"
            + str(req.get("query"))
            + "\n"
            + json.dumps(req.get("headers"))
            for body, req in evidence.captured[name]
        ]
    surfaces["lake bucket objects (lake/, decisions/)"] = [b.decode(errors="replace") for _, b in evidence.lake_raw]
    surfaces["failed-events store objects"] = [b.decode(errors="replace") for _, b in evidence.failed_raw]
    surfaces["worker log lines"] = [line for line in evidence.logs if '"_aws"' not in line]
    surfaces["worker metric lines (EMF)"] = [line for line in evidence.logs if '"_aws"' in line]
    surfaces["stack stderr"] = evidence.stderr.splitlines()
    surfaces["ingest API answers"] = [f"{r.status} " + r.answer.decode(errors="replace") for r in requests]
    return surfaces


def run_canaries(
    hits: int,
    *,
    seed: int = 11,
    fault_rate: float = 0.10,
    visibility_seconds: int = 2,
    drain_timeout: float = 600.0,
    concurrency: int = 4,
    log_dir: Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> CanaryReport:
    say = progress or (lambda _: None)
    timings: dict[str, float] = {}
    started = time.monotonic()
    workload = CanaryWorkload(hits, seed)
    say(
        f"workload: {len(workload.hits)} hits, {len(workload.planted) + len(workload.phones)} canaries, "
        f"{len(workload.requests)} requests"
    )
    with contextlib.ExitStack() as exits:
        directory = log_dir or Path(exits.enter_context(tempfile.TemporaryDirectory(prefix="proof-canaries-")))
        stack = exits.enter_context(
            ProofStack(
                directory,
                faults=FaultPlan(rate=fault_rate, seed=seed),
                parameters={"TrustedProxy": "hops:1"},  # X-Forwarded-For's last entry is the client address
                visibility_seconds=visibility_seconds,
                tap=True,
            )
        )
        timings["start"] = time.monotonic() - started
        mark = time.monotonic()
        send(stack.base_url, workload.requests, concurrency)
        timings["send"] = time.monotonic() - mark
        say(f"sent in {timings['send']:.1f}s; draining")
        mark = time.monotonic()
        drained = stack.drain(drain_timeout)
        timings["drain"] = time.monotonic() - mark
        mark = time.monotonic()
        evidence = Evidence.collect(stack, drained)
        surfaces = collect_surfaces(stack, evidence, workload.requests)
    leaks: list[Leak] = []
    for name, texts in surfaces.items():
        for text in texts:
            for value, planted in workload.find(text):
                at = text.find(value)
                leaks.append(
                    Leak(name, value, planted, text[max(0, at - 80) : at + len(value) + 40].replace("\n", " "))
                )
    timings["search"] = time.monotonic() - mark
    trace, checks = trace_canaries(workload, evidence)
    checks.insert(0, Check("drained within the time limit", drained))
    bad = [r for r in workload.requests if r.status != (r.expect_status or (204 if "/g/" in r.path else 200))]
    checks.insert(
        1,
        Check(
            "every request answered as expected (200, gtag 204, 400 for the refused ones)",
            not bad,
            str(Counter(r.status for r in bad)),
        ),
    )
    timings["total"] = time.monotonic() - started
    counts = Counter(p.category for p in workload.planted.values()) + Counter(
        p.category for p in workload.phones.values()
    )
    return CanaryReport(
        hits=len(workload.hits),
        requests=len(workload.requests),
        timings=timings,
        surfaces={k: (len(v), sum(len(t) for t in v)) for k, v in surfaces.items()},
        leaks=leaks,
        planted=counts,
        placements=Counter(p.placement for p in workload.planted.values())
        + Counter(p.placement for p in workload.phones.values()),
        trace=trace,
        checks=checks,
    )


def trace_canaries(workload: CanaryWorkload, evidence: Evidence) -> tuple[Trace, list[Check]]:
    trace = Trace(Catalogue())
    by_pid = {h.proof_id: h for h in workload.hits}
    by_mid = {h.message_id: h for h in workload.hits}
    mismatched: list[str] = []
    for record in evidence.lake:  # the id and the proof_id property name the same hit
        event = record["event"]
        hit = by_pid.get(str((event.get("properties") or {}).get("proof_id")))
        if hit is not None and by_mid.get(str(event.get("messageId"))) is not hit:
            mismatched.append(f"{hit.proof_id}: recorded under another messageId")
    necessary = frozenset({NECESSARY})
    for record in evidence.lake:
        event = record["event"]
        hit = by_mid.get(str(event.get("messageId")))
        granted = hit.granted if hit else necessary  # unknown hit (a check below fails): judged strictest
        if hit is not None and sorted(record.get("purposes") or []) != sorted(hit.granted):
            mismatched.append(
                f"{hit.proof_id}: lake says {record.get('purposes')}, consent model {sorted(hit.granted)}"
            )
        for key in record:
            if key != "event":
                trace.field("lake", f"(envelope) {key}", [ENVELOPE], granted, str(event.get("messageId")))
        trace.canonical("lake", event, granted, str(event.get("messageId")))
    for body, _ in evidence.captured["webhook"]:
        for key in body:
            if key != "batch":
                trace.field("webhook", f"(envelope) {key}", [ENVELOPE], necessary, "webhook body")
        for event in body.get("batch") or []:
            hit = by_mid.get(str(event.get("messageId"))) or by_pid.get(
                str((event.get("properties") or {}).get("proof_id"))
            )
            if hit is None:
                trace.problem("webhook", "(event)", "not traceable to a hit", str(event.get("messageId")))
                continue
            trace.canonical("webhook", event, hit.granted, hit.proof_id)
    # a join_group event carries no properties: its group_id names the group call
    by_group = {group: by_mid[mid] for group, mid in _group_ids(evidence.lake).items() if mid in by_mid}
    for body, request in evidence.captured["ga4"]:
        if not request.get("valid"):
            continue
        hits: list[tuple[frozenset[str], str]] = []
        for event in body.get("events") or []:
            params = event.get("params") or {}
            hit = by_pid.get(str(params.get("proof_id"))) or by_group.get(str(params.get("group_id")))
            if hit is None:
                trace.problem("ga4", "(event)", "not traceable to a hit", json.dumps(event)[:80])
                hits.append((necessary, "?"))
            else:
                hits.append((hit.granted, hit.proof_id))
        trace.ga4(body, hits)
    for body, request in evidence.captured["meta"]:
        if not request.get("valid"):
            continue
        for key in body:
            if key != "data":
                trace.field("meta", key, META_FIELDS.get(key, ()), necessary, "meta body")
        for event in body.get("data") or []:
            hit = by_mid.get(str(event.get("event_id")))
            if hit is None:
                trace.problem("meta", "(event)", "not traceable to a hit", str(event.get("event_id")))
                continue
            trace.meta(event, hit.granted, hit.proof_id)
    lake_hits = Counter(
        hit.index for record in evidence.lake if (hit := by_mid.get(str(record["event"].get("messageId")))) is not None
    )
    unmapped = [r["event"] for r in evidence.lake if str(r["event"].get("messageId")) not in by_mid]
    twice = [i for i, n in lake_hits.items() if n > 1]
    checks = [
        Check(
            "the lake holds one record per hit (accepted hits = lake records)",
            len(lake_hits) == len(workload.hits) and not twice and not unmapped,
            f"{len(lake_hits)} of {len(workload.hits)} hits; {len(twice)} twice; {len(unmapped)} not traceable"
            + (f", e.g. {json.dumps(unmapped[0])[:300]}" if unmapped else ""),
        ),
        Check(
            "the lake's recorded purposes = the consent model's, for every hit",
            not mismatched,
            "; ".join(mismatched[:3]),
        ),
        Check(
            "every destination received something (the run proves nothing otherwise)",
            all(trace.events[d] for d in DESTINATIONS),
            str(dict(trace.events)),
        ),
    ]
    return trace, checks


# ------------------------------------------------------------------------------------------------
# Command line
# ------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m fairtrack_tools.proofs.proof", description=__doc__.split("\n", 1)[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name, rate, seed in (("load", 0.30, 7), ("canaries", 0.10, 11)):
        cmd = sub.add_parser(name)
        cmd.add_argument("--hits", type=int, default=100_000)
        cmd.add_argument("--seed", type=int, default=seed)
        cmd.add_argument(
            "--fault-rate", type=float, default=rate, help=f"share of destination requests failing (default {rate})"
        )
        cmd.add_argument("--visibility", type=int, default=2, help="queue visibility timeout in seconds (default 2)")
        cmd.add_argument("--drain-timeout", type=float, default=3600.0, help="seconds to wait for the queues to empty")
        cmd.add_argument("--concurrency", type=int, default=4, help="requests in flight to the ingest API")
        cmd.add_argument("--log-dir", type=Path, help="keep the workers' logs here (default: a temporary directory)")
    args = parser.parse_args(argv)

    def say(message: str) -> None:
        print(f"[proof] {message}", file=sys.stderr, flush=True)

    common: dict[str, Any] = {
        "seed": args.seed,
        "fault_rate": args.fault_rate,
        "visibility_seconds": args.visibility,
        "drain_timeout": args.drain_timeout,
        "concurrency": args.concurrency,
        "log_dir": args.log_dir,
        "progress": say,
    }
    report: LoadReport | CanaryReport
    report = run_load(args.hits, **common) if args.command == "load" else run_canaries(args.hits, **common)
    print(report.render(), flush=True)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
