"""What clients see, through the ingest function (moto queues): the shape of an error body both
SDK families read, a lone surrogate escape, e-commerce lists sized by bytes rather than keys, and
two hits that share a ``messageId``."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest
from awshelpers import queue_messages
from segment_products import product

from fairtrack.protocols.segment import MAX_DEPTH, MAX_KEYS
from fairtrack_tools.local.localcloud import LocalCloud

ROOT = Path(__file__).resolve().parents[2]
CONSENT = {"consent": {"categoryPreferences": {"analytics": True, "advertising": False}}}


def sample(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((ROOT / "events" / "ingest" / name).read_text())
    return event


def batch_request(events: list[Any], *, raw: str | None = None, **headers: str) -> dict[str, Any]:
    out = sample("batch.json")
    out["body"] = raw if raw is not None else json.dumps({"batch": events, "context": CONSENT})
    out["headers"].update(headers)
    return out


def lake_events(cloud: LocalCloud) -> list[dict[str, Any]]:
    return [e["event"] for m in queue_messages(cloud, "LakeQueue") for e in json.loads(m["Body"])["events"]]


def ga4_events(cloud: LocalCloud) -> list[dict[str, Any]]:
    return [e["event"] for m in queue_messages(cloud, "Ga4Queue") for e in json.loads(m["Body"])["events"]]


def metric_names(stdout: str) -> set[str]:
    """The metric names of the EMF lines Powertools printed."""
    names: set[str] = set()
    for line in stdout.splitlines():
        if '"_aws"' in line:
            doc = json.loads(line)
            for directive in doc["_aws"]["CloudWatchMetrics"]:
                names.update(m["Name"] for m in directive["Metrics"])
    return names


def track(message_id: str, **properties: Any) -> dict[str, Any]:
    return {
        "type": "track",
        "event": "Order Completed",
        "anonymousId": "anon-1",
        "messageId": message_id,
        "properties": properties,
    }


# -- 1. errors in the shape the SDKs read -----------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "body", "status", "code"),
    [
        ({"authorization": "Basic d3Jvbmc6"}, None, 401, "invalid_write_key"),  # "wrong:"
        ({}, '{"batch": [', 400, "invalid_json"),
    ],
)
def test_errors_answer_code_and_message_at_the_top_level(
    ingest: Any, cloud: LocalCloud, headers: dict[str, str], body: str | None, status: int, code: str
) -> None:
    # Given a wrong write key, and a body that is not JSON
    response = ingest(batch_request([track("m-1")], raw=body, **headers))
    # Then the answer carries code and message at the top (rudder-sdk-python reads payload["code"]
    # and payload["message"]; a KeyError there made it retry a 4xx as a network error)
    assert response["statusCode"] == status
    answer = json.loads(response["body"])
    assert answer["success"] is False
    assert answer["code"] == code and isinstance(answer["message"], str) and answer["message"]
    assert "error" not in answer
    assert queue_messages(cloud, "LakeQueue") == []


# -- 2. a lone surrogate escape --------------------------------------------------------------------


def test_a_lone_surrogate_escape_keeps_the_batch(ingest: Any, cloud: LocalCloud) -> None:
    # Given a 3-event batch whose middle event's title ends in half an emoji ("\ud83d", as JSON
    # writes a string a client cut between the two UTF-16 halves)
    events = [
        {**track("sur-1"), "context": {"page": {"title": "Fine"}}},
        {**track("sur-2"), "context": {"page": {"title": "Great @@"}}},
        {**track("sur-3"), "context": {"page": {"title": "Also \ud83d\ude00 fine"}}},
    ]
    raw = json.dumps({"batch": events, "context": CONSENT}).replace("@@", "\\ud83d")
    assert "\\ud83d\\ude00" in raw and '"Great \\ud83d"' in raw
    # When ingested
    response = ingest(batch_request([], raw=raw))
    # Then all three are accepted, the half character read as U+FFFD, the pair as the emoji
    assert response["statusCode"] == 200
    assert json.loads(response["body"]) == {"success": True}
    titles = {e["messageId"]: e["context"]["page"]["title"] for e in lake_events(cloud)}
    assert titles == {"sur-1": "Fine", "sur-2": "Great \ufffd", "sur-3": "Also \U0001f600 fine"}


# -- 3. sized by bytes ------------------------------------------------------------------------------


def test_ecommerce_lists_are_accepted_and_reach_ga4_with_their_items(ingest: Any, cloud: LocalCloud) -> None:
    # Given a Product List Viewed of 50 full products (refused before: more than 500 keys) and an
    # Order Completed of 200 products, in one batch (each event under 32 KB)
    listed = {**track("plv-1"), "event": "Product List Viewed"}
    listed["properties"] = {"list_id": "shoes", "category": "Shoes", "products": [product(i) for i in range(50)]}
    items = [
        {"product_id": f"p-{i}", "sku": f"S-{i}", "name": f"Item {i}", "price": 9.5, "quantity": 1} for i in range(200)
    ]
    order = track("order-200", order_id="o-200", total=1900, revenue=1900, currency="EUR", products=items)
    for event in (listed, order):
        assert len(json.dumps(event, separators=(",", ":"))) < 32 * 1024
    # When ingested
    response = ingest(batch_request([listed, order]))
    # Then both are accepted and queued for GA4 with every product
    assert response["statusCode"] == 200
    assert json.loads(response["body"]) == {"success": True}
    queued = {e["messageId"]: e for e in ga4_events(cloud)}
    assert len(queued["plv-1"]["properties"]["products"]) == 50
    assert len(queued["order-200"]["properties"]["products"]) == 200


@pytest.mark.parametrize(
    ("shape", "reason"),
    [
        ("deep", f"nested deeper than {MAX_DEPTH} levels"),
        ("wide", f"more than {MAX_KEYS} keys"),
    ],
)
def test_an_abusive_object_is_refused_by_index(
    ingest: Any, cloud: LocalCloud, capsys: pytest.CaptureFixture[str], shape: str, reason: str
) -> None:
    # Given a batch whose middle event holds an object nested 100 levels deep, or 10,000 zeros (each
    # small enough for 32 KB)
    deep: Any = 0
    for _ in range(100):
        deep = [deep]
    abusive = track("abuse-1", blob=deep if shape == "deep" else [0] * 10_000)
    # When ingested
    response = ingest(batch_request([track("ok-1"), abusive, track("ok-2")]))
    # Then that event is refused by its index, the others kept
    assert response["statusCode"] == 200
    answer = json.loads(response["body"])
    assert answer["rejected"] == [{"index": 1, "errors": [{"path": "batch[1].properties", "reason": reason}]}]
    assert sorted(e["messageId"] for e in lake_events(cloud)) == ["ok-1", "ok-2"]
    assert "HitsRejected" in metric_names(capsys.readouterr().out)  # the SDK reads only the 200


# -- 4. two hits sharing a messageId ----------------------------------------------------------------


def test_different_events_sharing_a_message_id_are_counted(
    ingest: Any, cloud: LocalCloud, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a batch holding two different events under one messageId, and a plain copy of a third
    first, second = track("same-1", total=10), track("same-1", total=20)
    copy_a = track("copy-1", total=5)
    capsys.readouterr()
    # When ingested
    response = ingest(batch_request([first, second, copy_a, copy.deepcopy(copy_a)]))
    # Then the answer counts the second as a duplicate, and so does a metric
    assert response["statusCode"] == 200
    assert json.loads(response["body"]) == {"success": True, "duplicates": 1}
    assert "HitsDuplicateMessageId" in metric_names(capsys.readouterr().out)
    # and only the first of the two is queued (each destination would take the second for a copy);
    # the plain copy is left to the destinations' own dedup
    lake = lake_events(cloud)
    assert [e["properties"]["total"] for e in lake if e["messageId"] == "same-1"] == [10]
    assert [e["messageId"] for e in lake].count("copy-1") == 2


def test_two_gtag_visitors_sharing_page_load_and_sequence_are_both_routed(ingest: Any, cloud: LocalCloud) -> None:
    # Given two visitors' page views whose _p and _s are the same (gtag draws _p from 2^31)
    event = sample("gtag-page-view.json")
    params = dict(parse_qsl(event["rawQueryString"], keep_blank_values=True))
    assert {"_p", "_s", "cid"} <= params.keys()
    for cid in ("111111111.1795515300", "222222222.1795515301"):
        hit = copy.deepcopy(event)
        hit["rawQueryString"] = urlencode({**params, "cid": cid})
        hit["queryStringParameters"] = {**params, "cid": cid}
        # When each is ingested
        assert ingest(hit)["statusCode"] == 204
    # Then both reach the queues, under two message ids
    assert len({e["messageId"] for e in lake_events(cloud)}) == 2
