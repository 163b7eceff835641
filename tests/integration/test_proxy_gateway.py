"""TrustedProxy through the ingest handler, with the environment template.yaml gives it per mode:
a spoofed X-Forwarded-For under none and hops:N, and the origin-verify header under cloudfront."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from awshelpers import error_of, mocked_cloud, queue_messages

from fairtrack_tools.local.localcloud import LocalCloud

ROOT = Path(__file__).resolve().parents[2]
SPOOF = "203.0.113.66"


@pytest.fixture(params=["none", "hops:1", "cloudfront"])
def mode(request: pytest.FixtureRequest) -> str:
    value: str = request.param
    return value


@pytest.fixture
def cloud(mode: str) -> Iterator[LocalCloud]:
    with mocked_cloud(parameters={"TrustedProxy": mode}) as c:
        yield c


def event(source_ip: str, **headers: str) -> dict[str, Any]:
    out: dict[str, Any] = copy.deepcopy(json.loads((ROOT / "events" / "ingest" / "track.json").read_text()))
    out["requestContext"]["http"]["sourceIp"] = source_ip
    out["headers"].update(headers)
    return out


def lake_context(cloud: LocalCloud) -> dict[str, Any]:
    (message,) = queue_messages(cloud, "LakeQueue")
    assert SPOOF not in message["Body"]
    context: dict[str, Any] = json.loads(message["Body"])["events"][0]["event"]["context"]
    return context


def origin_secret(cloud: LocalCloud) -> str:
    value: str = cloud.client("secretsmanager").get_secret_value(SecretId=cloud.physical_id("OriginVerifySecret"))[
        "SecretString"
    ]
    return value


def test_a_spoofed_forwarded_for_never_decides_the_address(ingest: Any, cloud: LocalCloud, mode: str) -> None:
    # Given a client that forges X-Forwarded-For and CloudFront's viewer headers
    forged = {"x-forwarded-for": SPOOF, "cloudfront-viewer-country": "KP", "cloudfront-viewer-address": f"{SPOOF}:9"}
    if mode == "hops:1":
        # behind one proxy, which appended the visitor's address; API Gateway appended the proxy's
        forged["x-forwarded-for"] = f"{SPOOF}, 198.51.100.10, 192.0.2.50"
    response = ingest(event("192.0.2.50" if mode == "hops:1" else "198.51.100.10", **forged))
    if mode == "cloudfront":
        # Then under cloudfront the request, without the origin-verify header, is refused outright
        assert error_of(response) == (403, "proxy_required")
        assert cloud.queue_depths()["LakeQueue"]["visible"] == 0
        return
    # Then the visitor's own address is the one used, truncated, and the country is never the header's
    assert response["statusCode"] == 200
    context = lake_context(cloud)
    assert context["ip"] == "198.51.100.0"
    assert context.get("location", {}).get("country") != "KP"


def test_a_missing_origin_verify_header(ingest: Any, cloud: LocalCloud, mode: str) -> None:
    # Given a request with no origin-verify header (sent straight to the API)
    response = ingest(event("198.51.100.10"))
    # Then only cloudfront refuses it, with a code that says why; the others take it
    if mode == "cloudfront":
        assert error_of(response) == (403, "proxy_required")
    else:
        assert response["statusCode"] == 200


def test_cloudfront_with_the_origin_verify_header_uses_the_viewer(ingest: Any, cloud: LocalCloud, mode: str) -> None:
    if mode != "cloudfront":
        pytest.skip("cloudfront only")
    # Given a request through CloudFront: the origin-verify header, the viewer headers, and
    # CloudFront's own connection address
    response = ingest(
        event(
            "130.176.0.1",
            **{
                "X-Origin-Verify": origin_secret(cloud),
                "x-forwarded-for": f"{SPOOF}, 198.51.100.10",
                "cloudfront-viewer-address": "198.51.100.10:46532",
                "cloudfront-viewer-country": "DE",
            },
        )
    )
    # Then it is accepted, and the viewer's address and country are the ones used
    assert response["statusCode"] == 200
    context = lake_context(cloud)
    assert context["ip"] == "198.51.100.0"
    assert context["location"] == {"country": "DE"}
    # And a wrong value is refused like a missing one
    wrong = ingest(event("130.176.0.1", **{"x-origin-verify": origin_secret(cloud)[:-1] + "?"}))
    assert wrong["statusCode"] == 403
