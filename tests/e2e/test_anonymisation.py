"""Through the whole local stack: personal data planted in a hit reaches the lake in no clear form."""

from __future__ import annotations

import json
import uuid

from e2e_stack import Stack

AUTH = {"Authorization": "Basic ZGV2LXdyaXRlLWtleTo=", "Content-Type": "application/json"}


def test_email_in_url_phone_in_property_and_client_id_never_reach_the_lake_in_clear(clean: Stack) -> None:
    client_id = f"cid-{uuid.uuid4()}"
    email = "jane.doe@example.com"
    phone = "+49 170 1234567"
    body = {
        "type": "page",
        "name": "Checkout",
        "anonymousId": client_id,
        "userId": "customer-4711",
        "messageId": f"anon-{uuid.uuid4()}",
        "properties": {"note": f"call me on {phone}", "step": 2},
        "traits": {},
        "context": {
            "page": {
                "url": f"https://shop.example/account/{email}/orders?email={email}&utm_source=mail&gclid=abc123",
                "path": f"/account/{email}/orders",
                "referrer": f"https://mail.example/inbox?to={email}",
                "title": "Orders",
            },
            "userAgent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 "
            "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
            "consent": {"categoryPreferences": {"analytics": True}},
        },
    }

    status, _ = clean.request("POST", "/v1/page", json.dumps(body).encode(), AUTH)

    assert status == 200
    got = clean.wait_for(lambda c: any(r["event"]["messageId"] == body["messageId"] for r in c["lake"]))
    [record] = [r for r in got["lake"] if r["event"]["messageId"] == body["messageId"]]
    text = json.dumps(record)
    for planted in (email, "jane.doe%40example.com", phone, "1234567", client_id, "customer-4711", "abc123"):
        assert planted not in text, planted
    event = record["event"]
    assert event["anonymousId"] == clean.pseudonym("anonymousId", client_id)
    assert event["userId"] == clean.pseudonym("userId", "customer-4711")
    assert event["context"]["page"]["url"].startswith("https://shop.example/account/")
    assert "utm_source=mail" in event["context"]["page"]["url"]
    assert event["context"]["page"]["referrer"] == "https://mail.example"
    assert "clickIds" not in event["context"]  # click ids need the advertising purpose
    assert event["context"]["agent"]["browser"] == "Chrome"
    assert "Macintosh; Intel" not in text
    assert event["properties"]["step"] == 2 and "[phone]" in event["properties"]["note"]
