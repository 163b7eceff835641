"""Consent signals to purposes beyond Consent Mode: CMP categories, RudderStack consentManagement,
Segment categories, region defaults, and how signals combine (fail closed)."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from unit_policy_docs import default_doc, default_policy

from fairtrack.consent import signals as consent
from fairtrack.hit import ConsentSignals
from fairtrack.policy import NECESSARY, Policy


@pytest.fixture
def policy() -> Policy:
    return default_policy(1)


def rudder(allowed: list[Any], denied: list[Any], strategy: str | None = None) -> ConsentSignals:
    managed: dict[str, Any] = {"provider": "oneTrust", "allowedConsentIds": allowed, "deniedConsentIds": denied}
    if strategy is not None:
        managed["resolutionStrategy"] = strategy
    return ConsentSignals(consentManagement=managed)


def test_rudderstack_allowed_category_grants_its_purpose(policy: Policy) -> None:
    result = consent.resolve(rudder(["C0001", "C0002"], ["C0004"]), policy)

    assert result.granted == frozenset({NECESSARY, "analytics"})
    assert result.sources == ("rudderstack.consentManagement",)


@pytest.fixture
def two_vocabularies() -> Policy:
    """A policy mapping analytics from two CMP categories (C0002 and C0003)."""
    doc = default_doc()
    doc["signals"]["cmp_categories"] = {"C0002": ["analytics"], "C0003": ["analytics"], "C0004": ["advertising"]}
    return Policy.model_validate({**doc, "version": 2})


@pytest.mark.parametrize(
    ("allowed", "denied", "strategy", "granted"),
    [
        (["C0002", "C0003"], [], "and", True),
        (["C0002"], ["C0003"], "and", False),  # and: every category spoken of must be allowed
        (["C0002"], ["C0003"], "or", True),  # or: one allowed is enough
        (["C0002"], ["C0003"], None, False),  # no strategy: the stricter "and"
        (["C0002"], ["C0003"], "OR", True),
        ([], ["C0002", "C0003"], "or", False),
        (["C0002"], [], "and", True),  # C0003 not spoken of by this CMP: does not count against it
        ([], [], "or", False),
    ],
)
def test_rudderstack_and_or_resolution(
    two_vocabularies: Policy, allowed: list[str], denied: list[str], strategy: str | None, granted: bool
) -> None:
    result = consent.resolve(rudder(allowed, denied, strategy), two_vocabularies)

    assert ("analytics" in result.granted) is granted


@pytest.mark.parametrize(
    "managed",
    [{}, {"allowedConsentIds": "C0002"}, {"allowedConsentIds": [{"id": "C0002"}]}, {"allowedConsentIds": None}],
)
def test_malformed_rudderstack_shapes_grant_nothing(policy: Policy, managed: dict[str, Any]) -> None:
    result = consent.resolve(ConsentSignals(consentManagement=managed), policy)

    assert result.granted == frozenset({NECESSARY})


def test_segment_preferences_may_use_cmp_category_ids(policy: Policy) -> None:
    result = consent.resolve(ConsentSignals(categoryPreferences={"C0002": True, "C0004": False}), policy)

    assert result.granted == frozenset({NECESSARY, "analytics"})


def test_a_denial_in_any_signal_wins(policy: Policy) -> None:
    """Segment grants analytics, Consent Mode denies analytics_storage: not granted."""
    signals = ConsentSignals(categoryPreferences={"analytics": True}, gcs="G100")

    result = consent.resolve(signals, policy)

    assert "analytics" not in result.granted
    assert result.sources == ("segment.categoryPreferences", "google.consent_mode")


@pytest.fixture
def us_opt_out() -> Policy:
    doc = default_doc()
    doc["defaults"]["region_groups"]["US_OPT_OUT"] = ["US"]
    doc["defaults"]["regions"]["US_OPT_OUT"] = ["analytics"]
    doc["defaults"]["regions"]["CA"] = ["analytics", "advertising"]
    return Policy.model_validate({**doc, "version": 3})


def test_region_default_applies_only_without_any_signal(us_opt_out: Policy) -> None:
    silent = consent.resolve(ConsentSignals(), us_opt_out, country="US")
    denied = consent.resolve(ConsentSignals(categoryPreferences={"analytics": False}), us_opt_out, country="US")
    eu = consent.resolve(ConsentSignals(), us_opt_out, country="DE")
    unknown = consent.resolve(ConsentSignals(), us_opt_out, country=None)

    assert silent.granted == frozenset({NECESSARY, "analytics"})
    assert silent.sources == ("region_default:US",)
    assert "analytics" not in denied.granted  # a signal, even a denial, always wins
    assert eu.granted == frozenset({NECESSARY})
    assert unknown.granted == frozenset({NECESSARY})


def test_country_entry_wins_over_its_group() -> None:
    doc = default_doc()
    doc["defaults"]["region_groups"]["NA"] = ["US", "CA"]
    doc["defaults"]["regions"] = {"NA": ["analytics"], "CA": []}
    policy = Policy.model_validate(doc)

    assert policy.defaults.by_country["US"] == frozenset({"analytics"})
    assert policy.defaults.by_country["CA"] == frozenset()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"regions": {"Mars": ["analytics"]}}, "regions.Mars: neither a country code nor a region group"),
        ({"region_groups": {"X": ["usa"]}}, "region_groups.X: not ISO 3166 alpha-2 codes: usa"),
        ({"regions": {"US": ["profiling"]}}, "defaults.regions.US: unknown purpose 'profiling'"),
    ],
)
def test_bad_region_settings_are_refused_with_their_path(change: dict[str, Any], message: str) -> None:
    doc = default_doc()
    doc["defaults"] = {**doc["defaults"], **change}

    with pytest.raises(ValueError, match=message):
        Policy.model_validate(doc)


def test_every_reference_problem_is_reported_at_once() -> None:
    doc = default_doc()
    doc["signals"]["cmp_categories"]["C0009"] = ["nope"]
    doc["destinations"]["lake"]["requires"] = {"all": ["ghost"]}
    doc["destinations"]["webhook"]["attributes"].append("context.secret")

    with pytest.raises(ValueError) as err:
        Policy.model_validate(doc)

    text = str(err.value)
    assert "signals.cmp_categories.C0009: unknown purpose 'nope'" in text
    assert "destinations.lake.requires: unknown purpose 'ghost'" in text
    assert "destinations.webhook.attributes: 'context.secret' is not in the catalogue" in text


def test_tcf_purpose_numbers_are_checked() -> None:
    doc = default_doc()
    doc["signals"]["tcf_purposes"] = {25: ["analytics"]}

    with pytest.raises(ValueError, match="TCF purpose 25 is not a purpose number"):
        Policy.model_validate(doc)


# -- IAB TCF (the decoder itself is held to IAB Tech Lab's library in test_tcf.py) -----------------


# The core segment's fields before the purposes, as (value, width in bits)
TCF_CORE_HEAD = (
    (2, 6),  # version
    (17_000_000_000, 36),  # created (deciseconds since the epoch)
    (17_000_000_000, 36),  # last updated
    (300, 12),  # CMP id
    (1, 12),  # CMP version
    (1, 6),  # consent screen
    (4 * 64 + 13, 12),  # consent language "EN"
    (150, 12),  # vendor list version
    (5, 6),  # TCF policy version
    (1, 1),  # service specific
    (0, 1),  # use non-standard texts
    (0, 12),  # special feature opt-ins: none
)


def tc_string(consents: set[int], li: set[int] = frozenset(), vendors: set[int] = frozenset()) -> str:  # type: ignore[assignment]
    """A minimal v2 core segment: purposes consents/LI as given, vendor consents as a bitfield."""
    top = max(vendors, default=0)
    fields = [
        *TCF_CORE_HEAD,
        *((n in consents, 1) for n in range(1, 25)),
        *((n in li, 1) for n in range(1, 25)),
        (0, 1),  # purpose one treatment
        (3 * 64 + 4, 12),  # publisher country code "DE"
        (top, 16),  # vendor consents: the highest vendor id
        (0, 1),  # as a bitfield
        *((v in vendors, 1) for v in range(1, top + 1)),
        (0, 16),  # vendor legitimate interests: none
        (0, 1),
        (0, 12),  # no publisher restrictions
    ]
    bits = "".join(format(int(value), f"0{width}b") for value, width in fields)
    bits += "0" * (-len(bits) % 8)
    return base64.urlsafe_b64encode(int(bits, 2).to_bytes(len(bits) // 8, "big")).decode().rstrip("=")


def test_tcf_grants_a_purpose_when_every_mapped_tcf_purpose_has_consent(policy: Policy) -> None:
    analytics_only = consent.resolve(ConsentSignals(tcString=tc_string({8, 9})), policy)
    partial = consent.resolve(ConsentSignals(tcString=tc_string({8})), policy)
    everything = consent.resolve(ConsentSignals(tcString=tc_string({1, 2, 3, 4, 7, 8, 9})), policy)

    assert analytics_only.granted == frozenset({NECESSARY, "analytics"})
    assert analytics_only.sources == ("iab.tcf",)
    assert partial.granted == frozenset({NECESSARY})  # 9 missing: analytics not granted
    assert everything.granted == frozenset({NECESSARY, "analytics", "advertising"})


def test_tcf_legitimate_interest_counts_only_for_legitimate_interest_purposes() -> None:
    doc = default_doc()
    doc["purposes"]["audience"] = {"legal_basis": "legitimate_interest"}
    doc["signals"]["tcf_purposes"] = {9: ["audience", "analytics"]}
    policy = Policy.model_validate(doc)

    result = consent.resolve(ConsentSignals(tcString=tc_string(set(), li={9})), policy)

    assert "audience" in result.granted  # LI transparency suffices for an LI purpose
    assert "analytics" not in result.granted  # a consent purpose needs consent


def test_tcf_vendor_id_must_have_consent_too() -> None:
    doc = default_doc()
    doc["signals"]["tcf_vendor_id"] = 42
    policy = Policy.model_validate(doc)

    without = consent.resolve(ConsentSignals(tcString=tc_string({8, 9}, vendors={7})), policy)
    with_vendor = consent.resolve(ConsentSignals(tcString=tc_string({8, 9}, vendors={7, 42})), policy)

    assert "analytics" not in without.granted
    assert "analytics" in with_vendor.granted


@pytest.mark.parametrize("bad", ["", "not a tc string", "BOEFEAyOEFEAyAHABDENAI4AAAB9vABAASA", "C" * 9000])
def test_malformed_tc_string_is_no_signal_but_blocks_region_defaults(us_opt_out: Policy, bad: str) -> None:
    result = consent.resolve(ConsentSignals(tcString=bad), us_opt_out, country="US")

    assert result.granted == frozenset({NECESSARY})
    assert result.sources == ("iab.tcf",)  # the visitor's CMP spoke, unreadably: no region default
