"""TrustedProxy modes: where the visitor's address and country come from, and what is refused.

Under each mode a spoofed ``X-Forwarded-For`` (and a client-sent ``CloudFront-Viewer-*``) never
decides the address or the country, and under ``cloudfront`` a request without the origin-verify
header is refused. The handler-level proof (moto, the template's environment) is
tests/integration/test_proxy_gateway.py.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import cfn_yaml  # type: ignore[import-untyped]
from pydantic import ValidationError
from unit_ingest import ingest_request

from fairtrack.anonymise import client_ip, viewer_address
from fairtrack.api.proxy import TrustedProxy
from fairtrack.errors import ClientError
from fairtrack.ingest import IngestRequest
from fairtrack.settings import IngestSettings, parse_trusted_proxy

TEMPLATE_PATH = Path(__file__).resolve().parents[2] / "template.yaml"
SECRET = "origin-verify-value-0123456789"
CONNECTION = "192.0.2.50"  # the address that connected to API Gateway (a proxy, or the client)
VISITOR = "198.51.100.10"
SPOOF = "203.0.113.66"  # what a client writes into X-Forwarded-For or CloudFront-Viewer-*


def settings(mode: str) -> IngestSettings:
    return IngestSettings.model_validate({"TRUSTED_PROXY": mode, "ORIGIN_VERIFY_SECRET_ARN": "arn:secret"})


def proxy(mode: str, monkeypatch: pytest.MonkeyPatch, secret: str | None = SECRET) -> TrustedProxy:
    monkeypatch.setattr(TrustedProxy, "origin_verify_secret", property(lambda _self: secret))
    return TrustedProxy(settings(mode))


def request(headers: dict[str, str], source_ip: str = CONNECTION) -> IngestRequest:
    return ingest_request(headers=headers, source_ip=source_ip, received_at=datetime(2026, 11, 24, tzinfo=UTC))


# -- settings ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("none", "none"),
        ("", "none"),
        ("false", "none"),  # the former default keeps its meaning
        (False, "none"),
        ("cloudfront", "cloudfront"),
        (" CloudFront ", "cloudfront"),
        ("hops:1", "hops:1"),
        ("hops:02", "hops:2"),
        ("hops:99", "hops:99"),
    ],
)
def test_trusted_proxy_values_are_read_canonically(raw: object, canonical: str) -> None:
    assert parse_trusted_proxy(raw) == canonical


@pytest.mark.parametrize(
    "raw", ["true", True, "hops:0", "hops:", "hops:-1", "hops:100", "hops:x", "xff", "hops:\u0661"]
)
def test_former_true_and_malformed_values_are_refused(raw: object) -> None:
    # Given TRUSTED_PROXY=true (the leftmost X-Forwarded-For entry, which the client writes) or a
    # malformed mode, then the settings refuse it rather than guess a meaning
    with pytest.raises(ValidationError):
        IngestSettings.model_validate({"TRUSTED_PROXY": raw})


def test_modes_and_hops() -> None:
    assert (settings("none").proxy_mode, settings("none").proxy_hops) == ("none", 0)
    assert (settings("cloudfront").proxy_mode, settings("cloudfront").proxy_hops) == ("cloudfront", 0)
    assert (settings("hops:3").proxy_mode, settings("hops:3").proxy_hops) == ("hops", 3)
    assert IngestSettings().trusted_proxy == "none"  # the default trusts no header


# -- client_ip (hops:N) ---------------------------------------------------------------------------


def test_none_ignores_every_forwarded_entry() -> None:
    assert client_ip(CONNECTION, f"{SPOOF}, {VISITOR}", hops=0) == CONNECTION


@pytest.mark.parametrize(
    ("forwarded", "hops", "expected"),
    [
        # behind one proxy, which appended the visitor; the client wrote SPOOF on the left
        (f"{SPOOF}, {VISITOR}", 1, VISITOR),
        # API Gateway appends the connection's address (the proxy's): not a hop
        (f"{SPOOF}, {VISITOR}, {CONNECTION}", 1, VISITOR),
        # two proxies: the visitor, then the first proxy's address
        (f"{SPOOF}, {VISITOR}, 10.0.0.7", 2, VISITOR),
        (f"{SPOOF}, {SPOOF}, {VISITOR}, 10.0.0.7, {CONNECTION}", 2, VISITOR),
        # IPv6, with the spaces proxies leave
        (f" {SPOOF} ,2001:db8::9 ", 1, "2001:db8::9"),
    ],
)
def test_hops_take_the_nth_entry_from_the_right_never_the_client_written_leftmost(
    forwarded: str, hops: int, expected: str
) -> None:
    assert client_ip(CONNECTION, forwarded, hops=hops) == expected


@pytest.mark.parametrize(
    ("forwarded", "hops"),
    [
        (VISITOR, 2),  # shorter than N
        (CONNECTION, 1),  # only API Gateway's own entry
        (f"{VISITOR}, {CONNECTION}", 2),
        (None, 1),
        ("", 1),
        (f"{SPOOF}, unknown", 1),  # the trusted entry is not an address
        (f"{SPOOF}, {VISITOR}:443", 1),
    ],
)
def test_hops_fall_back_to_the_connection(forwarded: str | None, hops: int) -> None:
    assert client_ip(CONNECTION, forwarded, hops=hops) == CONNECTION


# -- viewer_address (cloudfront) --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("198.51.100.10:46532", "198.51.100.10"),
        (" 198.51.100.10:443 ", "198.51.100.10"),
        ("2001:db8:85a3::8a2e:370:7334:46532", "2001:db8:85a3::8a2e:370:7334"),  # CloudFront: unbracketed
        ("[2001:db8::7]:443", "2001:db8::7"),
        ("198.51.100.10", None),  # no port: not CloudFront's format
        ("198.51.100.10:", None),
        ("[2001:db8::7]", None),
        ("garbage:12", None),
        ("", None),
        (None, None),
    ],
)
def test_viewer_address(header: str | None, expected: str | None) -> None:
    assert viewer_address(header) == expected


# -- the ingestor under each mode ---------------------------------------------------------------------

SPOOFED = {"x-forwarded-for": SPOOF, "cloudfront-viewer-country": "KP", "cloudfront-viewer-address": f"{SPOOF}:1"}


@pytest.mark.parametrize("hops", [1, 2, 3])
def test_hops_through_the_proxies_a_spoofed_list_never_wins(hops: int, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a client that writes a forged X-Forwarded-For list (longer than the chain) and CloudFront
    # viewer headers, then reaches the API through N proxies: the first appends the visitor's address,
    # each next one its predecessor's, and API Gateway the last proxy's (the connection)
    proxies = [f"10.0.0.{i}" for i in range(1, hops)]
    chain = [SPOOF] * 4 + [VISITOR, *proxies, CONNECTION]
    headers = {**SPOOFED, "x-forwarded-for": ", ".join(chain)}
    gate = proxy(f"hops:{hops}", monkeypatch)
    gate.verify(headers)  # no origin-verify check outside cloudfront
    visitor = gate.visitor(request(headers, CONNECTION))
    # Then the address is the visitor's, and the country is never the header's
    assert visitor.full_ip == VISITOR
    assert visitor.country != "KP"


def test_none_uses_the_connection_and_registry_country(monkeypatch: pytest.MonkeyPatch) -> None:
    visitor = proxy("none", monkeypatch).visitor(request(SPOOFED, "81.2.69.160"))  # a GB allocation
    assert visitor.full_ip == "81.2.69.160"
    assert visitor.ip == "81.2.69.0"
    assert visitor.country != "KP"


@pytest.mark.parametrize(
    "headers",
    [
        {},  # no origin-verify header at all
        {"x-forwarded-for": VISITOR},
        {"cloudfront-viewer-country": "KP", "cloudfront-viewer-address": f"{SPOOF}:1"},
        {"x-origin-verify": ""},
        {"x-origin-verify": "wrong"},
        {"x-origin-verify": SECRET[:-1]},
        {"x-origin-verify": SECRET + "x"},
    ],
)
def test_cloudfront_refuses_a_request_without_the_origin_verify_value(
    headers: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ClientError) as refused:
        proxy("cloudfront", monkeypatch).verify(headers)
    assert (refused.value.status, refused.value.code) == (403, "proxy_required")


def test_cloudfront_without_a_configured_secret_refuses_everything(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ClientError) as refused:
        proxy("cloudfront", monkeypatch, secret=None).verify({"x-origin-verify": SECRET})
    assert refused.value.code == "proxy_required"


def test_cloudfront_with_the_origin_verify_value_uses_the_viewer_headers(monkeypatch: pytest.MonkeyPatch) -> None:
    gate = proxy("cloudfront", monkeypatch)
    headers = {
        "x-origin-verify": SECRET,
        "x-forwarded-for": f"{SPOOF}, {VISITOR}, 10.0.0.1",
        "cloudfront-viewer-address": f"{VISITOR}:46532",
        "cloudfront-viewer-country": "de",
    }
    gate.verify(headers)
    visitor = gate.visitor(request(headers, "130.176.0.1"))  # the connection is CloudFront's
    assert visitor.full_ip == VISITOR
    assert visitor.ip == "198.51.100.0"
    assert visitor.country == "DE"


def test_cloudfront_without_a_viewer_address_has_no_address(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the origin request policy forwards no CloudFront-Viewer-Address, then the address is
    # unknown rather than CloudFront's (every visitor would share an edge's address)
    visitor = proxy("cloudfront", monkeypatch).visitor(request({"x-forwarded-for": VISITOR}, "130.176.0.1"))
    assert visitor.full_ip is None
    assert visitor.ip is None


# -- template ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(json.dumps(cfn_yaml.load(str(TEMPLATE_PATH))))
    return loaded


@pytest.mark.parametrize(
    ("value", "allowed"),
    [
        ("none", True),
        ("cloudfront", True),
        ("hops:1", True),
        ("hops:2", True),
        ("hops:99", True),
        ("false", True),
        ("true", False),
        ("hops:0", False),
        ("hops:100", False),
        ("hops:", False),
        ("CloudFront", False),
        ("", False),
    ],
)
def test_trusted_proxy_parameter_pattern(template: dict[str, Any], value: str, allowed: bool) -> None:
    parameter = template["Parameters"]["TrustedProxy"]
    assert parameter["Default"] == "none"
    assert "AllowedValues" not in parameter
    assert bool(re.fullmatch(parameter["AllowedPattern"], value)) is allowed
    if allowed:
        parse_trusted_proxy(value)  # what the template admits, the function reads


def test_origin_verify_secret_reaches_ingest_only_under_cloudfront(template: dict[str, Any]) -> None:
    parameters, conditions = template["Parameters"], template["Conditions"]
    assert parameters["OriginVerifySecretArn"]["Default"] == ""
    assert conditions["IsCloudFrontProxy"] == {"Fn::Equals": [{"Ref": "TrustedProxy"}, "cloudfront"]}
    secret = template["Resources"]["OriginVerifySecret"]
    assert secret["Type"] == "AWS::SecretsManager::Secret"
    assert secret["Condition"] == "CreateOriginVerifySecret"
    ingest = template["Resources"]["IngestFunction"]["Properties"]
    variables = ingest["Environment"]["Variables"]
    assert variables["TRUSTED_PROXY"] == {"Ref": "TrustedProxy"}
    chosen = {"Fn::If": ["CreateOriginVerifySecret", {"Ref": "OriginVerifySecret"}, {"Ref": "OriginVerifySecretArn"}]}
    assert variables["ORIGIN_VERIFY_SECRET_ARN"] == {"Fn::If": ["IsCloudFrontProxy", chosen, ""]}
    readable = [
        p for p in ingest["Policies"] if isinstance(p, dict) and "Fn::If" in p and p["Fn::If"][0] == "IsCloudFrontProxy"
    ]
    assert readable == [
        {
            "Fn::If": [
                "IsCloudFrontProxy",
                {"AWSSecretsManagerGetSecretValuePolicy": {"SecretArn": chosen}},
                {"Ref": "AWS::NoValue"},
            ]
        }
    ]
    assert template["Outputs"]["OriginVerifySecretArn"]["Condition"] == "IsCloudFrontProxy"
