"""Personal data in free text and nested properties (fairtrack/anonymise/pii.py).

Concrete cases for every kind and for the false positives the heuristics must avoid (prices,
years, timestamps, order ids, versions), then properties: generated e-mails, phones, IPs, IBANs
and Luhn-valid cards planted in text and in nested property values never survive redaction or
drop in the clear, and nothing raises on arbitrary input.
"""

from __future__ import annotations

import json
import string
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from unit_pii_values import cards, ibans

from fairtrack.anonymise.pii import (
    KNOWN_PII_FIELDS,
    Finding,
    classify,
    find,
    is_known_pii_field,
    redact,
    scan,
)

PROPERTY = settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


# -- concrete cases -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kinds", "redacted"),
    [
        ("jane.doe@example.com", {"email"}, "[email]"),
        ("Contact: Jane.Doe+news@mail.example.co.uk, thanks", {"email"}, "Contact: [email], thanks"),
        ("mailto:jane@example.com", {"email"}, "mailto:[email]"),
        ("sent to jane%40example.com", {"email"}, "sent to [email]"),
        ("double jane%2540example.com", {"email"}, "double [email]"),
        ("jöhn@exämple.de", {"email"}, "[email]"),
        ("call +49 30 1234567 please", {"phone"}, "call [phone] please"),
        ("tel:+1-555-123-4567", {"phone"}, "tel:[phone]"),
        ("+442071838750", {"phone"}, "[phone]"),
        ("+33 6 12 34 56 78", {"phone"}, "[phone]"),
        ("+49 (0)30 1234567", {"phone"}, "[phone]"),
        ("(555) 123-4567", {"phone"}, "[phone]"),
        ("555.123.4567", {"phone"}, "[phone]"),
        ("555-1234", {"phone"}, "[phone]"),
        ("030 1234567", {"phone"}, "[phone]"),
        ("030/1234567", {"phone"}, "[phone]"),
        ("06-12345678", {"phone"}, "[phone]"),
        ("0049 30 1234567", {"phone"}, "[phone]"),
        ("Tel: 030 1234567", {"phone"}, "Tel: [phone]"),
        ("01.23.45.67.89", {"phone"}, "[phone]"),
        ("DE89 3704 0044 0532 0130 00", {"iban"}, "[iban]"),
        ("iban: de89370400440532013000.", {"iban"}, "iban: [iban]."),
        ("GB29NWBK60161331926819 is mine", {"iban"}, "[iban] is mine"),
        ("FR14 2004 1010 0505 0001 3M02 606", {"iban"}, "[iban]"),
        ("NL91ABNA0417164300", {"iban"}, "[iban]"),
        ("NO9386011117947", {"iban"}, "[iban]"),
        ("MT84MALT011000012345MTLCAST001S", {"iban"}, "[iban]"),
        ("4111 1111 1111 1111", {"card"}, "[card]"),
        ("card: 4111-1111-1111-1111.", {"card"}, "card: [card]."),
        ("5555555555554444", {"card"}, "[card]"),
        ("amex 3782 822463 10005", {"card"}, "amex [card]"),
        ("from 192.168.1.20 at noon", {"ipv4"}, "from [ip] at noon"),
        ("http://10.0.0.1:8080/admin", {"ipv4"}, "http://[ip]:8080/admin"),
        ("2001:db8::1", {"ipv6"}, "[ip]"),
        ("[2001:db8:85a3::8a2e:370:7334]:443", {"ipv6"}, "[[ip]]:443"),
        ("fe80::1%eth0 link", {"ipv6"}, "[ip] link"),
        ("::ffff:192.0.2.1", {"ipv6"}, "[ip]"),
        (
            "Jane <jane@example.com>, +49 30 1234567, DE89370400440532013000, 4111111111111111, 203.0.113.9",
            {"email", "phone", "iban", "card", "ipv4"},
            "Jane <[email]>, [phone], [iban], [card], [ip]",
        ),
        ("card 4111 1111 1111 1111 2026", {"card"}, "card [card] 2026"),
        ("https://x.example/u/198.51.100.23", {"ipv4"}, "https://x.example/u/[ip]"),
        ("GET /hosts/10.0.0.1/status", {"ipv4"}, "GET /hosts/[ip]/status"),
        ("ship to 221B Baker Street, London", {"address"}, "ship to [address], London"),
        ("Hauptstraße 5", {"address"}, "[address]"),
        ("sent to jane&#64;example.com", {"email"}, "sent to [email]"),
    ],
)
def test_finds_and_redacts(text: str, kinds: set[str], redacted: str) -> None:
    """Given text holding personal data, find names its kinds and redact replaces each with a marker."""
    assert find(text) == kinds
    assert redact(text) == redacted
    assert classify(text) in kinds


@pytest.mark.parametrize(
    "text",
    [
        "12.50",
        "EUR 1,299.00",
        "1 299,00 €",
        "123456.78",
        "2026",
        "1999-2026",
        "2024-2026",
        "ord_1042",
        "order #1042 5561 2231",
        "2026-11-24",
        "24.11.2026",
        "11/24/2026",
        "2026-11-24T10:15:30.123Z",
        "2026-11-24 10:15:30",
        "2026-11-24T10:15:30+01:00",
        "2026-11-24T10:15:30.123-05",
        "at 10:15:30.123-05 today",
        "41111111-1111-1111-1111-000000000000",  # a UUID, though its digits hold a Luhn-valid run
        "10:15:30",
        "1732406400",
        "1732406400000",
        "1732406400.123",
        "0301234567",
        "1.234.567",
        "12 345 678",
        "1000-2000",
        "12345-6789",
        "10.0.19045.2965",
        "v1.2.3.4",
        "1.2.3.4.5",
        "Chrome/131.0.0.0 Safari/537.36",
        "Version/17.4.1 Mobile/15E148 Safari/604.1",
        "Street Fighter 6",
        "4 Wheel Drive",
        "Nike Air Max 90",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko)",
        "4111111111111112",  # fails Luhn
        "1234567890123452",  # Luhn-valid, but 1 is no card network's first digit
        "DE89370400440532013001",  # bad IBAN check digits
        "XX89370400440532013000",  # no such IBAN country
        "logo@2x.png",
        "@handle",
        "user@localhost",
        "std::vector<int>",
        "aa:bb:cc:dd:ee:ff",
        "::",
        "checkout",
        "Blue T-Shirt (XL)",
        "550e8400-e29b-41d4-a716-446655440000",
        "",
    ],
)
def test_false_positive_guards(text: str) -> None:
    """Given prices, years, timestamps, ids or versions, then nothing is found and the text is kept."""
    assert find(text) == set()
    assert redact(text) is text
    assert classify(text) is None


def test_phone_digit_bounds() -> None:
    """Given fewer than 7 or more than 15 digits, then it is not a phone, with or without a plus."""
    assert find("+49 30 12") == set()
    assert find("03 1234") == set()
    assert find("+49 30 1234567") == {"phone"}
    assert find("+49 301 2345 6789 0123") == set()  # 16 digits


# -- scan -----------------------------------------------------------------------------------------

PROPS: dict[str, Any] = {
    "plan": "pro",
    "price": 12.5,
    "note": "call me on +49 30 1234567",
    "items": [{"sku": "ord_1042", "gift_to": "jane@example.com"}, "mail: john@example.org"],
    "cc": 4111111111111111,
    "ok": True,
}


def test_scan_redact_replaces_findings_and_keeps_the_rest() -> None:
    """Given nested properties, when scanned with redact, then each finding is redacted in place."""
    out, findings = scan(PROPS, "redact", path="properties")
    assert out == {
        "plan": "pro",
        "price": 12.5,
        "note": "call me on [phone]",
        "items": [{"sku": "ord_1042", "gift_to": "[email]"}, "mail: [email]"],
        "cc": "[card]",
        "ok": True,
    }
    assert findings == [
        Finding("properties.note", "phone"),
        Finding("properties.items[0].gift_to", "email"),
        Finding("properties.items[1]", "email"),
        Finding("properties.cc", "card"),
    ]
    assert PROPS["note"] == "call me on +49 30 1234567"  # the input is not modified


def test_scan_drop_removes_fields() -> None:
    """Given nested properties, when scanned with drop, then fields and list elements holding PII go."""
    out, findings = scan(PROPS, "drop")
    assert out == {"plan": "pro", "price": 12.5, "items": [{"sku": "ord_1042"}], "ok": True}
    assert [f.path for f in findings] == ["note", "items[0].gift_to", "items[1]", "cc"]


def test_scan_quarantine_changes_nothing() -> None:
    """Given nested properties, when scanned with quarantine, then the same object comes back with findings."""
    out, findings = scan(PROPS, "quarantine")
    assert out is PROPS
    assert len(findings) == 4


def test_scan_without_findings_returns_the_same_objects() -> None:
    """Given clean properties, when scanned, then nothing is copied and nothing is found."""
    clean = {"a": "b", "n": [1, 2.5, None, {"x": "2026-11-24T10:15:30Z"}], "price": "12.50"}
    for action in ("redact", "drop", "quarantine"):
        out, findings = scan(clean, action)
        assert out is clean and findings == []


def test_scan_paths_never_hold_values_or_odd_keys() -> None:
    """Given keys that are not plain identifiers or hold PII themselves, then paths say <key>."""
    long_key = "k" * 65
    obj = {
        "jane@example.com": "x",
        "DE89370400440532013000": "y",
        "with space": "+49 30 1234567",
        long_key: "+49 30 1234567",
        "ok-key_1": "+49 30 1234567",
    }
    out, findings = scan(obj, "redact")
    assert findings == [
        Finding("<key>", "email"),
        Finding("<key>", "iban"),
        Finding("<key>", "phone"),
        Finding("<key>", "phone"),
        Finding("ok-key_1", "phone"),
    ]
    assert out == {"[email]": "x", "[iban]": "y", "with space": "[phone]", long_key: "[phone]", "ok-key_1": "[phone]"}
    text = json.dumps([tuple(f) for f in findings])
    assert "jane" not in text and "1234567" not in text and "DE89" not in text


def test_scan_redacted_key_collision_drops_the_entry() -> None:
    """Given two keys that redact to the same marker, then the second entry is dropped, not merged."""
    out, findings = scan({"a@example.com": 1, "b@example.com": 2}, "redact")
    assert out == {"[email]": 1}
    assert len(findings) == 2


def test_scan_by_name() -> None:
    """Given by_name, values under known personal-data field names are findings whatever they hold."""
    traits = {"firstName": "Jane", "last-name": "Doe", "address": {"street": "Main St 1"}, "plan": "pro", "email": ""}
    out, findings = scan(traits, "redact", path="traits", by_name=True)
    assert out == {
        "firstName": "[redacted]",
        "last-name": "[redacted]",
        "address": "[redacted]",
        "plan": "pro",
        "email": "",
    }
    assert findings == [
        Finding("traits.firstName", "field"),
        Finding("traits.last-name", "field"),
        Finding("traits.address", "field"),
    ]
    same, qfindings = scan(traits, "quarantine", path="traits", by_name=True)
    assert same is traits and qfindings == findings
    dropped, _ = scan(traits, "drop", by_name=True)
    assert dropped == {"plan": "pro", "email": ""}
    assert scan(traits, "redact")[1] == []  # off by default


def test_scan_depth_is_bounded() -> None:
    """Given nesting deeper than max_depth, then the deep part is a depth finding and is removed."""
    deep: Any = "jane@example.com"
    for _ in range(50):
        deep = {"d": deep}
    out, findings = scan(deep, "redact", max_depth=3)
    assert out == {"d": {"d": {}}}
    assert findings == [Finding("d.d.d", "depth")]
    same, qfindings = scan(deep, "quarantine", max_depth=3)
    assert same is deep and qfindings == findings


def test_scan_top_level_values() -> None:
    """Given a bare string or list, then scan works on it too; a dropped top level is None."""
    assert scan("jane@example.com", "redact") == ("[email]", [Finding("", "email")])
    assert scan("jane@example.com", "drop") == (None, [Finding("", "email")])
    assert scan(["a", "jane@example.com"], "drop") == (["a"], [Finding("[1]", "email")])


def test_scan_ints_that_are_not_cards_are_kept() -> None:
    """Given ints (prices in cents, timestamps, booleans), then only Luhn-valid card numbers are findings."""
    obj = {"ts": 1732406400000, "cents": 1299, "flag": True, "big": 4111111111111112}
    assert scan(obj, "redact") == (obj, [])


# -- field names ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    [
        "email", "E-Mail", "e_mail", "phone", "phone_number", "PhoneNumber", "mobile", "first_name",
        "firstName", "First Name", "last_name", "lastName", "name", "full_name", "address", "street",
        "zip", "postal_code", "postalCode", "birthday", "date_of_birth", "dateOfBirth", "ip",
        "billingEmail", "customer_phone", "shipping_zip_code", "user.email",
    ],
)  # fmt: skip
def test_known_pii_fields(key: str) -> None:
    """Given a personal-data field name in any case or separator style, then it is known."""
    assert is_known_pii_field(key)


@pytest.mark.parametrize(
    "key", ["plan", "productName", "event_name", "city", "country", "sku", "zipper", "emails_sent", ""]
)
def test_not_pii_fields(key: str) -> None:
    """Given an ordinary field name, then it is not a personal-data field."""
    assert not is_known_pii_field(key)


def test_known_fields_include_the_briefed_names() -> None:
    for name in ("email", "e_mail", "phone", "phone_number", "mobile", "first_name", "firstName", "last_name",
                 "lastName", "name", "full_name", "address", "street", "zip", "postal_code", "postalCode",
                 "birthday", "date_of_birth", "ip"):  # fmt: skip
        assert name in KNOWN_PII_FIELDS


# -- generated personal data ----------------------------------------------------------------------


def digits(n_min: int, n_max: int) -> st.SearchStrategy[str]:
    return st.text(string.digits, min_size=n_min, max_size=n_max)


@st.composite
def phones(draw: st.DrawFn) -> str:
    """Phone numbers in the shapes the heuristic documents."""
    shape = draw(st.sampled_from(["intl", "intl_compact", "trunk", "us", "us_dots"]))
    if shape in ("intl", "intl_compact"):
        cc = draw(st.sampled_from("123456789")) + draw(digits(0, 2))
        groups = draw(st.lists(digits(2, 4), min_size=2, max_size=4))
        total = len(cc) + sum(map(len, groups))
        assume(7 <= total <= 15)
        if shape == "intl_compact":
            return "+" + cc + "".join(groups)
        sep = draw(st.sampled_from([" ", "-"]))
        return "+" + cc + sep + sep.join(groups)
    if shape == "trunk":
        sep = draw(st.sampled_from([" ", "-", "/"]))
        return "0" + draw(digits(1, 4)) + sep + draw(st.sampled_from("123456789")) + draw(digits(4, 7))
    area, exchange, line = draw(digits(3, 3)), draw(digits(3, 3)), draw(digits(4, 4))
    if shape == "us_dots":
        return f"{area}.{exchange}.{line}"
    return draw(st.sampled_from([f"({area}) {exchange}-{line}", f"{area}-{exchange}-{line}"]))


ips = st.one_of(st.ip_addresses(v=4).map(str), st.ip_addresses(v=6).map(str).filter(lambda a: a.strip(":") != ""))
emails = st.emails()
planted = st.one_of(emails, phones(), ips, cards(), ibans(lowercase=True))
words = st.text(alphabet=string.ascii_letters + " ", max_size=20)


@PROPERTY
@given(value=planted, before=words, after=words)
def test_planted_values_are_redacted_in_text(value: str, before: str, after: str) -> None:
    """Given generated personal data inside a sentence, when redacted, then it is not in the clear."""
    text = f"{before} {value} {after}"
    assert find(text), value
    assert value not in redact(text)


@PROPERTY
@given(
    value=planted,
    before=words,
    keys=st.lists(st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,10}", fullmatch=True), min_size=1, max_size=4),
    in_list=st.booleans(),
    siblings=st.dictionaries(
        st.sampled_from(["plan", "price", "sku", "ts"]),
        st.sampled_from(["pro", "12.50", "ord_1042", "2026-11-24T10:15:30Z"]),
    ),
)
def test_planted_values_never_survive_a_scan(
    value: str, before: str, keys: list[str], in_list: bool, siblings: dict[str, str]
) -> None:
    """Given personal data planted deep in properties, redact and drop never keep it, quarantine reports where it is."""
    leaf: Any = f"{before} {value}".strip()
    path = ""
    if in_list:
        leaf = ["x", leaf]
    for key in reversed(keys):
        leaf = {**siblings, key: leaf}
    path = ".".join(keys) + ("[1]" if in_list else "")
    for action in ("redact", "drop"):
        out, findings = scan(leaf, action)
        assert value not in json.dumps(out, ensure_ascii=False)
        assert path in {f.path for f in findings}
    out, findings = scan(leaf, "quarantine")
    assert out is leaf and path in {f.path for f in findings}
    assert all(value not in f.path for f in findings)


@PROPERTY
@given(number=cards().map(lambda c: int(c.replace(" ", "").replace("-", ""))))
def test_card_numbers_as_json_numbers_are_found(number: int) -> None:
    """Given a card number sent as a JSON number, then scan finds and redacts it."""
    assert scan({"cc": number}, "redact") == ({"cc": "[card]"}, [Finding("cc", "card")])


# -- robustness -----------------------------------------------------------------------------------

noisy = st.text(alphabet=string.digits + " .-/()+:@%abcdefXYZ_,#\n", max_size=80)


@PROPERTY
@given(text=st.one_of(st.text(max_size=200), noisy))
def test_never_raises_and_agrees_with_itself(text: str) -> None:
    """Given any text, then find, redact and classify do not raise and agree with each other."""
    kinds = find(text)
    redacted = redact(text)
    assert (redacted != text) == bool(kinds)
    assert (classify(text) is None) == (not kinds)


@PROPERTY
@given(text=noisy)
def test_redaction_leaves_nothing_to_find(text: str) -> None:
    """Given any text, then a second look at the redacted text finds nothing more."""
    assert find(redact(text)) == set()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30) | noisy,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=30,
)


@PROPERTY
@given(obj=json_values, action=st.sampled_from(["redact", "drop", "quarantine"]), by_name=st.booleans())
def test_scan_never_raises(obj: Any, action: str, by_name: bool) -> None:
    """Given any JSON value, then scan returns without raising, and quarantine never changes it."""
    before = json.dumps(obj)
    out, findings = scan(obj, action, by_name=by_name)  # type: ignore[arg-type]
    assert json.dumps(obj) == before  # the input is never modified
    if action == "quarantine":
        assert out is obj
    if not findings:
        assert out is obj


def test_long_inputs_stay_linear() -> None:
    """Given 8 KB of adversarial text, then every function still returns (no catastrophic backtracking)."""
    for text in (
        "1 " * 4096,
        "a" * 8000 + "@",
        "1" * 8192,
        "1-" * 4096,
        ":" * 8192,
        "a." * 4096 + "@b",
        "DE89" * 2048,
        "+1 " * 2730,
    ):
        find(text)
        redact(text)
        scan({"v": text}, "redact")
