"""The local stack of a proof run: :class:`ProofStack`.

:class:`~fairtrack_tools.local.stack.DevStack` started in this process with the fault proxy in
front of the capture server, each function worker's log in a file of its own, short forwarder and
visibility timeouts, and (for the canaries) :class:`AwsTap`, a recording proxy in front of the
embedded AWS that keeps every message ingest queued.
"""

from __future__ import annotations

import contextlib
import gzip
import inspect
import io
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, TextIO
from unittest import mock
from urllib.parse import urlsplit

import boto3

from fairtrack_tools.local import runtime as runtime_module
from fairtrack_tools.local.loopback import HOP_HEADERS, LoopbackServer, QuietHandler, relay
from fairtrack_tools.local.runtime import Worker
from fairtrack_tools.local.stack import DevStack
from fairtrack_tools.proofs.faults import FaultPlan, FaultProxy

DESTINATIONS = ("ga4", "meta", "webhook", "lake")
QUEUES = {"ga4": "Ga4Queue", "meta": "MetaQueue", "webhook": "WebhookQueue", "lake": "LakeQueue"}
DLQS = {d: q.removesuffix("Queue") + "DeadLetterQueue" for d, q in QUEUES.items()}


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


class AwsTap(LoopbackServer):
    """A recording loopback proxy in front of the embedded AWS, used by the ingest function only:
    every SQS message body ingest sends is kept, so each queued message can be searched, however
    many there are, without taking it from a queue (moto's ReceiveMessage walks the whole queue on
    every call: reading 2,000 queued messages back takes minutes)."""

    def __init__(self) -> None:
        self.upstream: tuple[str, int] | None = None
        outer = self

        class Handler(QuietHandler):
            def _relay(self) -> None:
                body = self.read_body()
                outer.keep_sent(self.headers.get("X-Amz-Target", ""), body)
                assert outer.upstream is not None
                status, headers, data = relay(
                    outer.upstream, self.command, self.path, body, self.headers.items(), timeout=60
                )
                kept = [(k, v) for k, v in headers.items() if k.lower() not in HOP_HEADERS]
                self.answer(status, data, content_type=None, headers=kept)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _relay

        super().__init__(Handler, name="aws-tap")

    @property
    def messages(self) -> list[str]:
        """The body of every message sent to a queue, in the order the tap saw them."""
        with self.lock:
            return list(self.recorded)

    def keep_sent(self, target: str, body: bytes) -> None:
        """Record the message bodies of an SQS ``SendMessage``/``SendMessageBatch`` (JSON or query protocol)."""
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
        for sent in bodies:
            self.record(sent)


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
        destination_timeout: float = 2.5,
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
        self._clients: dict[str, Any] = {}

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
        self.dev.api.start()
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
        """A boto3 client for the embedded AWS, found through ``/_dev/aws`` like operator commands;
        one per service for the stack's life (the proof polls queues for up to an hour)."""
        if service not in self._clients:
            session = boto3.Session(
                aws_access_key_id="local",
                aws_secret_access_key="local",  # noqa: S106 - the embedded AWS takes any key
                region_name=self.aws["region"],
            )
            self._clients[service] = session.client(service, endpoint_url=self.aws["endpoint_url"])  # type: ignore[call-overload]
        return self._clients[service]

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


def open_stack(exits: contextlib.ExitStack, log_dir: Path | None, name: str, **options: Any) -> ProofStack:
    """A started :class:`ProofStack` that ``exits`` stops, its workers' logs in ``log_dir`` (default:
    a temporary directory named after the run, removed with it)."""
    directory = log_dir or Path(exits.enter_context(tempfile.TemporaryDirectory(prefix=f"proof-{name}-")))
    return exits.enter_context(ProofStack(directory, **options))
