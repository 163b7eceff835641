"""The ingest function in-process: API Gateway v2 events in, SQS messages out (moto)."""

from __future__ import annotations

import base64
import copy
import gzip
import json
from pathlib import Path
from typing import Any

import pytest
from awshelpers import deactivate_policy, error_of, only_necessary, queue_messages

from fairtrack_tools.local.localcloud import LocalCloud

ROOT = Path(__file__).resolve().parents[2]
QUEUES = ("Ga4Queue", "MetaQueue", "WebhookQueue", "LakeQueue")
CHROME_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
)


def sample(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((ROOT / "events" / "ingest" / name).read_text())
    return event


def with_body(event: dict[str, Any], body: Any, **headers: str) -> dict[str, Any]:
    out = copy.deepcopy(event)
    out["body"] = body if isinstance(body, str) else json.dumps(body)
    out["headers"].update(headers)
    return out


def example() -> dict[str, Any]:
    body: dict[str, Any] = json.loads((ROOT / "events" / "examples" / "track.json").read_text())
    return body


def depths(cloud: LocalCloud) -> dict[str, int]:
    return {q: v["visible"] for q, v in cloud.queue_depths().items()}


def test_track_with_consent_is_queued_once_per_receiving_destination(ingest: Any, cloud: LocalCloud) -> None:
    # Given the sample track event (analytics consent granted, source IP 203.0.113.77)
    # When ingest handles it
    response = ingest(sample("track.json"))
    # Then it answers as Segment does, and GA4, webhook and lake queues each get one message (Meta
    # needs advertising consent, which this hit does not carry)
    assert response["statusCode"] == 200
    assert json.loads(response["body"]) == {"success": True}
    receiving = ("Ga4Queue", "WebhookQueue", "LakeQueue")
    assert depths(cloud) == {q: (1 if q in receiving else 0) for q in cloud.queue_depths()}
    for queue in ("WebhookQueue", "LakeQueue"):
        (message,) = queue_messages(cloud, queue)
        envelope = json.loads(message["Body"])
        event = envelope["events"][0]["event"]
        # the IP is truncated before anything is queued; the full one is nowhere in the message
        assert event["context"]["ip"] == "203.0.113.0"
        assert "203.0.113.77" not in message["Body"]
        # the user agent header is never carried; the correlation id travels as an attribute
        assert "Mozilla" not in message["Body"]
        assert message["MessageAttributes"]["correlation_id"]["StringValue"] == "sample-request-0001"
        assert envelope["policy_version"] == 1
        assert envelope["events"][0]["purposes"] == ["analytics", "necessary"]


def test_webhook_message_holds_only_allowlisted_fields(ingest: Any, cloud: LocalCloud) -> None:
    # Given an event with fields the default policy does not let the webhook have
    body = example()
    body["userId"] = "user-42"
    body["context"]["page"]["url"] = "https://shop.example/thanks?email=jane@example.com"
    body["context"]["userAgent"] = CHROME_UA
    body["context"]["unknownThing"] = "x"
    ingest(with_body(sample("track.json"), body))
    (message,) = queue_messages(cloud, "WebhookQueue")
    event = json.loads(message["Body"])["events"][0]["event"]
    # Then none of them reaches the webhook queue
    assert "userId" not in event
    assert set(event["context"]) == {"page", "locale", "ip", "agent"}
    assert set(event["context"]["page"]) == {"path", "title"}
    # the user agent only in its reduced form
    assert set(event["context"]["agent"]) == {"browser", "browserMajor", "os", "osMajor", "deviceClass", "bot"}
    assert "Windows NT 10.0" not in message["Body"] and "AppleWebKit" not in message["Body"]
    assert "jane@example.com" not in message["Body"]


def test_no_consent_signal_fails_closed(ingest: Any, cloud: LocalCloud) -> None:
    # Given the example without any consent signal
    body = example()
    del body["context"]["consent"]
    # When ingested, then it is accepted, the webhook gets nothing and the lake a necessary-only record
    response = ingest(with_body(sample("track.json"), body))
    assert response["statusCode"] == 200
    assert depths(cloud)["WebhookQueue"] == 0
    assert len(only_necessary(cloud)) == 1


def test_denied_analytics_fails_closed(ingest: Any, cloud: LocalCloud) -> None:
    body = example()
    body["context"]["consent"]["categoryPreferences"]["analytics"] = False
    assert ingest(with_body(sample("track.json"), body))["statusCode"] == 200
    assert depths(cloud)["WebhookQueue"] == 0
    [record] = only_necessary(cloud)
    assert "Order Completed" not in json.dumps(record)


def test_malformed_json_gets_400_and_nothing_is_queued(ingest: Any, cloud: LocalCloud) -> None:
    response = ingest(sample("track-malformed.json"))
    assert response["statusCode"] == 400
    error = json.loads(response["body"])
    assert error["code"] == "invalid_json"
    assert error["fields"] == [{"path": "body", "reason": "not valid JSON"}]
    assert sum(depths(cloud).values()) == 0


def test_invalid_event_names_field_paths_without_echoing_values(ingest: Any, cloud: LocalCloud) -> None:
    # Given an event whose bad fields hold personal data
    body = example()
    body["anonymousId"] = None
    body["userId"] = True
    body["timestamp"] = "jane.doe@example.com"
    response = ingest(with_body(sample("track.json"), body))
    # Then the answer names each field and reason, echoes none of the values, and queues nothing
    assert response["statusCode"] == 400
    paths = {f["path"] for f in json.loads(response["body"])["fields"]}
    assert paths == {"userId", "timestamp"}
    assert "jane.doe" not in response["body"]
    assert sum(depths(cloud).values()) == 0


@pytest.mark.parametrize(
    ("headers", "body_key", "status", "code"),
    [
        ({"authorization": ""}, None, 401, "missing_write_key"),
        ({"authorization": "Basic " + base64.b64encode(b"nope:").decode()}, None, 401, "invalid_write_key"),
        ({"authorization": ""}, "dev-write-key", 200, None),
    ],
)
def test_write_key(
    ingest: Any, cloud: LocalCloud, headers: dict[str, str], body_key: str | None, status: int, code: str | None
) -> None:
    body = example()
    if body_key:
        body["writeKey"] = body_key
    response = ingest(with_body(sample("track.json"), body, **headers))
    assert response["statusCode"] == status
    if code:
        assert json.loads(response["body"])["code"] == code
        assert sum(depths(cloud).values()) == 0


def test_gzip_body_base64_encoded_by_api_gateway(ingest: Any, cloud: LocalCloud) -> None:
    event = sample("track.json")
    event["body"] = base64.b64encode(gzip.compress(json.dumps(example()).encode())).decode()
    event["isBase64Encoded"] = True
    event["headers"]["content-encoding"] = "gzip"
    assert ingest(event)["statusCode"] == 200
    assert depths(cloud)["LakeQueue"] == 1


def test_queue_failure_answers_503_so_clients_retry(ingest: Any, cloud: LocalCloud) -> None:
    # Given the webhook queue is gone
    cloud.client("sqs").delete_queue(QueueUrl=cloud.physical_id("WebhookQueue"))
    response = ingest(sample("track.json"))
    assert error_of(response) == (503, "queue_unavailable")


def test_no_active_policy_forwards_nothing(ingest: Any, cloud: LocalCloud) -> None:
    deactivate_policy(cloud)
    response = ingest(sample("track.json"))
    assert response["statusCode"] == 503
    assert sum(depths(cloud).values()) == 0


def test_unknown_route_is_404_json(ingest: Any) -> None:
    event = sample("track.json")
    event["rawPath"] = event["requestContext"]["http"]["path"] = "/v1/nope"
    response = ingest(event)
    assert response["statusCode"] == 404
    assert json.loads(response["body"])["success"] is False


def on_path(event: dict[str, Any], path: str) -> dict[str, Any]:
    out = copy.deepcopy(event)
    out["rawPath"] = out["requestContext"]["http"]["path"] = path
    return out


@pytest.mark.parametrize(
    ("path", "body_type"),
    [
        ("/v1/t", None),
        ("/v1/track", "track"),
        ("/v1/page", "page"),
        ("/v1/p", None),
        ("/v1/screen", None),
        ("/v1/s", None),
        ("/v1/identify", None),
        ("/v1/i", None),
    ],
)
def test_typed_routes_long_and_short(ingest: Any, cloud: LocalCloud, path: str, body_type: str | None) -> None:
    # Given an event on a typed route, with or without its type in the body
    body = example()
    if body_type is None:
        del body["type"]
    else:
        body["type"] = body_type
    response = ingest(on_path(with_body(sample("track.json"), body), path))
    # Then it is accepted and queued with the route's type
    assert response["statusCode"] == 200, response["body"]
    (message,) = queue_messages(cloud, "LakeQueue")
    kind = {"t": "track", "p": "page", "s": "screen", "i": "identify"}.get(
        path.rsplit("/", 1)[1], path.rsplit("/", 1)[1]
    )
    assert json.loads(message["Body"])["events"][0]["event"]["type"] == kind


def test_type_in_body_must_match_the_route(ingest: Any, cloud: LocalCloud) -> None:
    body = example()
    body["type"] = "page"
    response = ingest(on_path(with_body(sample("track.json"), body), "/v1/track"))
    assert response["statusCode"] == 400
    assert json.loads(response["body"])["fields"][0]["path"] == "type"


def test_batch_keeps_good_events_and_reports_bad_ones_by_index(ingest: Any, cloud: LocalCloud) -> None:
    # Given a batch with a shared context (consent), two good events and a bad one between them
    good = example()
    del good["context"]
    bad = {"type": "track", "anonymousId": "a", "properties": "jane.doe@example.com"}
    page = {"type": "page", "name": "Home", "anonymousId": "a", "context": {"page": {"path": "/"}}}
    body = {
        "batch": [good, bad, page],
        "context": {"consent": {"categoryPreferences": {"analytics": True}}},
        "sentAt": "2026-11-24T10:15:00.000Z",
    }
    for path in ("/v1/batch", "/v1/b", "/beacon/v1/batch"):
        response = ingest(on_path(with_body(sample("track.json"), body), path))
        # Then the answer is 200 success listing the bad one by index, without its value
        assert response["statusCode"] == 200
        answer = json.loads(response["body"])
        assert answer["success"] is True
        assert [r["index"] for r in answer["rejected"]] == [1]
        assert {e["path"] for e in answer["rejected"][0]["errors"]} == {"batch[1].event", "batch[1].properties"}
        assert "jane.doe" not in response["body"]
    # and the good ones, with the batch context merged in, reach the lake in one message per request
    messages = queue_messages(cloud, "LakeQueue")
    assert len(messages) == 3
    routed = [e for m in messages for e in json.loads(m["Body"])["events"]]
    events = [e["event"] for e in routed]
    assert [e["type"] for e in events] == ["track", "page"] * 3
    # the shared consent reached every event (and, being a raw signal, is not forwarded itself)
    assert all(e["purposes"] == ["analytics", "necessary"] for e in routed)
    assert all("consent" not in e["context"] for e in events)
    assert events[1]["context"]["page"] == {"path": "/"}


def test_batch_with_nothing_valid_is_400(ingest: Any, cloud: LocalCloud) -> None:
    body = {"batch": [{"type": "track", "anonymousId": "a"}]}
    response = ingest(on_path(with_body(sample("track.json"), body), "/v1/batch"))
    assert response["statusCode"] == 400
    assert json.loads(response["body"])["fields"] == [{"path": "batch[0].event", "reason": "required for track events"}]
    assert sum(depths(cloud).values()) == 0


@pytest.mark.parametrize("body", [{"batch": []}, {"batch": {}}, {"nobatch": 1}, [1, 2]])
def test_batch_shape_errors(ingest: Any, cloud: LocalCloud, body: Any) -> None:
    response = ingest(on_path(with_body(sample("track.json"), body), "/v1/batch"))
    assert response["statusCode"] == 400
    assert json.loads(response["body"])["code"] in ("invalid_batch",)


def test_batch_clock_correction_uses_batch_sent_at(ingest: Any, cloud: LocalCloud) -> None:
    # Given a client whose clock is 10 minutes ahead: it stamped the event 5 s before sending
    body = {"batch": [{**example(), "timestamp": "2026-11-24T10:25:00.000Z"}], "sentAt": "2026-11-24T10:25:05.000Z"}
    event = on_path(with_body(sample("track.json"), body), "/v1/batch")
    ingest(event)
    (message,) = queue_messages(cloud, "LakeQueue")
    hit = json.loads(message["Body"])["events"][0]["event"]
    # Then timestamp = receivedAt - 5 s (the sample's requestContext.timeEpoch is 10:15:02Z)
    assert hit["receivedAt"] == "2026-11-24T10:15:02.000Z"
    assert hit["timestamp"] == "2026-11-24T10:14:57.000Z"


# -- size limits answer 413 ------------------------------------------------------------------------


def test_single_event_over_32_kb_is_413(ingest: Any, cloud: LocalCloud) -> None:
    body = {**example(), "properties": {"blob": "x" * (33 * 1024)}}

    response = ingest(with_body(sample("track.json"), body))

    assert response["statusCode"] == 413
    assert json.loads(response["body"])["fields"] == [{"path": "body", "reason": "event larger than 32 KB"}]
    assert sum(depths(cloud).values()) == 0


def test_batch_of_more_than_2500_events_is_413(ingest: Any, cloud: LocalCloud) -> None:
    event = {"type": "track", "event": "e", "anonymousId": "a"}
    body = {"batch": [event] * 2501}

    response = ingest(on_path(with_body(sample("track.json"), body), "/v1/batch"))

    assert response["statusCode"] == 413
    assert json.loads(response["body"])["fields"] == [{"path": "batch", "reason": "more than 2500 events"}]
    assert sum(depths(cloud).values()) == 0


def test_batch_where_every_event_is_too_large_is_413_but_one_good_event_keeps_it_200(
    ingest: Any, cloud: LocalCloud
) -> None:
    big = {**example(), "properties": {"blob": "y" * (33 * 1024)}}
    del big["messageId"]

    only_big = ingest(on_path(with_body(sample("track.json"), {"batch": [big, big]}), "/v1/batch"))
    mixed = ingest(on_path(with_body(sample("track.json"), {"batch": [big, example()]}), "/v1/batch"))

    assert only_big["statusCode"] == 413
    assert mixed["statusCode"] == 200
    assert json.loads(mixed["body"])["rejected"] == [
        {"index": 0, "errors": [{"path": "batch[0]", "reason": "event larger than 32 KB"}]}
    ]
