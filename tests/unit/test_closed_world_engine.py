"""The closed-world rule, end to end through the policy engine, with payloads generated from the
catalogue itself (policies/default.yaml): every catalogued path gets values of every shape, some
admitted by the attribute's format and some not.

- nothing a destination receives is a value its attribute's format does not admit (the recorded
  walk the forwarders run, and ingest's conform-then-select route alike);
- every admitted value of an attribute the destination may have, under a granted purpose and in
  full form, arrives unchanged;
- ``conform`` is idempotent and keeps only what the catalogue admits.

The paths come from the policy, so an attribute added to the catalogue is covered without editing
this file; the test fails when it generated too few admitted or refused values to mean anything.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from unit_policy_docs import default_doc, default_policy

from fairtrack.policy import Policy, conform, evaluate
from fairtrack_tools.proofs.catalogue import Catalogue

ROOT = Path(__file__).resolve().parents[2]
POLICY = default_policy(3)
CATALOGUE = Catalogue()  # the proofs' reading of the same file, independent of the engine
EVERYTHING = frozenset(POLICY.purposes)

# values of every shape the formats speak of, admissible and not
_SAMPLES = [
    "track",
    "Order Completed",
    "jane.doe@example.com",
    "jane%2540example.com",
    "jane&#64;example.com",
    "jane\uff20example.com",
    "amFuZS5kb2VAZXhhbXBsZS5jb20=",
    "eyJhbGciOiJIUzI1NiJ9.eyJlbWFpbCI6ImphbmVAZXhhbXBsZS5jb20ifQ.c2lnbmF0dXJl",
    "+44 7700 900123",
    "198.51.100.23",
    "198.51.100.0",
    "2001:db8:1::",
    "2002:c633:6417::",
    "4111 1111 1111 1111",
    "DE89 3704 0044 0532 0130 00",
    "221B Baker Street",
    "p-0123456789abcdef0123456789abcdef",
    "5b4f3c1e-7d2a-4e8b-9c61-2f0a8d3e4b17",
    "2026-11-24T10:15:00.000Z",
    "en-GB",
    "en_GB",
    "Europe/Berlin",
    "Jane/Doe",
    "DE",
    "de",
    "https://shop.example/checkout?utm_source=news",
    "https://shop.example/u/jane@example.com?email=jane@example.com#top",
    "app://shop",
    "/checkout/thanks",
    "/account/x@y.example?token=abc",
    "?utm_source=news",
    "https://shop.example",
    "Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0.0.0 Safari/537.36",
    "ord_1042",
    "",
    "a" * 9000,
    "tab\there",
    "bell\x07",
]
_SCALARS = st.one_of(
    st.sampled_from(_SAMPLES),
    st.text(max_size=40),
    st.integers(min_value=-(2**63), max_value=2**63),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(_SAMPLES), st.text(max_size=12)), inner, max_size=4),
    ),
    max_leaves=12,
)
_LEAVES = sorted(POLICY.attributes)
_EXTRA = [0, 1, 2.5, 1920, True, False, {"revenue": 10, "currency": "EUR"}, {"name": "x"}]
_ADMITTED = {  # per path, the samples its format admits: drawn half of the time
    path: [v for v in [*_SAMPLES, *_EXTRA] if POLICY.attributes[path].check(v)] for path in _LEAVES
}
COUNTS: Counter[str] = Counter()


@st.composite
def _assignments(draw: st.DrawFn) -> dict[str, Any]:
    paths = draw(st.lists(st.sampled_from(_LEAVES), min_size=1, max_size=len(_LEAVES), unique=True))
    out: dict[str, Any] = {}
    for path in paths:
        admitted = _ADMITTED[path]
        if admitted and draw(st.booleans()):
            out[path] = draw(st.sampled_from(admitted))
        else:
            out[path] = draw(_VALUES)
    return out


def _put(doc: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    node = doc
    for part in parents:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    node[last] = value


def _get(doc: Any, path: str) -> tuple[bool, Any]:
    node = doc
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return False, None
        node = node[part]
    return True, node


def _leaves(value: Any, prefix: str) -> list[tuple[str, Any]]:
    if isinstance(value, dict) and (prefix == "" or prefix not in POLICY.attributes or _is_object(prefix)):
        out: list[tuple[str, Any]] = []
        for key, inner in value.items():
            out += _leaves(inner, f"{prefix}.{key}" if prefix else key)
        return out
    return [(prefix, value)]


def _is_object(path: str) -> bool:
    return POLICY.attributes[path].format == "object"


def _listed(destination: str, path: str) -> bool:
    listed = POLICY.destinations[destination].attributes  # type: ignore[index]
    if path in listed:
        return True
    parent = path.rpartition(".")[0]
    while parent:
        if parent in listed and _is_object(parent):
            return True
        if parent in POLICY.attributes and not _is_object(parent):
            return False
        parent = parent.rpartition(".")[0]
    return False


def _assert_admitted(sent: dict[str, Any], destination: str) -> None:
    for path, value in _leaves(sent, ""):
        name = CATALOGUE.attribute_of(path)  # the path itself, or its nearest catalogued map
        assert name is not None, f"{destination}: {path} is not catalogued"
        attr = POLICY.attributes[name]
        if attr.transform != "none":
            continue  # a hash of the admitted value
        if attr.format == "map":
            assert attr.check({path.rpartition(".")[2] if name != path else "v": value} if name != path else value)
        else:
            assert attr.check(value), f"{destination}: {path} = {value!r} is not a {attr.format}"


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_assignments())
def _check(assignments: dict[str, Any]) -> None:
    payload: dict[str, Any] = {}
    for path in sorted(assignments, key=lambda p: p.count(".")):  # parents first, children inside them
        _put(payload, path, assignments[path])
    conformed, _ = conform(payload, POLICY)
    assert conform(conformed, POLICY) == (conformed, [])
    for destination in POLICY.destinations:
        sent, _ = evaluate(payload, EVERYTHING, destination, POLICY)
        routed, _ = evaluate(conformed, EVERYTHING, destination, POLICY, record=False)
        assert (sent or {}) == (routed or {}), destination
        _assert_admitted(sent or {}, destination)
        for path in assignments:
            attr = POLICY.attributes[path]
            found, value = _get(payload, path)
            if not found or attr.format in ("object", "map") or attr.transform != "none":
                continue
            if not _listed(destination, path) or attr.purpose not in EVERYTHING:
                continue
            arrived, got = _get(sent or {}, path)
            if attr.check(value):
                # admitted: unchanged, unless an enclosing object or map was itself refused
                enclosing = [p for p in POLICY.attributes if path.startswith(p + ".")]
                if all(_get(payload, p)[0] and isinstance(_get(payload, p)[1], dict) for p in enclosing):
                    COUNTS["admitted"] += 1
                    assert arrived and got == value, f"{destination}: {path} = {value!r} did not arrive unchanged"
            else:
                COUNTS["refused"] += 1
                assert not arrived, f"{destination}: {path} = {value!r} is not a {attr.format} but was sent"


def test_no_value_leaves_unless_its_format_admits_it_and_admitted_values_arrive_unchanged() -> None:
    COUNTS.clear()
    _check()
    print(f"closed world: {COUNTS['admitted']} admitted values arrived unchanged, {COUNTS['refused']} refused")
    assert COUNTS["admitted"] >= 200, COUNTS
    assert COUNTS["refused"] >= 1000, COUNTS


def test_a_policy_attribute_without_a_format_does_not_validate() -> None:
    doc = default_doc()
    del doc["attributes"]["messageId"]["format"]
    try:
        Policy.model_validate(doc)
    except ValueError as exc:
        assert "messageId" in str(exc) and "format" in str(exc)
    else:
        raise AssertionError("a policy with an attribute without a format validated")


def test_an_unknown_format_does_not_validate() -> None:
    doc = default_doc()
    doc["attributes"]["event"]["format"] = "anything"
    try:
        Policy.model_validate(doc)
    except ValueError as exc:
        assert "anything" in str(exc)
    else:
        raise AssertionError("a policy with an unknown format validated")


def test_the_policy_page_format_table_describes_every_format_as_the_code_does() -> None:
    from fairtrack.anonymise import formats

    page = (ROOT / "docs" / "policy.md").read_text()
    for name, description in formats.DESCRIPTIONS.items():
        assert f"| `{name}` | {description} |" in page, name
