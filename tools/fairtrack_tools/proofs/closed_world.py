"""Closed-world canary proof: personal data planted in every place a client can put a value.

``python -m fairtrack_tools.proofs.closed_world --hits 5000`` is the long form (``tests/proof/
test_closed_world.py`` runs a short one); it prints the report and exits non-zero on any leak or on
coverage below 100%.

Unlike :func:`fairtrack_tools.proofs.canary_report.run_canaries`, which plants where the team expected personal
data, the places here are derived from the code (:mod:`fairtrack_tools.proofs.closed_world_places`): every
field and key the Segment/RudderStack event model and the batch envelope accept at any depth, every
gtag parameter the adapter reads (found by running it on recording containers) and every header
ingest reads. Coverage is places planted (a planted value found again in the request that carried
it) over places derived, and must be 100%.

Each place gets values of every kind it takes (:data:`KINDS`, 19: e-mails plain, percent-encoded
once and three times, as an HTML entity, with a full-width at sign, in base64 with and without
padding and inside a JWT; phone numbers, plain and percent-encoded inside a URL; IPv4, IPv4 as a
URL path segment, IPv6, 6to4 and Teredo with distinct embedded IPv4 addresses; card numbers (Luhn),
IBANs (mod 97), street addresses, user ids), each value unique per place and hit, so a find names
its place. Whether a place takes a kind is asked of the adapter itself: a value it refuses goes into
a hit of its own (one refused place per hit), so most hits are valid and reach the destinations,
and the refused ones test the error answers.

Hits carry every consent state the policy distinguishes (every subset of its non-necessary purposes
through each signal family: Segment ``categoryPreferences``, RudderStack ``consentManagement``,
Google Consent Mode ``gcs``/``gcd`` and IAB TCF strings), no signal, and conflicting signals.

Then every surface :func:`~fairtrack_tools.proofs.canary_report.run_canaries` searches is searched here after
decoding (percent-decoding to depth 4, HTML entities, JSON escapes, NFKC, base64 and JWT segments;
IPv6 addresses parsed, and their embedded IPv4 compared): markers (``cnry`` + kind letter + tag)
for the kinds that carry text, digits for phones, cards and IBANs, addresses for IPs. **A leak** is
a planted value, or its decoded form, anywhere. One allowance: a find at a place whose catalogued
attribute declares a ``format`` (policies/default.yaml) that admits the planted value as it is
(``fairtrack.anonymise.formats.admits``) is listed as "admitted by format"; until both exist,
every find is a leak.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import html
import ipaddress
import json
import random
import re
import sys
import tempfile
import time
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, unquote_plus, urlencode

from fairtrack_tools.local.localcloud import DEV_MEASUREMENT_ID
from fairtrack_tools.proofs.canaries import PUBLIC_V4_FIRST_OCTETS
from fairtrack_tools.proofs.canary_report import collect_surfaces
from fairtrack_tools.proofs.closed_world_places import (
    BATCH,
    GTAG,
    HEADER,
    KEY,
    LIST,
    NESTED,
    NEW,
    SEGMENT,
    Place,
    all_places,
    default_policy,
    probe_ingestor,
)
from fairtrack_tools.proofs.evidence import Evidence
from fairtrack_tools.proofs.faults import FaultPlan
from fairtrack_tools.proofs.report import Check, text_table
from fairtrack_tools.proofs.stack import ProofStack
from fairtrack_tools.proofs.traffic import AUTH, NECESSARY, POLICY_FILE, Request, now_iso, send

# ------------------------------------------------------------------------------------------------
# Kinds of personal data, and the registry that remembers where each value went
# ------------------------------------------------------------------------------------------------

_TAG = "abcdefghijklmnopqrstuvwxyz234567"
MARKER = re.compile(r"cnry[a-z][a-z2-7]{8}", re.IGNORECASE)


@dataclass(frozen=True)
class Plant:
    kind: str
    place: str  # Place.name
    hit: int
    value: str  # as planted (text form)


@dataclass(frozen=True)
class Value:
    text: str
    number: int | None = None  # digit-only kinds: the same digits as a JSON number


class Registry:
    """Every planted value, indexed the ways a search finds it."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)  # noqa: S311 - a reproducible workload, not a secret
        self.markers: dict[str, Plant] = {}
        self.digits: dict[str, Plant] = {}  # phone (10), IBAN sort code + account (14), card (16)
        self.v4: dict[str, Plant] = {}
        self.v6: dict[str, Plant] = {}  # exploded
        self.plants: list[Plant] = []
        self._digit_lengths: set[int] = set()
        self.kind = ""  # the kind being made (set by make_value)

    def _remember(self, index: dict[str, Plant], key: str, plant: Plant) -> None:
        if not plant.kind:
            plant = Plant(self.kind, plant.place, plant.hit, plant.value)
        index[key] = plant
        self.plants.append(plant)

    def marker(self, letter: str, kind: str, place: str, hit: int, value: Callable[[str], str]) -> str:
        while True:
            token = f"cnry{letter}" + "".join(self.rng.choice(_TAG) for _ in range(8))
            if token not in self.markers:
                break
        text = value(token)
        self._remember(self.markers, token, Plant(kind, place, hit, text))
        return text

    def digit_run(self, kind: str, place: str, hit: int, make: Callable[[], tuple[str, str]]) -> str:
        while True:
            key, text = make()
            if key not in self.digits:
                break
        self._digit_lengths.add(len(key))
        self._remember(self.digits, key, Plant(kind, place, hit, text))
        return text

    def ipv4(self, kind: str, place: str, hit: int) -> str:
        while True:
            octets = [self.rng.choice(PUBLIC_V4_FIRST_OCTETS), *(self.rng.randint(1, 254) for _ in range(3))]
            ip = ".".join(map(str, octets))
            if ip not in self.v4:
                self._remember(self.v4, ip, Plant(kind, place, hit, ip))
                return ip

    def ipv6(self, kind: str, place: str, hit: int, head: str = "2a02") -> str:
        while True:
            ip = ":".join([head, *(f"{self.rng.randint(0x1000, 0xFFFF):x}" for _ in range(7))])
            exploded = ipaddress.IPv6Address(ip).exploded
            if exploded not in self.v6:
                self._remember(self.v6, exploded, Plant(kind, place, hit, ip))
                return ip

    def embedded_v6(self, kind: str, place: str, hit: int) -> str:
        """6to4 (2002:AABB:CCDD::/48 holds the IPv4) or Teredo (the client IPv4, inverted, in the
        last 32 bits); the embedded IPv4 is unique and registered too."""
        v4 = ipaddress.IPv4Address(self.ipv4(kind, place, hit))
        if kind == "ipv6_6to4":
            packed = int(v4).to_bytes(4, "big").hex()
            tail = [f"{self.rng.randint(0x1000, 0xFFFF):x}" for _ in range(5)]
            ip = str(ipaddress.IPv6Address(":".join(["2002", packed[:4], packed[4:], *tail])))
        else:
            server = ipaddress.IPv4Address("65.54.227.120")
            port = self.rng.randint(1024, 65535) ^ 0xFFFF
            ip = str(
                ipaddress.IPv6Address(
                    (0x20010000 << 96) | (int(server) << 64) | (0x8000 << 48) | (port << 32) | (int(v4) ^ 0xFFFFFFFF)
                )
            )
        self._remember(self.v6, ipaddress.IPv6Address(ip).exploded, Plant(kind, place, hit, ip))
        return ip


def _luhn_digit(body: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return str((10 - total % 10) % 10)


def _iban(bank: str, digits: str) -> str:
    bban = bank + digits
    numeric = "".join(str(int(c, 36)) for c in bban + "GB00")
    return f"GB{98 - int(numeric) % 97:02d}{bban}"


def _b64(text: str, *, url: bool = False, pad: bool = True) -> str:
    raw = (base64.urlsafe_b64encode if url else base64.b64encode)(text.encode()).decode()
    return raw if pad else raw.rstrip("=")


def _jwt(email: str) -> str:
    head = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}), url=True, pad=False)
    body = _b64(json.dumps({"sub": "42", "email": email, "iat": 1765000000}), url=True, pad=False)
    return f"{head}.{body}.{_b64('signature-not-checked', url=True, pad=False)}"


Maker = Callable[[Registry, str, int], Value]


def _email_kind(letter: str, wrap: Callable[[str], str]) -> Maker:
    def make(reg: Registry, place: str, hit: int) -> Value:
        return Value(reg.marker(letter, "", place, hit, lambda t: wrap(f"{t}@mail.example")))

    return make


def _phone(reg: Registry, place: str, hit: int) -> Value:
    def make() -> tuple[str, str]:
        n = f"{reg.rng.randrange(100000):05d}"
        return f"77009{n}", reg.rng.choice(["+44 7700 9{}", "+44-7700-9{}", "+447700 9{}"]).format(n)

    text = reg.digit_run("", place, hit, make)
    return Value(text, int("44" + re.sub(r"\D", "", text)[2:]))


def _phone_url(reg: Registry, place: str, hit: int) -> Value:
    def make() -> tuple[str, str]:
        n = f"{reg.rng.randrange(100000):05d}"
        return f"77009{n}", f"https://shop.example/call?to={quote('+447700' + '9' + n, safe='')}&x=1"

    return Value(reg.digit_run("", place, hit, make))


def _card(reg: Registry, place: str, hit: int) -> Value:
    def make() -> tuple[str, str]:
        body = "4" + "".join(reg.rng.choice("0123456789") for _ in range(14))
        number = body + _luhn_digit(body)
        sep = reg.rng.choice(["", " ", "-"])
        return number, sep.join(number[i : i + 4] for i in range(0, 16, 4))

    text = reg.digit_run("", place, hit, make)
    return Value(text, int(re.sub(r"\D", "", text)))


def _iban_kind(reg: Registry, place: str, hit: int) -> Value:
    def make() -> tuple[str, str]:
        digits = "".join(reg.rng.choice("0123456789") for _ in range(14))
        iban = _iban("NWBK", digits)
        spaced = " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))
        return digits, reg.rng.choice([iban, spaced])

    return Value(reg.digit_run("", place, hit, make))


def _street(reg: Registry, place: str, hit: int) -> Value:
    n = reg.rng.randint(2, 240)
    return Value(reg.marker("s", "", place, hit, lambda t: f"{n} {t.capitalize()} Street, London NW1 6XE"))


KINDS: dict[str, Maker] = {
    "email": _email_kind("e", lambda e: e),
    "email_pct1": _email_kind("f", lambda e: quote(e, safe="")),
    "email_pct3": _email_kind("g", lambda e: quote(quote(quote(e, safe=""), safe=""), safe="")),
    "email_entity": _email_kind("h", lambda e: e.replace("@", "&#64;")),
    "email_fullwidth": _email_kind("w", lambda e: e.replace("@", "\uff20")),
    "email_base64": _email_kind("b", _b64),
    "email_base64url_nopad": _email_kind("c", lambda e: _b64(e, url=True, pad=False)),
    "jwt_with_email": _email_kind("j", _jwt),
    "phone": _phone,
    "phone_in_url": _phone_url,
    "ipv4": lambda reg, place, hit: Value(reg.ipv4("ipv4", place, hit)),
    "ipv4_url_path": lambda reg, place, hit: Value(f"https://shop.example/u/{reg.ipv4('ipv4_url_path', place, hit)}/x"),
    "ipv6": lambda reg, place, hit: Value(reg.ipv6("ipv6", place, hit)),
    "ipv6_6to4": lambda reg, place, hit: Value(reg.embedded_v6("ipv6_6to4", place, hit)),
    "ipv6_teredo": lambda reg, place, hit: Value(reg.embedded_v6("ipv6_teredo", place, hit)),
    "card": _card,
    "iban": _iban_kind,
    "street_address": _street,
    "user_id": lambda reg, place, hit: Value(reg.marker("u", "", place, hit, lambda t: t)),
}


def make_value(reg: Registry, kind: str, place: str, hit: int) -> Value:
    reg.kind = kind
    return KINDS[kind](reg, place, hit)


# ------------------------------------------------------------------------------------------------
# The search: every decoded form of a text
# ------------------------------------------------------------------------------------------------

_B64_RUN = re.compile(r"[A-Za-z0-9+/_-]{12,}={0,2}")
_JSON_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")
_DIGIT_RUN = re.compile(r"\d[\d \-().\/]{8,}\d")
_IPV4 = re.compile(r"(?=((?:\d{1,3}\.){3}\d{1,3}))")  # overlapping: "c284.3.1.9" holds 84.3.1.9
_IPV6 = re.compile(r"(?<!:)[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}")


def decoded_forms(text: str) -> list[str]:
    """The text and what it decodes to: JSON escapes, percent-decoding (to depth 4), HTML entities,
    NFKC, and base64/JWT segments decoded (one level, then those decoded again)."""
    forms = [text]
    if "\\u" in text:
        forms.append(_JSON_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text))
    forms = list(dict.fromkeys(forms))
    for form in list(forms):
        if "+" in form:
            forms.append(unquote_plus(form))  # a query string: + is a space (base64 + is %2B)
        current = form
        for _ in range(4):
            if "%" not in current:
                break
            current = unquote(current)
            forms.append(current)
    for form in list(forms):
        if "&" in form:
            forms.append(html.unescape(form))
    for form in list(forms):
        if not form.isascii():
            forms.append(unicodedata.normalize("NFKC", form))
    forms = list(dict.fromkeys(forms))
    runs = {run for form in forms for run in _B64_RUN.findall(form)}
    decoded = [text for run in runs for text in _b64_decodings(run)]
    inner = {run for text in decoded if len(text) > 40 for run in _B64_RUN.findall(text)} - runs
    decoded += [text for run in inner for text in _b64_decodings(run)]  # base64 inside base64
    return forms + decoded


def _b64_decodings(run: str) -> Iterator[str]:
    core = run.rstrip("=")
    for shift in range(4):  # a value inside a longer text starts at any of 4 alignments: tried in turn
        part = core[shift:]
        part = part[: len(part) - len(part) % 4] if len(part) % 4 == 1 else part
        padded = part + "=" * (-len(part) % 4)
        with contextlib.suppress(ValueError):
            raw = base64.urlsafe_b64decode(padded.replace("+", "-").replace("/", "_"))
            text = raw.decode("utf-8", "ignore")
            if len(text) >= 6 and sum(ch.isprintable() for ch in text) >= 0.85 * len(text):
                yield text
                return


@dataclass(frozen=True)
class Find:
    plant: Plant
    matched: str


def search(reg: Registry, text: str) -> list[Find]:
    """Every planted value in ``text`` or in any of its decoded forms (each plant once)."""
    found: dict[int, Find] = {}

    def hit(plant: Plant | None, matched: str) -> None:
        if plant is not None and id(plant) not in found:
            found[id(plant)] = Find(plant, matched)

    lengths = sorted(reg._digit_lengths)
    for form in ("\n".join(decoded_forms(text)),):
        for m in MARKER.finditer(form):
            hit(reg.markers.get(m.group(0).lower()), m.group(0))
        if lengths:
            runs = {re.sub(r"\D", "", m.group(0)): m.group(0) for m in _DIGIT_RUN.finditer(form)}
            for digits, matched in runs.items():
                for n in lengths:
                    for i in range(len(digits) - n + 1):
                        if (p := reg.digits.get(digits[i : i + n])) is not None:
                            hit(p, matched)
        for m in _IPV4.finditer(form):
            hit(reg.v4.get(m.group(1)), m.group(1))
        if ":" in form:
            for m in _IPV6.finditer(form):
                try:
                    addr = ipaddress.IPv6Address(m.group(0).strip(":") if m.group(0).count("::") == 0 else m.group(0))
                except ValueError:
                    continue
                hit(reg.v6.get(addr.exploded), m.group(0))
                for embedded in (addr.sixtofour, addr.ipv4_mapped, addr.teredo[1] if addr.teredo else None):
                    if embedded is not None:
                        hit(reg.v4.get(str(embedded)), m.group(0))
    return list(found.values())


# ------------------------------------------------------------------------------------------------
# Consent states, derived from the policy
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class State:
    label: str
    family: str
    intended: frozenset[str] | None  # purposes meant to be granted (None: a conflict, should deny)
    segment: dict[str, Any] | None = None  # merged into the event's context
    gtag: dict[str, str] | None = None  # added to the gtag parameters
    gtag_raw: str = ""  # appended to the raw query as is (a duplicated parameter)
    json_patch: tuple[str, str] | None = None  # (placeholder, raw JSON) in the body


_GCD_POSITIONS = {"ad_storage": 2, "analytics_storage": 4, "ad_user_data": 6, "ad_personalization": 8}
_B64URL = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_"


def _tc_string(consents: set[int]) -> str:
    """A minimal IAB TCF v2 core segment with these purpose consents."""
    bits = ""

    def put(value: int, width: int) -> None:
        nonlocal bits
        bits += format(value, f"0{width}b")

    put(2, 6)
    put(17_600_000_000, 36)
    put(17_600_000_000, 36)
    for value, width in ((300, 12), (1, 12), (1, 6), (4 * 64 + 13, 12), (150, 12), (5, 6), (1, 1), (0, 1), (0, 12)):
        put(value, width)
    bits += "".join("1" if n in consents else "0" for n in range(1, 25))
    bits += "0" * 24
    put(0, 1)
    put(3 * 64 + 4, 12)
    for value, width in ((0, 16), (0, 1), (0, 16), (0, 1), (0, 12)):
        put(value, width)
    bits += "0" * (-len(bits) % 8)
    return base64.urlsafe_b64encode(int(bits, 2).to_bytes(len(bits) // 8, "big")).decode().rstrip("=")


def consent_states(policy: Any = None) -> list[State]:
    """Every subset of the policy's non-necessary purposes through each signal family, no signal,
    and conflicting signals."""
    from fairtrack import consent as consent_stage

    policy = policy or default_policy()
    signals = policy.signals
    purposes = sorted(p for p in policy.purposes if p != NECESSARY)
    positions = {name: pos for pos, name in getattr(consent_stage, "_GCD_TYPES", {}).items()} or _GCD_POSITIONS

    def first(mapping: dict[Any, list[str]], purpose: str) -> Any:
        return next((k for k, v in mapping.items() if list(v) == [purpose]), None)

    states = [State("no signal", "none", frozenset())]
    for size in range(len(purposes) + 1):
        for chosen in _subsets(purposes, size):
            granted = frozenset(chosen)
            name = "+".join(chosen) or "nothing"
            prefs = {first(signals.segment_categories, p): p in granted for p in purposes}
            if None not in prefs:
                states.append(
                    State(
                        f"{name} via categoryPreferences",
                        "segment",
                        granted,
                        {"consent": {"categoryPreferences": prefs}},
                    )
                )
            cmp = {p: first(signals.cmp_categories, p) for p in purposes}
            if None not in cmp.values():
                managed = {
                    "provider": "oneTrust",
                    "allowedConsentIds": [cmp[p] for p in purposes if p in granted],
                    "deniedConsentIds": [cmp[p] for p in purposes if p not in granted],
                }
                states.append(
                    State(f"{name} via consentManagement", "rudderstack", granted, {"consentManagement": managed})
                )
            if signals.consent_mode:
                chars = ["1", "3", "", "3", "", "3", "", "3", "", "5"]
                for mode, mapped in signals.consent_mode.items():
                    on = all(p in granted for p in mapped)
                    index = (3 | 3 << 2) if on else (2 | 2 << 2)
                    if mode in positions:
                        chars[positions[mode]] = _B64URL[index]
                gcd = "".join(c or "l" for c in chars)
                states_of = {m: all(p in granted for p in v) for m, v in signals.consent_mode.items()}
                gcs = "G1" + "".join("1" if states_of.get(m) else "0" for m in ("ad_storage", "analytics_storage"))
                states.append(
                    State(
                        f"{name} via gcs+gcd",
                        "consent_mode",
                        granted,
                        {"consent": {"gcs": gcs, "gcd": gcd}},
                        {"gcs": gcs, "gcd": gcd},
                    )
                )
            if signals.tcf_purposes:
                numbers = {n for n, mapped in signals.tcf_purposes.items() if all(p in granted for p in mapped)}
                tc = _tc_string(numbers)
                states.append(
                    State(
                        f"{name} via TCF",
                        "tcf",
                        granted,
                        {"consent": {"tcString": tc, "gdpr": "1"}},
                        {"gdpr": "1", "gdpr_consent": tc},
                    )
                )
    cmp_any = next(iter(signals.cmp_categories), "C0002")
    cat_any = next(iter(signals.segment_categories), "analytics")
    states += [
        State(
            "conflict: a category both allowed and denied (consentManagement)",
            "conflict",
            None,
            {"consentManagement": {"allowedConsentIds": list(signals.cmp_categories), "deniedConsentIds": [cmp_any]}},
        ),
        State("conflict: gcs=G111 without gcd", "conflict", None, {"consent": {"gcs": "G111"}}, {"gcs": "G111"}),
        State("conflict: duplicated gcs (G100 then G111)", "conflict", None, None, {}, "gcs=G100&gcs=G111"),
        State(
            "conflict: duplicated key in categoryPreferences (false then true)",
            "conflict",
            None,
            {"consent": {"categoryPreferences": {"__dup__": 0}}},
            json_patch=('"__dup__":0', f'"{cat_any}":false,"{cat_any}":true'),
        ),
        State(
            "conflict: categoryPreferences grants, consentManagement denies",
            "conflict",
            None,
            {
                "consent": {"categoryPreferences": dict.fromkeys(signals.segment_categories, True)},
                "consentManagement": {"allowedConsentIds": [], "deniedConsentIds": list(signals.cmp_categories)},
            },
        ),
    ]
    return states


def _subsets(items: list[str], size: int) -> Iterator[tuple[str, ...]]:
    import itertools

    yield from itertools.combinations(items, size)


# ------------------------------------------------------------------------------------------------
# Which kinds each place takes: asked of the adapter
# ------------------------------------------------------------------------------------------------

BASE_EVENT: dict[str, Any] = {"type": "track", "event": "Order", "anonymousId": "anon-1", "messageId": "m-1"}


def _sample_value(kind: str) -> Value:
    return KINDS[kind](Registry(0), "sample", 0)


def _segment_ok(place: Place, value: Any) -> bool:
    from fairtrack.protocols.segment import batch_events, parse_event

    if place.protocol == BATCH:
        body: dict[str, Any] = {"batch": [dict(BASE_EVENT)]}
        _put(body, place.path, value)
        events, errors, _ = batch_events(body)
        return not errors and all(not isinstance(parse_event(e, implied_type=None), list) for _, e in events)
    event = json.loads(json.dumps(BASE_EVENT))
    _put(event, place.path, value)
    return not isinstance(parse_event(event, implied_type=None), list)


def _put(obj: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for key in path[:-1]:
        nxt = obj.get(key)
        if not isinstance(nxt, dict):
            nxt = obj[key] = {}
        obj = nxt
    obj[path[-1]] = value


def acceptance(places: list[Place]) -> dict[str, dict[str, str]]:
    """place name -> kind -> the form the adapter takes (``text`` or ``number``); a kind missing
    is refused there (planted in a hit of its own)."""
    import logging

    samples = {k: _sample_value(k) for k in KINDS}
    out: dict[str, dict[str, str]] = {}
    ingestor = None
    with contextlib.suppress(Exception):
        ingestor = probe_ingestor()
    logging.disable(logging.CRITICAL)
    try:
        for place in places:
            took: dict[str, str] = {}
            for kind, value in samples.items():
                for form, v in (("text", value.text), ("number", value.number)):
                    if v is None:
                        continue
                    if place.shape == "open" or _accepts(place, v, ingestor):
                        took[kind] = form
                        break
            out[place.name] = took
    finally:
        logging.disable(logging.NOTSET)
    return out


def _accepts(place: Place, value: Any, ingestor: Any) -> bool:
    if place.protocol in (SEGMENT, BATCH):
        return _segment_ok(place, value)
    if place.protocol == GTAG:
        if not isinstance(value, str) and place.path[0].startswith(("ep", "up")):
            value = str(value)
        if not isinstance(value, str):
            return False
        from datetime import UTC, datetime

        from fairtrack.protocols import gtag

        params = {"v": "2", "tid": "G-PROBE", "en": "probe", "cid": "1.2", "_p": "7"}
        params[place.path[0].replace("<name>", "probe")] = value if len(place.path) == 1 else place.path[1] + value
        collect = gtag.Collect("G-PROBE", [(0, params)], [])  # the request's measurement id: a tid must match
        return all(not isinstance(h, list) for _, h in gtag.hits(collect, datetime.now(UTC), "probe/1.0", None))
    if place.protocol == HEADER and ingestor is not None and isinstance(value, str):
        from datetime import UTC, datetime

        from fairtrack.errors import ClientError
        from fairtrack.ingest import IngestRequest

        headers = {"authorization": AUTH, "content-type": "application/json", place.path[0]: value}
        request = IngestRequest(json.dumps(BASE_EVENT), False, headers, {}, "198.51.100.7", datetime.now(UTC), "r")
        try:
            ingestor.segment(request, "track")
        except ClientError:
            return False
        except Exception:  # noqa: BLE001 - the probe is best effort: assume it takes the value
            return True
        return True
    return isinstance(value, str)


# ------------------------------------------------------------------------------------------------
# The workload
# ------------------------------------------------------------------------------------------------

URL_KINDS = ("phone_in_url", "ipv4_url_path")
CONSENT_PATHS = (("context", "consent"), ("context", "consentManagement"))
EVENT_TYPES = ("track", "page", "screen", "identify", "group", "alias")
USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"


@dataclass
class HitInfo:
    index: int
    protocol: str
    state: str
    refused: str | None  # the place given a value the adapter refuses (the hit is refused)
    request: int


def _wire(header_value: str) -> str:
    """A header value as a client sends it: UTF-8 bytes (http.client writes headers as Latin-1)."""
    return header_value.encode().decode("latin-1")


def _merge(into: dict[str, Any], patch: dict[str, Any]) -> None:
    for k, v in patch.items():
        if isinstance(v, dict) and isinstance(into.get(k), dict):
            _merge(into[k], v)
        else:
            into[k] = json.loads(json.dumps(v))


class Workload:
    """Hits planting every kind each place takes, in every place, under every consent state."""

    def __init__(
        self,
        hits: int,
        seed: int,
        places: list[Place] | None = None,
        accepted: dict[str, dict[str, str]] | None = None,
        states: list[State] | None = None,
    ) -> None:
        self.reg = Registry(seed)
        self.rng = self.reg.rng
        self.places = places if places is not None else all_places()
        self.accepted = accepted if accepted is not None else acceptance(self.places)
        self.states = states if states is not None else consent_states()
        self.hits: list[HitInfo] = []
        self.requests: list[Request] = []
        self.carried: list[list[Plant]] = []  # per request: the plants found in it before sending
        self.turn: Counter[str] = Counter()
        self.keys = 0
        by: dict[str, list[Place]] = defaultdict(list)
        for p in self.places:
            by[p.protocol].append(p)
        self.by = by
        refused = [(p, k) for p in self.places for k in KINDS if k not in self.accepted[p.name]]
        refused_places = {p.name: (p, k) for p, k in refused}  # one pair per place first
        order = list(refused_places.values()) + [pk for pk in refused if pk not in refused_places.values()]
        n_refused = min(len(order), max(len(refused_places), hits // 8))
        valid = max(hits - n_refused, 1)
        gtag_states = [s for s in self.states if s.gtag is not None]
        seg_states = [s for s in self.states if s.segment is not None or s.family == "none"]
        n_gtag = max(len(gtag_states), valid * 3 // 10)
        done = 0
        while done < valid - n_gtag:
            size = 1 if self.rng.random() < 0.3 else min(valid - n_gtag - done, self.rng.randint(2, 8))
            mode = "batch-context" if size > 1 and self.rng.random() < 0.25 else "events"
            self._segment_request([seg_states[(len(self.hits) + i) % len(seg_states)] for i in range(size)], mode)
            done += size
        for i in range(n_gtag):
            self._gtag_request(gtag_states[i % len(gtag_states)])
        for place, kind in order[:n_refused]:
            self._refused(place, kind)
        order_index = list(range(len(self.requests)))
        self.rng.shuffle(order_index)
        self.requests = [self.requests[i] for i in order_index]
        self.carried = [self.carried[i] for i in order_index]
        remap = {old: new for new, old in enumerate(order_index)}
        for h in self.hits:
            h.request = remap[h.request]

    # values ------------------------------------------------------------------------------------
    def _kind(self, place: Place) -> tuple[str, str] | None:
        took = self.accepted[place.name]
        if not took:
            return None
        kinds = sorted(took)
        kind = kinds[self.turn[place.name] % len(kinds)]
        self.turn[place.name] += 1
        return kind, took[kind]

    def _value(self, place: Place, hit: int, kind_form: tuple[str, str]) -> Any:
        kind, form = kind_form
        value = make_value(self.reg, kind, place.name, hit)
        return value.number if form == "number" and value.number is not None else value.text

    def _text(self, place: Place, hit: int, kind: str | None = None) -> str:
        return make_value(self.reg, kind or sorted(KINDS)[self.turn[place.name] % len(KINDS)], place.name, hit).text

    def _key(self) -> str:
        self.keys += 1
        return f"x{self.keys}"

    def _plant_open(self, container: dict[str, Any], token: str, place: Place, hit: int, kf: tuple[str, str]) -> None:
        if token == NEW:
            container[self._key()] = self._value(place, hit, kf)
        elif token == KEY:
            self.turn[place.name] += 0
            container[self._text(place, hit, kf[0])] = "x"
        elif token == NESTED:
            container[self._key()] = {"inner": {"deep": self._value(place, hit, kf)}}
        elif token == LIST:
            container[self._key()] = [self._value(place, hit, kf), {"k": self._value(place, hit, kf)}]

    def _plant(self, obj: dict[str, Any], place: Place, hit: int, kf: tuple[str, str] | None = None) -> None:
        kf = kf or self._kind(place)
        if kf is None:
            return
        path = place.path[1:] if place.protocol == BATCH and place.path[:1] == ("context",) else place.path
        if place.protocol == BATCH and place.path[:1] == ("context",):
            obj = obj.setdefault("context", {})
        *parents, last = path
        for key in parents:
            nxt = obj.get(key)
            if not isinstance(nxt, dict):
                nxt = obj[key] = {}
            obj = nxt
        if place.shape == "open":
            self._plant_open(obj, last, place, hit, kf)
        else:
            obj[last] = self._value(place, hit, kf)

    # Segment -----------------------------------------------------------------------------------
    def _event(self, state: State, *, context_plants: bool, refused: tuple[Place, str] | None = None) -> dict[str, Any]:
        i = len(self.hits)
        event: dict[str, Any] = {"type": EVENT_TYPES[i % len(EVENT_TYPES)], "timestamp": now_iso()}
        for place in self.by[SEGMENT]:
            consent_place = place.path[:2] in CONSENT_PATHS
            if consent_place and state.family == "none":
                continue
            if not context_plants and place.path[0] == "context" and not consent_place:
                continue
            if refused is not None and place is refused[0]:
                continue
            self._plant(event, place, i)
        if refused is not None and refused[0].protocol == SEGMENT:
            self._plant(event, refused[0], i, (refused[1], "text"))
        for required in ("anonymousId", "event", "groupId", "previousId"):  # whatever was refused there
            if not isinstance(event.get(required), str | int):
                event[required] = f"r{i}"
        if context_plants and i % 3 == 0 and refused is None:
            self._anchor(event.setdefault("context", {}), i)
        if state.segment:
            _merge(event.setdefault("context", {}), state.segment)
        return event

    def _anchor(self, context: dict[str, Any], i: int) -> None:
        """Every third hit keeps a page URL that parses (a URL kind: its path or query holds the
        plant) and a real user agent, which Meta needs: the ad destination is exercised too."""
        place = next((p for p in self.by[SEGMENT] if p.path == ("context", "page", "url")), None)
        if place is not None:
            kind = URL_KINDS[i // 3 % len(URL_KINDS)]
            page = context.setdefault("page", {})
            if isinstance(page, dict):
                page["url"] = make_value(self.reg, kind, place.name, i).text
        context["userAgent"] = USER_AGENT

    def _headers(self, hit: int, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = {"User-Agent": USER_AGENT}
        for place in self.by[HEADER]:
            kf = self._kind(place)
            if kf is not None and place.path[0] not in ("authorization", "content-encoding", "origin", "content-type"):
                headers[place.path[0]] = _wire(str(self._value(place, hit, kf)))
        return headers | (extra or {})

    def _segment_request(self, states: list[State], mode: str, refused: tuple[Place, str] | None = None) -> None:
        start = len(self.hits)
        events = []
        for state in states:
            events.append(self._event(state, context_plants=mode != "batch-context", refused=refused))
            self.hits.append(
                HitInfo(len(self.hits), SEGMENT, state.label, refused[0].name if refused else None, len(self.requests))
            )
        headers = self._headers(start, {"Authorization": AUTH, "Content-Type": "application/json"})
        if refused is not None and refused[0].protocol == HEADER:
            headers[refused[0].path[0]] = _wire(self._text(refused[0], start, refused[1]))
        if len(events) == 1 and mode == "events" and (refused is None or refused[0].protocol != BATCH):
            body = json.dumps(events[0])
            kind = events[0].get("type")
            path = f"/v1/{kind if kind in EVENT_TYPES else 'track'}"
        else:
            envelope: dict[str, Any] = {"batch": events, "sentAt": now_iso()}
            for place in self.by[BATCH]:
                in_context = place.path[:1] == ("context",)
                if (in_context and mode != "batch-context") or place.shape == "timestamp":
                    continue
                self._plant(envelope, place, start)
            if refused is not None and refused[0].protocol == BATCH:
                self._plant(envelope, refused[0], start, (refused[1], "text"))
            body, path = json.dumps(envelope), "/v1/batch"
        for state in states:
            if state.json_patch:
                body = body.replace(state.json_patch[0].replace(":", ": "), state.json_patch[1], 1)
        expect = 400 if refused is not None and len(events) == 1 else None
        self._add(Request("POST", path, body.encode(), headers, expect_status=expect))

    # gtag --------------------------------------------------------------------------------------
    def _gtag_request(self, state: State, refused: tuple[Place, str] | None = None) -> None:
        i = len(self.hits)
        params: dict[str, str] = {"v": "2", "tid": DEV_MEASUREMENT_ID, "en": "page_view", "cid": f"{i}.1", "_p": str(i)}
        coded: dict[str, list[str]] = defaultdict(list)
        for place in self.by[GTAG]:
            if place.path[0] in (state.gtag or {}) or (refused is not None and place is refused[0]):
                continue
            if place.path[0] in ("gcs", "gcd", "gdpr", "gdpr_consent") and state.family == "none":
                continue
            kf = self._kind(place)
            if kf is None:
                continue
            self._gtag_plant(params, coded, place, i, kf)
        if refused is not None and refused[0].protocol == GTAG:
            self._gtag_plant(params, coded, refused[0], i, (refused[1], "text"))
        for key, fields in coded.items():
            params[key] = "~".join(fields)
        if i % 3 == 0 and refused is None and "dl" in params:  # a page URL that parses (see _anchor)
            dl = next(p for p in self.by[GTAG] if p.path == ("dl",))
            params["dl"] = make_value(self.reg, URL_KINDS[i // 3 % len(URL_KINDS)], dl.name, i).text
        params |= state.gtag or {}
        query = urlencode(params) + ("&" + state.gtag_raw if state.gtag_raw else "")
        headers = self._headers(i)
        if refused is not None and refused[0].protocol == HEADER:
            headers[refused[0].path[0]] = _wire(self._text(refused[0], i, refused[1]))
        self.hits.append(HitInfo(i, GTAG, state.label, refused[0].name if refused else None, len(self.requests)))
        expect = 400 if refused is not None and refused[0].protocol == GTAG else None
        if expect is not None and refused is not None:
            head = refused[0].path[0]
            if len(refused[0].path) == 1 and head in params and _accepts(refused[0], params[head], None):
                expect = None  # this value, unlike its kind's sample, is one the adapter takes (an IBAN as en)
        if refused is not None and refused[0].protocol == HEADER:
            expect = 400
        if self.rng.random() < 0.5:
            self._add(Request("GET", "/g/collect?" + query, b"", headers, expect_status=expect))
        else:
            self._add(
                Request(
                    "POST",
                    "/g/collect?v=2&tid=" + DEV_MEASUREMENT_ID,
                    query.encode(),
                    headers | {"Content-Type": "text/plain"},
                    expect_status=expect,
                )
            )

    def _gtag_plant(
        self, params: dict[str, str], coded: dict[str, list[str]], place: Place, i: int, kf: tuple[str, str]
    ) -> None:
        head = place.path[0]
        if len(place.path) == 2:
            code = place.path[1]
            if code.endswith(KEY):
                coded[head].append(code[0] + "1" + self._text(place, i, kf[0]))
            elif code.endswith("N"):
                coded[head].append(code[0] + "1" + str(self._value(place, i, kf)))
            else:
                coded[head].append(code + str(self._value(place, i, kf)))
        elif head.endswith(KEY):
            params[head.removesuffix(KEY) + self._text(place, i, kf[0])] = "1"
        elif head.endswith("<name>"):
            params[head.removesuffix("<name>") + self._key()] = str(self._value(place, i, kf))
        else:
            params[head] = str(self._value(place, i, kf))

    def _refused(self, place: Place, kind: str) -> None:
        if place.protocol == GTAG:
            self._gtag_request(self.states[0], (place, kind))
        else:
            # a batch context value reaches the event only when the event's own context lacks the key
            mode = "batch-context" if place.protocol == BATCH and place.path[:1] == ("context",) else "events"
            self._segment_request([self.states[0]], mode, (place, kind))

    def _add(self, request: Request) -> None:
        text = request.path + "\n" + request.body.decode() + "\n" + json.dumps(request.headers)
        self.carried.append([f.plant for f in search(self.reg, text)])
        self.requests.append(request)


# ------------------------------------------------------------------------------------------------
# The run: send, drain, collect every surface, search it
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Leak:
    kind: str
    place: str
    surface: str
    plant: Plant
    where: str  # the text around the find


def format_allowance() -> Callable[[Place | None, Plant], bool] | None:
    """``admits(place, plant)`` when the catalogue declares formats and the layer can check them."""
    try:
        from fairtrack.anonymise import formats  # type: ignore[attr-defined, unused-ignore]
    except ImportError:
        return None
    admits = getattr(formats, "admits", None)
    from fairtrack_tools.ops import policy_ops

    attributes = policy_ops.load_policy_file(POLICY_FILE).get("attributes", {})
    declared = {path: a.get("format") for path, a in attributes.items() if isinstance(a, dict) and a.get("format")}
    if admits is None or not declared:
        return None

    def allowed(place: Place | None, plant: Plant) -> bool:
        if place is None:
            return False
        path = place.hit_path or (".".join(place.path) if place.protocol in (SEGMENT, BATCH) else None)
        if place.protocol == HEADER and place.path[0] == "user-agent":
            path = "context.userAgent"  # where ingest puts the request's user agent
        elif path is None and place.protocol == GTAG:  # a key of the client's choosing: its object
            head = place.path[0]
            if head.startswith(("ep.", "epn.")) or head.startswith("pr"):
                path = "properties"
            elif head.startswith(("up.", "upn.")):
                path = "context.traits"
        if path is None:
            return False
        as_key = KEY in path or any(KEY in part for part in place.path)
        parts = path.split(".")
        for end in range(len(parts), 0, -1):
            fmt = declared.get(".".join(parts[:end]))
            if not fmt:
                continue
            if fmt == "map":  # a free-form object: its keys are `key`s, its values `text` or numbers
                if as_key:
                    return bool(admits("key", plant.value))
                leaf = "text" if isinstance(plant.value, str) else "number"
                return bool(admits(leaf, plant.value))
            if "<" in path:  # an unknown key under a closed object: nothing admits it
                return False
            return bool(admits(fmt, plant.value))
        return False

    return allowed


def destination_of(surface: str) -> str:
    for name in ("ga4", "meta", "webhook"):
        if surface.startswith(name):
            return name
    if surface.startswith("lake"):
        return "lake"
    if surface.startswith(("queue", "DLQ")):
        return "queues"
    if "log" in surface or "metric" in surface or "stderr" in surface:
        return "logs"
    if "answers" in surface:
        return "answers"
    return "stores"


@dataclass
class Report:
    places: list[Place]
    planted_places: set[str]
    valid_places: set[str]
    plants_sent: Counter[str]  # kind -> values found in the requests that carried them
    states: dict[str, Counter[str]]  # state -> outcome -> hits
    hits: int
    requests: int
    timings: dict[str, float]
    surfaces: dict[str, tuple[int, int]]
    leaks: list[Leak]
    admitted: list[Leak]
    checks: list[Check]
    state_of_hit: dict[int, str] = field(default_factory=dict)

    @property
    def coverage(self) -> float:
        return len(self.planted_places) / max(1, len(self.places))

    @property
    def ok(self) -> bool:
        return not self.leaks and self.coverage == 1.0 and all(c.ok for c in self.checks)

    def leak_rows(self, leaks: list[Leak] | None = None) -> list[tuple[str, str, str, int, Leak]]:
        by: dict[tuple[str, str, str], list[Leak]] = defaultdict(list)
        for leak in self.leaks if leaks is None else leaks:
            by[(leak.kind, leak.place, leak.surface)].append(leak)
        rows = [(k, p, s, len({id(x.plant) for x in found}), found[0]) for (k, p, s), found in by.items()]
        return sorted(rows, key=lambda r: (-r[3], r[1], r[0], r[2]))

    def render(self, max_rows: int | None = None) -> str:
        per = Counter(p.protocol for p in self.places)
        out = [
            f"closed-world canaries: {self.hits} hits in {self.requests} requests; "
            + ", ".join(f"{k} {v:.1f}s" for k, v in self.timings.items()),
            f"coverage: {len(self.planted_places)} places planted / {len(self.places)} places the models accept "
            f"({100 * self.coverage:.1f}%; "
            + ", ".join(f"{k} {v}" for k, v in sorted(per.items()))
            + f"); {len(self.valid_places)} of them in a hit the adapter accepts",
            f"kinds planted ({len(self.plants_sent)}): "
            + ", ".join(f"{k} {v}" for k, v in sorted(self.plants_sent.items())),
            "",
        ]
        out += text_table(
            ("consent state", "hits", "refused"),
            [(s, str(c["hits"]), str(c["refused"])) for s, c in sorted(self.states.items())],
        )
        out.append("")
        per_surface = Counter(leak.surface for leak in self.leaks)
        out += text_table(
            ("surface searched", "items", "size", "leaks"),
            [(n, str(i), f"{b / 1e6:.1f} MB", str(per_surface[n])) for n, (i, b) in self.surfaces.items()],
        )
        out.append("")
        leaked_pairs = {(x.kind, x.place) for x in self.leaks}
        out.append(
            f"LEAKS: {len(self.leaks)} finds of {len({id(x.plant) for x in self.leaks})} planted values; "
            f"{len(leaked_pairs)} kind-by-place pairs, {len({x.place for x in self.leaks})} places"
        )
        if self.leaks:
            dests = ("ga4", "meta", "webhook", "lake", "queues", "stores", "logs", "answers")
            grid: dict[str, Counter[str]] = defaultdict(Counter)
            for leak in self.leaks:
                grid[self.state_of_hit.get(leak.plant.hit, "?")][destination_of(leak.surface)] += 1
            out.append("leaked values by consent state and where they were found:")
            out += text_table(
                ("consent state", *dests), [(s, *(str(c[d]) for d in dests)) for s, c in sorted(grid.items())]
            )
            out.append("")
            by_place: dict[str, list[Leak]] = defaultdict(list)
            for leak in self.leaks:
                by_place[leak.place].append(leak)
            out.append("leaks by place (kinds that leaked there, and where):")
            out += text_table(
                ("place", "kinds", "values", "reached"),
                [
                    (
                        place,
                        str(len({x.kind for x in found})),
                        str(len({id(x.plant) for x in found})),
                        ", ".join(sorted({destination_of(x.surface) for x in found})),
                    )
                    for place, found in sorted(by_place.items(), key=lambda kv: -len(kv[1]))
                ],
            )
            out.append("")
            rows = self.leak_rows()
            out.append(
                f"leaks by (kind, place, surface): {len(rows)} rows"
                + (f", first {max_rows}" if max_rows and len(rows) > max_rows else "")
            )
            out += text_table(
                ("kind", "planted in", "surface", "values", "first example"),
                [
                    (k, p, s.split(" (")[0], str(n), f"{x.plant.value[:40]!r} ...{x.where[:90]}...")
                    for k, p, s, n, x in rows[:max_rows]
                ],
            )
            out.append("")
        if self.admitted:
            out.append(f"admitted by format (not leaks): {len(self.admitted)} finds")
            out += text_table(
                ("kind", "planted in", "surface", "values", "first example"),
                [
                    (k, p, s.split(" (")[0], str(n), repr(x.plant.value[:40]))
                    for k, p, s, n, x in self.leak_rows(self.admitted)
                ],
            )
            out.append("")
        out.append("checks:")
        out += [f"  [{'ok' if c.ok else 'FAIL'}] {c.name}" + (f": {c.detail}" if c.detail else "") for c in self.checks]
        return "\n".join(out)


SHORT_FAULTS = FaultPlan(rate=0.15, mix=(("http_500", 0.35), ("http_429", 0.25), ("permanent", 0.40)), seed=5)


def run_closed_world(
    hits: int,
    *,
    seed: int = 17,
    faults: FaultPlan = SHORT_FAULTS,
    visibility_seconds: int = 2,
    drain_timeout: float = 600.0,
    concurrency: int = 4,
    log_dir: Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> Report:
    say = progress or (lambda _: None)
    timings: dict[str, float] = {}
    started = time.monotonic()
    work = Workload(hits, seed)
    timings["workload"] = time.monotonic() - started
    say(
        f"workload: {len(work.hits)} hits, {len(work.reg.plants)} values in {len(work.places)} places, "
        f"{len(work.requests)} requests"
    )
    with contextlib.ExitStack() as exits:
        directory = log_dir or Path(exits.enter_context(tempfile.TemporaryDirectory(prefix="proof-closed-world-")))
        stack = exits.enter_context(
            ProofStack(
                directory,
                faults=faults,
                parameters={"TrustedProxy": "hops:1"},  # X-Forwarded-For's last entry is the visitor
                visibility_seconds=visibility_seconds,
                tap=True,
            )
        )
        mark = time.monotonic()
        send(stack.base_url, work.requests, concurrency)
        timings["send"] = time.monotonic() - mark
        say(f"sent in {timings['send']:.1f}s; draining")
        mark = time.monotonic()
        drained = stack.drain(drain_timeout)
        timings["drain"] = time.monotonic() - mark
        mark = time.monotonic()
        evidence = Evidence.collect(stack, drained)
        surfaces = collect_surfaces(stack, evidence, work.requests)
        injected = dict(stack.proxy.stats)
    say("searching")
    return judge(
        work,
        surfaces=surfaces,
        evidence=evidence,
        drained=drained,
        injected=injected,
        timings=timings,
        mark=mark,
        started=started,
    )


def judge(
    work: Workload,
    *,
    surfaces: dict[str, list[str]],
    evidence: Evidence | None,
    drained: bool,
    injected: dict[str, Counter[str]],
    timings: dict[str, float],
    mark: float,
    started: float,
) -> Report:
    places = {p.name: p for p in work.places}
    allowance = format_allowance()
    leaks: list[Leak] = []
    admitted: list[Leak] = []
    for name, texts in surfaces.items():
        for text in texts:
            for find in search(work.reg, text):
                at = text.find(find.matched)
                leak = Leak(
                    find.plant.kind,
                    find.plant.place,
                    name,
                    find.plant,
                    text[max(0, at - 60) : at + 60].replace("\n", " "),
                )
                if allowance is not None and allowance(places.get(find.plant.place), find.plant):
                    admitted.append(leak)
                else:
                    leaks.append(leak)
    timings["search"] = time.monotonic() - mark
    refused_requests = {h.request for h in work.hits if h.refused}
    planted: set[str] = set()
    valid: set[str] = set()
    kinds: Counter[str] = Counter()
    for index, carried in enumerate(work.carried):
        for plant in carried:
            planted.add(plant.place)
            kinds[plant.kind] += 1
            if index not in refused_requests and 200 <= work.requests[index].status < 300:
                valid.add(plant.place)
    states: dict[str, Counter[str]] = defaultdict(Counter)
    for h in work.hits:
        states[h.state]["hits"] += 1
        states[h.state]["refused"] += 1 if h.refused else 0
    refused_by = {id(work.requests[h.request]): h.refused or "" for h in work.hits if h.refused}
    wrong = [r for r in work.requests if not (400 <= r.status < 500 if r.expect_status else 200 <= r.status < 300)]
    permanent = sum(c["permanent"] for c in injected.values())
    should_hold = [
        "queue messages (every one ingest sent)",
        "ga4: requests received (body, query, headers)",
        "meta: requests received (body, query, headers)",
        "webhook: requests received (body, query, headers)",
        "lake bucket objects (lake/, decisions/)",
        "DynamoDB items (policy, consent, ledger)",
        "worker log lines",
        "worker metric lines (EMF)",
        "ingest API answers",
    ] + (["failed-events store objects"] if permanent else [])
    empty = [s for s in should_hold if not surfaces.get(s)]
    checks = [
        Check("drained within the time limit", drained),
        Check(
            f"every place derived is planted ({len(work.places)} places)",
            len(planted) == len(work.places),
            ", ".join(sorted(set(places) - planted))[:300],
        ),
        Check(
            "every consent state the policy distinguishes has hits",
            all(states[s.label]["hits"] for s in work.states),
            ", ".join(s.label for s in work.states if not states[s.label]["hits"]),
        ),
        Check(
            "valid hits answered 2xx (refused ones 4xx)",
            not wrong,
            str(Counter((r.expect_status, r.status, refused_by.get(id(r), "")) for r in wrong)),
        ),
        Check("every surface that must hold something does (the search is not vacuous)", not empty, ", ".join(empty)),
    ]
    timings["total"] = time.monotonic() - started
    return Report(
        places=work.places,
        planted_places=planted,
        valid_places=valid,
        plants_sent=kinds,
        states=dict(states),
        hits=len(work.hits),
        requests=len(work.requests),
        timings=timings,
        surfaces={k: (len(v), sum(len(t) for t in v)) for k, v in surfaces.items()},
        leaks=leaks,
        admitted=admitted,
        checks=checks,
        state_of_hit={h.index: h.state for h in work.hits},
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m fairtrack_tools.proofs.closed_world", description=__doc__.split("\n", 1)[0]
    )
    parser.add_argument("--hits", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--fault-rate", type=float, default=SHORT_FAULTS.rate)
    parser.add_argument("--drain-timeout", type=float, default=1800.0)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--max-rows", type=int, default=0, help="leak table rows to print (0: all)")
    parser.add_argument("--log-dir", type=Path)
    args = parser.parse_args(argv)

    def say(message: str) -> None:
        print(f"[closed-world] {message}", file=sys.stderr, flush=True)

    report = run_closed_world(
        args.hits,
        seed=args.seed,
        faults=FaultPlan(rate=args.fault_rate, mix=SHORT_FAULTS.mix, seed=args.seed),
        drain_timeout=args.drain_timeout,
        concurrency=args.concurrency,
        log_dir=args.log_dir,
        progress=say,
    )
    print(report.render(args.max_rows or None), flush=True)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
