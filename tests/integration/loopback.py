"""A loopback HTTP server that misbehaves on purpose, for delivery tests (never a patched function).

It plays a script, one entry per request, then answers 200: a status (``500``), a status with a
body (``(400, b'{"error": ...}')``), ``"timeout"`` (no answer until after the client's read
timeout) or ``"reset"`` (the connection is reset instead of answered). Every answered request is
recorded with its path, query, status and headers (:attr:`requests`), and the JSON body of every
request that got a 2xx answer (:attr:`received`).
"""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fairtrack_tools.local.loopback import LoopbackServer, QuietHandler

Step = int | str | tuple[int, bytes]
DEFAULT_ERROR = b'{"error":"bad field: batch[0].event"}'


class Flaky(LoopbackServer):
    def __init__(self, path: str = "/", ok_body: bytes = b'{"ok":true}') -> None:
        self.path = path
        self.script: list[Step] = []
        self.received: list[dict[str, Any]] = []
        outer = self

        class Handler(QuietHandler):
            # Nagle's algorithm stays on, as these tests were written against: a message's GA4
            # requests overlap, and which one takes the script's first step depends on the timing
            disable_nagle_algorithm = False

            def do_POST(self) -> None:
                raw = self.read_body()
                with outer.lock:
                    step = outer.script.pop(0) if outer.script else 200
                if step == "timeout":
                    time.sleep(1.5)  # longer than the forwarder's read timeout in these tests
                    return
                if step == "reset":
                    self.reset()
                    return
                status, answer = step if isinstance(step, tuple) else (int(step), b"")
                parts = urlsplit(self.path)
                with outer.lock:
                    outer.recorded.append(
                        {
                            "path": parts.path,
                            "query": parse_qs(parts.query),
                            "status": status,
                            "headers": dict(self.headers.items()),
                        }
                    )
                    if 200 <= status < 300:
                        outer.received.append(json.loads(raw))
                self.answer(status, answer or (ok_body if 200 <= status < 300 else DEFAULT_ERROR))

        super().__init__(Handler, name="flaky")
        self.start()

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Every answered request (read under :attr:`lock`)."""
        return self.recorded

    @property
    def base(self) -> str:
        return self.base_url

    @property
    def url(self) -> str:
        return self.base + self.path

    def delivered_ids(self) -> list[str]:
        with self.lock:
            return [e["messageId"] for body in self.received for e in body["batch"]]
