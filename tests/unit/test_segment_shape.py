"""The quick shape bound of the Segment adapter (``_fits_everywhere``), held to the exact walk.

``parse_event`` skips ``_shape_problem``'s walk of ``context``, ``properties`` and ``traits`` when
the bound, read from the event's compact JSON, says no object in the event can break the nesting
or key limits. The bound may say "walk to find out" too often, never "fits" wrongly.
"""

from __future__ import annotations

from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st
from pydantic_core import to_json

from fairtrack.protocols.segment import MAX_DEPTH, MAX_KEYS, _fits_everywhere, _shape_problem, parse_event

# strings that look like JSON structure from inside: brackets, quotes, escapes, commas
TRICKY = st.text(alphabet='{}[]"\\,:ab \n\u00e9', max_size=8)
LEAVES = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), TRICKY)


def _chain(depth: int, kinds: list[bool], leaf: Any) -> Any:
    value = leaf
    for i in range(depth):
        value = {"k": value} if kinds[i % len(kinds)] else [value]
    return value


CHAINS = st.builds(_chain, st.integers(0, MAX_DEPTH + 3), st.lists(st.booleans(), min_size=1, max_size=4), LEAVES)
VALUES = st.recursive(
    st.one_of(LEAVES, CHAINS),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TRICKY, inner, max_size=4),
    max_leaves=30,
)
OBJECTS = st.dictionaries(TRICKY, VALUES, max_size=5)


def _walk_finds_nothing(event: dict[str, Any]) -> bool:
    return all(_shape_problem(event[k]) is None for k in ("context", "properties", "traits") if k in event)


@settings(max_examples=600, deadline=None, database=None)
@given(context=OBJECTS, properties=OBJECTS, traits=OBJECTS, other=VALUES)
@example(context={"a": _chain(MAX_DEPTH + 1, [True], "x")}, properties={}, traits={}, other=None)
@example(context={"a": "}" * 12}, properties={"b": _chain(MAX_DEPTH + 1, [False], "{" * 12)}, traits={}, other=None)
@example(context={'"{': '}"'}, properties={"a": _chain(MAX_DEPTH + 1, [True, False], '\\"')}, traits={}, other=None)
def test_the_bound_never_says_fits_where_the_walk_finds_a_problem(
    context: dict[str, Any], properties: dict[str, Any], traits: dict[str, Any], other: Any
) -> None:
    event = {"type": "track", "context": context, "properties": properties, "traits": traits, "other": other}

    if _fits_everywhere(to_json(event)):
        assert _walk_finds_nothing(event)


def _event(**parts: Any) -> dict[str, Any]:
    return {"type": "track", "event": "Viewed", "anonymousId": "anon-1", **parts}


def test_usual_events_are_spared_the_walk() -> None:
    """The bound says "fits" for ordinary events, strings holding brackets, quotes and escapes
    included, and at the nesting limit itself: the walk is the exception, not the rule."""
    usual = _event(
        context={
            "page": {"url": "https://shop.example.com/p?q=[1]", "title": 'Shoes "{new}" \\ sale'},
            "userAgentData": {"brands": [{"brand": "Chromium", "version": "131"}], "mobile": False},
        },
        properties={"items": [{"sku": "a", "tags": ["x", "y"]}], "note": "}}]]"},
    )
    at_the_limit = _event(properties=_chain(MAX_DEPTH, [True], "v"))

    assert _fits_everywhere(to_json(usual))
    assert _fits_everywhere(to_json(at_the_limit))
    assert _shape_problem(at_the_limit["properties"]) is None


def test_one_level_or_one_key_too_many_is_left_to_the_walk() -> None:
    too_deep = _event(properties=_chain(MAX_DEPTH + 1, [True], "v"))
    hidden = _event(context={"title": "}" * 20}, properties=_chain(MAX_DEPTH + 1, [False, True], "{" * 20))
    many = _event(properties={f"k{i}": i for i in range(MAX_KEYS)})

    for event in (too_deep, hidden, many):
        assert not _fits_everywhere(to_json(event))
    assert _shape_problem(too_deep["properties"]) is not None
    assert _shape_problem(hidden["properties"]) is not None


def test_events_the_bound_spares_are_still_checked_when_it_cannot() -> None:
    """End to end through ``parse_event``: the walk still rejects what the bound leaves to it."""
    deep = _event(properties=_chain(MAX_DEPTH + 1, [True], "v"))
    wide = _event(traits={f"k{i}": i for i in range(MAX_KEYS + 1)})

    for event, field in ((deep, "properties"), (wide, "traits")):
        found = parse_event(event, implied_type=None)
        assert isinstance(found, list)
        assert [e.path for e in found] == [field]
