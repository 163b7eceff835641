"""Consent fails closed on every conflict: a signal that both grants and denies, Consent Mode types
left unset, and signals sent twice with different values (issue 17, class 6)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from fairtrack.consent import signals as consent
from fairtrack.hit import ConsentSignals
from fairtrack.policy import NECESSARY, Policy

ROOT = Path(__file__).resolve().parents[2]
ALL_GRANTED_GCD = "13r3r3r3r5"  # gcd v2: ad_storage, analytics_storage, ad_user_data, ad_personalization granted


@pytest.fixture
def policy() -> Policy:
    doc: dict[str, Any] = yaml.safe_load((ROOT / "policies" / "default.yaml").read_text())
    return Policy.model_validate({**doc, "version": 1})


def granted(signals: ConsentSignals, policy: Policy, country: str | None = None) -> set[str]:
    return set(consent.resolve(signals, policy, country).granted) - {NECESSARY}


# -- RudderStack: listed as both allowed and denied --------------------------------------------------


@pytest.mark.parametrize("strategy", [None, "and", "or", "OR"])
def test_a_category_both_allowed_and_denied_is_denied(policy: Policy, strategy: str | None) -> None:
    managed: dict[str, Any] = {"allowedConsentIds": ["C0002", "C0004"], "deniedConsentIds": ["C0004"]}
    if strategy is not None:
        managed["resolutionStrategy"] = strategy

    assert granted(ConsentSignals(consentManagement=managed), policy) == {"analytics"}


def test_a_numeric_id_both_allowed_and_denied_is_denied(policy: Policy) -> None:
    doc = yaml.safe_load((ROOT / "policies" / "default.yaml").read_text())
    doc["signals"]["cmp_categories"] = {"2": ["analytics"]}
    numeric = Policy.model_validate({**doc, "version": 2})
    managed = {"allowedConsentIds": [2], "deniedConsentIds": ["2"], "resolutionStrategy": "or"}

    assert granted(ConsentSignals(consentManagement=managed), numeric) == set()


# -- Google Consent Mode: every mapped type granted explicitly ---------------------------------------


def test_the_default_policy_maps_consent_mode_as_documented(policy: Policy) -> None:
    assert policy.signals.consent_mode == {
        "analytics_storage": ["analytics"],
        "ad_storage": ["advertising"],
        "ad_user_data": ["advertising"],
        "ad_personalization": ["advertising"],
    }


@pytest.mark.parametrize(
    ("signals", "expected"),
    [
        (ConsentSignals(gcs="G111"), {"analytics"}),  # ad_user_data and ad_personalization unset
        (ConsentSignals(gcs="G101"), {"analytics"}),
        (ConsentSignals(gcs="G1-1"), {"analytics"}),
        (ConsentSignals(gcs="G110"), set()),
        (ConsentSignals(gcd=ALL_GRANTED_GCD), {"analytics", "advertising"}),
        (ConsentSignals(gcs="G111", gcd=ALL_GRANTED_GCD), {"analytics", "advertising"}),
        (ConsentSignals(gcd=ALL_GRANTED_GCD, npa="1"), {"analytics"}),
        (ConsentSignals(gcs="G111", npa="0"), {"analytics"}),  # npa=0 grants nothing
        # gcd granting ad_storage and analytics only (ad_user_data, ad_personalization unset: "l")
        (ConsentSignals(gcd="13r3r3l3l5"), {"analytics"}),
        # ad_user_data granted, ad_personalization unset
        (ConsentSignals(gcd="13r3r3l3r5"), {"analytics"}),
    ],
)
def test_advertising_needs_every_ad_type_granted_explicitly(
    policy: Policy, signals: ConsentSignals, expected: set[str]
) -> None:
    assert granted(signals, policy) == expected


def test_an_unset_type_withholds_but_does_not_deny(policy: Policy) -> None:
    # Consent Mode says nothing of advertising; Segment grants it and nothing denies it
    signals = ConsentSignals(gcs="G111", categoryPreferences={"advertising": True})

    assert granted(signals, policy) == {"analytics", "advertising"}


def test_a_denied_type_denies_against_other_signals(policy: Policy) -> None:
    signals = ConsentSignals(gcd="13r3r3p3r5", categoryPreferences={"advertising": True})  # ad_user_data denied

    assert "advertising" not in granted(signals, policy)


def test_consent_mode_purposes_reports_granted_denied_and_withheld(policy: Policy) -> None:
    states = {"analytics_storage": consent.GRANTED, "ad_storage": consent.GRANTED}
    assert consent.consent_mode_purposes(states, policy) == {"analytics": True}
    states["ad_user_data"] = consent.DENIED
    assert consent.consent_mode_purposes(states, policy) == {"analytics": True, "advertising": False}


# -- duplicated signals that disagree ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("signals", "expected"),
    [
        (ConsentSignals(gcd=ALL_GRANTED_GCD, conflicts=("gcs",)), set()),
        (ConsentSignals(gcd=ALL_GRANTED_GCD, conflicts=("gcd",)), set()),
        (ConsentSignals(gcd=ALL_GRANTED_GCD, conflicts=("npa",)), {"analytics"}),
        (ConsentSignals(categoryPreferences={"analytics": True}, conflicts=("categoryPreferences",)), set()),
        (
            ConsentSignals(categoryPreferences={"analytics": True}, gcs="G111", conflicts=("categoryPreferences",)),
            set(),  # analytics: Segment's conflict denies what Consent Mode grants
        ),
        (ConsentSignals(categoryPreferences={"analytics": True}, gcd=ALL_GRANTED_GCD, conflicts=("consent",)), set()),
        (
            ConsentSignals(consentManagement={"allowedConsentIds": ["C0002"]}, conflicts=("consentManagement",)),
            set(),
        ),
        # a conflict in a signal that grants nothing denies nothing
        (ConsentSignals(gcd=ALL_GRANTED_GCD, conflicts=("usPrivacy",)), {"analytics", "advertising"}),
    ],
)
def test_a_disagreeing_duplicate_denies_what_its_signal_could_grant(
    policy: Policy, signals: ConsentSignals, expected: set[str]
) -> None:
    result = consent.resolve(signals, policy)

    assert set(result.granted) - {NECESSARY} == expected
    assert all(f"conflict:{name}" in result.sources for name in signals.conflicts or ())


def test_the_cache_tells_a_conflict_from_the_same_signal_without_one(policy: Policy) -> None:
    clean = ConsentSignals(categoryPreferences={"analytics": True})
    conflicting = ConsentSignals(categoryPreferences={"analytics": True}, conflicts=("categoryPreferences",))

    assert granted(clean, policy) == {"analytics"}
    assert granted(conflicting, policy) == set()
    assert granted(clean, policy) == {"analytics"}


def test_a_conflict_is_a_signal_so_no_region_default_applies() -> None:
    doc: dict[str, Any] = yaml.safe_load((ROOT / "policies" / "default.yaml").read_text())
    doc["defaults"]["regions"] = {**doc["defaults"]["regions"], "US": ["analytics"]}
    policy = Policy.model_validate({**doc, "version": 3})
    assert granted(ConsentSignals(), policy, "US") == {"analytics"}  # the default applies without a signal

    assert granted(ConsentSignals(conflicts=("usPrivacy",)), policy, "US") == set()


# -- gtag: a consent parameter repeated with different values -------------------------------------


def gtag_hits(query: str, body: bytes = b"") -> list[Any]:
    from datetime import UTC, datetime

    from fairtrack.protocols import gtag

    collect = gtag.split_request(query, body)
    return [hit for _, hit in gtag.hits(collect, datetime(2026, 1, 1, tzinfo=UTC), "UA")]


BASE = "v=2&tid=G-DEV&cid=1.2&en=page_view&dl=https%3A%2F%2Fshop.example%2F"


@pytest.mark.parametrize(
    ("query", "body", "conflicts"),
    [
        (f"{BASE}&gcs=G111&gcs=G100", b"", ("gcs",)),
        (f"{BASE}&gcs=G100&gcs=G111", b"", ("gcs",)),
        (f"{BASE}&gcd={ALL_GRANTED_GCD}&gcd=13p3p3p3p5", b"", ("gcd",)),
        (f"{BASE}&npa=1&npa=0", b"", ("npa",)),
        (f"{BASE}&gdpr_consent=CQ&gdpr_consent=CP", b"", ("tcString",)),
        (f"{BASE}&us_privacy=1YNN&us_privacy=1YYN", b"", ("usPrivacy",)),
        (f"{BASE}&gcs=G111&gcs=", b"", ("gcs",)),  # an empty second value disagrees too
        (f"{BASE}&gcs=G111&gcs=G111", b"", None),  # the same value twice: no conflict
        ("v=2&tid=G-DEV", b"cid=1.2&en=page_view&gcs=G111&gcs=G100", ("gcs",)),  # within a body line
        ("v=2&tid=G-DEV&gcs=G100", b"cid=1.2&en=page_view&gcs=G111", ("gcs",)),  # query vs line
        ("v=2&tid=G-DEV&gcs=G111", b"cid=1.2&en=page_view&gcs=G111", None),
        (f"{BASE}&gcs=G111&gcs=G100&npa=0&npa=1", b"", ("gcs", "npa")),
    ],
)
def test_a_repeated_consent_parameter_that_disagrees_is_a_conflict(
    query: str, body: bytes, conflicts: tuple[str, ...] | None
) -> None:
    (hit,) = gtag_hits(query, body)

    assert hit.consent.conflicts == conflicts


def test_a_repeated_gcs_never_grants_what_the_last_one_says(policy: Policy) -> None:
    (hit,) = gtag_hits(f"{BASE}&gcd={ALL_GRANTED_GCD}&gcs=G100&gcs=G111")

    assert granted(hit.consent, policy) == set()


def test_a_conflict_in_one_line_leaves_the_other_lines_alone(policy: Policy) -> None:
    body = b"cid=1.2&en=page_view&gcs=G111&gcs=G100\ncid=1.2&en=page_view&gcs=G111"
    first, second = gtag_hits("v=2&tid=G-DEV", body)

    assert first.consent.conflicts == ("gcs",)
    assert second.consent.conflicts is None
    assert granted(first.consent, policy) == set()
    assert granted(second.consent, policy) == {"analytics"}


def test_other_repeated_parameters_still_take_the_last_value() -> None:
    (hit,) = gtag_hits(f"{BASE}&dt=first&dt=second")

    assert hit.context["page"]["title"] == "second"
    assert hit.consent.conflicts is None


# -- Segment / RudderStack: a JSON key repeated with different values ---------------------------------


def segment_conflicts(raw: bytes) -> Any:
    from pydantic_core import from_json

    from fairtrack.protocols import segment_consent

    return segment_consent.consent_conflicts(raw, from_json(raw))


def event(context: str) -> str:
    return '{"type":"track","event":"Order","anonymousId":"a1","context":' + context + "}"


@pytest.mark.parametrize(
    ("context", "conflicts"),
    [
        ('{"consent":{"categoryPreferences":{"analytics":false,"analytics":true}}}', ("categoryPreferences",)),
        ('{"consent":{"categoryPreferences":{"analytics":true,"analytics":1}}}', ("categoryPreferences",)),
        ('{"consent":{"categoryPreferences":{"analytics":true},"categoryPreferences":{}}}', ("categoryPreferences",)),
        ('{"consent":{"gcs":"G100","gcs":"G111"}}', ("gcs",)),
        ('{"consent":{"tcString":"CQ","tcString":"CP","gcd":"x","gcd":"y"}}', ("gcd", "tcString")),
        ('{"consent":{"categoryPreferences":{"analytics":false}},"consent":{"gcs":"G111"}}', ("consent",)),
        (
            '{"consentManagement":{"allowedConsentIds":[],"allowedConsentIds":["C0002"]}}',
            ("consentManagement",),
        ),
        (
            '{"consentManagement":{"deniedConsentIds":["C0002"]},"consentManagement":{"allowedConsentIds":["C0002"]}}',
            ("consentManagement",),
        ),
        # a key spelt with escapes is the same key
        ('{"\\u0063onsent":{"gcs":"G100"},"consent":{"gcs":"G111"}}', ("consent",)),
        ('{"consent":{"categoryPreferences":{"analytics":false,"\\u0061nalytics":true}}}', ("categoryPreferences",)),
        # the same value twice is no conflict
        ('{"consent":{"categoryPreferences":{"analytics":true,"analytics":true}}}', ()),
        ('{"consent":{"gcs":"G111"},"consent":{"gcs":"G111"}}', ()),
        # repeats of keys fairtrack does not read as consent are none of its business
        ('{"consent":{"other":1,"other":2,"gcs":"G111"}}', ()),
        ('{"page":{"title":"a","title":"b"},"consent":{"gcs":"G111"}}', ()),
        ('{"consent":{"gcs":"G111"}}', ()),
    ],
)
def test_a_repeated_consent_key_that_disagrees_is_a_conflict(context: str, conflicts: tuple[str, ...]) -> None:
    assert segment_conflicts(event(context).encode()).of(None) == conflicts


def test_context_given_twice_with_different_consent_is_a_conflict() -> None:
    raw = '{"type":"page","anonymousId":"a","context":{"consent":{"gcs":"G100"}},"context":{"consent":{"gcs":"G111"}}}'
    assert segment_conflicts(raw.encode()).of(None) == ("consent",)
    same = (
        '{"type":"page","anonymousId":"a","context":{"consent":{"gcs":"G1"},"x":1},"context":{"consent":{"gcs":"G1"}}}'
    )
    assert segment_conflicts(same.encode()).of(None) == ()


def test_a_consent_key_under_properties_is_no_conflict() -> None:
    raw = (
        '{"type":"page","anonymousId":"a","properties":{"consent":{"a":1,"a":2}},"context":{"consent":{"gcs":"G111"}}}'
    )
    assert segment_conflicts(raw.encode()).of(None) == ()


def test_the_parsed_event_carries_the_conflict_and_grants_nothing_from_it(policy: Policy) -> None:
    from pydantic_core import from_json

    from fairtrack.protocols import segment, segment_consent

    raw = event('{"consent":{"categoryPreferences":{"analytics":false,"analytics":true}}}').encode()
    body = from_json(raw)
    parsed = segment.parse_event(
        body, implied_type=None, conflicts=segment_consent.consent_conflicts(raw, body).of(None)
    )
    assert isinstance(parsed, segment.SegmentEvent)
    hit = parsed.to_hit(parsed_time())

    assert hit.consent.categoryPreferences == {"analytics": True}  # what the parser kept: the last
    assert hit.consent.conflicts == ("categoryPreferences",)
    assert granted(hit.consent, policy) == set()


def parsed_time() -> Any:
    from datetime import UTC, datetime

    return datetime(2026, 1, 1, tzinfo=UTC)


def test_a_batch_attributes_conflicts_to_the_events_that_carry_them() -> None:
    good = event('{"consent":{"gcs":"G111"}}')
    bad = event('{"consent":{"gcs":"G100","gcs":"G111"}}')
    bare = '{"type":"page","anonymousId":"a"}'
    raw = '{"batch":[' + ",".join([good, bad, bare, good]) + "]}"
    found = segment_conflicts(raw.encode())

    assert [found.of(i) for i in range(4)] == [(), ("gcs",), (), ()]


def test_a_batch_context_conflict_reaches_the_events_that_do_not_replace_it() -> None:
    own = event('{"consent":{"gcs":"G111"}}')
    bare = '{"type":"page","anonymousId":"a"}'
    managed = event('{"consentManagement":{"allowedConsentIds":["C0002"]}}')
    raw = '{"context":{"consent":{"gcs":"G100","gcs":"G111"}},"batch":[' + ",".join([own, bare, managed]) + "]}"
    found = segment_conflicts(raw.encode())

    # the event's own consent replaces the batch's; the others inherit it
    assert [found.of(i) for i in range(3)] == [(), ("gcs",), ("gcs",)]


def test_bodies_without_consent_take_the_fast_way() -> None:
    from fairtrack.protocols import segment_consent

    raw = event('{"page":{"title":"t"}}').encode()
    assert segment_conflicts(raw) is segment_consent.NO_CONFLICTS


def test_a_body_that_is_not_ascii_is_read_the_same_way() -> None:
    clean = event('{"page":{"title":"Café"},"consent":{"gcs":"G111"}}')
    bad = event('{"page":{"title":"Café"},"consent":{"gcs":"G100","gcs":"G111"}}')

    assert segment_conflicts(clean.encode()).of(None) == ()
    assert segment_conflicts(bad.encode()).of(None) == ("gcs",)


def test_a_consent_object_that_differs_from_the_ones_seen_is_checked_too() -> None:
    events = [event('{"consent":{"gcs":"G111"}}'), event('{"consent":{"gcs":"G111","npa":"0","npa":"1"}}')]
    found = segment_conflicts(('{"batch":[' + ",".join(events) + "]}").encode())

    assert [found.of(0), found.of(1)] == [(), ("npa",)]


def test_the_debug_explanation_of_consent_mode_follows_the_resolver() -> None:
    """Given gcs=G111 alone, then the explanation says Consent Mode grants analytics and not
    advertising, as the resolver decides (ad_user_data and ad_personalization were never granted)."""
    from pathlib import Path

    import yaml

    from fairtrack.hit import ConsentSignals
    from fairtrack.policy import Policy
    from fairtrack.policy.explain import signal_effects

    root = Path(__file__).resolve().parents[2]
    policy = Policy.model_validate(yaml.safe_load((root / "policies" / "default.yaml").read_text()))
    [effect] = signal_effects(ConsentSignals(gcs="G111"), policy, ("google.consent_mode",))
    assert effect["grants"] == ["analytics"]
    assert "advertising" not in effect["denies"]
