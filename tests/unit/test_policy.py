"""The consent policy model, the evaluation engine (policy.py) and consent resolution (consent.py)."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from unit_policy_docs import purposes, type_attribute

from fairtrack.consent import signals as consent
from fairtrack.hit import ConsentSignals
from fairtrack.policy import NECESSARY, Decision, Policy, conform, evaluate
from fairtrack.protocols.segment import parse_event

DEFAULT_POLICY_PATH = Path(__file__).resolve().parents[2] / "policies" / "default.yaml"

NECESSARY_ONLY = frozenset({NECESSARY})
# ids as ingest leaves them: gateway pseudonyms (``p-`` and 32 hex digits; a raw id fails its format)
ANONYMOUS_ID = "p-5f2b7c0a8e1d4c3b9a6f0e1d2c3b4a59"
USER_ID = "p-0d9c8b7a6f5e4d3c2b1a09f8e7d6c5b4"
WITH_ANALYTICS = frozenset({NECESSARY, "analytics"})


def default_document() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(DEFAULT_POLICY_PATH.read_text(encoding="utf-8"))
    return doc


@pytest.fixture(scope="module")
def default_policy() -> Policy:
    return Policy.model_validate({**default_document(), "version": 3})


def small_document() -> dict[str, Any]:
    """A minimal policy: a webhook that needs analytics, a lake that needs analytics or advertising."""
    return {
        "purposes": purposes(necessary="legitimate_interest", analytics="consent", advertising="consent"),
        "signals": {"segment_categories": {"stats": ["analytics"], "Stats": ["analytics"], "ads": ["advertising"]}},
        "attributes": {
            "type": type_attribute(),
            "messageId": {"purpose": "necessary", "format": "id"},
            "event": {"purpose": "analytics", "format": "name"},
            "userId": {"purpose": "analytics", "format": "pseudonym"},
            "properties": {"purpose": "analytics", "format": "map"},
            "context.page.path": {"purpose": "analytics", "format": "path"},
            "context.campaign": {"purpose": "advertising", "format": "object"},
        },
        "destinations": {
            "webhook": {"requires": {"all": ["analytics"]}, "attributes": ["type", "messageId", "event", "properties"]},
            "lake": {
                "requires": {"any": ["analytics", "advertising"]},
                "attributes": ["type", "messageId", "event", "context.page.path", "context.campaign"],
            },
        },
    }


def small_policy(version: int = 9, **changes: Any) -> Policy:
    return Policy.model_validate({**small_document(), "version": version, **changes})


def hit_payload(**extra: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "type": "track",
        "messageId": "m-1",
        "event": "Signed Up",
        "anonymousId": ANONYMOUS_ID,
        "userId": USER_ID,
        "timestamp": "2024-05-01T12:00:00.000Z",
        "receivedAt": "2024-05-01T12:00:01.000Z",
        "properties": {"plan": "pro", "cart": {"items": [{"sku": "A"}], "total": 12}},
        "context": {
            "ip": "203.0.113.0",
            "userAgent": "Mozilla/5.0",
            "page": {"path": "/signup", "url": "https://shop.example/signup?email=jane.doe@example.com"},
            "library": {"name": "analytics.js", "version": "5.0"},
            "device": {"id": "device-1"},
        },
    }
    payload.update(extra)
    return payload


def by_field(decisions: list[Decision]) -> dict[str | None, Decision]:
    return {d.field: d for d in decisions}


# -- validation -----------------------------------------------------------------------------------


def test_default_policy_validates(default_policy: Policy) -> None:
    """Given policies/default.yaml, when validated, then it is accepted and fails closed on destinations."""
    assert NECESSARY in default_policy.purposes
    assert default_policy.version == 3
    assert set(default_policy.destinations) <= {"ga4", "meta", "webhook", "lake"}
    for dest in default_policy.destinations.values():
        assert dest.requires.all or dest.requires.any, "every destination must need some consent"


def _without_necessary(doc: dict[str, Any]) -> None:
    del doc["purposes"]["necessary"]
    doc["attributes"] = {"event": {"purpose": "analytics", "format": "name"}}
    doc["destinations"] = {}


@pytest.mark.parametrize(
    ("mutate", "named"),
    [
        pytest.param(
            lambda d: d["attributes"].update({"event": {"purpose": "profiling", "format": "text"}}),
            ("attributes.event.purpose", "profiling"),
            id="unknown_purpose_on_attribute",
        ),
        pytest.param(
            lambda d: d["destinations"]["webhook"]["attributes"].append("context.userAgent"),
            ("destinations.webhook.attributes", "context.userAgent"),
            id="uncatalogued_attribute_on_destination",
        ),
        pytest.param(_without_necessary, ("purposes", "necessary"), id="no_necessary_purpose"),
        pytest.param(
            lambda d: d["destinations"]["lake"].update({"requires": {"all": ["marketing"]}}),
            ("destinations.lake.requires",),
            id="unknown_purpose_in_requirements",
        ),
        pytest.param(
            lambda d: d["signals"]["segment_categories"].update({"ads": ["retargeting"]}),
            ("signals.segment_categories.ads",),
            id="unknown_purpose_in_signals",
        ),
    ],
)
def test_an_invalid_policy_is_rejected_naming_the_path(mutate: Any, named: tuple[str, ...]) -> None:
    """Given an attribute, destination or signal naming an undefined purpose, a destination listing
    an attribute outside the catalogue, or no ``necessary`` purpose, when validated, then the
    message names the path (and the name at fault)."""
    doc = small_document()
    mutate(doc)

    with pytest.raises(ValidationError) as info:
        Policy.model_validate(doc)

    for name in named:
        assert name in str(info.value)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d["destinations"].update({"slack": copy.deepcopy(d["destinations"]["webhook"])}),
        lambda d: d["purposes"]["analytics"].update({"legal_basis": "because"}),
        lambda d: d.update({"unexpected": True}),
        lambda d: d["destinations"]["webhook"].update({"url": "https://evil.example"}),
    ],
    ids=["unknown_destination", "unknown_legal_basis", "extra_top_level_key", "extra_destination_key"],
)
def test_malformed_policies_are_rejected(mutate: Any) -> None:
    """Given a policy with a typo or an unknown key, then it is rejected rather than silently ignored."""
    doc = small_document()
    mutate(doc)

    with pytest.raises(ValidationError):
        Policy.model_validate(doc)


# -- evaluate: destination level ------------------------------------------------------------------


def test_destination_not_in_policy_is_skipped(default_policy: Policy) -> None:
    """Given a destination the policy does not list, then it gets nothing."""
    doc = default_policy.model_dump()
    del doc["destinations"]["ga4"]
    without_ga4 = Policy.model_validate(doc)
    payload, decisions = evaluate(hit_payload(), WITH_ANALYTICS | {"advertising"}, "ga4", without_ga4)

    assert payload is None
    assert [(d.action, d.reason) for d in decisions] == [("skipped", "destination_not_in_policy")]
    assert decisions[0].policy_version == 3


def test_missing_required_purpose_skips_destination(default_policy: Policy) -> None:
    """Given the webhook needs analytics and only necessary is granted, then it is skipped naming the purpose."""
    payload, decisions = evaluate(hit_payload(), NECESSARY_ONLY, "webhook", default_policy)

    assert payload is None
    assert [(d.destination, d.action, d.reason) for d in decisions] == [
        ("webhook", "skipped", "purpose_not_granted:analytics")
    ]


@pytest.mark.parametrize("granted", [{"analytics"}, {"advertising"}, {"analytics", "advertising"}])
def test_any_requirement_is_met_by_one_purpose(granted: set[str]) -> None:
    """Given a destination that needs any of analytics|advertising, then one of them is enough."""
    payload, decisions = evaluate(hit_payload(), frozenset({NECESSARY, *granted}), "lake", small_policy())

    assert payload is not None
    assert not any(d.action == "skipped" for d in decisions)


def test_any_requirement_with_none_granted_is_skipped() -> None:
    """Given neither analytics nor advertising, then the any-requirement destination is skipped naming both."""
    payload, decisions = evaluate(hit_payload(), NECESSARY_ONLY, "lake", small_policy())

    assert payload is None
    assert len(decisions) == 1
    assert decisions[0].action == "skipped"
    assert decisions[0].reason.startswith("purpose_not_granted:")
    assert "analytics" in decisions[0].reason
    assert "advertising" in decisions[0].reason


# -- evaluate: field level ------------------------------------------------------------------------


def test_uncatalogued_fields_are_dropped(default_policy: Policy) -> None:
    """Given fields outside the catalogue, then they are dropped with ``not_catalogued`` and never sent."""
    payload, decisions = evaluate(hit_payload(integrations={"All": True}), WITH_ANALYTICS, "webhook", default_policy)

    assert payload is not None
    assert "integrations" not in payload
    assert "device" not in payload["context"]
    fields = by_field(decisions)
    assert fields["integrations"].action == "dropped"
    assert fields["integrations"].reason == "not_catalogued"
    assert fields["context.device"].reason == "not_catalogued"


def test_catalogued_but_not_allowlisted_is_dropped(default_policy: Policy) -> None:
    """Given userId (catalogued, not on the webhook's list), then it is dropped for that destination only."""
    webhook, webhook_decisions = evaluate(hit_payload(), WITH_ANALYTICS, "webhook", default_policy)
    lake, _ = evaluate(hit_payload(), WITH_ANALYTICS, "lake", default_policy)

    assert webhook is not None
    assert lake is not None
    assert "userId" not in webhook
    assert lake["userId"] == USER_ID
    decision = by_field(webhook_decisions)["userId"]
    assert (decision.action, decision.reason) == ("dropped", "not_allowed_for_destination")
    assert (decision.purpose, decision.legal_basis) == ("analytics", "consent")


def test_allowed_field_whose_purpose_is_not_granted_is_dropped() -> None:
    """Given the lake may get context.campaign (advertising) but only analytics is granted, then it is dropped."""
    payload, decisions = evaluate(
        hit_payload(context={"page": {"path": "/a"}, "campaign": {"source": "news"}}),
        WITH_ANALYTICS,
        "lake",
        small_policy(),
    )

    assert payload is not None
    assert payload["context"] == {"page": {"path": "/a"}}
    decision = by_field(decisions)["context.campaign"]
    assert (decision.action, decision.reason, decision.purpose) == ("dropped", "purpose_not_granted", "advertising")


def test_catalogued_path_covers_its_subtree(default_policy: Policy) -> None:
    """Given ``properties`` is catalogued, then nested properties travel whole with one decision for the path."""
    payload, decisions = evaluate(hit_payload(), WITH_ANALYTICS, "webhook", default_policy)

    assert payload is not None
    assert payload["properties"] == {"plan": "pro", "cart": {"items": [{"sku": "A"}], "total": 12}}
    property_decisions = [d for d in decisions if d.field and d.field.startswith("properties")]
    assert [(d.field, d.action) for d in property_decisions] == [("properties", "sent")]


def test_only_catalogued_leaves_of_a_partly_catalogued_object_are_sent(default_policy: Policy) -> None:
    """Given context.page with path (allowed) and url (not allowed), then only path is sent."""
    payload, decisions = evaluate(hit_payload(), WITH_ANALYTICS, "webhook", default_policy)

    assert payload is not None
    assert payload["context"]["page"] == {"path": "/signup"}
    assert "jane.doe@example.com" not in repr(payload)
    assert by_field(decisions)["context.page.url"].action == "dropped"


def test_sent_decisions_carry_purpose_legal_basis_and_version() -> None:
    """Given a sent field, then its decision records the purpose, its legal basis and the policy version."""
    _, decisions = evaluate(hit_payload(), WITH_ANALYTICS, "webhook", small_policy(version=42))

    sent = [d for d in decisions if d.action == "sent"]
    assert {d.field for d in sent} == {"type", "messageId", "event", "properties"}
    fields = by_field(sent)
    assert (fields["type"].purpose, fields["type"].legal_basis) == ("necessary", "legitimate_interest")
    assert (fields["event"].purpose, fields["event"].legal_basis) == ("analytics", "consent")
    assert all(d.policy_version == 42 and d.reason == "allowed" for d in sent)
    assert fields["event"].as_dict() == {
        "destination": "webhook",
        "action": "sent",
        "reason": "allowed",
        "field": "event",
        "purpose": "analytics",
        "legal_basis": "consent",
        "policy_version": 42,
    }


def test_every_field_gets_a_decision(default_policy: Policy) -> None:
    """Given a hit, then every top-level field of it is explained by some decision (nothing silently lost)."""
    payload = hit_payload(integrations={})
    _, decisions = evaluate(payload, WITH_ANALYTICS, "lake", default_policy)

    explained = {d.field.split(".")[0] for d in decisions if d.field}
    assert explained == set(payload)


def test_necessary_only_sends_nothing_to_the_webhook_with_default_policy(default_policy: Policy) -> None:
    """Given only ``necessary`` consent and the default policy, then nothing goes to the webhook."""
    payload, decisions = evaluate(hit_payload(), NECESSARY_ONLY, "webhook", default_policy)

    assert payload is None
    assert not any(d.action == "sent" for d in decisions)
    assert decisions[-1].action == "skipped"


def test_necessary_only_gives_the_lake_a_necessary_record_with_default_policy(default_policy: Policy) -> None:
    """Given only ``necessary`` consent, then the lake gets the hit's necessary fields and nothing
    else, and every analytics field is dropped with purpose_not_granted."""
    payload, decisions = evaluate(hit_payload(), NECESSARY_ONLY, "lake", default_policy)

    assert payload is not None
    assert set(payload) <= {"type", "messageId", "timestamp", "receivedAt", "context"}
    assert set(payload.get("context", {})) <= {"library"}
    sent = {d.field for d in decisions if d.action == "sent"}
    assert all(default_policy.attributes[f].purpose == "necessary" for f in sent if f)
    dropped = {d.field: d.reason for d in decisions if d.action == "dropped" and d.field in default_policy.attributes}
    assert dropped and all(
        reason in ("purpose_not_granted", "not_allowed_for_destination") for reason in dropped.values()
    )


def test_nothing_allowed_skips_destination() -> None:
    """Given the requirement is met but no field of the hit may be sent, then the destination is skipped."""
    payload, decisions = evaluate({"userId": "u", "extra": 1}, WITH_ANALYTICS, "webhook", small_policy())

    assert payload is None
    assert (decisions[-1].action, decisions[-1].reason) == ("skipped", "nothing_allowed")


def test_evaluate_does_not_mutate_the_payload(default_policy: Policy) -> None:
    """Given a payload, when evaluated, then the caller's dict is left as it was (it is reused per destination)."""
    payload = hit_payload()
    before = copy.deepcopy(payload)

    evaluate(payload, WITH_ANALYTICS, "webhook", default_policy)

    assert payload == before


def test_key_containing_a_dot_does_not_impersonate_a_catalogued_path(default_policy: Policy) -> None:
    """Given ``context`` with a literal key ``page.path`` (not the nested path), then it is not catalogued."""
    smuggled = {"page.path": "https://shop.example/?email=jane.doe@example.com", "page": {"path": "/a"}}
    payload, decisions = evaluate(hit_payload(context=smuggled), WITH_ANALYTICS, "webhook", default_policy)

    assert payload is not None
    assert "page.path" not in payload["context"]
    assert by_field(decisions)["context.page.path"].action == "sent"  # the real one still goes


# -- consent.resolve ------------------------------------------------------------------------------


def signals(context: dict[str, Any]) -> ConsentSignals:
    """The consent signals the Segment adapter takes from a client's ``context``."""
    parsed = parse_event({"type": "track", "event": "e", "anonymousId": "a", "context": context}, implied_type=None)
    assert not isinstance(parsed, list), parsed
    return parsed.to_hit(datetime.now(UTC)).consent


@pytest.mark.parametrize(
    "context",
    [{}, {"consent": None}, {"consent": "all"}, {"consent": {}}, {"consent": {"categoryPreferences": ["analytics"]}}],
)
def test_no_signal_grants_only_necessary(context: dict[str, Any], default_policy: Policy) -> None:
    """Given no usable consent signal, then only ``necessary`` is granted (fail closed)."""
    assert consent.resolve(signals(context), default_policy).granted == frozenset({NECESSARY})


def test_no_signal_records_no_source(default_policy: Policy) -> None:
    """Given no consent at all, then no source is recorded."""
    assert consent.resolve(signals({}), default_policy).sources == ()


def test_segment_category_grants_analytics(default_policy: Policy) -> None:
    """Given categoryPreferences analytics: true, then analytics is granted and the source is recorded."""
    result = consent.resolve(signals({"consent": {"categoryPreferences": {"analytics": True}}}), default_policy)

    assert result.granted == frozenset({NECESSARY, "analytics"})
    assert result.sources == ("segment.categoryPreferences",)


def test_denied_category_grants_nothing_but_records_source(default_policy: Policy) -> None:
    """Given analytics: false, then analytics is not granted, but the signal is still recorded as seen."""
    result = consent.resolve(signals({"consent": {"categoryPreferences": {"analytics": False}}}), default_policy)

    assert result.granted == frozenset({NECESSARY})
    assert result.sources == ("segment.categoryPreferences",)


@pytest.mark.parametrize("order", [("analytics", "Analytics"), ("Analytics", "analytics")])
def test_purpose_from_two_categories_with_one_denied_is_not_granted(
    order: tuple[str, str], default_policy: Policy
) -> None:
    """Given two categories mapped to analytics, one true and one false, then analytics is NOT granted."""
    prefs = {order[0]: True, order[1]: False}

    result = consent.resolve(signals({"consent": {"categoryPreferences": prefs}}), default_policy)

    assert "analytics" not in result.granted


@pytest.mark.parametrize("value", ["yes", "true", 1, "1", None, {"granted": True}])
def test_non_boolean_values_do_not_grant(value: Any, default_policy: Policy) -> None:
    """Given a truthy value that is not JSON ``true``, then the category does not grant its purpose."""
    result = consent.resolve(signals({"consent": {"categoryPreferences": {"analytics": value}}}), default_policy)

    assert "analytics" not in result.granted


def test_unknown_categories_are_ignored(default_policy: Policy) -> None:
    """Given a category the policy does not map, then it grants nothing, while mapped ones still work."""
    prefs = {"functional": True, "marketing": True}

    result = consent.resolve(signals({"consent": {"categoryPreferences": prefs}}), default_policy)

    assert result.granted == frozenset({NECESSARY, "advertising"})


def test_resolved_consent_drives_evaluation(default_policy: Policy) -> None:
    """Given analytics consent from the hit's own context, then the webhook receives the allowed fields."""
    payload = hit_payload()

    granted = consent.resolve(
        signals({"consent": {"categoryPreferences": {"Analytics": True}}}), default_policy
    ).granted
    minimal, _ = evaluate(payload, granted, "webhook", default_policy)

    assert minimal is not None
    assert minimal["event"] == "Signed Up"
    assert "consent" not in minimal.get("context", {})  # raw signals are never forwarded


def test_uncatalogued_keys_that_could_hold_personal_data_are_not_recorded() -> None:
    """Given a client key that is itself an e-mail, when it is dropped as not catalogued, then the
    decision names the parent path and a placeholder, never the key."""
    import yaml as _yaml

    from fairtrack.policy import Policy as _Policy
    from fairtrack.policy import evaluate as _evaluate

    policy = _Policy.model_validate(_yaml.safe_load(DEFAULT_POLICY_PATH.read_text()))
    _, decisions = _evaluate(
        {"type": "track", "event": "e", "context": {"jane.doe@example.com": 1, "plainKey": 2}},
        frozenset({"necessary", "analytics"}),
        "lake",
        policy,
    )
    dropped = [d.field for d in decisions if d.reason == "not_catalogued"]
    # a key is named only when the catalogue or fairtrack's models name it: any other client key,
    # however harmless it looks, is a placeholder (issue 17 class 7)
    assert dropped == ["context.<key>", "context.<key>"]
    assert not any("jane" in str(d.field) or "plainKey" in str(d.field) for d in decisions)


def test_catalogued_child_of_a_sent_object_is_judged_on_its_own(default_policy: Policy) -> None:
    """Given a page call whose properties carry the (cleaned) URL (analytics.js copies it there),
    then ``properties`` is sent without ``properties.url``/``search``/``referrer``, and that is
    recorded."""
    props = {
        "url": "https://shop.example/?utm_source=news",
        "search": "?utm_source=news",
        "referrer": "https://mail.example",
        "path": "/",
        "title": "Home",
        "custom": {"a": 1},
    }
    payload, decisions = evaluate(hit_payload(properties=props), WITH_ANALYTICS, "webhook", default_policy)

    assert payload is not None
    assert payload["properties"] == {"path": "/", "title": "Home", "custom": {"a": 1}}
    fields = by_field(decisions)
    for held in ("properties.url", "properties.search", "properties.referrer"):
        assert fields[held].action == "dropped"
        assert fields[held].reason == "not_allowed_for_destination"
    assert fields["properties"].action == "sent"
    # and a URL that still holds an e-mail (not cleaned) never reaches the webhook in any field
    raw = {**props, "url": "https://shop.example/?email=jane@example.com", "search": "?email=jane@example.com"}
    payload, _ = evaluate(hit_payload(properties=raw), WITH_ANALYTICS, "webhook", default_policy)
    assert payload is not None and "jane@example.com" not in json.dumps(payload)


# -- routing without records ----------------------------------------------------------------------


def _with_forms() -> Policy:
    """The default policy plus a form of each kind, one of them inside a catalogued object that is
    sent whole (``properties.email``), so that every kind of plan entry occurs."""
    doc = default_document()
    attrs = doc["attributes"]
    attrs["context.page.url"]["reduced"] = "url_origin"
    attrs["context.ip"]["reduced"] = "ip_coarse"
    attrs["properties.email"] = {"purpose": "advertising", "format": "text", "transform": "sha256_normalised"}
    for name, dest in doc["destinations"].items():
        dest["attributes"] += [a for a in ("context.ip", "context.page.url") if a not in dest["attributes"]]
        if name != "lake":
            dest["attributes"].append("properties.email")
    return Policy.model_validate({**doc, "version": 4})


_FORMS = _with_forms()
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-5, 5)
    | st.sampled_from(
        ["", "x", "203.0.113.7", "2001:db8::1", "https://shop.example/a?b=c", "jane@example.com", "Chrome"]
    )
)


def _names_below(prefix: str) -> list[str]:
    paths = [*_FORMS.attributes, *_FORMS.parent_paths]
    return sorted({p[len(prefix) :].split(".", 1)[0] for p in paths if p.startswith(prefix)})


def _object_at(prefix: str, depth: int = 0) -> st.SearchStrategy[dict[str, Any]]:
    """Objects shaped like the hits the catalogue describes at ``prefix`` (catalogued keys, some
    values of the wrong type, some keys it does not know), so every kind of plan entry is met."""

    def value(name: str) -> st.SearchStrategy[Any]:
        below = prefix + name
        if depth < 3 and below in _FORMS.parent_paths:
            return _object_at(below + ".", depth + 1) | _SCALARS
        return _SCALARS | st.dictionaries(st.sampled_from(["k", "email", "url"]), _SCALARS, max_size=2)

    names = [*_names_below(prefix), "unknown", "a.b"]
    return st.fixed_dictionaries({}, optional={name: value(name) for name in names})


def _ordered(value: Any) -> Any:
    """``value`` with every dict as its list of items: equal only when the key order is too."""
    if isinstance(value, dict):
        return [(k, _ordered(v)) for k, v in value.items()]
    if isinstance(value, list):
        return [_ordered(v) for v in value]
    return value


@settings(max_examples=400, deadline=None)
@given(
    payload=_object_at(""),
    destination=st.sampled_from(["ga4", "meta", "webhook", "lake", "nowhere"]),
    granted=st.sets(st.sampled_from(sorted(_FORMS.purposes))),
)
def test_routing_without_records_sends_exactly_what_the_recorded_walk_sends(
    payload: dict[str, Any], destination: str, granted: set[str]
) -> None:
    """Given any hit-shaped payload, destination and granted purposes, when ingest conforms it to
    the catalogue and evaluates it without decision records (its fast path, which checks no format
    again), then the payload is the one the recorded walk (the forwarder's, which checks every
    format) gives on the payload as it came, key order included, and a destination skipped by one
    is skipped by both."""
    purposes = frozenset(granted | {NECESSARY})
    before = copy.deepcopy(payload)

    conformed, _ = conform(payload, _FORMS)
    fast, fast_decisions = evaluate(conformed, purposes, destination, _FORMS, record=False)
    full, full_decisions = evaluate(payload, purposes, destination, _FORMS, record=True)

    assert _ordered(fast) == _ordered(full)
    assert [d for d in fast_decisions if d.action == "skipped"] == [d for d in full_decisions if d.action == "skipped"]
    assert payload == before
