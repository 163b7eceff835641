"""Webhook signatures: ``Fairtrack-Signature: t=<unix>,v1=<hex HMAC-SHA256>`` (destinations/webhook.py)."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from fairtrack.destinations.webhook import sign, verify

SECRET = b"whsec_test_secret"
BODY = b'{"source":"dev","policyVersion":1,"batch":[{"type":"track"}]}'
NOW = 1_714_564_800  # 2024-05-01T12:00:00Z


def test_signature_is_hmac_sha256_over_timestamp_dot_body() -> None:
    """Given a secret, timestamp and body, then the header is what a receiver can recompute independently."""
    expected_mac = hmac.new(SECRET, f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()

    assert sign(SECRET, NOW, BODY) == f"t={NOW},v1={expected_mac}"


def test_round_trip_verifies() -> None:
    """Given a header made by sign, when verified at the same time with the same secret, then it is valid."""
    assert verify(SECRET, sign(SECRET, NOW, BODY), BODY, now=NOW) is True


def test_round_trip_within_tolerance_verifies() -> None:
    """Given a delivery that arrives 299 s after signing (tolerance 300 s), then it is still valid."""
    assert verify(SECRET, sign(SECRET, NOW, BODY), BODY, now=NOW + 299) is True


def test_changed_body_fails() -> None:
    """Given a body altered by one byte in transit, then the signature does not verify."""
    header = sign(SECRET, NOW, BODY)

    assert verify(SECRET, header, BODY.replace(b"track", b"trace"), now=NOW) is False
    assert verify(SECRET, header, BODY + b" ", now=NOW) is False


def test_changed_timestamp_fails() -> None:
    """Given the t= value rewritten (to replay an old body as new), then the signature does not verify."""
    mac = sign(SECRET, NOW, BODY).split(",v1=")[1]

    assert verify(SECRET, f"t={NOW + 1},v1={mac}", BODY, now=NOW) is False


def test_other_secret_fails() -> None:
    """Given a header signed with another secret, then it does not verify."""
    assert verify(b"another-secret", sign(SECRET, NOW, BODY), BODY, now=NOW) is False


@pytest.mark.parametrize("age", [301, 3600, -301])
def test_timestamp_outside_tolerance_fails(age: int) -> None:
    """Given a correctly signed but stale (or far-future) timestamp, then it is refused as a possible replay."""
    assert verify(SECRET, sign(SECRET, NOW, BODY), BODY, now=NOW + age) is False


def test_custom_tolerance_is_respected() -> None:
    """Given a tolerance of 10 s, then a 60 s old signature fails and a 5 s old one passes."""
    header = sign(SECRET, NOW, BODY)

    assert verify(SECRET, header, BODY, now=NOW + 60, tolerance=10) is False
    assert verify(SECRET, header, BODY, now=NOW + 5, tolerance=10) is True


@pytest.mark.parametrize(
    "header",
    [
        "",
        "garbage",
        f"v1={'0' * 64}",
        f"t={NOW}",
        f"t=abc,v1={'0' * 64}",
        f"t=,v1={'0' * 64}",
        f"t={NOW},v1=",
        f"t={NOW},v1={'0' * 64}",
        f"t={NOW},,v1={'0' * 64}",
        "t=" + "9" * 5000 + ",v1=00",
    ],
    ids=["empty", "garbage", "no_t", "no_v1", "t_not_int", "t_empty", "v1_empty", "wrong_mac", "empty_part", "huge_t"],
)
def test_malformed_header_fails(header: str) -> None:
    """Given a malformed header, when verified, then the answer is False (and never an exception)."""
    assert verify(SECRET, header, BODY, now=NOW) is False


def test_header_with_extra_parts_fails() -> None:
    """Given a valid signature with something appended, then it is not accepted as-is."""
    assert verify(SECRET, sign(SECRET, NOW, BODY) + ",v0=abc", BODY, now=NOW) is False


@pytest.mark.parametrize(
    ("header", "now"),
    [(f"t={NOW},v1=\u00e9", NOW), ("t=\u0661\u0662\u0663,v1=00", 123)],  # int() reads Arabic-Indic digits as 123
    ids=["non_ascii_mac", "arabic_digits"],
)
def test_non_ascii_header_fails_without_raising(header: str, now: int) -> None:
    """Given a header with non-ASCII characters (attacker-controlled input), then verify returns False."""
    assert verify(SECRET, header, BODY, now=now) is False
