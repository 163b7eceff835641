"""A batch's requests go out several at a time (GA4: one per visitor; the webhook: one per queue
message), against a real loopback server that holds each request for a while and counts how many
it holds at once; every event is still accounted in the report, in order, and the deadline stop
still leaves unstarted requests for retry."""

from __future__ import annotations

import threading
import time
from typing import Any

from fairtrack.destinations import Delivery, EventRef, Mapping, WireRequest
from fairtrack.destinations.transport import CONCURRENCY, Transport, send_all
from fairtrack.destinations.webhook import WebhookDestination
from fairtrack_tools.local.loopback import LoopbackServer, QuietHandler

HOLD_SECONDS = 0.3


class _Holding(QuietHandler):
    server_state: dict[str, Any]

    def do_POST(self) -> None:
        state = self.server_state
        body = self.read_body()
        with state["lock"]:
            state["in_flight"] += 1
            state["most"] = max(state["most"], state["in_flight"])
            state["bodies"].append(body)
        time.sleep(HOLD_SECONDS)
        with state["lock"]:
            state["in_flight"] -= 1
        self.answer(204)


def _server() -> tuple[LoopbackServer, dict[str, Any]]:
    state: dict[str, Any] = {"lock": threading.Lock(), "in_flight": 0, "most": 0, "bodies": []}
    handler = type("Holding", (_Holding,), {"server_state": state})
    return LoopbackServer(handler, name="holding"), state


def _mapping(n: int) -> Mapping:
    return Mapping(requests=[WireRequest(f'{{"n":{i}}}'.encode(), (EventRef(f"m{i}", f"e{i}"),)) for i in range(n)])


def test_requests_of_one_batch_overlap_and_are_all_accounted() -> None:
    transport = Transport(5.0, "fairtrack-test/1")
    with _server()[0] as server:
        state = server.httpd.RequestHandlerClass.server_state  # type: ignore[attr-defined]
        url = server.base_url + "/collect"
        report = send_all(_mapping(CONCURRENCY), lambda body: transport.post(url, body), executor=transport.executor)
    # every request reached the server, and more than one was in flight at once
    assert len(state["bodies"]) == CONCURRENCY
    assert state["most"] > 1, f"at most {state['most']} request in flight: the batch was sent one at a time"
    # the report accounts for every event, in the requests' order
    assert [ref.message_id for ref in report.sent] == [f"m{i}" for i in range(CONCURRENCY)]
    assert not report.retry and not report.failed


def test_without_an_executor_requests_go_one_at_a_time() -> None:
    transport = Transport(5.0, "fairtrack-test/1")
    with _server()[0] as server:
        state = server.httpd.RequestHandlerClass.server_state  # type: ignore[attr-defined]
        url = server.base_url + "/collect"
        report = send_all(_mapping(3), lambda body: transport.post(url, body))
    assert state["most"] == 1
    assert len(report.sent) == 3


def test_the_deadline_leaves_unstarted_requests_for_retry() -> None:
    transport = Transport(5.0, "fairtrack-test/1")
    started = threading.Semaphore(2)  # the deadline comes after two requests have started

    def stop() -> bool:
        return not started.acquire(blocking=False)

    with _server()[0] as server:
        state = server.httpd.RequestHandlerClass.server_state  # type: ignore[attr-defined]
        url = server.base_url + "/collect"
        report = send_all(_mapping(6), lambda body: transport.post(url, body), stop=stop, executor=transport.executor)
    assert len(state["bodies"]) == 2
    assert len(report.sent) == 2
    assert len(report.retry) == 4
    assert report.retry_reasons["deadline"] == 4


def test_the_webhook_sends_a_batch_of_messages_concurrently() -> None:
    with _server()[0] as server:
        state = server.httpd.RequestHandlerClass.server_state  # type: ignore[attr-defined]
        webhook = WebhookDestination(server.base_url + "/hook", lambda: b"k" * 32, timeout=5.0)
        items = [
            Delivery(f"m{i}", "web", 1, [(["analytics"], {"type": "track", "event": "Viewed", "messageId": f"e{i}"})])
            for i in range(6)
        ]
        report = webhook.deliver(items)
    assert len(state["bodies"]) == 6
    assert state["most"] > 1
    assert sorted(ref.message_id for ref in report.sent) == [f"m{i}" for i in range(6)]
