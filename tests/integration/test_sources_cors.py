"""Sources (add, list, rotate, remove) and per-source CORS through the ingest function."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from awshelpers import queue_messages

from fairtrack.stores.policy_table import Source, write_key_id
from fairtrack_tools.local.localcloud import LocalCloud
from fairtrack_tools.ops import sources

ROOT = Path(__file__).resolve().parents[2]


def sample(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((ROOT / "events" / "ingest" / name).read_text())
    return event


def track(write_key: str, origin: str | None = None) -> dict[str, Any]:
    event = sample("track.json")
    event["headers"].pop("authorization")
    body = json.loads(event["body"])
    body["writeKey"] = write_key
    event["body"] = json.dumps(body)
    if origin:
        event["headers"]["origin"] = origin
    return event


def preflight(origin: str, query: str = "", path: str = "/v1/t") -> dict[str, Any]:
    event = copy.deepcopy(sample("preflight.json"))
    event["headers"]["origin"] = origin
    event["rawPath"] = event["requestContext"]["http"]["path"] = path
    event["rawQueryString"] = query
    event["queryStringParameters"] = dict(p.split("=", 1) for p in query.split("&")) if query else None
    return event


@pytest.fixture
def ingest(load_handler: Any, context: Any) -> Any:
    module = load_handler("IngestFunction")
    return lambda event: module.handler(event, context)


@pytest.fixture
def shop(cloud: LocalCloud) -> tuple[str, Source]:
    source = Source(
        source_id="shop-web",
        name="Shop",
        origins=["https://shop.example", "https://WWW.Shop.Example:443/"],
        measurement_ids=["g-shop123"],
    )
    key = sources.add_source(cloud.client("dynamodb"), cloud.physical_id("PolicyTable"), source)
    return key, source


def test_added_source_is_normalised_and_its_key_works(ingest: Any, cloud: LocalCloud, shop: tuple[str, Source]) -> None:
    key, source = shop

    assert source.origins == ["https://shop.example", "https://www.shop.example"]
    assert source.measurement_ids == ["G-SHOP123"]
    assert key.startswith("ftk_") and len(key) > 30
    response = ingest(track(key, origin="https://www.shop.example"))
    assert response["statusCode"] == 200
    assert response["headers"]["Access-Control-Allow-Origin"] == "https://www.shop.example"
    envelope = json.loads(queue_messages(cloud, "LakeQueue")[0]["Body"])
    assert envelope["source_id"] == "shop-web"


def test_list_shows_fingerprints_never_keys(cloud: LocalCloud, shop: tuple[str, Source]) -> None:
    key, _ = shop
    table = cloud.physical_id("PolicyTable")

    listed = sources.list_sources(cloud.client("dynamodb"), table)

    assert [s["source_id"] for s in listed] == ["dev", "shop-web"]
    shop_listed = listed[1]
    assert shop_listed["measurement_ids"] == ["G-SHOP123"]
    assert len(shop_listed["keys"]) == 1 and len(shop_listed["keys"][0]) == 12
    assert key not in json.dumps(listed)


def test_duplicate_ids_and_measurement_ids_are_refused(cloud: LocalCloud, shop: tuple[str, Source]) -> None:
    ddb, table = cloud.client("dynamodb"), cloud.physical_id("PolicyTable")

    with pytest.raises(sources.SourceError, match="exists already"):
        sources.add_source(ddb, table, Source(source_id="shop-web"))
    with pytest.raises(sources.SourceError, match="belongs to source 'shop-web'"):
        sources.add_source(ddb, table, Source(source_id="other", measurement_ids=["G-SHOP123"]))


def test_rotate_gives_a_new_key_and_lists_only_it(ingest: Any, cloud: LocalCloud, shop: tuple[str, Source]) -> None:
    old, _ = shop
    ddb, table = cloud.client("dynamodb"), cloud.physical_id("PolicyTable")

    new = sources.rotate_key(ddb, table, "shop-web")

    assert new != old
    assert ingest(track(new))["statusCode"] == 200
    assert sources.list_sources(ddb, table)[1]["keys"] == [write_key_id(new).removeprefix("writekey#")[:12]]


def test_rotated_out_key_is_refused_by_a_cold_function(load_handler: Any, context: Any, cloud: LocalCloud) -> None:
    ddb, table = cloud.client("dynamodb"), cloud.physical_id("PolicyTable")
    old = sources.add_source(ddb, table, Source(source_id="api"))
    new = sources.rotate_key(ddb, table, "api")
    module = load_handler("IngestFunction")

    assert module.handler(track(old), context)["statusCode"] == 401
    assert module.handler(track(new), context)["statusCode"] == 200


def test_grace_period_keeps_the_old_key_until_not_after(load_handler: Any, context: Any, cloud: LocalCloud) -> None:
    ddb, table = cloud.client("dynamodb"), cloud.physical_id("PolicyTable")
    old = sources.add_source(ddb, table, Source(source_id="api"))
    sources.rotate_key(ddb, table, "api", keep_old_seconds=3600)
    assert load_handler("IngestFunction").handler(track(old), context)["statusCode"] == 200

    sources.rotate_key(ddb, table, "api", keep_old_seconds=-1)  # rotate again, no grace: old keys deleted
    assert load_handler("IngestFunction").handler(track(old), context)["statusCode"] == 401


def test_removed_source_is_gone_with_its_keys_and_origins(
    load_handler: Any, context: Any, cloud: LocalCloud, shop: tuple[str, Source]
) -> None:
    key, _ = shop
    ddb, table = cloud.client("dynamodb"), cloud.physical_id("PolicyTable")

    sources.remove_source(ddb, table, "shop-web")

    module = load_handler("IngestFunction")
    assert module.handler(track(key), context)["statusCode"] == 401
    assert module.handler(preflight("https://shop.example"), context)["statusCode"] == 403
    assert [s["source_id"] for s in sources.list_sources(ddb, table)] == ["dev"]
    with pytest.raises(sources.SourceError, match="no source"):
        sources.remove_source(ddb, table, "shop-web")


# -- CORS -----------------------------------------------------------------------------------------


def test_preflight_for_an_allowed_origin(ingest: Any, shop: tuple[str, Source]) -> None:
    response = ingest(preflight("https://shop.example"))

    assert response["statusCode"] == 204
    headers = response["headers"]
    assert headers["Access-Control-Allow-Origin"] == "https://shop.example"
    assert "Authorization" in headers["Access-Control-Allow-Headers"]
    assert "POST" in headers["Access-Control-Allow-Methods"]
    assert headers["Vary"] == "Origin"


@pytest.mark.parametrize("path", ["/v1/t", "/v1/batch", "/beacon/v1/batch", "/g/collect"])
def test_preflight_for_an_unknown_origin_is_refused_without_cors_headers(ingest: Any, path: str) -> None:
    response = ingest(preflight("https://evil.example", path=path))

    assert response["statusCode"] == 403
    assert not any(h.lower().startswith("access-control") for h in response.get("headers", {}))


def test_preflight_naming_a_source_uses_only_that_sources_origins(ingest: Any, shop: tuple[str, Source]) -> None:
    # shop.example is allowed by the shop source, but the URL names the dev source
    refused = ingest(preflight("https://shop.example", query="writeKey=dev-write-key", path="/beacon/v1/batch"))
    allowed = ingest(preflight("http://127.0.0.1:3000", query="writeKey=dev-write-key", path="/beacon/v1/batch"))
    by_tid = ingest(preflight("https://shop.example", query="tid=G-SHOP123", path="/g/collect"))

    assert refused["statusCode"] == 403
    assert allowed["statusCode"] == 204
    assert by_tid["statusCode"] == 204


def test_request_from_another_sources_origin_is_403(ingest: Any, cloud: LocalCloud, shop: tuple[str, Source]) -> None:
    response = ingest(track("dev-write-key", origin="https://shop.example"))

    assert response["statusCode"] == 403
    assert json.loads(response["body"])["code"] == "origin_not_allowed"
    assert queue_messages(cloud, "LakeQueue") == []


def test_server_side_source_refuses_browser_requests(ingest: Any, cloud: LocalCloud) -> None:
    ddb, table = cloud.client("dynamodb"), cloud.physical_id("PolicyTable")
    key = sources.add_source(ddb, table, Source(source_id="backend"))

    assert ingest(track(key))["statusCode"] == 200  # no Origin: a server
    assert ingest(track(key, origin="https://shop.example"))["statusCode"] == 403


def test_errors_before_the_source_is_known_are_readable_by_allowed_origins(ingest: Any) -> None:
    response = ingest(track("wrong-key", origin="http://127.0.0.1:3000"))
    unknown = ingest(track("wrong-key", origin="https://evil.example"))

    assert response["statusCode"] == 401
    assert response["headers"]["Access-Control-Allow-Origin"] == "http://127.0.0.1:3000"
    assert unknown["statusCode"] == 401
    assert "Access-Control-Allow-Origin" not in unknown.get("headers", {})


@pytest.mark.parametrize("name", sorted(p.name for p in (ROOT / "events" / "ingest").glob("*.json")))
def test_no_answer_invites_a_credentialed_request(ingest: Any, name: str) -> None:
    """Given each sample request of the ingest routes sent from the dev source's origin (allowed),
    then the answer, success or refusal, may be read by that origin but never carries
    ``Access-Control-Allow-Credentials``: fairtrack uses no cookie or browser-held credential."""
    event = sample(name)
    event["headers"]["origin"] = "http://127.0.0.1:3000"
    response = ingest(event)

    names = {h.lower() for h in (*response.get("headers", {}), *response.get("multiValueHeaders", {}))}
    assert "access-control-allow-credentials" not in names, response
    if name != "snippet.json":  # the script is served to any page, without CORS
        assert "access-control-allow-origin" in names, response
