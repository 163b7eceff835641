"""Over real HTTP against ``fairtrack dev``: gtag hits, CORS preflights, and ``fairtrack source``."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from e2e_stack import Stack, fairtrack

ROOT = Path(__file__).resolve().parents[2]
PAGE_VIEW = {
    "v": "2",
    "tid": "G-DEV",
    "_p": "1795515300999",
    "_s": "1",
    "gcs": "G101",  # analytics granted, ads denied
    "cid": "555.666",
    "dl": "http://127.0.0.1:3000/pricing?plan=pro",
    "dt": "Pricing",
    "en": "page_view",
}


def cli(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    return fairtrack(stack, "source", *args)


def webhook_events(got: dict[str, list[Any]]) -> list[dict[str, Any]]:
    return [e for delivery in got.get("webhook", []) for e in delivery["batch"]]


def test_gtag_get_reaches_the_webhook_with_only_allowed_fields(clean: Stack) -> None:
    status, body = clean.request("GET", "/g/collect?" + urlencode(PAGE_VIEW), headers={"User-Agent": "Mozilla/5.0"})

    assert status == 204
    assert body is None
    got = clean.wait_for(lambda g: len(webhook_events(g)) >= 1)
    [event] = webhook_events(got)
    assert event["type"] == "page"
    assert event["context"]["page"] == {"path": "/pricing", "title": "Pricing"}  # no query, no full URL
    assert event["context"]["ip"] == "127.0.0.0"
    assert "userAgent" not in event["context"]


def test_gtag_batched_post_as_text_plain(clean: Stack) -> None:
    query = urlencode({k: v for k, v in PAGE_VIEW.items() if k not in ("en", "_s")})
    lines = "en=scroll&_s=2&epn.percent_scrolled=90\nen=file_download&_s=3&ep.file_name=report.pdf"

    status, _ = clean.request(
        "POST", "/g/collect?" + query, lines.encode(), headers={"Content-Type": "text/plain;charset=UTF-8"}
    )

    assert status == 204
    got = clean.wait_for(lambda g: len(webhook_events(g)) >= 2)
    assert sorted(e["event"] for e in webhook_events(got)) == ["file_download", "scroll"]


def test_preflight_over_http(clean: Stack) -> None:
    allowed, _ = clean.request(
        "OPTIONS",
        "/v1/t",
        headers={"Origin": clean.base, "Access-Control-Request-Method": "POST"},
    )
    refused, _ = clean.request(
        "OPTIONS",
        "/v1/t",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )

    assert allowed == 204
    assert refused == 403


def test_source_cli_add_list_rotate_remove(clean: Stack) -> None:
    source_id = "shop-" + uuid.uuid4().hex[:8]

    added = cli(clean, "add", source_id, "--name", "Shop", "--origin", "https://shop.example")
    assert added.returncode == 0, added.stderr
    key = json.loads(added.stdout)["write_key"]
    assert "shown only now" in added.stderr

    track = {"type": "track", "event": "Signed Up", "anonymousId": "a-1", "writeKey": key}
    assert clean.request("POST", "/v1/track", json.dumps(track).encode())[0] == 200
    assert clean.request("POST", "/v1/track", json.dumps(track).encode(), {"Origin": "https://shop.example"})[0] == 200
    assert clean.request("POST", "/v1/track", json.dumps(track).encode(), {"Origin": clean.base})[0] == 403

    listed = cli(clean, "list")
    assert listed.returncode == 0, listed.stderr
    assert source_id in {s["source_id"] for s in json.loads(listed.stdout)}
    assert key not in listed.stdout

    rotated = cli(clean, "rotate", source_id)
    assert rotated.returncode == 0, rotated.stderr
    assert json.loads(rotated.stdout)["write_key"] != key

    removed = cli(clean, "remove", source_id)
    assert removed.returncode == 0, removed.stderr
    again = cli(clean, "remove", source_id)
    assert again.returncode == 2
    assert "no source" in again.stderr


def test_source_cli_refuses_a_bad_origin(clean: Stack) -> None:
    result = cli(clean, "add", "bad-" + uuid.uuid4().hex[:6], "--origin", "shop.example/path")

    assert result.returncode == 2
    assert "scheme://host" in result.stderr
