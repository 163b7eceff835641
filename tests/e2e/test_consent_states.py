"""One hit under three consent states through the whole local stack, with a policy pushed and
activated by ``fairtrack policy`` (and rolled back afterwards): three different, correct sets of
captured destination payloads."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from e2e_stack import Stack, fairtrack

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = json.loads((ROOT / "events" / "examples" / "track.json").read_text())
CACHE_SECONDS = 2  # the local stack's PolicyCacheSeconds


def policy_cli(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    return fairtrack(stack, "policy", *args)


@pytest.fixture
def webhook_needs_advertising(clean: Stack, tmp_path: Path) -> Iterator[Stack]:
    """The default policy, except that the webhook needs advertising as well as analytics."""
    doc = yaml.safe_load((ROOT / "policies" / "default.yaml").read_text())
    doc["destinations"]["webhook"]["requires"] = {"all": ["analytics", "advertising"]}
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(doc))
    pushed = policy_cli(clean, "push", str(path), "--activate")
    assert pushed.returncode == 0, pushed.stderr
    time.sleep(CACHE_SECONDS + 0.5)
    try:
        yield clean
    finally:
        rolled = policy_cli(clean, "rollback")
        assert rolled.returncode == 0, rolled.stderr
        time.sleep(CACHE_SECONDS + 0.5)


def send(stack: Stack, message_id: str, preferences: dict[str, bool] | None) -> None:
    body: dict[str, Any] = json.loads(json.dumps(EXAMPLE))
    body["messageId"] = message_id
    # a page URL and a browser: what Meta requires of a website event
    body["context"]["page"]["url"] = "https://shop.example/checkout/thanks"
    body["context"]["userAgent"] = (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"
    )
    if preferences is None:
        del body["context"]["consent"]
    else:
        body["context"]["consent"] = {"categoryPreferences": preferences}
    status, _ = stack.request(
        "POST",
        "/v1/track",
        json.dumps(body).encode(),
        {"Authorization": "Basic ZGV2LXdyaXRlLWtleTo=", "Content-Type": "application/json"},
    )
    assert status == 200


def test_one_hit_three_consent_states_three_outcomes(webhook_needs_advertising: Stack) -> None:
    stack = webhook_needs_advertising
    send(stack, "state-none", None)
    send(stack, "state-analytics", {"analytics": True, "advertising": False})
    send(stack, "state-both", {"analytics": True, "advertising": True})

    got = stack.wait_for(
        lambda c: (
            len(c["lake"]) >= 3
            and len(c["webhook"]) >= 1
            and sum(len(b["events"]) for b in c["ga4"]) >= 2
            and len(c["meta"]) >= 1
        ),
        timeout=10,
    )
    lake = {r["event"]["messageId"]: r for r in got["lake"]}
    webhook = {e["messageId"]: e for post in got["webhook"] for e in post["batch"]}

    # no signal: the lake keeps a necessary-only record, the webhook gets nothing
    none = lake["state-none"]
    assert none["purposes"] == ["necessary"]
    assert set(none["event"]) == {"type", "messageId", "timestamp", "receivedAt", "visitorId"}
    assert none["event"]["visitorId"].startswith("d-")
    assert "state-none" not in webhook
    # analytics only: the lake gets the analytics fields, the webhook (needs advertising) nothing
    analytics = lake["state-analytics"]
    assert analytics["purposes"] == ["analytics", "necessary"]
    assert analytics["event"]["event"] == EXAMPLE["event"]
    assert analytics["event"]["properties"] == EXAMPLE["properties"]
    assert analytics["event"]["context"]["ip"] == "127.0.0.0"
    assert "state-analytics" not in webhook
    # both: the lake as above, and the webhook its allowlist
    both = lake["state-both"]
    assert both["purposes"] == ["advertising", "analytics", "necessary"]
    assert set(webhook) == {"state-both"}
    assert webhook["state-both"]["event"] == EXAMPLE["event"]
    assert "userId" not in webhook["state-both"]
    # GA4 needs analytics: the two hits that granted it, consent for ads only on the second
    consents = sorted(json.dumps(b["consent"], sort_keys=True) for b in got["ga4"] for _ in b["events"])
    assert consents == sorted(
        json.dumps({"ad_personalization": s, "ad_user_data": s}, sort_keys=True) for s in ("DENIED", "GRANTED")
    )
    # Meta needs advertising: only the third
    assert [e["event_id"] for b in got["meta"] for e in b["data"]] == ["state-both"]


def test_a_bad_policy_is_refused_and_the_active_one_stays(clean: Stack, tmp_path: Path) -> None:
    before = policy_cli(clean, "history")
    bad = tmp_path / "bad.yaml"
    bad.write_text("purposes: {analytics: {legal_basis: whim}}\nattributes: {}\ndestinations: {}\n")

    pushed = policy_cli(clean, "push", str(bad), "--activate")

    assert pushed.returncode == 2
    assert "purposes.analytics.legal_basis" in pushed.stderr + pushed.stdout
    assert policy_cli(clean, "history").stdout == before.stdout
