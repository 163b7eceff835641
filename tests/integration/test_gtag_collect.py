"""GA4 gtag ``/g/collect`` through the ingest function (moto queues, the dev source ``G-DEV``)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest
from awshelpers import error_of, only_necessary, pseudonym_of, queue_messages

from fairtrack_tools.local.localcloud import LocalCloud

ROOT = Path(__file__).resolve().parents[2]


def sample(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((ROOT / "events" / "ingest" / name).read_text())
    return event


def with_query(event: dict[str, Any], params: dict[str, str]) -> dict[str, Any]:
    out = copy.deepcopy(event)
    out["rawQueryString"] = urlencode(params)
    out["queryStringParameters"] = dict(params)
    return out


def page_view_params() -> dict[str, str]:
    return dict(parse_qsl(sample("gtag-page-view.json")["rawQueryString"], keep_blank_values=True))


def lake_events(cloud: LocalCloud) -> list[dict[str, Any]]:
    return [e for m in queue_messages(cloud, "LakeQueue") for e in json.loads(m["Body"])["events"]]


def test_get_page_view_is_204_and_routed_with_consent_from_gcs_and_gcd(ingest: Any, cloud: LocalCloud) -> None:
    response = ingest(sample("gtag-page-view.json"))

    assert response["statusCode"] == 204
    assert not response["body"]
    routed = lake_events(cloud)
    assert len(routed) == 1
    assert routed[0]["purposes"] == ["advertising", "analytics", "necessary"]
    event = routed[0]["event"]
    assert event["type"] == "page"
    assert event["anonymousId"] == pseudonym_of(cloud, "anonymousId", "1234567890.1795515300")
    assert event["context"]["ip"] == "203.0.113.0"  # truncated connection address
    assert event["context"]["page"] == {
        "path": "/products/shoes",
        "title": "Shoes | Shop",
        "url": "https://shop.example/products/shoes?utm_source=news&utm_medium=email",
        "search": "?utm_source=news&utm_medium=email",
        "referrer": "https://www.search.example",
    }
    assert event["context"]["library"] == {"name": "gtag", "version": "2"}
    assert "gcd" not in json.dumps(event) and "13r3r3r3r5" not in json.dumps(event)


def test_batched_post_lines_become_events_in_one_message(ingest: Any, cloud: LocalCloud) -> None:
    response = ingest(sample("gtag-batch.json"))

    assert response["statusCode"] == 204
    messages = queue_messages(cloud, "LakeQueue")
    assert len(messages) == 1  # one SQS message per destination per request
    events = [e["event"] for e in json.loads(messages[0]["Body"])["events"]]
    assert [e["event"] for e in events] == ["scroll", "add_to_cart", "sign_up"]
    assert events[0]["properties"] == {"percent_scrolled": 90}
    assert events[1]["properties"]["items"][0]["item_id"] == "SKU-1"
    assert events[1]["properties"]["currency"] == "EUR"
    assert len({e["messageId"] for e in events}) == 3


def test_denied_analytics_storage_fails_closed(ingest: Any, cloud: LocalCloud) -> None:
    params = {**page_view_params(), "gcs": "G100", "gcd": "13q3q3q3q5"}

    assert ingest(with_query(sample("gtag-page-view.json"), params))["statusCode"] == 204

    assert len(only_necessary(cloud)) == 1
    assert queue_messages(cloud, "WebhookQueue") == []


def test_no_consent_parameters_fail_closed(ingest: Any, cloud: LocalCloud) -> None:
    params = {k: v for k, v in page_view_params().items() if k not in ("gcs", "gcd", "npa", "dma")}

    assert ingest(with_query(sample("gtag-page-view.json"), params))["statusCode"] == 204

    assert len(only_necessary(cloud)) == 1
    assert queue_messages(cloud, "WebhookQueue") == []


def test_bad_lines_are_dropped_and_good_ones_kept(ingest: Any, cloud: LocalCloud) -> None:
    event = sample("gtag-batch.json")
    event["body"] = "en=ok_one&_s=2\nen=1bad\nepn.value=NaN&en=bad_number\nen=ok_two&_s=3"

    response = ingest(event)

    assert response["statusCode"] == 204
    assert [e["event"]["event"] for e in lake_events(cloud)] == ["ok_one", "ok_two"]


def test_nothing_valid_is_400_with_paths_and_no_values(ingest: Any, cloud: LocalCloud) -> None:
    event = sample("gtag-batch.json")
    event["body"] = "en=jane.doe@example.com\nen=x&epn.jane=jane.doe@example.com"

    response = ingest(event)

    assert response["statusCode"] == 400
    body = json.loads(response["body"])
    assert {f["path"] for f in body["fields"]} == {"events[0].en", "events[1].epn"}
    assert "jane" not in response["body"]
    assert queue_messages(cloud, "LakeQueue") == []


@pytest.mark.parametrize(
    ("tid", "status", "code"),
    [(None, 401, "missing_measurement_id"), ("G-UNKNOWN1", 401, "invalid_measurement_id"), ("UA-1-1", 401, None)],
)
def test_measurement_id_names_the_source(ingest: Any, tid: str | None, status: int, code: str | None) -> None:
    params = {k: v for k, v in page_view_params().items() if k != "tid"}
    if tid:
        params["tid"] = tid

    response = ingest(with_query(sample("gtag-page-view.json"), params))

    assert response["statusCode"] == status
    if code:
        assert json.loads(response["body"])["code"] == code


def test_unsupported_content_encoding_is_415(ingest: Any) -> None:
    event = sample("gtag-batch.json")
    event["headers"]["content-encoding"] = "br"

    response = ingest(event)

    assert error_of(response) == (415, "unsupported_encoding")


def test_origin_not_allowed_for_the_source_is_403(ingest: Any, cloud: LocalCloud) -> None:
    event = sample("gtag-page-view.json")
    event["headers"]["origin"] = "https://evil.example"

    response = ingest(event)

    assert response["statusCode"] == 403
    assert "Access-Control-Allow-Origin" not in response.get("headers", {})
    assert queue_messages(cloud, "LakeQueue") == []


def test_allowed_origin_gets_cors_headers(ingest: Any) -> None:
    response = ingest(sample("gtag-page-view.json"))

    assert response["headers"]["Access-Control-Allow-Origin"] == "http://127.0.0.1:3000"
    assert response["headers"]["Vary"] == "Origin"


def test_more_than_2500_lines_is_413(ingest: Any, cloud: LocalCloud) -> None:
    event = sample("gtag-batch.json")
    event["body"] = "\n".join(f"en=scroll&_s={i}" for i in range(2501))

    response = ingest(event)

    assert response["statusCode"] == 413
    assert queue_messages(cloud, "LakeQueue") == []
