# ruff: noqa: RUF001  (full-width characters are the point)
"""Personal data in encoded forms (fairtrack/anonymise/pii.py: "Encoded forms"), street addresses, JWTs and
IPv4 addresses as path segments.

Concrete cases for each encoding the scanner undoes (percent-encoding up to three levels, HTML
character references, NFKC, base64 and base64url, JWT payloads), then properties: generated
e-mails, phones, IPs, cards and IBANs, encoded each way, are found, and their redaction holds
neither the value nor any encoding of it; benign strings, encoded or not, are left alone.
"""

from __future__ import annotations

import base64
import json
import string
from collections.abc import Callable
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic_core import to_json
from unit_pii_values import cards, ibans

from fairtrack.anonymise import pii, urls

PROPERTY = settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


def b64(text: str, *, pad: bool = True, urlsafe: bool = False) -> str:
    raw = (base64.urlsafe_b64encode if urlsafe else base64.b64encode)(text.encode()).decode()
    return raw if pad else raw.rstrip("=")


def jwt(payload: dict[str, object]) -> str:
    header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}), pad=False, urlsafe=True)
    body = b64(json.dumps(payload), pad=False, urlsafe=True)
    return f"{header}.{body}.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"


def fullwidth(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else "\u3000" if c == " " else c for c in text)


def entities(text: str, hexadecimal: bool = False) -> str:
    return "".join(f"&#x{ord(c):x};" if hexadecimal else f"&#{ord(c)};" for c in text)


def percent_all(text: str) -> str:
    return "".join(f"%{b:02X}" for b in text.encode())


# -- concrete cases -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kind", "redacted"),
    [
        ("jane%2540example.com", "email", "[email]"),
        ("jane%252540example.com", "email", "[email]"),
        ("to jane%25252540example.com now", "email", "to [email] now"),
        ("jane&#64;example.com", "email", "[email]"),
        ("mail jane&commat;example.com.", "email", "mail [email]"),
        ("jane&#x40;example.com", "email", "[email]"),
        ("jane&#X40;example&period;com", "email", "[email]"),
        ("jane＠example.com", "email", "[email]"),
        ("ｊａｎｅ＠ｅｘａｍｐｌｅ．ｃｏｍ", "email", "[email]"),
        ("jane\u200b@example.com", "email", "[email]"),
        ("call ＋４９ ３０ １２３４５６７", "phone", "call [phone]"),
        ("+49&nbsp;30&nbsp;1234567", "phone", "[phone]"),
        ("amFuZUBleGFtcGxlLmNvbQ==", "email", "[email]"),
        ("amFuZUBleGFtcGxlLmNvbQ", "email", "[email]"),
        ("ref amFuZUBleGFtcGxlLmNvbQ%3D%3D end", "email", "ref [email] end"),
        ("https://x.example/u/198.51.100.23", "ipv4", "https://x.example/u/[ip]"),
        ("https://x.example/u/198.51.100.23/edit", "ipv4", "https://x.example/u/[ip]/edit"),
        ("/u/198.51.100.23", "ipv4", "/u/[ip]"),
        ("https://x.example/?tel=%2B44%207700%20900123", "phone", "https://x.example/?tel=[phone]"),
        ("https://x.example/?a=1&tel=%2B44%207700%20900123&b=2", "phone", "https://x.example/?a=1&tel=[phone]&b=2"),
        ("see 221B Baker Street", "address", "see [address]"),
        ("10 Downing St, London", "address", "[address], London"),
        ("1600 Amphitheatre Parkway", "address", "[address]"),
        ("725 5th Avenue", "address", "[address]"),
        ("5th Avenue 725", "address", "[address]"),
        ("Hauptstraße 5, 10115 Berlin", "address", "[address], 10115 Berlin"),
        ("Berliner Straße 12", "address", "[address]"),
        ("Kalverstraat 92a", "address", "[address]"),
        ("Rue de Rivoli 12", "address", "[address]"),
        ("12 rue de Rivoli", "address", "[address]"),
        ("Via Roma 1", "address", "[address]"),
        ("221B%20Baker%20Street", "address", "[address]"),
    ],
)
def test_encoded_forms_are_found_and_redacted(text: str, kind: str, redacted: str) -> None:
    """Given personal data encoded (or an address), then find names its kind and redact replaces the encoded run."""
    assert kind in pii.find(text)
    assert pii.classify(text) is not None
    assert pii.contains_pii(text)
    assert pii.redact(text) == redacted


def test_a_jwt_is_a_token_and_its_payload_is_read() -> None:
    """Given a JWT, then it is a token whatever it holds, and an e-mail in its payload is found too."""
    plain = jwt({"sub": "1234", "iat": 1732406400})
    assert pii.find(plain) == {"token"}
    assert pii.redact(f"Bearer {plain}") == "Bearer [token]"
    with_email = jwt({"sub": "1234", "email": "jane@example.com"})
    assert pii.find(with_email) == {"token", "email"}
    assert pii.redact(f"?id_token={with_email}&x=1") == "?id_token=[token]&x=1"
    assert pii.classify(with_email) in {"token", "email"}


def test_base64_inside_a_jwt_payload_is_read() -> None:
    """Given a JWT whose payload holds base64 of an e-mail, then the e-mail is found."""
    assert "email" in pii.find(jwt({"d": b64("jane@example.com")}))


def test_decoded_forms() -> None:
    """Given encoded text, then decoded_forms gives each round; plain text gives nothing."""
    assert pii.decoded_forms("jane%252540example.com") == [
        "jane%2540example.com",
        "jane%40example.com",
        "jane@example.com",
    ]
    assert pii.decoded_forms("a&amp;b ＡＢ") == ["a&b AB"]
    assert pii.decoded_forms("plain text") == []


@pytest.mark.parametrize(
    "text",
    [
        "Street Fighter 6",
        "4 Wheel Drive",
        "Blue T-Shirt (XL)",
        "Size 42 EU",
        "Top 10 Places to Visit",
        "Route 66",
        "Chrome/131.0.0.0 Safari/537.36",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 Version/17.4.1 Safari/605.1.15",
        "iPhone 15 Pro Max",
        "Caf&eacute; cr&egrave;me &amp; croissant",
        "50% off everything",
        "100%25 cotton",
        "Ｂｌｕｅ Ｔ－Ｓｈｉｒｔ",
        "ＳＡＬＥ ２０２６",
        "€ 12,50",
        "https://shop.example/products/blue-shirt?utm_source=news&utm_medium=email",
        "https://shop.example/Products/Blue-Shirt-Extra-Large?color=Navy%20Blue",
        "InternationalizationAndLocalization",
        "SummerSale2026Campaign",
        "5F4DCC3B5AA765D61D8327DEB882CF99",
        "550e8400-e29b-41d4-a716-446655440000",
        "2026-11-24T10:15:30.123Z",
        b64("Hello world, this is a plain sentence."),
        b64("Blue T-Shirt, size XL, 2 pieces", urlsafe=True),
        "eyJhbGciOiJIUzI1NiJ9",  # a JWT header alone is not a JWT
        "gAAAAABmXq9Zxk3xFh0_m2VlYmQ1NmYtNDg4Zi00ZDFiLWE3",
    ],
)
def test_benign_text_stays(text: str) -> None:
    """Given product names, prices, versions, ids, dates or encoded ordinary text, then nothing is found."""
    assert pii.find(text) == set()
    assert pii.redact(text) is text
    assert pii.classify(text) is None
    assert not pii.contains_pii(text)


def test_scan_finds_encoded_values_and_keys() -> None:
    """Given encoded personal data in properties, then scan finds, redacts and drops it like any other."""
    props = {
        "ref": "amFuZUBleGFtcGxlLmNvbQ==",
        "link": "https://x.example/?tel=%2B44%207700%20900123",
        "ship_to": "221B Baker Street",
        "jane&#64;example.com": 1,
        "plan": "pro",
    }
    out, findings = pii.scan(props, "redact", path="properties")
    assert out == {
        "ref": "[email]",
        "link": "https://x.example/?tel=[phone]",
        "ship_to": "[address]",
        "[email]": 1,
        "plan": "pro",
    }
    assert [(f.path, f.kind) for f in findings] == [
        ("properties.ref", "email"),
        ("properties.link", "phone"),
        ("properties.ship_to", "address"),
        ("properties.<key>", "email"),
    ]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://s.example/u/amFuZUBleGFtcGxlLmNvbQ/edit", "https://s.example/u/:email/edit"),
        ("https://s.example/u/jane&%2364;example.com", "https://s.example/u/:email"),
        ("https://s.example/u/j%26%2364;x.io", "https://s.example/u/:email"),
        ("https://s.example/u/ｊ＠ｘ．ｉｏ", "https://s.example/u/:email"),
        ("https://s.example/stores/221B%20Baker%20Street", "https://s.example/stores/:address"),
        ("https://s.example/p?utm_term=%2B44%207700%20900123", "https://s.example/p?utm_term=:phone"),
        ("https://s.example/p?utm_content=amFuZUBleGFtcGxlLmNvbQ%3D%3D", "https://s.example/p?utm_content=:email"),
    ],
)
def test_url_cleaning_reads_the_same_encodings(url: str, expected: str) -> None:
    """Given a URL whose segment or kept value holds encoded personal data, then it becomes a placeholder."""
    cleaned = urls.clean_url(url)
    assert cleaned is not None and cleaned.url == expected


# -- generated personal data, encoded -------------------------------------------------------------


@st.composite
def phones(draw: st.DrawFn) -> str:
    cc = draw(st.sampled_from("123456789")) + draw(st.text(string.digits, max_size=2))
    groups = draw(st.lists(st.text(string.digits, min_size=2, max_size=4), min_size=2, max_size=4))
    assume(7 <= len(cc) + sum(map(len, groups)) <= 15)
    sep = draw(st.sampled_from([" ", "-"]))
    return "+" + cc + sep + sep.join(groups)


emails = st.emails().filter(lambda e: len(e) <= 80)
ipv4s = st.ip_addresses(v=4).map(str)
ipv6s = st.ip_addresses(v=6).filter(lambda a: int(a) > 0xFFFFFFFF).map(str)
planted = st.one_of(
    emails,
    phones(),
    ipv4s,
    ipv6s,
    cards(["4", "51", "55", "2221", "34", "37", "6011", "3528", "62"]),
    ibans(["DE", "GB", "FR", "NL", "NO", "BE"]),
)

ENCODINGS: dict[str, Callable[[str], str]] = {
    "percent1": lambda v: quote(v, safe=""),
    "percent2": lambda v: quote(quote(v, safe=""), safe=""),
    "percent3": lambda v: quote(quote(quote(v, safe=""), safe=""), safe=""),
    "percent_all": percent_all,
    "percent_all_twice": lambda v: quote(percent_all(v), safe=""),
    "entities": entities,
    "entities_hex": lambda v: entities(v, hexadecimal=True),
    "fullwidth": fullwidth,
    "base64": b64,
    "base64_unpadded": lambda v: b64(v, pad=False),
    "base64url": lambda v: b64(v, urlsafe=True, pad=False),
    "base64_percent": lambda v: quote(b64(v), safe=""),
    "jwt": lambda v: jwt({"sub": "1234", "email": v}),
}


def _assert_gone(value: str, encoded: str, out: str) -> None:
    assert value not in out
    assert encoded not in out
    for form in pii.decoded_forms(out):
        assert value not in form
    assert b64(value, pad=False) not in out


@PROPERTY
@given(value=planted, encoding=st.sampled_from(sorted(ENCODINGS)), before=st.sampled_from(["", "ref ", "x=", "see: "]))
def test_encoded_values_are_found_and_redacted(value: str, encoding: str, before: str) -> None:
    """Given generated personal data encoded any of the ways, then find finds it and redact leaves no form of it."""
    encoded = ENCODINGS[encoding](value)
    assume(len(value) >= 12 or not encoding.startswith("base64"))  # base64 runs of 16+ characters
    text = f"{before}{encoded} end"
    kinds = pii.find(text)
    assert kinds, (value, text)
    assert pii.contains_pii(text) and pii.classify(text) is not None
    out = pii.redact(text)
    _assert_gone(value, encoded, out)
    assert pii.find(out) == set()
    scanned, findings = pii.scan({"note": text}, "redact")
    assert findings and value not in json.dumps(scanned, ensure_ascii=False)
    assert pii.PRECHECK.search(to_json({"note": text})), text


@PROPERTY
@given(ip=st.ip_addresses(v=4).map(str), prefix=st.sampled_from(["https://x.example/u/", "/u/", "/a/b/", "u/"]))
def test_ipv4_as_a_path_segment_is_found(ip: str, prefix: str) -> None:
    """Given an IPv4 address as a whole path segment, then it is an address, not a product version."""
    for text in (f"{prefix}{ip}/edit", f"{prefix}{ip}?x=1", f"https://x.example/{ip}"):
        assert "ipv4" in pii.find(text), text
        assert ip not in pii.redact(text)
    if not prefix.startswith("u/"):
        assert "ipv4" in pii.find(f"{prefix}{ip}")


@PROPERTY
@given(
    value=planted.filter(lambda v: "/" not in v),
    encoding=st.sampled_from(["percent1", "percent2", "percent3", "base64url"]),
)
def test_encoded_values_in_url_segments_and_values_become_placeholders(value: str, encoding: str) -> None:
    """Given encoded personal data as a path segment or a UTM value, then the cleaned URL holds no form of it."""
    encoded = ENCODINGS[encoding](value)
    assume(len(value) >= 12 or not encoding.startswith("base64"))
    cleaned = urls.clean_url(f"https://s.example/u/{encoded}/edit?utm_term={encoded}")
    assert cleaned is not None
    _assert_gone(value, encoded, cleaned.url)
    assert cleaned.url.endswith("/edit?utm_term=" + cleaned.url.split("=")[-1])


# -- benign text, encoded or not ------------------------------------------------------------------

BENIGN = [
    "Blue T-Shirt",
    "Street Fighter 6",
    "Nike Air Max 90",
    "PlayStation 5 Slim",
    "EUR 1,299.00",
    "12.50",
    "Version/17.4.1",
    "Chrome/131.0.0.0",
    "v1.2.3",
    "10.0.19045.2965",
    "2026-11-24",
    "2026-11-24T10:15:30+01:00",
    "550e8400-e29b-41d4-a716-446655440000",
    "ord_1042",
    "checkout_completed",
    "Summer Sale 2026",
]


@PROPERTY
@given(
    text=st.one_of(
        st.sampled_from(BENIGN),
        st.builds(str, st.uuids()),
        st.dates().map(lambda d: d.isoformat()),
        st.datetimes().map(lambda d: d.isoformat()),
        st.decimals(min_value=0, max_value=10**6, places=2).map(str),
        st.from_regex(r"[A-Z][a-z]{2,9}( [A-Z][a-z]{2,9}){0,3}", fullmatch=True),
    ),
    encoding=st.sampled_from(["none", "percent1", "percent2", "entities", "fullwidth", "base64"]),
)
def test_benign_strings_encoded_or_not_are_untouched(text: str, encoding: str) -> None:
    """Given product names, prices, versions, UUIDs or ISO dates, plain or encoded, then nothing is found."""
    encoded = text if encoding == "none" else ENCODINGS[encoding](text)
    assert pii.find(encoded) == set(), encoded
    assert pii.redact(encoded) is encoded


@PROPERTY
@given(text=st.text(max_size=120))
def test_any_text_agrees_with_itself_and_the_precheck(text: str) -> None:
    """Given any text, then find, classify, contains_pii and redact agree, and the precheck is a superset."""
    kinds = pii.find(text)
    assert (pii.classify(text) is None) == (not kinds) == (not pii.contains_pii(text))
    assert (pii.redact(text) != text) == bool(kinds)
    if kinds:
        assert pii.PRECHECK.search(to_json({"v": text}))


def test_long_encoded_inputs_stay_linear() -> None:
    """Given 8 KB of adversarial encoded text, then every function still returns."""
    for text in (
        "%25" * 2730,
        "&#64;" * 1638,
        "＠" * 8192,
        "eyJ" * 2730,
        "eyJ" + "a" * 8000 + ".",
        "Ab" * 4096,
        "QUJD" * 2048,
        "1 Aa " * 1638,
        "/1.2.3.4" * 1024,
    ):
        pii.find(text)
        pii.redact(text)
        pii.scan({"v": text}, "redact")
