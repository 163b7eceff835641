"""Fuzzing the ingest handler: adversarial API Gateway (HTTP API, payload 2.0) events for every route.

The real ingest function is loaded in-process the way Lambda would load it (template.yaml's
environment, resources created under moto's ``mock_aws`` by :class:`LocalCloud`, seeded with the dev
source: write key ``dev-write-key``, measurement id ``G-DEV``), and every generated request must:

- return (never raise) a dict with an integer ``statusCode`` below 500;
- answer an empty body or valid JSON;
- never echo a planted secret (``canary-<n>@example.com``, ``198.51.100.77``) in its body or headers,
  nor write one to the function's logs or metrics.

The queues are held to what real SQS accepts (moto does not check message characters): a message
SQS would refuse with ``InvalidMessageContents`` is refused here too, so the handler's answer is the
one a deployment would give.

The requests come from Hypothesis strategies (:func:`requests`): valid-ish and random JSON (deep
nesting up to 5000 levels, huge strings and arrays, out-of-range numbers, NaN/Infinity, duplicate
keys, unpaired surrogates, invalid and overlong UTF-8, BOMs, NUL), base64 bodies with mismatched
``isBase64Encoded``, gzip (valid, truncated, bombs, multi-member) with and without
``Content-Encoding``, odd content types, garbled and huge headers, Authorization variants, query
strings with write keys and gtag parameters (consent ones with garbage TC strings), multi-line
``/g/collect`` bodies, missing optional request fields, garbage source addresses and huge batches;
one request in four as a deployment behind a proxy (``TrustedProxy`` ``hops:1``, ``hops:2`` or
``cloudfront``) answers it.

``tests/fuzz`` runs a short, derandomised pass in CI. The long run::

    python -m fairtrack_tools.proofs.fuzz --seconds 600            # Hypothesis, random seeds
    python -m fairtrack_tools.proofs.fuzz --seconds 600 --atheris  # coverage-guided (libFuzzer via atheris)

prints the figures (requests, statuses, routes, deepest nesting, exceptions, 5xx, leaks, time) and
exits 1 on any failure, 0 otherwise; the events that failed are written as JSON to ``--artifacts``.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import gzip
import importlib.util
import io
import json
import math
import os
import re
import sys
import tempfile
import time
import traceback
import warnings
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import parse_qsl, quote

from hypothesis import seed as hypothesis_seed
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


# -- Segment / RudderStack bodies ---------------------------------------------------------------------

EVENT_TYPES = ("track", "page", "screen", "identify", "group", "alias")
URLS = (
    "https://shop.example/checkout?step=2",
    "https://shop.example/thanks?email={email}&gclid=abc",
    "https://shop.example/u/{email}/orders",
    "https://198.51.100.77/admin?token=secret",
    "https://shop.example/p?utm_source=news&fbclid=x",
    "http://[::1",
    "https://shop.example/%E0%A4%A",
    "https://shop.example:99999/",
    "https://xn--n3h.example/\u2603?q=%ZZ",
    "http://\uff03evil.example/",
    "http://a\u2100b/",
    "//shop.example/x",
    "shop.example/no-scheme",
)


@st.composite
def page_object(draw: st.DrawFn, n: int, chaos: int) -> Obj:
    url = st.sampled_from([u.format(email=canary_email(n)) for u in URLS])
    return build(
        [
            ("url", draw(value_or(url, n, chaos))),
            ("path", draw(value_or(pick(chaos, ("/", "/checkout", f"/u/{canary_email(n)}"), ("",)), n, chaos))),
            ("search", draw(value_or(pick(chaos, ("?a=1", f"?email={canary_email(n)}")), n, chaos))),
            ("referrer", draw(value_or(url, n, chaos))),
            ("title", draw(value_or(texts, n, chaos))),
        ]
    )


@st.composite
def consent_object(draw: st.DrawFn, n: int, chaos: int) -> Obj:
    values = st.booleans() if chaos == 0 else st.one_of(st.booleans(), st.booleans(), scalars(n))
    prefs = st.dictionaries(
        pick(chaos, ("analytics", "advertising", "functional", "C0002", "C0004", "marketing"), ("", "x" * 200)),
        values,
        max_size=4,
    ).map(lambda d: Obj(tuple(d.items())))
    return build([("categoryPreferences", draw(value_or(prefs, n, chaos, required=True)))])


@st.composite
def rudder_consent(draw: st.DrawFn, n: int, chaos: int) -> Obj:
    ids = st.lists(st.one_of(pick(chaos, ("C0002", "C0004", "1"), ("",)), st.integers(0, 99)), max_size=4)
    return build(
        [
            ("provider", draw(value_or(st.sampled_from(("oneTrust", "ketch", "custom")), n, chaos))),
            ("allowedConsentIds", draw(value_or(ids, n, chaos))),
            ("deniedConsentIds", draw(value_or(ids, n, chaos))),
            ("resolutionStrategy", draw(value_or(pick(chaos, ("and", "or", "OR"), ("xor",)), n, chaos))),
        ]
    )


@st.composite
def context_object(draw: st.DrawFn, n: int, chaos: int) -> Obj:
    traits = build(
        [
            ("email", canary_email(n)),
            ("name", draw(value_or(st.just("Jane Canary"), n, chaos))),
            ("phone", draw(value_or(st.just(f"+49 30 1234{n:04d}"), n, chaos))),
            ("address", draw(value_or(st.just(obj(city="Berlin", postalCode=10115)), n, chaos))),
        ]
    )
    hints = obj(
        brands=[obj(brand="Chromium", version="131")],
        mobile=draw(st.booleans() if chaos == 0 else st.one_of(st.booleans(), scalars(n))),
        platform=draw(value_or(st.just("Linux"), n, chaos)),
        fullVersionList=draw(value_or(st.just([obj(brand="Chromium", version="131.0.1")]), n, chaos)),
    )
    return build(
        [
            ("page", draw(value_or(page_object(n, chaos), n, chaos))),
            ("consent", draw(value_or(consent_object(n, chaos), n, chaos))),
            ("consentManagement", draw(value_or(rudder_consent(n, chaos), n, chaos))),
            ("userAgent", draw(value_or(pick(chaos, USER_AGENTS[:6], USER_AGENTS[6:]), n, chaos))),
            ("userAgentData", draw(value_or(st.just(hints), n, chaos))),
            ("locale", draw(value_or(pick(chaos, ("de-DE", "en"), ("x" * 600,)), n, chaos))),
            ("timezone", draw(value_or(st.just("Europe/Berlin"), n, chaos))),
            ("ip", draw(value_or(st.just(CANARY_IP), n, chaos))),
            ("traits", draw(value_or(st.just(traits), n, chaos))),
            ("library", draw(value_or(st.just(obj(name="analytics.js", version="next-1.70.0")), n, chaos))),
            ("campaign", draw(value_or(st.just(obj(name="spring", source=canary_email(n))), n, chaos))),
            ("session", draw(value_or(st.just(obj(id=123, number=3, engaged=True)), n, chaos))),
            ("screen", draw(value_or(st.just(obj(width=1920, height=1080)), n, chaos))),
        ]
    )


@st.composite
def properties_object(draw: st.DrawFn, n: int, chaos: int) -> Obj:
    numbers = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers())
    extra = st.tuples(st.one_of(texts, adversarial_text(n)), json_values(n, 6))
    return build(
        [
            ("order_id", draw(value_or(st.just("ord_1042"), n, chaos))),
            ("revenue", draw(value_or(numbers, n, chaos))),
            ("currency", draw(value_or(pick(chaos, ("EUR", "eur"), ("", "EURO")), n, chaos))),
            ("email", draw(value_or(st.just(canary_email(n)), n, chaos))),
            ("note", draw(value_or(st.just(f"call me at +49 30 1234{n:04d} or {canary_email(n)}"), n, chaos))),
            ("url", draw(value_or(st.just(f"https://shop.example/?e={canary_email(n)}"), n, chaos))),
            ("items", draw(value_or(st.just([obj(item_id="SKU-1", price=89.9, quantity=1)]), n, chaos))),
        ],
        draw(st.lists(extra, max_size=0 if chaos == 0 else 3)),
    )


@st.composite
def segment_event(draw: st.DrawFn, n: int, chaos: int, implied: str | None = None) -> Obj:
    if implied is None:
        kind = draw(st.sampled_from(EVENT_TYPES))
    else:
        kind = implied if chaos == 0 else draw(st.sampled_from((implied, implied, *EVENT_TYPES)))
    ids = st.one_of(pick(chaos, (f"anon-{n}", canary_email(n), f" {n} "), ("   ", "x" * 201)), st.integers())
    # on a typed route the type may be left out; the fields a type requires are there at chaos 0
    event = build(
        [
            ("type", draw(value_or(st.just(kind), n, chaos, required=implied is None))),
            (
                "event",
                draw(
                    value_or(
                        pick(chaos, ("Order Completed", "page_view"), ("x" * 201,)), n, chaos, required=kind == "track"
                    )
                ),
            ),
            ("name", draw(value_or(st.just("Home"), n, chaos))),
            ("anonymousId", draw(value_or(ids, n, chaos, required=True))),
            ("userId", draw(value_or(ids, n, chaos))),
            ("groupId", draw(value_or(st.just("grp-1"), n, chaos, required=kind == "group"))),
            ("previousId", draw(value_or(ids, n, chaos, required=kind == "alias"))),
            ("messageId", draw(value_or(st.just(f"msg-{n}"), n, chaos))),
            ("timestamp", draw(value_or(timestamps(chaos), n, chaos))),
            ("originalTimestamp", draw(value_or(timestamps(chaos), n, chaos))),
            ("sentAt", draw(value_or(timestamps(chaos), n, chaos))),
            ("context", draw(value_or(context_object(n, chaos), n, chaos))),
            ("properties", draw(value_or(properties_object(n, chaos), n, chaos))),
            ("traits", draw(value_or(st.just(obj(email=canary_email(n), address=obj(city="Berlin"))), n, chaos))),
            ("integrations", draw(value_or(st.just(obj(All=True)), n, chaos))),
        ]
    )
    if chaos and draw(st.integers(0, 9)) == 0 and event.pairs:  # a duplicate key, the later one different
        key, _ = draw(st.sampled_from(event.pairs))
        event = Obj((*event.pairs, (key, draw(json_values(n, 4)))))
    return event


# a small valid event, repeated to make huge batches without drawing thousands of events
FILLER = obj(type="track", event="e", anonymousId="a-1", properties=obj(n=1))


@st.composite
def batch_body(draw: st.DrawFn, n: int, chaos: int) -> Obj:
    anything = st.one_of(segment_event(n, chaos), json_values(n, 4))
    events = draw(st.lists(segment_event(n, chaos) if chaos == 0 else anything, min_size=chaos == 0, max_size=4))
    size = draw(pick(chaos, (None, None, None, None, 100, 2500), (2501, 5000)))
    if size is not None:  # a huge batch: mostly the filler
        events = ([*events[:1], *[FILLER] * size])[:size]
    return build(
        [
            ("batch", draw(value_or(st.just(events), n, chaos, required=True))),
            ("context", draw(value_or(context_object(n, chaos), n, chaos))),
            ("sentAt", draw(value_or(timestamps(chaos), n, chaos))),
            ("writeKey", draw(value_or(pick(chaos, (WRITE_KEY,), (canary_email(n),)), n, chaos))),
        ]
    )


@st.composite
def consent_body(draw: st.DrawFn, n: int, chaos: int) -> Obj:
    return build(
        [
            (
                "anonymousId",
                draw(value_or(pick(chaos, (f"anon-{n}", canary_email(n)), ("",)), n, chaos, required=True)),
            ),
            ("userId", draw(value_or(st.just(canary_email(n)), n, chaos))),
            ("consent", draw(value_or(consent_object(n, chaos), n, chaos, required=True))),
            ("consentManagement", draw(value_or(rudder_consent(n, chaos), n, chaos))),
            ("gcs", draw(value_or(pick(chaos, ("G111", "G100", "G1--"), ("G1",)), n, chaos))),
            ("gcd", draw(value_or(pick(chaos, ("13r3r3r3r5", "11t1t1t1t5"), ("1",)), n, chaos))),
            ("npa", draw(value_or(pick(chaos, ("0", "1")), n, chaos))),
            ("tcString", draw(value_or(st.just(VALID_TC) if chaos == 0 else tc_strings, n, chaos))),
            ("timestamp", draw(value_or(timestamps(chaos), n, chaos))),
        ]
    )


# -- gtag ---------------------------------------------------------------------------------------------

# a real TC string (IAB TCF v2.2), and the ways one can be wrong
VALID_TC = (
    "CQbwIj_QgVeAAEs___DEBYE0ALCAAAEgAIYgXcQA4FeAWCBdwF3ARXQAwAyAPnBFcAIEgBAAKAAYPAAwABAAYEACAApArwCvQwAGApoEVgAA"
)
TC_STRINGS = (
    "",
    "C",
    "CP",
    VALID_TC[:40],
    VALID_TC + ".YAAAAAAAAAA",
    "!!!!",
    "\u00e9" * 30,
    "A" * 5000,
    "CP%%",
    "\x00",
)
tc_strings = st.one_of(
    st.sampled_from((VALID_TC, *TC_STRINGS)),
    st.text(st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.+/="), max_size=120),
    wild_text,
)


# gtag parameters: (name, plausible values, odd values); a callable makes them per request (canary n)
def _gtag_table(n: int) -> list[tuple[str, tuple[str, ...], tuple[str, ...]]]:
    email = canary_email(n)
    return [
        ("v", ("2",), ("1", "", "22")),
        ("tid", (MEASUREMENT_ID,), ("G-dev", "G-UNKNOWN", email, "")),
        ("cid", (f"{n}.1795515300",), (email, "")),
        ("uid", (email, "u-1"), ()),
        ("en", ("page_view", "purchase", "scroll", "sign_up"), ("1bad", "x" * 101, "", "page view")),
        ("_p", ("1795515300123",), ("", "x")),
        ("_s", ("1", "2"), ("0", "-1")),
        ("sid", ("1795515300",), ("", "abc")),
        ("sct", ("3",), ("-1", "9" * 20, "x")),
        ("seg", ("1", "0"), ("x",)),
        ("_et", ("5120",), ("1e5", "-1")),
        ("gcs", ("G111", "G100", "G110", "G101"), ("G1--", "G1", "G11111")),
        ("gcd", ("13r3r3r3r5", "11t1t1t1t5", "13p3p3p3p5"), ("1", "1" * 100, "\u00e9" * 9)),
        ("npa", ("0", "1"), ("x",)),
        ("dma", ("0", "1"), ()),
        ("gdpr", ("0", "1"), ("x",)),
        ("gdpr_consent", (VALID_TC,), TC_STRINGS),
        ("us_privacy", ("1YNN",), ("1---", "x")),
        ("dl", (f"https://shop.example/p?email={email}", "https://shop.example/"), ("http://[::1", "http://[", "//x")),
        ("dr", ("https://www.search.example/", f"https://{CANARY_IP}/"), ("http://[",)),
        ("dt", ("Shoes | Shop",), ()),
        ("ul", ("en-gb",), ()),
        ("sr", ("1920x1080",), ("x", "99999999x1", "1920X1080")),
        ("cu", ("EUR",), ("",)),
        ("pr1", ("idSKU-1~nmShoes~pr89.90~qt1",), ("~~~", "pr1e999~qtNaN", "k0a~v0b~k1~v1", "idx" * 3000)),
        ("pr999", ("idA~nmB",), ("pr1000",)),
        ("uafvl", ("Chromium;131.0.6778.85|Not_A%20Brand;24.0.0.0",), ("|||", ";;", "%E0%A4%A")),
        ("uamb", ("0", "1"), ()),
        ("uap", ("Linux",), ()),
        ("_uip", (CANARY_IP,), ()),
        ("ep.email", (email,), ()),
        ("ep.note", (f"write to {email}",), ()),
        ("epn.value", ("89.9", "-1", "0"), ("NaN", "1e999", "-inf", "0x10", "1_000", "\u0661", "9" * 400, "x")),
        ("up.plan", ("pro",), ()),
        ("upn.ltv", ("1",), ("x", "inf")),
        (f"ep.{email}", ("v",), ()),
        (f"epn.{email}", ("1",), ("x",)),
        ("cn", ("spring",), ()),
        ("cs", (email,), ()),
    ]


@st.composite
def gtag_params(draw: st.DrawFn, n: int, chaos: int, *, in_line: bool = True) -> list[tuple[str, str]]:
    """One gtag event's parameters: the plausible ones at chaos 0; odd values and keys above it."""
    out: list[tuple[str, str]] = []
    for name, good, odd in _gtag_table(n):
        roll = draw(st.integers(0, 9))
        if name in ("v", "tid", "en"):
            roll = 0 if chaos == 0 or roll <= 7 else roll
        if roll <= 2 or (chaos == 0 and roll <= 4):
            choices = good if chaos == 0 or not odd or draw(st.integers(0, 3)) else odd
            out.append((name, draw(st.sampled_from(choices))))
        elif roll == 9 and chaos == 2:
            out.append((name, draw(adversarial_text(n, in_line=in_line))))
    if chaos:
        odd_pair = st.tuples(st.one_of(texts, adversarial_text(n, in_line=True)), adversarial_text(n, in_line=in_line))
        out += draw(st.lists(odd_pair, max_size=3))
    return out


@st.composite
def mutated_params(
    draw: st.DrawFn, pairs: list[tuple[str, str]], n: int, *, in_line: bool = True
) -> list[tuple[str, str]]:
    """Well-formed gtag parameters with one to three defects: an odd or adversarial value, an odd
    parameter added, one removed or repeated."""
    table = {name: good + odd for name, good, odd in _gtag_table(n)}
    out = list(pairs)
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(("odd", "odd", "text", "add", "drop", "repeat")))
        if kind in ("drop", "repeat") and out:
            i = draw(st.integers(0, len(out) - 1))
            out = out[:i] + out[i + 1 :] if kind == "drop" else [*out, out[i]]
            continue
        name = draw(st.sampled_from(sorted(table)))
        if kind == "odd":
            value = draw(st.sampled_from(table[name]))
        elif kind == "text":
            value = draw(adversarial_text(n, in_line=in_line))
        else:
            name = draw(adversarial_text(n, in_line=True))
            value = draw(st.one_of(texts, adversarial_text(n, in_line=in_line)))
        out = [(k, v) for k, v in out if k != name] + [(name, value)]
    return out


def encode_query(pairs: list[tuple[str, str]], style: str) -> str:
    if style == "raw":  # as typed, unescaped
        return "&".join(f"{k}={v}" for k, v in pairs)
    text = "&".join(
        f"{quote(k, safe='', errors='surrogatepass')}={quote(v, safe='', errors='surrogatepass')}" for k, v in pairs
    )
    if style == "garbled":
        return text + "&%ZZ=%E0%A4&%C0%AF=1&&=&" + "%" * 3
    return text


def parsed_query(raw: str) -> dict[str, str] | None:
    """``queryStringParameters`` as API Gateway makes it: repeated names joined with commas."""
    out: dict[str, str] = {}
    for k, v in parse_qsl(raw, keep_blank_values=True, errors="replace"):
        out[k] = f"{out[k]},{v}" if k in out else v
    return out or None


@st.composite
def gtag_body(draw: st.DrawFn, n: int, chaos: int) -> str:
    """A batched ``/g/collect`` body: one event per line."""
    lines = draw(st.lists(gtag_params(n, 0 if chaos == 1 else chaos, in_line=False), max_size=4))
    if chaos == 1 and lines:
        i = draw(st.integers(0, len(lines) - 1))
        lines[i] = draw(mutated_params(lines[i], n, in_line=False))
    styles = ("encoded",) if chaos == 0 else ("encoded", "encoded", "raw", "garbled")
    text = "\n".join(encode_query(p, draw(st.sampled_from(styles))) for p in lines)
    roll = draw(st.integers(0, 9)) if chaos else 9
    if roll == 0:
        text = text.replace("\n", "\r\n") + "\n\n\r\n"
    elif roll == 1:  # too many lines, or one over 32 KB
        text = "\n".join([f"en=e{i}&_s={i}" for i in range(draw(st.sampled_from((2500, 2501))))])
    elif roll == 2:
        text = "en=big&ep.x=" + "a" * 33_000
    elif roll == 3:
        text = "&".join(f"ep.k{i}=v" for i in range(draw(st.sampled_from((499, 500, 501, 5000)))))
    return text


# -- bodies on the wire ------------------------------------------------------------------------------


@cache
def gzip_bomb() -> bytes:
    return gzip.compress(b"\x00" * 20_000_000, compresslevel=9)  # ~20 KB inflating to 20 MB


@cache
def json_gzip_bomb() -> bytes:
    return gzip.compress(b'{"batch":[' + b'{"type":"track","event":"e","anonymousId":"a"},' * 20_000 + b"{}]}")


@dataclass(frozen=True)
class Wire:
    body: str | None
    is_base64: bool
    headers: dict[str, str]
    note: str


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@st.composite
def wire(draw: st.DrawFn, text: str, chaos: int) -> Wire:
    """``text`` (JSON or gtag lines) as API Gateway could deliver it: well (chaos 0), or not."""
    if chaos == 0:
        mode = draw(st.sampled_from(("text", "text", "base64", "gzip", "gzip-multi")))
    else:
        mode = draw(
            st.sampled_from(
                (
                    "text",
                    "text",
                    "text",
                    "base64",
                    "base64-junk",
                    "base64-unflagged",
                    "gzip",
                    "gzip",
                    "gzip-unlabelled",
                    "gzip-truncated",
                    "gzip-multi",
                    "gzip-trailing",
                    "gzip-bomb",
                    "gzip-json-bomb",
                    "zlib-as-gzip",
                    "gzip-as-text",
                    "bytes",
                    "absent",
                )
            )
        )
    encodings = st.sampled_from(("gzip", "GZIP", " gzip ", "gzip\t"))
    raw = text.encode("utf-8", "surrogatepass")
    if mode == "text":
        return Wire(text, False, {}, mode)
    if mode == "base64":
        return Wire(b64(raw), True, {}, mode)
    if mode == "base64-junk":
        junk = draw(
            st.sampled_from(("!!!!", "QUJD=", "QQ", "QUJD" * 3 + "=" * 5, "QU\x00JD", "\u00e9\u00e9\u00e9\u00e9"))
        )
        return Wire(b64(raw)[: draw(st.integers(0, 40))] + junk, True, {}, mode)
    if mode == "base64-unflagged":
        return Wire(b64(raw), False, {}, mode)
    if mode == "gzip":
        return Wire(b64(gzip.compress(raw)), True, {"content-encoding": draw(encodings)}, mode)
    if mode == "gzip-unlabelled":
        return Wire(b64(gzip.compress(raw)), True, {}, mode)
    if mode == "gzip-truncated":
        packed = gzip.compress(raw)
        return Wire(
            b64(packed[: draw(st.integers(0, max(0, len(packed) - 1)))]), True, {"content-encoding": "gzip"}, mode
        )
    if mode == "gzip-multi":
        half = len(raw) // 2
        packed = gzip.compress(raw[:half]) + gzip.compress(raw[half:])
        return Wire(b64(packed), True, {"content-encoding": "gzip"}, mode)
    if mode == "gzip-trailing":
        tail = draw(st.sampled_from((b"\x00", b"garbage", b"\x1f\x8b", b"\x1f\x8b\x08\x00")))
        return Wire(b64(gzip.compress(raw) + tail), True, {"content-encoding": "gzip"}, mode)
    if mode == "gzip-bomb":
        return Wire(b64(gzip_bomb()), True, {"content-encoding": "gzip"}, mode)
    if mode == "gzip-json-bomb":
        return Wire(b64(json_gzip_bomb()), True, {"content-encoding": "gzip"}, mode)
    if mode == "zlib-as-gzip":
        return Wire(b64(zlib.compress(raw)), True, {"content-encoding": "gzip"}, mode)
    if mode == "gzip-as-text":  # binary bytes carried as text, not flagged base64
        return Wire(gzip.compress(raw).decode("latin-1"), False, {"content-encoding": "gzip"}, mode)
    if mode == "bytes":  # bad encodings of the same text
        prefix = draw(
            st.sampled_from(
                (
                    b"",
                    b"\xef\xbb\xbf",
                    b"\xff\xfe",
                    b"\xfe\xff",
                    b"\x00",
                    b"\xc0\xaf",
                    b"\xed\xa0\x80",
                    b"\xf8\x88\x80\x80\x80",
                )
            )
        )
        how = draw(st.sampled_from(("prefix", "utf-16", "utf-32", "latin-1", "overlong", "nul", "cut")))
        if how == "utf-16":
            data = text.encode("utf-16", "surrogatepass")
        elif how == "utf-32":
            data = text.encode("utf-32", "surrogatepass")
        elif how == "latin-1":
            data = text.encode("latin-1", "replace")
        elif how == "overlong":
            data = raw.replace(b'"', b"\xc0\xa2", 1)
        elif how == "nul":
            data = raw.replace(b":", b"\x00:", 1)
        elif how == "cut":
            data = raw[: max(0, len(raw) - 1)]
        else:
            data = raw
        return Wire(b64(prefix + data), True, {}, f"{mode}-{how}")
    return Wire(draw(st.sampled_from((None, "", " "))), draw(st.booleans()), {}, mode)


# -- headers, query, request context ------------------------------------------------------------------


@st.composite
def authorization(draw: st.DrawFn, n: int, chaos: int) -> str | None:
    good = b64(f"{WRITE_KEY}:".encode())
    if chaos == 0:
        return draw(st.sampled_from((f"Basic {good}", f"Basic {good}", f"basic {good}")))
    variants = (
        None,
        f"Basic {good}",
        f"Basic {good}",
        f"Basic {good}",
        f"basic {good}",
        f"Basic {b64(WRITE_KEY.encode())}",  # no colon
        f"Basic {b64(f'{canary_email(n)}:pw'.encode())}",
        "Basic " + b64(b"\xff\xfe:\x00"),
        "Basic " + b64(f"{WRITE_KEY}\u00e9:".encode("latin-1")),
        "Basic !!!junk!!!",
        "Basic \u00e9\u00e9\u00e9",
        "Basic",
        "Basic ",
        f"Bearer {WRITE_KEY}",
        "Basic " + "QUFB" * 2500,
    )
    return draw(st.sampled_from(variants))


CONTENT_TYPES = (
    "application/json",
    "text/plain;charset=UTF-8",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "application/json; charset=utf-16",
    "",
    "\u00e9/\u00e9",
    "application/json" + ";" * 9000,
)
ORIGINS = (ORIGIN, "http://localhost:3000", "https://evil.example", "null", "", "http://{email}", "\u00e9" * 9)


@st.composite
def headers_for(draw: st.DrawFn, n: int, chaos: int, method: str, wired: Wire | None) -> dict[str, str]:
    headers: dict[str, str] = {
        "host": "abc123.execute-api.eu-west-1.amazonaws.com",
        "user-agent": draw(st.sampled_from(USER_AGENTS[:6] if chaos == 0 else USER_AGENTS)),
    }
    if wired is not None:
        headers.update(wired.headers)
    ctype = draw(st.sampled_from((None, *(CONTENT_TYPES[:2] if chaos == 0 else CONTENT_TYPES))))
    if ctype is not None:
        headers["content-type"] = ctype
    auth = draw(authorization(n, chaos))
    if auth is not None:
        headers["authorization"] = auth
    origins = ORIGINS[:2] if chaos == 0 else ORIGINS
    origin = draw(st.sampled_from((None, None, *origins)))
    if origin is not None or method == "OPTIONS":
        headers["origin"] = (origin or ORIGIN).format(email=canary_email(n))
    if draw(st.booleans()):
        headers["x-forwarded-for"] = draw(st.sampled_from(FORWARDED_FOR))
    if draw(st.integers(0, 3)) == 0:
        headers["cloudfront-viewer-country"] = draw(st.sampled_from(("DE", "xx", "\u00c4\u00c4", "", "D E")))
    if draw(st.integers(0, 3)) == 0:
        headers["cloudfront-viewer-address"] = draw(st.sampled_from(VIEWER_ADDRESSES))
    if method == "OPTIONS":
        headers["access-control-request-method"] = draw(st.sampled_from(("POST", "GET", "DELETE", "")))
        headers["access-control-request-headers"] = "authorization,content-type"
    if chaos == 0:
        return headers
    if draw(st.integers(0, 5)) == 0:  # odd encodings
        encodings = ("br", "deflate", "identity", "", "gzip, gzip", "x-gzip", "gzip\x00", "\uff47zip")
        headers["content-encoding"] = draw(st.sampled_from(encodings))
    odd = st.tuples(st.one_of(texts, adversarial_text(n, in_line=True)), adversarial_text(n, in_line=True))
    for name, value in draw(st.lists(odd, max_size=2 if chaos == 2 else 1)):
        headers[name] = value
    if draw(st.integers(0, 7)) == 0:  # names not lower-cased, as a direct invoke could send them
        headers = {k.upper() if k != "host" else k: v for k, v in headers.items()}
    return headers


FORWARDED_FOR = (
    CANARY_IP,
    f"{CANARY_IP}, 10.0.0.1",
    f" {CANARY_IP} ,",
    "2001:db8::77, 10.0.0.1",
    "[2001:db8::1]:443",
    f"{CANARY_IP}:8080",
    "unknown",
    ", , ,",
    "garbage, ,",
    "\u00e9" * 200,
    "1" * 9000,
    "::1",
)
VIEWER_ADDRESSES = (
    f"{CANARY_IP}:46532",
    "2001:db8::77:443",
    "[2001:db8::77]:443",
    CANARY_IP,
    ":",
    "garbage:12",
    "\u00e9" * 200,
)
SOURCE_IPS = (
    "203.0.113.77",
    CANARY_IP,
    "2001:db8::1",
    "::ffff:198.51.100.77",
    "fe80::1%eth0",
    "",
    "not-an-ip",
    "999.999.999.999",
    "198.051.100.077",
    "0",
    "::",
    "1.2.3.4.5",
    "\uff11.\uff12.\uff13.\uff14",
    "198.51.100.77\x00",
    "[::1]",
    "198.51.100.77:443",
    "a" * 1000,
)


def api_event(
    *,
    method: str,
    path: str,
    headers: dict[str, str],
    raw_query: str,
    query: dict[str, str] | None,
    wired: Wire | None,
    source_ip: str,
    request_id: str | None = "fuzz-request",
    time_epoch: int | None = 1795515302000,
) -> dict[str, Any]:
    """An HTTP API payload 2.0 event, as API Gateway builds them (optional keys left out when empty)."""
    route_key = "ANY /v1/{proxy+}" if path.startswith("/v1/") else "ANY /beacon/v1/{proxy+}"
    if path == "/g/collect":
        route_key = f"{method} /g/collect"
    context: dict[str, Any] = {
        "accountId": "123456789012",
        "apiId": "abc123",
        "domainName": "abc123.execute-api.eu-west-1.amazonaws.com",
        "domainPrefix": "abc123",
        "http": {
            "method": method,
            "path": path,
            "protocol": "HTTP/1.1",
            "sourceIp": source_ip,
            "userAgent": headers.get("user-agent", ""),
        },
        "routeKey": route_key,
        "stage": "$default",
        "time": "24/Nov/2026:10:15:02 +0000",
    }
    if request_id is not None:
        context["requestId"] = request_id
    if time_epoch is not None:
        context["timeEpoch"] = time_epoch
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": raw_query,
        "headers": headers,
        "requestContext": context,
        "isBase64Encoded": wired.is_base64 if wired else False,
    }
    if query:
        event["queryStringParameters"] = query
    if path.startswith(("/v1/", "/beacon/v1/")):
        event["pathParameters"] = {"proxy": path.split("/v1/", 1)[1]}
    if wired is not None and wired.body is not None:
        event["body"] = wired.body
    return event


# -- whole requests -------------------------------------------------------------------------------------

SEGMENT_ROUTES = ("track", "page", "screen", "identify", "group", "alias", "t", "p", "s", "i", "g", "a")
IMPLIED = dict(zip(SEGMENT_ROUTES, EVENT_TYPES * 2, strict=True))
BATCH_PATHS = ("/v1/batch", "/v1/b", "/beacon/v1/batch")
ODD_PATHS = (
    "/v1/",
    "/v1/unknown",
    "/v1/track/extra",
    "/v1/TRACK",
    "/v1/%74rack",
    "/v1/track%00",
    "/v1/..%2Fbatch",
    "/v1/" + "x" * 8000,
    "/v1/\u00e9",
    "/beacon/v1/track",
    "/beacon/v1/batch/",
    "/g/collect/",
    "/g/COLLECT",
)
FAMILIES = ("segment", "batch", "gtag", "consent", "preflight", "odd")
# how often each family is drawn, relative to the others
FAMILY_WEIGHTS = ("segment",) * 3 + ("batch",) * 2 + ("gtag",) * 3 + ("consent", "preflight", "odd")


@dataclass(frozen=True)
class FuzzRequest:
    family: str
    route: str  # "METHOD /path", for the figures
    note: str  # how the body travelled
    depth: int  # the deepest JSON nesting planted in it
    event: dict[str, Any] = field(repr=False)
    chaos: int = 0
    trusted_proxy: str = "none"  # the deployment's TrustedProxy (none, cloudfront, hops:N)

    def __repr__(self) -> str:  # what Hypothesis prints for a falsifying example: a replayable event
        return f"FuzzRequest({self.route!r}, note={self.note!r}, event={json.dumps(self.event)[:4000]})"


def _defect(draw: st.DrawFn, chaos: int) -> int:
    """The chaos level for one part of a request: at chaos 1, now and then one part gets a defect."""
    return 2 if chaos == 2 or (chaos == 1 and draw(st.integers(0, 9)) == 3) else 0


def _route_and_body(draw: st.DrawFn, family: str, n: int, chaos: int) -> tuple[str, str, Any, list[tuple[str, str]]]:
    """Method, path, JSON body (or None) and query parameters of a request of ``family``."""
    base = 0 if chaos == 1 else chaos  # chaos 1: a clean request first, then its defects
    body: Any = None
    pairs: list[tuple[str, str]] = []
    if family == "segment":
        route = draw(st.sampled_from(SEGMENT_ROUTES))
        method, path = "POST", f"/v1/{route}"
        one = segment_event(n, base, IMPLIED[route])
        body = draw(one if chaos < 2 else st.one_of(one, one, segment_event(n, chaos), json_values(n), deep()))
    elif family == "batch":
        method, path = "POST", draw(st.sampled_from(BATCH_PATHS))
        batch = batch_body(n, base)
        body = draw(batch if chaos < 2 else st.one_of(batch, batch, json_values(n), deep()))
    elif family == "consent":
        method, path = "POST", "/v1/consent"
        receipt = consent_body(n, base)
        body = draw(receipt if chaos < 2 else st.one_of(receipt, receipt, json_values(n), deep()))
    elif family == "gtag":
        method, path = draw(st.sampled_from(("GET", "POST"))), "/g/collect"
        pairs = draw(gtag_params(n, base))
        if chaos == 1 and (method == "GET" or draw(st.booleans())):
            pairs = draw(mutated_params(pairs, n))
    elif family == "preflight":
        method = "OPTIONS"
        path = draw(st.sampled_from((*[f"/v1/{r}" for r in SEGMENT_ROUTES], *BATCH_PATHS, "/v1/consent", "/g/collect")))
    else:
        method = draw(st.sampled_from(("GET", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "POST", "post", "TRACE")))
        path = draw(st.sampled_from((*ODD_PATHS, "/v1/track", "/v1/batch", "/beacon/v1/batch", "/g/collect")))
        body = draw(st.one_of(st.none(), segment_event(n, base), json_values(n)))
    if body is not None and family in ("segment", "batch", "consent"):
        if chaos == 1:
            body = draw(mutated(body, n))
        elif chaos == 2 and draw(st.integers(0, 5)) == 0:  # deep nesting inside an otherwise valid event
            spot = draw(st.sampled_from(("properties", "context", "traits", "batch")))
            inner = draw(deep())
            event = body if isinstance(body, Obj) else obj(type="track", event="e", anonymousId=f"a-{n}")
            kept = [(k, v) for k, v in event.pairs if k != spot]
            body = Obj((*kept, (spot, [inner] if spot == "batch" else inner)))
    return method, path, body, pairs


@st.composite
def requests(draw: st.DrawFn, families: tuple[str, ...] = FAMILIES) -> FuzzRequest:
    """One API Gateway event for a route of ``families``. ``chaos`` (drawn) sets how broken it is:
    0 well-formed with the dev key (it gets through to the queues); 1 well-formed but for one to
    three defects (in the body, a parameter, a header or the transport), which lets them reach the
    deep stages; 2 wild."""
    family = draw(st.sampled_from([f for f in FAMILY_WEIGHTS if f in families]))
    chaos = draw(st.sampled_from((0, 1, 1, 1, 2)))
    n = draw(st.integers(0, 999_999))
    method, path, body, pairs = _route_and_body(draw, family, n, chaos)
    wired: Wire | None = None
    depth = 0
    if body is not None:
        depth = depth_of(body)
        text = dumps(body, ascii_only=draw(st.booleans()))[:MAX_BODY_CHARS]
        wired = draw(wire(text, _defect(draw, chaos)))
    elif family == "gtag" and method == "POST":
        wired = draw(wire(draw(gtag_body(n, chaos)), _defect(draw, chaos)))
    if family != "gtag" and draw(st.integers(0, 2)) == 0:
        keys = (WRITE_KEY,) if _defect(draw, chaos) == 0 else (WRITE_KEY, canary_email(n), "", "x" * 8000)
        pairs = [("writeKey", draw(st.sampled_from(keys)))]
        if family == "preflight" and draw(st.booleans()):
            pairs = [("tid", draw(st.sampled_from((MEASUREMENT_ID, "G-UNKNOWN", canary_email(n)))))]
    styles = ("encoded",) if _defect(draw, chaos) == 0 else ("encoded", "encoded", "raw", "garbled")
    raw_query = encode_query(pairs, draw(st.sampled_from(styles)))
    query = parsed_query(raw_query)
    if chaos == 2 and draw(st.integers(0, 9)) == 0:  # only the raw query string
        query = None
    event = api_event(
        method=method,
        path=path,
        headers=draw(headers_for(n, _defect(draw, chaos), method.upper(), wired)),
        raw_query=raw_query,
        query=query,
        wired=wired,
        source_ip=draw(st.sampled_from(SOURCE_IPS[:4] if _defect(draw, chaos) == 0 else SOURCE_IPS)),
        request_id=draw(st.sampled_from(("fuzz-request", "fuzz-request", ""))),
        time_epoch=draw(st.sampled_from((1795515302000, 1795515302000, 0))),
    )
    if chaos == 2 and draw(st.integers(0, 4)) == 0:  # the optional parts API Gateway may add or leave out
        event.pop("pathParameters", None)
        event["cookies"] = draw(st.lists(adversarial_text(n, in_line=True), max_size=3))
    trusted = draw(st.sampled_from(("hops:1", "hops:2", "cloudfront"))) if draw(st.integers(0, 3)) == 0 else "none"
    note = wired.note if wired else "no body"
    return FuzzRequest(family, f"{method} {path[:40]}", note, depth, event, chaos, trusted)


# -- the function under test ---------------------------------------------------------------------------


class FakeContext:
    function_name = "fuzz"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:fuzz"
    aws_request_id = "fuzz-request"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 30_000  # the template's forwarder timeout: the forwarder's deadline stop reads it


@dataclass
class Outcome:
    response: Any
    raised: str | None  # traceback of an exception the handler let out
    unexpected: str | None  # traceback of an exception the handler's catch-all turned into a 500
    logs: str
    sqs_refused: int = 0  # messages real SQS would have refused (InvalidMessageContents)

    @property
    def status(self) -> int | None:
        if isinstance(self.response, dict) and isinstance(self.response.get("statusCode"), int):
            status: int = self.response["statusCode"]
            return status
        return None


def problems(outcome: Outcome) -> list[str]:
    """What is wrong with an answer: an empty list when nothing is."""
    found: list[str] = []
    if outcome.raised:
        found.append(f"handler raised:\n{outcome.raised}")
    if outcome.unexpected:
        found.append(f"unhandled exception (answered 500):\n{outcome.unexpected}")
    response = outcome.response
    if outcome.raised is None:
        status = outcome.status
        if status is None:
            found.append(f"no integer statusCode in {response!r:.300}")
        elif status >= 500:
            why = " (real SQS refuses the message: InvalidMessageContents)" if outcome.sqs_refused else ""
            logged = sorted(set(re.findall(r'"error_types?":\s*\[?"(\w+)"', outcome.logs)))
            why += f" (logged error types: {', '.join(logged)})" if logged else ""
            found.append(f"status {status}{why}: {response.get('body')!r:.300}")
        body = response.get("body") if isinstance(response, dict) else None
        headers = (response.get("headers") or {}) if isinstance(response, dict) else {}
        script = str(headers.get("Content-Type", "")).startswith("text/javascript")  # GET /fairtrack.js
        if body and not script:
            try:
                json.loads(body)
            except (TypeError, ValueError):
                found.append(f"body is not JSON: {body!r:.300}")
        shown = json.dumps(response, default=str)
        if CANARY.search(shown):
            found.append(f"answer echoes a planted secret: {shown[:300]}")
    if CANARY.search(outcome.logs):
        line = next((ln for ln in outcome.logs.splitlines() if CANARY.search(ln)), "")
        found.append(f"logs hold a planted secret: {line[:300]}")
    return found


class SqsOracle:
    """Refuses what real SQS refuses and moto accepts: characters outside SQS's allowed set."""

    def __init__(self) -> None:
        self.refused = 0

    def __call__(self, params: dict[str, Any], **_: Any) -> None:
        from botocore.exceptions import ClientError as BotoClientError

        texts = [params.get("MessageBody", "")]
        texts += [a.get("StringValue", "") for a in (params.get("MessageAttributes") or {}).values()]
        if any(SQS_INVALID.search(t) for t in texts):
            self.refused += 1
            error: Any = {"Error": {"Code": "InvalidMessageContents", "Message": "Invalid binary character"}}
            raise BotoClientError(error, "SendMessage")


class Harness:
    """The ingest function loaded once, against moto, with the template's environment."""

    def __init__(self) -> None:
        self.module: ModuleType | None = None
        self.context = FakeContext()
        self.oracle = SqsOracle()
        self._saved_env: dict[str, str] = {}
        self._mock: Any = None
        self._cloud: Any = None
        self._unexpected: list[str] = []
        self._logs = io.StringIO()
        self._log_handler: Any = None
        self._log_stream: Any = None
        self.invocations = 0

    def start(self) -> Harness:
        self._saved_env = dict(os.environ)
        os.environ.update(
            {
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_SESSION_TOKEN": "testing",
                "AWS_DEFAULT_REGION": "us-east-1",
                "AWS_REGION": "us-east-1",
            }
        )
        for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
            os.environ.pop(name, None)
        from aws_lambda_powertools.utilities import parameters
        from moto import mock_aws

        from fairtrack import settings
        from fairtrack_tools.local.localcloud import LocalCloud

        self._mock = mock_aws()
        self._mock.start()
        self._cloud = LocalCloud(embedded=False).start()
        spec = self._cloud.functions()["IngestFunction"]
        os.environ.update(spec.environment)
        settings.ingest_settings.cache_clear()
        parameters.clear_caches()  # type: ignore[no-untyped-call]
        path = spec.code_dir / (spec.handler.rsplit(".", 1)[0] + ".py")
        module_spec = importlib.util.spec_from_file_location("_fuzzed_ingest_handler", path)
        assert module_spec is not None and module_spec.loader is not None
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[module_spec.name] = module
        module_spec.loader.exec_module(module)
        self.module = module
        # record the traceback of anything the catch-all handler turns into a 500
        catch_all = module.unexpected_error

        def record(exc: Exception) -> Any:
            self._unexpected.append("".join(traceback.format_exception(exc)))
            return catch_all(exc)

        module.app.exception_handler(Exception)(record)
        module.ingestor.sender.client.meta.events.register("provide-client-params.sqs.SendMessage", self.oracle)
        # the function's log lines, kept per request to look for planted secrets
        from fairtrack.observability import logger

        self._log_handler = logger.registered_handler
        self._log_stream = self._log_handler.setStream(self._logs)
        return self

    def stop(self) -> None:
        from aws_lambda_powertools.utilities import parameters

        from fairtrack import settings

        if self._log_handler is not None:
            self._log_handler.setStream(self._log_stream)
        if self._cloud is not None:
            self._cloud.stop()
        if self._mock is not None:
            self._mock.stop()
        sys.modules.pop("_fuzzed_ingest_handler", None)
        if self._saved_env:
            os.environ.clear()
            os.environ.update(self._saved_env)
        settings.ingest_settings.cache_clear()
        parameters.clear_caches()  # type: ignore[no-untyped-call]

    def invoke(self, event: dict[str, Any], *, trusted_proxy: str = "none") -> Outcome:
        """Handle ``event`` as a deployment whose ``TrustedProxy`` is ``trusted_proxy`` would (under
        ``cloudfront``, past the origin-verify check, which the harness's handler does not install)."""
        assert self.module is not None
        ingestor = self.module.ingestor
        if ingestor.settings.trusted_proxy != trusted_proxy:
            ingestor.settings = ingestor.settings.model_copy(update={"trusted_proxy": trusted_proxy})
        self._unexpected.clear()
        refused = self.oracle.refused
        self._logs.seek(0)
        self._logs.truncate()
        printed = io.StringIO()  # the EMF metrics lines
        response: Any = None
        raised = None
        with contextlib.redirect_stdout(printed), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Powertools' "no application metrics" on refused requests
            try:
                response = self.module.handler(event, self.context)
            except Exception:  # noqa: BLE001 - the very thing looked for
                raised = traceback.format_exc()
        self.invocations += 1
        if self.invocations % 500 == 0:
            self.purge_queues()
        unexpected = "\n".join(self._unexpected) or None
        logs = self._logs.getvalue() + printed.getvalue()
        return Outcome(response, raised, unexpected, logs, self.oracle.refused - refused)

    def purge_queues(self) -> None:
        """Keeps moto's memory flat on long runs: nothing reads the queues."""
        sqs = self._cloud.client("sqs")
        for url in sqs.list_queues().get("QueueUrls", []):
            sqs.purge_queue(QueueUrl=url)

    def run(self, request: FuzzRequest) -> Outcome:
        return self.invoke(request.event, trusted_proxy=request.trusted_proxy)


@contextlib.contextmanager
def running() -> Iterator[Harness]:
    """A started :class:`Harness`, stopped (moto, environment, log stream restored) on the way out."""
    harness = Harness()
    try:
        yield harness.start()
    finally:
        harness.stop()


# -- the long run -----------------------------------------------------------------------------------------


@dataclass
class Figures:
    started: float = field(default_factory=time.monotonic)
    requests: int = 0
    statuses: Counter[int | None] = field(default_factory=Counter)
    routes: Counter[str] = field(default_factory=Counter)
    notes: Counter[str] = field(default_factory=Counter)
    chaos: Counter[int] = field(default_factory=Counter)
    max_depth: int = 0
    max_body: int = 0
    exceptions: int = 0
    server_errors: int = 0
    leaks: int = 0
    failures: Counter[str] = field(default_factory=Counter)  # signature -> count
    known: dict[str, str] = field(default_factory=dict)  # signature -> known bug key

    def add(self, request: FuzzRequest, outcome: Outcome, found: list[str]) -> str | None:
        """Count one request; the failure's signature when it is a new one."""
        self.requests += 1
        self.statuses[outcome.status] += 1
        self.routes[request.route] += 1
        self.notes[request.note] += 1
        self.chaos[request.chaos] += 1
        self.max_depth = max(self.max_depth, request.depth)
        self.max_body = max(self.max_body, len(request.event.get("body") or ""))
        if outcome.raised or outcome.unexpected:
            self.exceptions += 1
        if outcome.status is not None and outcome.status >= 500:
            self.server_errors += 1
        if any("planted secret" in f for f in found):
            self.leaks += 1
        if not found:
            return None
        signature = failure_signature(found)
        new = signature not in self.failures
        self.failures[signature] += 1
        bug = known_bug(found)
        if bug is not None:
            self.known[signature] = bug.key
        return signature if new else None

    @property
    def failed(self) -> bool:
        return bool(self.failures)

    def report(self) -> str:
        elapsed = time.monotonic() - self.started
        statuses = ", ".join(f"{k}: {v}" for k, v in sorted(self.statuses.items(), key=lambda kv: str(kv[0])))
        busiest = ", ".join(f"{r}: {c}" for r, c in self.routes.most_common(8))
        lines = [
            f"requests run:      {self.requests} in {elapsed:.1f} s ({self.requests / max(elapsed, 1e-9):.0f}/s)",
            f"distinct statuses: {len(self.statuses)} ({statuses})",
            f"routes:            {len(self.routes)} (busiest: {busiest})",
            f"body transports:   {dict(self.notes.most_common())}",
            f"chaos levels:      {dict(sorted(self.chaos.items()))} (0 clean, 1 one to three defects, 2 wild)",
            f"max depth reached: {self.max_depth}",
            f"largest body:      {self.max_body} characters",
            f"exceptions:        {self.exceptions}",
            f"5xx answers:       {self.server_errors}",
            f"secrets echoed:    {self.leaks}",
            f"distinct failures: {len(self.failures)}",
        ]
        for signature, count in self.failures.most_common():
            label = f" [known: {self.known[signature]}]" if signature in self.known else " [NEW]"
            lines.append(f"  {count:6d} x {signature}{label}")
        return "\n".join(lines)


def failure_signature(found: list[str]) -> str:
    """One line naming a failure: the exception and the innermost fairtrack frame (and the innermost
    frame, when it is elsewhere) of a traceback, or the problem's first line."""
    text = found[0]
    frames = re.findall(r'File "([^"]+)", line (\d+), in (\S+)', text)
    if not frames:
        return text.splitlines()[0][:200]
    last = text.strip().splitlines()[-1][:120]
    ours = [f for f in frames if "/fairtrack/" in f[0] or "/functions/" in f[0]]
    where = [ours[-1]] if ours else []
    if frames[-1] not in where:
        where.append(frames[-1])
    return f"{last} at " + " via ".join(f"{Path(file).name}:{line} ({func})" for file, line, func in where)


@dataclass(frozen=True)
class KnownBug:
    """A failure already reported, with its xfail(strict) test in tests/fuzz: the short CI run lets
    it pass (and counts it), the long run still reports it as a failure."""

    key: str
    summary: str
    markers: tuple[str, ...]  # all of them appear in the failure's text

    def matches(self, problem: str) -> bool:
        return all(marker in problem for marker in self.markers)


# Bugs this fuzzer found are fixed and pinned by tests in tests/fuzz (RudderStack consent ids that
# are not lists, gtag page URLs urllib cannot split, U+FFFE/U+FFFF on the way to SQS, unencodable
# headers in consent receipts, direct invokes without the request context). A newly found, not yet
# fixed bug is listed here while its test is marked xfail(strict=True).
KNOWN_BUGS: tuple[KnownBug, ...] = ()


def known_bug(found: list[str]) -> KnownBug | None:
    """The known bug every problem in ``found`` is, if there is one (the 500 an unhandled exception
    was answered with goes with the exception)."""
    if any(p.startswith("unhandled exception") for p in found):
        found = [p for p in found if not p.startswith("status 500")]
    bugs = {next((b for b in KNOWN_BUGS if b.matches(p)), None) for p in found}
    return bugs.pop() if len(bugs) == 1 and None not in bugs else None


class LongRun:
    """The long form: requests from :func:`requests` until the time is up, figures counted, one
    event per distinct failure written to ``artifacts``."""

    def __init__(self, seconds: float, artifacts: Path) -> None:
        self.seconds = seconds
        self.artifacts = artifacts
        self.figures = Figures()
        self.harness = Harness()
        self.deadline = 0.0

    def begin(self) -> None:
        self.artifacts.mkdir(parents=True, exist_ok=True)
        self.figures.started = time.monotonic()
        self.deadline = self.figures.started + self.seconds

    def one(self, request: FuzzRequest) -> None:
        outcome = self.harness.run(request)
        found = problems(outcome)
        figures = self.figures
        signature = figures.add(request, outcome, found)
        if signature is not None:
            name = self.artifacts / f"failure-{len(figures.failures):03d}.json"
            name.write_text(json.dumps({"problems": found, "route": request.route, "event": request.event}, indent=1))
            print(f"FAILURE {signature}\n  {request.route} ({request.note}), event saved as {name}", flush=True)
        if figures.requests % 1000 == 0:
            print(f"... {figures.requests} requests, {len(figures.failures)} distinct failures", flush=True)

    def finish(self) -> int:
        print(self.figures.report(), flush=True)
        if self.figures.failed:
            print(f"one failing event per distinct failure written to {self.artifacts}/", flush=True)
        return 1 if self.figures.failed else 0


def _per_round() -> Callable[[Callable[..., None]], Callable[..., None]]:
    from hypothesis import HealthCheck, Phase, settings

    # Hypothesis keeps what it learnt about a test's inputs in memory: rounds of a bounded size keep
    # a long run's memory flat
    made: Callable[[Callable[..., None]], Callable[..., None]] = settings(
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.generate],
        max_examples=1000,
    )
    return made


def run_hypothesis(run: LongRun, seed: int | None) -> int:
    """Rounds of 1000 random requests (each round its own seed) until the time is up."""
    from hypothesis import given
    from hypothesis.errors import HypothesisWarning

    warnings.filterwarnings("ignore", category=HypothesisWarning)  # "overly large repr": huge bodies are the point

    run.harness.start()
    run.begin()
    rounds = 0
    try:
        while time.monotonic() < run.deadline:

            @_per_round()
            @given(requests())
            def round_(request: FuzzRequest) -> None:
                run.one(request)
                if time.monotonic() > run.deadline:
                    raise _TimeUp

            if seed is not None:
                round_ = hypothesis_seed(seed + rounds)(round_)
            rounds += 1
            with contextlib.suppress(_TimeUp):
                round_()
    finally:
        run.harness.stop()
    return run.finish()


def run_atheris(run: LongRun, extra: list[str]) -> int:
    """libFuzzer (atheris) mutates the bytes Hypothesis draws its choices from, keeping the inputs
    that reach new code in fairtrack (instrumented as it is imported)."""
    from hypothesis import given

    atheris: Any = importlib.import_module("atheris")  # optional: pip install atheris

    @_per_round()
    @given(requests())
    def target(request: FuzzRequest) -> None:
        run.one(request)
        if time.monotonic() > run.deadline:
            code = run.finish()
            run.harness.stop()
            os._exit(code)  # libFuzzer never returns: leave with the figures printed

    with atheris.instrument_imports(include=["fairtrack"]):
        run.harness.start()
    run.begin()
    argv = [
        sys.argv[0],
        f"-max_total_time={int(run.seconds) + 120}",
        "-rss_limit_mb=6144",
        "-max_len=65536",
        "-len_control=0",
        *extra,
    ]
    atheris.Setup(argv, target.hypothesis.fuzz_one_input)  # type: ignore[attr-defined]
    atheris.Fuzz()
    return run.finish()  # not reached: libFuzzer exits the process


def long_run(seconds: float, *, use_atheris: bool, artifacts: Path, seed: int | None, extra: list[str]) -> int:
    """Fuzz for ``seconds``; print the figures; 1 on any failure (known bugs included), else 0."""
    run = LongRun(seconds, artifacts)
    return run_atheris(run, extra) if use_atheris else run_hypothesis(run, seed)


class _TimeUp(Exception):  # a signal, not an error
    pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m fairtrack_tools.proofs.fuzz",
        description="Fuzz the ingest handler in-process (moto): 0 exceptions, 0 5xx, no secret echoed.",
    )
    parser.add_argument("--seconds", type=float, default=600.0, help="how long to run (default 600)")
    parser.add_argument(
        "--atheris", action="store_true", help="coverage-guided: libFuzzer (atheris) drives the strategies"
    )
    parser.add_argument("--seed", type=int, default=None, help="Hypothesis seed (default: random)")
    default_artifacts = Path(tempfile.gettempdir()) / "fairtrack-fuzz"
    parser.add_argument(
        "--artifacts",
        type=Path,
        default=default_artifacts,
        help=f"where the failing events are written (default {default_artifacts})",
    )
    parser.add_argument("libfuzzer", nargs="*", help="with --atheris: extra libFuzzer arguments (after --)")
    args = parser.parse_args(argv)
    return long_run(
        args.seconds, use_atheris=args.atheris, artifacts=args.artifacts, seed=args.seed, extra=args.libfuzzer
    )


if __name__ == "__main__":
    sys.exit(main())
