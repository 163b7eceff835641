"""The README's promise, checked over real HTTP against ``fairtrack dev`` in a subprocess."""

from __future__ import annotations

import base64
import json
import time
import uuid
from pathlib import Path
from typing import Any

from e2e_stack import Stack

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = (ROOT / "events" / "examples" / "track.json").read_bytes()
AUTH = {"Authorization": "Basic " + base64.b64encode(b"dev-write-key:").decode(), "Content-Type": "application/json"}
# What the gateway adds to an event: its receive time (and the event time, which the example leaves
# to the gateway so that it never goes stale) and the truncated address.
SERVER_FIELDS = {"receivedAt", "timestamp"}
SERVER_CONTEXT_FIELDS = {"ip", "agent"}  # the truncated address, the reduced user agent


def keys(obj: dict[str, Any], prefix: str = "") -> set[str]:
    out = set()
    for k, v in obj.items():
        path = f"{prefix}.{k}" if prefix else k
        out.add(path)
        if isinstance(v, dict):
            out |= keys(v, path)
    return out


def test_readme_example_reaches_webhook_and_lake_within_5_seconds(clean: Stack) -> None:
    # Given the README's example, sent as the README's curl command sends it
    status, body = clean.request("POST", "/v1/track", EXAMPLE, AUTH)
    assert (status, body) == (200, {"success": True})
    # Then within 5 seconds the webhook, the lake and GA4 (analytics consent) have it
    got = clean.wait_for(lambda c: c["webhook"] and c["lake"] and c["ga4"], timeout=5.0)
    assert len(got["webhook"]) == 1 and len(got["lake"]) == 1
    sent = json.loads(EXAMPLE)
    webhook_event = got["webhook"][0]["batch"][0]
    lake_event = got["lake"][0]["event"]
    for event in (webhook_event, lake_event):
        # with the IP truncated (the stack sees 127.0.0.1 over loopback)
        assert event["context"]["ip"] == "127.0.0.0"
        assert event["messageId"] == sent["messageId"]
        assert event["properties"] == sent["properties"]
        # and no field the example did not send, besides the documented server fields
        extra = {k for k in keys(event) - keys(sent) if not k.startswith("context.agent.")}
        assert extra == SERVER_FIELDS | {f"context.{f}" for f in SERVER_CONTEXT_FIELDS}, extra
    # raw consent signals are never forwarded; the lake records the purposes they resolved to
    assert "consent" not in webhook_event["context"]
    assert "consent" not in lake_event["context"]
    assert got["lake"][0]["purposes"] == ["analytics", "necessary"]
    # GA4 gets it as a purchase with ads consent denied; Meta (advertising not granted) nothing
    ((ga4_event,),) = [b["events"] for b in got["ga4"]]
    assert ga4_event["name"] == "purchase" and got["ga4"][0]["consent"]["ad_user_data"] == "DENIED"
    assert got["meta"] == []


def test_malformed_body_is_4xx_with_path_and_nothing_is_queued(clean: Stack) -> None:
    status, body = clean.request("POST", "/v1/track", b'{"type": "track", "event": ', AUTH)
    assert status == 400
    assert body["success"] is False and body["fields"][0]["path"] == "body"
    status, body = clean.request("POST", "/v1/track", json.dumps({"type": "track", "userId": "u"}).encode(), AUTH)
    assert status == 400
    assert "event" in body["message"] or any("event" in f["reason"] for f in body["fields"])
    time.sleep(1.5)
    queues = clean.request("GET", "/_dev/queues")[1]
    assert all(q["visible"] == 0 and q["in_flight"] == 0 for q in queues.values()), queues
    assert clean.captured() == {"ga4": [], "meta": [], "webhook": [], "lake": []}


def test_unknown_route_is_api_gateway_404(clean: Stack) -> None:
    status, _ = clean.request("GET", "/nothing-here")
    assert status == 404


def fresh_example() -> dict[str, Any]:
    """The README's example under a message id of its own: the stack's delivery ledger skips an id
    it already delivered (an earlier test sent the example as is), so nothing would arrive."""
    body: dict[str, Any] = json.loads(EXAMPLE)
    body["messageId"] = f"e2e-{uuid.uuid4()}"
    return body


def test_delete_clears_captured(clean: Stack) -> None:
    body = json.dumps(fresh_example()).encode()
    assert clean.request("POST", "/v1/track", body, AUTH) == (200, {"success": True})
    clean.wait_for(lambda c: c["lake"] and c["webhook"])  # raises when nothing arrives
    assert clean.request("DELETE", "/_dev/captured")[0] == 200
    assert clean.captured() == {"ga4": [], "meta": [], "webhook": [], "lake": []}


def test_logs_hold_no_personal_data(clean: Stack) -> None:
    # Given hits carrying an IP-like value, an e-mail and a user agent
    body = fresh_example()
    body["properties"]["email"] = "jane.doe@example.com"
    body["context"]["userAgent"] = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) CanaryAgent/1.0"
    status, answer = clean.request(
        "POST",
        "/v1/track",
        json.dumps(body).encode(),
        {**AUTH, "User-Agent": "CanaryAgent/2.0", "X-Forwarded-For": "198.51.100.23"},
    )
    assert (status, answer) == (200, {"success": True})
    # the hit went all the way through (wait_for raises if it never reaches the lake), so the log
    # below holds every function's lines for it, not only a refusal's
    clean.wait_for(lambda c: c["lake"], what="the hit in the lake")
    log = clean.log.read_text()  # type: ignore[attr-defined]
    # Then no log line of any function holds them
    for canary in ("jane.doe@example.com", "CanaryAgent", "198.51.100.23", "127.0.0.1 -"):
        assert canary not in log
