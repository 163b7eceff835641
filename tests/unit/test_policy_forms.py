"""Attribute forms in the engine: full-form transforms and reduced forms, each with its decision."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from unit_policy_docs import purposes, type_attribute

from fairtrack.policy import NECESSARY, Policy, evaluate, forms

ANALYTICS = frozenset({NECESSARY, "analytics"})
BOTH = frozenset({NECESSARY, "analytics", "advertising"})


@pytest.fixture
def policy() -> Policy:
    return Policy.model_validate(
        {
            "version": 9,
            "purposes": purposes(necessary="legitimate_interest", analytics="consent", advertising="consent"),
            "attributes": {
                "type": type_attribute(),
                "traits.email": {"purpose": "advertising", "format": "hash", "transform": "sha256_normalised"},
                # the format admits the value before any form: a cleaned URL, cut to its origin when
                # the purpose is not granted
                "context.page.referrer": {"purpose": "advertising", "format": "url", "reduced": "url_origin"},
                "context.ip": {"purpose": "advertising", "format": "ip", "reduced": "ip_coarse"},
            },
            "destinations": {
                "meta": {
                    "requires": {"all": ["analytics"]},
                    "attributes": ["type", "traits.email", "context.page.referrer", "context.ip"],
                }
            },
        }
    )


def hit(email: str = "  Jane.Doe@Example.COM ", **context: Any) -> dict[str, Any]:
    return {
        "type": "identify",
        "traits": {"email": email, "plan": "pro"},
        "context": {"page": {"referrer": "https://mail.example:8443/inbox"}, "ip": "203.0.113.0", **context},
    }


def test_full_form_transform_when_the_purpose_is_granted(policy: Policy) -> None:
    # the format is checked on the value as it comes, before the transform: `text` admits this one
    payload, decisions = evaluate(hit(email="  Member Token "), BOTH, "meta", policy)

    assert payload is not None
    assert payload["traits"] == {"email": hashlib.sha256(b"member token").hexdigest()}
    email = next(d for d in decisions if d.field == "traits.email")
    assert (email.action, email.form, email.legal_basis) == ("sent", "sha256_normalised", "consent")
    assert payload["context"]["page"]["referrer"] == "https://mail.example:8443/inbox"


def test_a_transformed_value_goes_only_in_the_form_its_format_declares(policy: Policy) -> None:
    # the e-mail leaves hashed (the attribute's format is what the transform makes), never raw
    payload, decisions = evaluate(hit(), BOTH, "meta", policy)

    assert payload is not None
    assert payload["traits"]["email"] != "jane@example.com" and len(payload["traits"]["email"]) == 64
    email = next(d for d in decisions if d.field == "traits.email")
    assert (email.action, email.form) == ("sent", "sha256_normalised")


def test_reduced_forms_when_the_purpose_is_not_granted(policy: Policy) -> None:
    payload, decisions = evaluate(hit(), ANALYTICS, "meta", policy)

    assert payload is not None
    assert payload["context"] == {"page": {"referrer": "https://mail.example:8443"}, "ip": "203.0.0.0"}
    assert "traits" not in payload  # e-mail has no reduced form: dropped
    by_field = {d.field: d for d in decisions}
    assert (by_field["context.ip"].action, by_field["context.ip"].form) == ("reduced", "ip_coarse")
    assert by_field["context.page.referrer"].reason == "purpose_not_granted"
    assert (by_field["traits.email"].action, by_field["traits.email"].reason) == ("dropped", "purpose_not_granted")


def test_a_value_the_form_does_not_fit_is_dropped_not_sent(policy: Policy) -> None:
    # blank text fits the `text` format but has no sha256_normalised form
    payload, decisions = evaluate(hit(email="   "), BOTH, "meta", policy)

    assert payload is not None
    assert "traits" not in payload
    email = next(d for d in decisions if d.field == "traits.email")
    assert (email.action, email.reason) == ("dropped", "form_not_applicable")

    # and a value its format refuses never gets as far as the form
    payload, decisions = evaluate(hit(ip="not an address"), ANALYTICS, "meta", policy)

    assert payload is not None
    assert "ip" not in payload["context"]
    ip = next(d for d in decisions if d.field == "context.ip")
    assert (ip.action, ip.reason) == ("dropped", "format_mismatch")


def test_every_field_has_a_decision_with_a_reason(policy: Policy) -> None:
    _, decisions = evaluate(hit(extra="x"), ANALYTICS, "meta", policy)

    assert all(d.reason for d in decisions)
    assert {d.field for d in decisions} >= {"type", "traits.email", "context.ip", "context.page.referrer"}
    assert any(d.reason == "not_catalogued" for d in decisions)  # traits.plan, context.extra


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("https://shop.example/a?b=c", "https://shop.example"),
        ("http://Shop.Example:8080/", "http://shop.example:8080"),
        ("javascript:alert(1)", None),
        ("not a url", None),
        ("https://[::1", None),
        (42, None),
    ],
)
def test_url_origin(value: Any, expected: str | None) -> None:
    assert forms.url_origin(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [("203.0.113.77", "203.0.0.0"), ("2001:db8:abcd:12::1", "2001:db8::"), ("x", None), (None, None)],
)
def test_ip_coarse(value: Any, expected: str | None) -> None:
    assert forms.ip_coarse(value) == expected


def test_sha256_normalised_refuses_what_is_not_text() -> None:
    assert forms.sha256_normalised(" A@B.C ") == hashlib.sha256(b"a@b.c").hexdigest()
    assert forms.sha256_normalised("   ") is None
    assert forms.sha256_normalised(123) is None
