"""The loopback server base (fairtrack_tools.local.loopback): every stand-in server is one."""

from __future__ import annotations

import http.client
import socket
import urllib.request
from collections.abc import Iterator

import pytest

from fairtrack_tools.local.loopback import LoopbackServer, QuietHandler, relay


class Echo(QuietHandler):
    def do_POST(self) -> None:
        body = self.read_body()
        hops = {"connection": self.headers.get("Connection"), "keep_alive": self.headers.get("Keep-Alive")}
        self.loopback.record({"path": self.path, "body": body, **hops})
        if body == b"reset":
            self.reset()
            return
        self.answer(201, body[::-1], "text/plain", [("X-Seen", self.headers.get("X-Probe", "-"))])


@pytest.fixture
def echo() -> Iterator[LoopbackServer]:
    with LoopbackServer(Echo, name="echo") as server:
        yield server


def test_binds_loopback_on_a_free_port_and_answers(echo: LoopbackServer) -> None:
    assert echo.base_url == f"http://127.0.0.1:{echo.port}" and echo.port > 0
    request = urllib.request.Request(echo.base_url + "/x?y=1", data=b"abc", headers={"X-Probe": "p"})
    with urllib.request.urlopen(request, timeout=5) as answer:
        assert (answer.status, answer.read(), answer.headers["X-Seen"]) == (201, b"cba", "p")
        assert answer.headers["Content-Type"] == "text/plain"
    assert echo.recorded == [{"path": "/x?y=1", "body": b"abc", "connection": "close", "keep_alive": None}]


def test_reset_answers_nothing(echo: LoopbackServer) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", echo.port, timeout=5)
    conn.request("POST", "/", body=b"reset")
    with pytest.raises((ConnectionError, http.client.RemoteDisconnected)):
        conn.getresponse().read()
    conn.close()


def test_relay_passes_the_request_on_and_drops_hop_headers(echo: LoopbackServer) -> None:
    status, headers, body = relay(
        ("127.0.0.1", echo.port),
        "POST",
        "/r",
        b"hello",
        [("X-Probe", "q"), ("Connection", "keep-alive"), ("Keep-Alive", "timeout=5")],
    )
    assert (status, body, headers["X-Seen"]) == (201, b"olleh", "q")
    # the hop-by-hop headers stay behind: the upstream sees a connection of its own
    assert echo.recorded == [{"path": "/r", "body": b"hello", "connection": "close", "keep_alive": None}]


def test_stops_cleanly_started_or_not() -> None:
    never = LoopbackServer(Echo)
    port = never.port
    never.stop()  # never served: returns at once, the port is free again
    never.stop()
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))
    started = LoopbackServer(Echo).start()
    started.stop()
    with pytest.raises(OSError):
        urllib.request.urlopen(started.base_url + "/", timeout=2)
