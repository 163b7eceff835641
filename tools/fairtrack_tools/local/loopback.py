"""A threaded HTTP server on a loopback port: the one base of every stand-in server.

The local stack's API and capture server, the proofs' fault proxy and AWS tap, and the tests'
scripted destinations, websites and ``/_dev/aws`` answers are all a :class:`LoopbackServer` with
a request handler of their own. It binds ``127.0.0.1`` (port 0: a free port the system picks),
serves on a daemon thread (:meth:`~LoopbackServer.start`) or in the calling thread
(:meth:`~LoopbackServer.serve_forever`, for ``fairtrack dev``), keeps a list of what it was asked
when the handler records it (:meth:`~LoopbackServer.record`), and stops cleanly, whether it was
started or not. :class:`QuietHandler` is the handler base: no access log, HTTP/1.1, and the body
reading and answering every stand-in does.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import struct
import threading
from collections.abc import Collection, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

LOOPBACK = "127.0.0.1"
# headers of one hop, never relayed (the relay sets its own length and closes its connection)
HOP_HEADERS = frozenset({"connection", "content-length", "transfer-encoding", "keep-alive", "server", "date"})


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    loopback: LoopbackServer


class QuietHandler(BaseHTTPRequestHandler):
    """A request handler that writes no access log (stand-ins print nothing per request)."""

    protocol_version = "HTTP/1.1"
    # an answer goes out in two sends (head, body): without this a kept-alive connection waits for
    # the client's delayed ACK (Nagle's algorithm), about 40 ms per request
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        return

    @property
    def loopback(self) -> LoopbackServer:
        """The :class:`LoopbackServer` this handler serves (its :meth:`~LoopbackServer.record`)."""
        server = self.server
        assert isinstance(server, _Server)
        return server.loopback

    def read_body(self) -> bytes:
        """The request body (``Content-Length`` bytes; none without it)."""
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def answer(
        self,
        status: int,
        body: bytes = b"",
        content_type: str | None = "application/json",
        headers: Iterable[tuple[str, str]] = (),
    ) -> None:
        """Send a whole answer; a 204 carries no ``Content-Type``, a HEAD answer no body."""
        self.send_response(status)
        if content_type is not None and status != 204:
            self.send_header("Content-Type", content_type)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def reset(self) -> None:
        """Reset the connection (TCP RST) instead of answering."""
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.close()


class LoopbackServer:
    """``handler`` served by a threaded HTTP server on ``host:port`` (loopback, a free port by
    default); a context manager that starts it on a daemon thread and stops it."""

    def __init__(
        self,
        handler: type[BaseHTTPRequestHandler],
        *,
        name: str = "loopback",
        host: str = LOOPBACK,
        port: int = 0,
        poll_interval: float = 0.5,
    ) -> None:
        self.httpd = _Server((host, port), handler)
        self.httpd.loopback = self
        self.name = name
        self.poll_interval = poll_interval
        self.lock = threading.Lock()
        self.recorded: list[Any] = []
        self._thread: threading.Thread | None = None
        self._serving = False

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    @property
    def base_url(self) -> str:
        host = self.httpd.server_address[0]
        return f"http://{host!s}:{self.port}"

    def record(self, entry: Any) -> None:
        """Keep ``entry`` (what a handler was asked) in :attr:`recorded`, under :attr:`lock`."""
        with self.lock:
            self.recorded.append(entry)

    def start(self) -> Self:
        """Serve on a daemon thread; returns at once."""
        self._serving = True
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": self.poll_interval}, daemon=True, name=self.name
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread until :meth:`stop` (from another thread) or an interrupt."""
        self._serving = True
        self.httpd.serve_forever(poll_interval=self.poll_interval)

    def stop(self) -> None:
        """Stop serving (if it was) and close the socket; safe to call twice."""
        if self._serving:
            self._serving = False
            self.httpd.shutdown()
        self.httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def relay(
    upstream: tuple[str, int],
    method: str,
    path: str,
    body: bytes,
    headers: Iterable[tuple[str, str]],
    *,
    timeout: float = 30.0,
    drop: Collection[str] = HOP_HEADERS,
) -> tuple[int, http.client.HTTPMessage, bytes]:
    """Send one request to ``upstream`` on a connection of its own (``Connection: close``) and
    return its status, headers and body. ``drop`` names the request headers not passed on (lower
    case). A connection per request: on a kept-alive one, an answer written in two sends waits for
    the client's delayed ACK, about 40 ms."""
    conn = http.client.HTTPConnection(*upstream, timeout=timeout)
    try:
        sent = {k: v for k, v in headers if k.lower() not in drop}
        conn.request(method, path, body=body or None, headers={**sent, "Connection": "close"})
        resp = conn.getresponse()
        return resp.status, resp.msg, resp.read()
    finally:
        conn.close()
