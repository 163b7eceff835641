"""A loopback HTTP server that misbehaves on purpose, for delivery tests (never a patched function).

It plays a script, one entry per request, then answers 200: a status (``500``), a status with a
body (``(400, b'{"error": ...}')``), ``"timeout"`` (no answer until after the client's read
timeout) or ``"reset"`` (the connection is reset instead of answered). Every request that got a
2xx answer is recorded with its path, query and JSON body.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

Step = int | str | tuple[int, bytes]
DEFAULT_ERROR = b'{"error":"bad field: batch[0].event"}'


class Flaky:
    def __init__(self, path: str = "/", ok_body: bytes = b'{"ok":true}') -> None:
        self.path = path
        self.script: list[Step] = []
        self.received: list[dict[str, Any]] = []
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with outer.lock:
                    step = outer.script.pop(0) if outer.script else 200
                if step == "timeout":
                    time.sleep(1.5)  # longer than the forwarder's read timeout in these tests
                    return
                if step == "reset":  # RST instead of an answer
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.connection.close()
                    self.close_connection = True
                    return
                status, answer = step if isinstance(step, tuple) else (int(step), b"")
                parts = urlsplit(self.path)
                with outer.lock:
                    outer.requests.append(
                        {
                            "path": parts.path,
                            "query": parse_qs(parts.query),
                            "status": status,
                            "headers": dict(self.headers.items()),
                        }
                    )
                    if 200 <= status < 300:
                        outer.received.append(json.loads(raw))
                body = answer or (ok_body if 200 <= status < 300 else DEFAULT_ERROR)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    @property
    def url(self) -> str:
        return self.base + self.path

    def delivered_ids(self) -> list[str]:
        with self.lock:
            return [e["messageId"] for body in self.received for e in body["batch"]]

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
