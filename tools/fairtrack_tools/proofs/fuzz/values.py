"""The fuzzer's building blocks: JSON text ``json.dumps`` cannot write, adversarial text and
values, and one defect put into an otherwise well-formed body.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

WRITE_KEY = "dev-write-key"
MEASUREMENT_ID = "G-DEV"
ORIGIN = "http://127.0.0.1:3000"  # the dev source's allowed origins (LocalCloud's app origin)
CANARY_IP = "198.51.100.77"
# the planted secrets, as sent or as an answer could carry them (percent- or JSON-escaped)
CANARY = re.compile(r"canary-\d+(?:@|%40|\\u0040)example\.com|198\.51\.100\.77", re.IGNORECASE)
# what SQS accepts in a message (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SendMessage.html)
SQS_INVALID = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
DEPTHS = (1, 2, 7, 8, 9, 10, 64, 127, 128, 129, 255, 256, 257, 500, 999, 1000, 1001, 1024, 2048, 4096, 5000)
MAX_BODY_CHARS = 700_000  # past the 500 KB limit, below Lambda's 6 MB payload: longer adds nothing
HUGE_LENGTHS = (200, 201, 513, 8192, 8193, 33_000, 250_000, 520_000)


def canary_email(n: int) -> str:
    return f"canary-{n}@example.com"


# -- JSON text that json.dumps cannot write --------------------------------------------------------


@dataclass(frozen=True)
class Raw:
    """JSON text written as is: out-of-range numbers, NaN, deep nesting, broken syntax."""

    text: str
    depth: int = 0


@dataclass(frozen=True)
class Obj:
    """A JSON object as ordered pairs: duplicate keys survive."""

    pairs: tuple[tuple[str, Any], ...]

    def get(self, key: str) -> Any:
        return next((v for k, v in self.pairs if k == key), None)


class _Absent:
    def __repr__(self) -> str:
        return "ABSENT"


ABSENT = _Absent()  # a field left out


def obj(**fields: Any) -> Obj:
    return Obj(tuple((k, v) for k, v in fields.items() if v is not ABSENT))


def dumps(value: Any, *, ascii_only: bool = False) -> str:
    """``value`` as JSON text; floats NaN/Infinity as the literals Python clients write."""
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, Obj):
        inner = ",".join(f"{dumps(k, ascii_only=ascii_only)}:{dumps(v, ascii_only=ascii_only)}" for k, v in value.pairs)
        return "{" + inner + "}"
    if isinstance(value, dict):
        return dumps(Obj(tuple(value.items())), ascii_only=ascii_only)
    if isinstance(value, list | tuple):
        return "[" + ",".join(dumps(v, ascii_only=ascii_only) for v in value) + "]"
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    # ensure_ascii writes an unpaired surrogate as its \ud800 escape; without it, the raw code point
    return json.dumps(value, ensure_ascii=ascii_only)


def depth_of(value: Any) -> int:
    if isinstance(value, Raw):
        return value.depth
    if isinstance(value, Obj):
        return 1 + max((depth_of(v) for _, v in value.pairs), default=0)
    if isinstance(value, dict):
        return 1 + max((depth_of(v) for v in value.values()), default=0)
    if isinstance(value, list | tuple):
        return 1 + max((depth_of(v) for v in value), default=0)
    return 0


def nested(depth: int, shape: str, leaf: str = "1") -> Raw:
    if shape == "array":
        return Raw("[" * depth + leaf + "]" * depth, depth)
    if shape == "object":
        return Raw('{"a":' * depth + leaf + "}" * depth, depth)
    if shape == "mixed":
        opens = "".join('{"a":[' if i % 2 else "[" for i in range(depth))
        closes = "".join("]}" if i % 2 else "]" for i in reversed(range(depth)))
        return Raw(opens + leaf + closes, depth)
    return Raw("[" * depth, depth)  # never closed


# -- building blocks -------------------------------------------------------------------------------

SPECIAL_TEXT = (
    "",
    " ",
    "\x00",
    "a\x00b",
    "\ufeff",
    "\ud800",
    "\udfff",
    "x\udc80y",
    "\ufffe",
    "\uffff",
    "\u2028\u2029",
    "\u202e",
    "\U0001d54f",
    "e\u0301",
    "null",
    "NaN",
    "-0",
    "1e999",
    "%00",
    "%C0%AF",
    "%ED%A0%80",
    "%",
    "%%",
    "%ZZ",
    "\\",
    '"',
    "'",
    "\r\n",
    "<script>alert(1)</script>",
    "../../etc/passwd",
    "http://[::1",
    "http://[",
    "https://[v1.x]/",
    "http://\uff03evil.example/",
    "http://a\u2100b/",
    "javascript:alert(1)",
    "http://user:pass@shop.example:99999/",
    "https://shop.example:-1/",
    "//",
    "?",
    "#",
    "2026-11-24T10:15:00.000Z",
    "9999-12-31T23:59:59Z",
    "0001-01-01T00:00:00Z",
    "1970-01-01T00:00:00+23:59",
    "2200-01-01T00:00:00-23:59",
    "2026-02-30T00:00:00Z",
    "1795515302",
    "0x1F",
    "\u0661\u0662\u0663",
    "1_000",
    "true",
    "G111",
    "G1--",
    "13r3r3r3r5",
)
TIMESTAMPS = (
    "2026-11-24T10:15:00.000Z",
    "2026-11-24T10:15:00",
    "9999-12-31T23:59:59Z",
    "0001-01-01T00:00:00Z",
    "1970-01-01T00:00:00+23:59",
    "2200-01-01T00:00:00-23:59",
    "2199-12-31T23:59:59-23:59",
    "2026-02-30T00:00:00Z",
    "1795515302",
    "1795515302000000",
    "-62135596800",
    "",
)
NUMBER_LITERALS = (
    "1e400",
    "-1e400",
    "1E-400",
    "NaN",
    "Infinity",
    "-Infinity",
    "-0",
    "-0.0",
    "9" * 30,
    "9" * 4299,
    "9" * 4301,
    "-" + "9" * 5000,
    "1e99999999999999",
    "1.5e308",
    "123456789012345678901234567890.5",
    "0.000000000000000000000000000001",
)
USER_AGENTS = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
    "Googlebot/2.1 (+http://www.google.com/bot.html)",
    "curl/8.5.0",
    "python-requests/2.32",
    "analytics-python/2.3.3",
    "",
    "Mozilla/5.0 (" * 200,
    "\u00e9\u00e8\ud800",
)

texts = st.text(max_size=24)
wild_text = st.text(st.characters(exclude_categories=()), max_size=16)  # unpaired surrogates included
huge_text = st.builds(
    lambda c, n: c * n,
    st.sampled_from(("a", "\u00e9", "\x00", "\U0001d54f", "\\", "%", " ")),
    st.sampled_from(HUGE_LENGTHS),
)


# API Gateway refuses a request line or header values over 10 KB: longer ones never reach the function
long_line_text = st.builds(
    lambda c, n: c * n, st.sampled_from(("a", "\u00e9", "%", "%e", ",")), st.sampled_from((1000, 4096, 9000))
)


@st.composite
def adversarial_text(draw: st.DrawFn, n: int, *, in_line: bool = False) -> str:
    """Text meant to break things; ``in_line``: for the request line or a header (bounded length)."""
    kind = draw(st.integers(0, 5))
    if kind == 0:
        return draw(st.sampled_from(SPECIAL_TEXT))
    if kind == 1:
        return draw(wild_text)
    if kind == 2:
        long: str = draw(long_line_text if in_line else huge_text)
        return long
    if kind == 3:
        planted: str = draw(st.sampled_from((canary_email(n), CANARY_IP, f"mailto:{canary_email(n)}", f"+49 {n:09d}")))
        return planted
    return draw(texts)


def scalars(n: int) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.sampled_from((2**63, -(2**63) - 1, 2**64, 10**20)),
        st.floats(allow_nan=True, allow_infinity=True),
        st.sampled_from(NUMBER_LITERALS).map(Raw),
        adversarial_text(n),
    )


def json_values(n: int, max_leaves: int = 12) -> st.SearchStrategy[Any]:
    return st.recursive(
        scalars(n),
        lambda inner: st.one_of(
            st.lists(inner, max_size=4),
            st.lists(st.tuples(st.one_of(texts, adversarial_text(n)), inner), max_size=4).map(
                lambda pairs: Obj(tuple(pairs))
            ),
        ),
        max_leaves=max_leaves,
    )


@st.composite
def deep(draw: st.DrawFn) -> Raw:
    depth = draw(st.one_of(st.sampled_from(DEPTHS), st.integers(1, 5000)))
    shape = draw(st.sampled_from(("array", "object", "mixed", "unclosed")))
    return nested(depth, shape)


@st.composite
def value_or(draw: st.DrawFn, plausible: st.SearchStrategy[Any], n: int, chaos: int, *, required: bool = False) -> Any:
    """A plausible value, or (more often the higher ``chaos`` is: 0 clean, 1 a little, 2 wild) one left
    out (``ABSENT``), a random JSON value or a deep nesting. ``required`` fields stay at chaos 0."""
    if chaos == 0:
        return draw(plausible) if required or draw(st.integers(0, 4)) else ABSENT
    roll = draw(st.integers(0, 15 if chaos == 2 else 47))
    if roll <= 9 or roll > 15:
        return draw(plausible)
    if roll <= 11:
        return ABSENT
    if roll == 12:
        return draw(deep())
    return draw(json_values(n, max_leaves=6))


def build(fields: list[tuple[str, Any]], extra: list[tuple[str, Any]] | None = None) -> Obj:
    return Obj(tuple((k, v) for k, v in [*fields, *(extra or [])] if v is not ABSENT))


def pick(chaos: int, good: tuple[Any, ...], odd: tuple[Any, ...] = ()) -> st.SearchStrategy[Any]:
    """One of ``good``; above chaos 0, one of ``good`` or ``odd``."""
    return st.sampled_from(good if chaos == 0 or not odd else good + odd)


def timestamps(chaos: int) -> st.SearchStrategy[str]:
    return pick(chaos, TIMESTAMPS[:2], TIMESTAMPS[2:])


# -- one defect in an otherwise well-formed body ------------------------------------------------------


def _nodes(value: Any, path: tuple[int, ...] = ()) -> Iterator[tuple[tuple[int, ...], Any]]:
    yield path, value
    if isinstance(value, Obj):
        for i, (_, v) in enumerate(value.pairs):
            yield from _nodes(v, (*path, i))
    elif isinstance(value, list):
        for i, v in enumerate(value[:50]):  # a huge batch repeats itself: its head is enough
            yield from _nodes(v, (*path, i))


def _replace(value: Any, path: tuple[int, ...], new: Any) -> Any:
    """``value`` with the node at ``path`` replaced by ``new`` (removed when ``new`` is ABSENT)."""
    if not path:
        return new
    i, rest = path[0], path[1:]
    if isinstance(value, Obj):
        pairs = list(value.pairs)
        key, child = pairs[i]
        replaced = _replace(child, rest, new)
        if replaced is ABSENT:
            del pairs[i]
        else:
            pairs[i] = (key, replaced)
        return Obj(tuple(pairs))
    items = list(value)
    replaced = _replace(items[i], rest, new)
    if replaced is ABSENT:
        del items[i]
    else:
        items[i] = replaced
    return items


def other_types(n: int, current: Any) -> st.SearchStrategy[Any]:
    """Values of another JSON type than ``current``: where parsers trip."""
    choices: list[st.SearchStrategy[Any]] = [
        st.sampled_from((None, True, False, 0, -1, 1.5, 2**64, float("nan"), float("inf"))),
        st.sampled_from(NUMBER_LITERALS).map(Raw),
        st.sampled_from(("", "x", "1", "true", "null", "\uffff", "\ud800", "\x00")),
        st.sampled_from(([], [1], [None], [[]], [obj()], ["x"])),
        st.sampled_from((obj(), obj(a=1), obj(x=None), Obj((("", 1),)), obj(length=5))),
    ]
    if isinstance(current, bool):
        choices.pop(0)
    elif isinstance(current, str):
        choices.pop(2)
    elif isinstance(current, list):
        choices.pop(3)
    elif isinstance(current, Obj):
        choices.pop(4)
    return st.one_of(choices)


@st.composite
def mutated(draw: st.DrawFn, body: Any, n: int) -> Any:
    """``body`` with one to three defects at random places: a value of another type, adversarial
    text, an extreme number, deep nesting, a field removed, a duplicate or odd key added."""
    for _ in range(draw(st.integers(1, 3))):
        nodes = list(_nodes(body))
        path, current = draw(st.sampled_from(nodes))
        kind = draw(st.sampled_from(("type", "type", "type", "text", "number", "deep", "drop", "key", "values")))
        if kind == "key" and isinstance(current, Obj):
            key = draw(
                st.one_of(st.sampled_from([k for k, _ in current.pairs] or ["k"]), adversarial_text(n, in_line=True))
            )
            new: Any = Obj((*current.pairs, (key, draw(json_values(n, 6)))))
        elif kind == "text":
            new = draw(adversarial_text(n))
        elif kind == "number":
            new = draw(st.one_of(st.sampled_from(NUMBER_LITERALS).map(Raw), st.integers(), st.floats()))
        elif kind == "deep":
            new = draw(deep())
        elif kind == "drop" and path:
            new = ABSENT
        elif kind == "values":
            new = draw(json_values(n, 8))
        else:
            new = draw(other_types(n, current))
        body = _replace(body, path, new)
    return body
