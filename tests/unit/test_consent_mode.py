"""Google Consent Mode (gtag ``gcs``/``gcd``/``npa``) to purposes, decoded locally."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from fairtrack.consent import signals as consent
from fairtrack.hit import ConsentSignals
from fairtrack.policy import NECESSARY, Policy

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def policy() -> Policy:
    return Policy.model_validate({**yaml.safe_load((ROOT / "policies" / "default.yaml").read_text()), "version": 1})


def gcd_with(letter: str, at: str = "analytics_storage") -> str:
    """A gcd string with ``letter`` for one type and ``l`` (not set) for the others."""
    positions = {"ad_storage": 2, "analytics_storage": 4, "ad_user_data": 6, "ad_personalization": 8}
    chars = list("13l3l3l3l5")
    chars[positions[at]] = letter
    return "".join(chars)


# The letter table from the reference (default state, then update; the update wins where set).
@pytest.mark.parametrize(
    ("letter", "state"),
    [
        ("l", None),  # not set
        ("m", "denied"),  # update denied
        ("n", "granted"),  # update granted
        ("p", "denied"),  # default denied
        ("q", "denied"),  # denied, then denied
        ("r", "granted"),  # default denied, then granted
        ("t", "granted"),  # default granted
        ("u", "denied"),  # granted, then denied
        ("v", "granted"),  # granted, then granted
    ],
)
def test_gcd_letters(letter: str, state: str | None) -> None:
    for kind in ("ad_storage", "analytics_storage", "ad_user_data", "ad_personalization"):
        states = consent.consent_mode_states(ConsentSignals(gcd=gcd_with(letter, kind)))
        assert states.get(kind) == state
        assert set(states) <= {kind}


def test_real_gcd_string_all_granted_after_update() -> None:
    assert consent.consent_mode_states(ConsentSignals(gcd="13r3r3r3r5")) == {
        "ad_storage": "granted",
        "analytics_storage": "granted",
        "ad_user_data": "granted",
        "ad_personalization": "granted",
    }


@pytest.mark.parametrize(
    ("gcs", "expected"),
    [
        ("G111", {"ad_storage": "granted", "analytics_storage": "granted"}),
        ("G101", {"ad_storage": "denied", "analytics_storage": "granted"}),
        ("G110", {"ad_storage": "granted", "analytics_storage": "denied"}),
        ("G100", {"ad_storage": "denied", "analytics_storage": "denied"}),
        ("G1--", {}),
        ("G211", {}),
        ("G11", {}),
        ("", {}),
    ],
)
def test_gcs(gcs: str, expected: dict[str, str]) -> None:
    assert consent.consent_mode_states(ConsentSignals(gcs=gcs)) == expected


def test_gcd_wins_over_gcs_where_it_is_set() -> None:
    signals = ConsentSignals(gcs="G111", gcd=gcd_with("q", "analytics_storage"))

    states = consent.consent_mode_states(signals)

    assert states["analytics_storage"] == "denied"
    assert states["ad_storage"] == "granted"  # gcd left it unset, gcs filled it in


def test_npa_denies_ad_personalisation() -> None:
    states = consent.consent_mode_states(ConsentSignals(gcd="13r3r3r3r5", npa="1"))

    assert states["ad_personalization"] == "denied"


@pytest.mark.parametrize("gcd", ["13", "1", "13r3r3r3", "13!3!3!3!5", "\u00e913r3r3r3r5"])
def test_malformed_gcd_grants_nothing(gcd: str, policy: Policy) -> None:
    assert consent.resolve(ConsentSignals(gcd=gcd), policy).granted == frozenset({NECESSARY})


def test_resolve_grants_analytics_only_from_analytics_storage(policy: Policy) -> None:
    result = consent.resolve(ConsentSignals(gcs="G101"), policy)

    assert result.granted == frozenset({NECESSARY, "analytics"})
    assert result.sources == ("google.consent_mode",)


def test_advertising_needs_every_ad_type(policy: Policy) -> None:
    all_granted = consent.resolve(ConsentSignals(gcd="13r3r3r3r5"), policy)
    one_denied = consent.resolve(ConsentSignals(gcd="13r3r3r3r5", npa="1"), policy)

    assert "advertising" in all_granted.granted
    assert "advertising" not in one_denied.granted
    assert "analytics" in one_denied.granted


def test_no_consent_mode_signal_grants_only_necessary(policy: Policy) -> None:
    result = consent.resolve(ConsentSignals(), policy)

    assert result.granted == frozenset({NECESSARY})
    assert result.sources == ()
