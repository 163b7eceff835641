"""Kinds of personal data, the registry that remembers where each planted value went, and the
search that finds them again in every decoded form of a text.
"""

from __future__ import annotations

import base64
import contextlib
import html
import ipaddress
import json
import random
import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.parse import quote, unquote, unquote_plus

from fairtrack_tools.proofs.canaries import PUBLIC_V4_FIRST_OCTETS

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


def b64(text: str, *, url: bool = False, pad: bool = True) -> str:
    raw = (base64.urlsafe_b64encode if url else base64.b64encode)(text.encode()).decode()
    return raw if pad else raw.rstrip("=")


def jwt(email: str) -> str:
    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}), url=True, pad=False)
    body = b64(json.dumps({"sub": "42", "email": email, "iat": 1765000000}), url=True, pad=False)
    return f"{head}.{body}.{b64('signature-not-checked', url=True, pad=False)}"


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
    "email_base64": _email_kind("b", b64),
    "email_base64url_nopad": _email_kind("c", lambda e: b64(e, url=True, pad=False)),
    "jwt_with_email": _email_kind("j", jwt),
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
