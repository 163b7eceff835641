"""Capture servers standing in for GA4, Meta and the webhook: they record what each received.

One loopback HTTP server; the first path segment names the destination (``/ga4/...``,
``/meta/...``, ``/webhook``). Bodies are decoded (gzip, JSON, form) before they are stored. A
destination can be told to fail (``fail(name, status)``) so retries and the DLQ can be exercised.

GA4 and Meta answer the way the real services do, judged by :mod:`fairtrack_tools.local.validators`:
``/ga4/mp/collect`` answers 204 whatever it gets (as GA4 does), ``/ga4/debug/mp/collect`` answers
200 with ``validationMessages``, and Meta answers 400 with a Graph API error (code 100) when any
event of a request is invalid, else 200 with ``events_received``. Every recorded request says
whether its payload was valid (``request["valid"]``, ``request["problems"]``).
"""

from __future__ import annotations

import gzip
import json
import threading
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fairtrack_tools.local.loopback import LoopbackServer, QuietHandler
from fairtrack_tools.local.validators import validate_ga4, validate_meta

CAPTURED = ("ga4", "meta", "webhook")


class CaptureStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[str, list[Any]] = {name: [] for name in CAPTURED}
        self._requests: dict[str, list[dict[str, Any]]] = {name: [] for name in CAPTURED}
        self._fail: dict[str, int] = {}

    def record(self, name: str, body: Any, request: dict[str, Any]) -> None:
        with self._lock:
            self._items[name].append(body)
            self._requests[name].append(request)

    def fail(self, name: str, status: int | None) -> None:
        with self._lock:
            if status is None:
                self._fail.pop(name, None)
            else:
                self._fail[name] = status

    def failing(self, name: str) -> int | None:
        with self._lock:
            return self._fail.get(name)

    def snapshot(self) -> dict[str, list[Any]]:
        with self._lock:
            return {k: list(v) for k, v in self._items.items()}

    def requests(self, name: str) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._requests[name])

    def clear(self) -> None:
        with self._lock:
            for v in (*self._items.values(), *self._requests.values()):
                v.clear()


def decode(body: bytes, headers: Any) -> Any:
    if headers.get("Content-Encoding", "").lower() == "gzip":
        body = gzip.decompress(body)
    text = body.decode("utf-8", "replace")
    ctype = headers.get("Content-Type", "")
    if "json" in ctype or text[:1] in "{[":
        try:
            return json.loads(text)
        except ValueError:
            return text
    if "x-www-form-urlencoded" in ctype:
        return {k: v[0] if len(v) == 1 else v for k, v in parse_qs(text).items()}
    return text


def judge(name: str, path: str, body: Any) -> tuple[int, bytes, list[Any]]:
    """Status, answer and problems, the way the destination itself would answer."""
    if name == "ga4":
        messages = validate_ga4(body)
        if "/debug/" in path:
            return 200, json.dumps({"validationMessages": messages}).encode(), messages
        return 204, b"", messages
    if name == "meta":
        error = validate_meta(body)
        if error is not None:
            return 400, json.dumps(error).encode(), [error["error"]]
        events = body.get("data") if isinstance(body, dict) else None
        received = len(events) if isinstance(events, list) else 0
        return 200, json.dumps({"events_received": received, "messages": [], "fbtrace_id": "local"}).encode(), []
    return 200, b'{"ok":true}', []


class CaptureServer(LoopbackServer):
    """The capture server: records what each destination received and answers as it would."""

    def __init__(self, store: CaptureStore, host: str = "127.0.0.1", port: int = 0) -> None:
        self.store = store
        outer = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                parts = urlsplit(self.path)
                name = parts.path.strip("/").split("/", 1)[0]
                raw = self.read_body()
                if name not in CAPTURED:
                    self.answer(404, b'{"error":"unknown destination"}')
                    return
                status = outer.store.failing(name)
                if status is not None:
                    self.answer(status, b'{"error":"failing on purpose"}')
                    return
                body = decode(raw, self.headers)
                status, answer, problems = judge(name, parts.path, body)
                outer.store.record(
                    name,
                    body,
                    {
                        "path": parts.path,
                        "query": parts.query,
                        "headers": dict(self.headers.items()),
                        "valid": not problems,
                        "problems": problems,
                    },
                )
                self.answer(status, answer)

        super().__init__(Handler, name="capture", host=host, port=port)
