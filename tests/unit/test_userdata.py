"""Normalise-then-hash of user-provided data for Meta (``meta_user_data``) and GA4
(``ga4_user_data``).

Every expected digest below is written literally; each was computed outside this code with
``printf '%s' '<normalised value>' | sha256sum``. Meta publishes some of them in its customer
information parameters docs (john_smith@gmail.com, 16505551212, mary, valéry, 정): those tests
check this code against Meta's own examples.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fairtrack.anonymise.userdata import META_KEYS, ga4_user_data, meta_user_data, sha256_hex
from fairtrack.hit import UserData

# Meta's published examples (developers.facebook.com, customer information parameters)
META_DOC_EMAIL = "62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f"  # john_smith@gmail.com
META_DOC_PHONE = "e323ec626319ca94ee8bff2e4c87cf613be6ea19919ed1364124e16807ab3176"  # 16505551212
META_DOC_MARY = "6915771be1c5aa0c886870b6951b03d7eafc121fea0e80a5ea83beb7c449f4ec"  # mary
META_DOC_VALERY = "08e1996b5dd49e62a4b4c010d44e4345592a863bb9f8e3976219bac29417149c"  # valéry
META_DOC_JEONG = "8fa8cd9c440be61d0151429310034083132b35975c4bea67fdd74158eb51db14"  # 정

# computed with sha256sum
JANE_DOE_EXAMPLE = "86e0b9e56c17cc4d12387e1949b85053fbe73bc3ce5a1188713a9d300cc6133d"  # jane.doe@example.com
JOHN_DOT_SMITH_GMAIL = "d0c648bc36f12061bec770df216cea2ab95851b9350fd54b658de53b0407767a"  # john.smith@gmail.com
JOHNSMITH_GMAIL = "3586de92bb3636d0885a12eff961429a32e4ebd764b96f50d85d016f9338d586"  # johnsmith@gmail.com
JOHNSMITH_GOOGLEMAIL = "b1dd4aa5ffe1507d6883708fdf4f7a88d176b107097b541c6975a70e2b8ffbb8"  # johnsmith@googlemail.com
UK_PHONE_DIGITS = "35e206e5dec4c89b9e8b71b8c32724a5bb518483ac5a20c6617d738375b3b823"  # 442079460958
UK_PHONE_E164 = "f0bf0228144d9fe2bdf1da2d8ca698f17bf1410ee688b075c27062e47b6f0b6d"  # +442079460958
US_PHONE_E164 = "1e231c66011e7a2d867a9cfae267a6aff103cf4913640b6e71a99850fc0ffbc8"  # +16505551212
ZOE = "2752b88686847fa5c86f47b94ce652b7b3f22a91c37617d451a4db9afa431450"  # zoë
OBRIEN = "b4cb6cb33fe4b865868de825023a1e2790dc12ac01ecc8d7c5afe8254071c8ba"  # obrien
JEANLUC = "7fef38066db9900f992fa9926eea8cc648f44c2af50c4d511c415422196c8ef5"  # jeanluc
MARY_ANN = "343b97011010c3549fe7fcd6c226ed9431ea37b0b77ed78f6300a0098925faf1"  # mary ann
GENDER_F = "252f10c83610ebca1a059c0bae8255eba2f95be4d1d7bcfa89d7248a82d9f111"  # f
GENDER_M = "62c66a7a5dd70c3146618063c344e531e6d4b59e379808443ce962b3abd63c5a"  # m
DOB_19900517 = "7eaa6e2f3dca12acc11ad21625299f660e38a7510de1e12cf2013dd5274d2926"  # 19900517
NEWYORK = "350c754ba4d38897693aa077ef43072a859d23f613443133fecbbd90a3512ca5"  # newyork
STLOUIS = "8ba24bdf99947996f3000259be455de791b06fcc0e802ce05031030df1ee8ea3"  # stlouis
SAOPAULO_ACCENTED = "3eda1428ae1aece064071f8d40f08fe2bc59ffa66c171a163caf15122ec4d7f0"  # sãopaulo
STATE_NY = "1b06e2003f8420d6fa42badd8f77ec0f706b976b7a48b13c567dc5a559681683"  # ny
STATE_CA = "6959097001d10501ac7d54c0bdb8db61420f658f2922cc26e46d536119a31126"  # ca
ILEDEFRANCE = "7f2f97f2a36f4cae0d099b382c08f83ec00532733befa7a2831942ab70360a48"  # îledefrance
ZIP_10001 = "e443169117a184f91186b401133b20be670c7c0896f9886075e5d9b81e9d076b"  # 10001
ZIP_94035 = "1794327a4d443904421f5ca1f3d72d0a62ba2f0770d80755ec2220fc0efb052e"  # 94035
ZIP_SW1A1AA = "830e1d4b9838bab1f5c2acdb23e0b502ff13a9832c4632e8d67a1d43d3b7f614"  # sw1a1aa
ZIP_12345678 = "ef797c8118f02dfb649607dd5d3f8c7623048c9c063d532cc95c5ed7a898a64f"  # 12345678
COUNTRY_US = "79adb2a2fce5c6ba215fe5f27f532d4e7edbac4b6a5e09e1ef3a08084a904621"  # us
COUNTRY_DE = "959a45d44e6fcf58361ed004681556fe50129f2109e817dec098c00c9e5d2578"  # de
COUNTRY_GB = "0b407281768f0e833afef47ed464b6571d01ca4d53c12ce5c51d1462f4ad6677"  # gb
STATE_QC = "997164d13810adf6cab52541447d083c4472e5ca6052cc6ddd9501318ac5730c"  # qc
STATE_DC = "abecdf3503635c0be9eca61cddf5b25c7f8380d5aae7d73d0f62e9a38c87b70d"  # dc
STATE_GA = "f52d63231eb0dbaac689ec9147e4b131fc95ef92d5bc78135b22934b36d76bf4"  # ga
QUEBEC = "b24384fa9a20ad2d83459d0d9e3e405c0ea2a17b1cbfc159d88f3f47feed64f1"  # quebec
CALIFORNIA = "7e8eea5cc60980270c9ceb75ce8c087d48d726110fd3d17921f774eefd8e18d8"  # california
YUCATAN = "d5ed732500d6a20420559dc5332e7e01249ac180a7162b5dc4f41f1f17f3e571"  # yucatán

HEX64 = re.compile(r"[0-9a-f]{64}")


def meta(**fields: Any) -> dict[str, list[str]] | None:
    return meta_user_data(UserData(**fields))


def ga4(**fields: Any) -> dict[str, Any] | None:
    return ga4_user_data(UserData(**fields))


def meta_key(key: str, **fields: Any) -> list[str] | None:
    out = meta(**fields)
    return None if out is None else out.get(key)


# --- Meta's own published examples ---------------------------------------------------------------


def test_meta_published_examples_match() -> None:
    assert meta(email="John_Smith@gmail.com") == {"em": [META_DOC_EMAIL]}
    assert meta(phone="+1 (650) 555-1212") == {"ph": [META_DOC_PHONE]}
    assert meta(firstName="Mary") == {"fn": [META_DOC_MARY]}
    assert meta(lastName="Valéry") == {"ln": [META_DOC_VALERY]}
    assert meta(firstName="정") == {"fn": [META_DOC_JEONG]}


def test_sha256_hex_is_plain_sha256_of_utf8() -> None:
    assert sha256_hex("mary") == META_DOC_MARY
    assert sha256_hex("\ud800") is None  # a lone surrogate is not text: no digest, no exception


# --- the complete record ------------------------------------------------------------------------


# The complete record, field by field: what Meta is given, its key and the digest it gets; what GA4
# is given (None: nothing), of which it keeps only the e-mail, the phone and the names.
FULL_RECORD = (
    ("email", "  Jane.Doe@Example.COM ", "em", JANE_DOE_EXAMPLE, "John.Smith@gmail.com"),
    ("phone", "+44 (0)20 7946 0958", "ph", UK_PHONE_DIGITS, "+44 20 7946 0958"),
    ("firstName", " Zoë ", "fn", ZOE, "Zoë"),
    ("lastName", "O'Brien", "ln", OBRIEN, "O'Brien"),
    ("gender", "Female", "ge", GENDER_F, None),
    ("birthday", "1990-05-17", "db", DOB_19900517, None),
    ("city", "New York", "ct", NEWYORK, "New York"),
    ("state", "NY", "st", STATE_NY, "NY"),
    ("postalCode", "10001-1234", "zp", ZIP_10001, "10001"),
    ("country", "US", "country", COUNTRY_US, "US"),
)


def test_full_record_for_meta_in_key_order() -> None:
    out = meta(**{field: value for field, value, _, _, _ in FULL_RECORD})
    assert out == {key: [digest] for _, _, key, digest, _ in FULL_RECORD}
    assert list(out) == list(META_KEYS)


def test_full_record_for_ga4_has_only_hashed_email_phone_and_names() -> None:
    out = ga4(**{field: value for field, _, _, _, value in FULL_RECORD if value is not None})
    assert out == {
        "sha256_email_address": [JOHNSMITH_GMAIL],
        "sha256_phone_number": [UK_PHONE_E164],
        "address": [{"sha256_first_name": ZOE, "sha256_last_name": OBRIEN}],
    }


# --- e-mail --------------------------------------------------------------------------------------


def test_gmail_dots_are_removed_for_ga4_only() -> None:
    assert ga4(email=" John.Smith@GMAIL.com ") == {"sha256_email_address": [JOHNSMITH_GMAIL]}
    assert ga4(email="john.smith@googlemail.com") == {"sha256_email_address": [JOHNSMITH_GOOGLEMAIL]}
    assert meta_key("em", email="John.Smith@gmail.com") == [JOHN_DOT_SMITH_GMAIL]


def test_dots_are_kept_for_other_domains_in_ga4() -> None:
    assert ga4(email="Jane.Doe@example.com") == {"sha256_email_address": [JANE_DOE_EXAMPLE]}


@pytest.mark.parametrize(
    "email",
    ["", "   ", "jane", "jane@", "@example.com", "jane@example", "jane@@example.com", "ja ne@example.com",
     "jane@example..com", "jane@.example.com", "jane@example.com.", "jane\x00@example.com", "...@gmail.com"],
)  # fmt: skip
def test_unusable_emails_are_left_out(email: str) -> None:
    assert meta(email=email) is None
    assert ga4(email=email) is None


# --- phone ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "phone",
    [
        "+442079460958",
        "+44 20 7946 0958",
        "+44-20-7946-0958",
        "+44 (0)20 7946 0958",
        "0044 20 7946 0958",
        "00442079460958",
        " +44.20.7946.0958 ",
        "+44/20/7946/0958",
        "\uff0b\uff14\uff14 20 7946 0958",  # full-width plus and digits
        "+44\u00a020\u00a07946\u00a00958",  # no-break spaces
    ],
)
def test_phone_with_country_code_in_any_notation(phone: str) -> None:
    assert meta(phone=phone) == {"ph": [UK_PHONE_DIGITS]}
    assert ga4(phone=phone) == {"sha256_phone_number": [UK_PHONE_E164]}


def test_us_phone_e164_for_ga4() -> None:
    assert ga4(phone="+1 650-555-1212") == {"sha256_phone_number": [US_PHONE_E164]}


@pytest.mark.parametrize(
    "phone",
    [
        "(650)555-1212",  # Meta's own example input: no country code, so not normalisable safely
        "020 7946 0958",  # national format
        "6505551212",
        "+0 650 555 1212",  # a country code cannot start with 0
        "000442079460958",
        "+1 800 FLOWERS",  # letters
        "+1 650 555 1212 ext. 12",
        "+44 20 7946 0958 #2",
        "+123456",  # too short for E.164
        "+1234567890123456",  # 16 digits: too long
        "+",
        "",
    ],
)
def test_phone_without_usable_country_code_is_left_out(phone: str) -> None:
    assert meta(phone=phone) is None
    assert ga4(phone=phone) is None


# --- names ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Mary", META_DOC_MARY),
        ("  MARY  ", META_DOC_MARY),
        ("Mary.", META_DOC_MARY),
        ("Zoë", ZOE),
        ("ZOË", ZOE),
        ("Zoe\u0308", ZOE),  # decomposed diaeresis: NFC makes it the same name
        ("O'Brien", OBRIEN),
        ("O\u2019Brien", OBRIEN),  # typographic apostrophe
        ("Jean-Luc", JEANLUC),
        ("Mary   Ann", MARY_ANN),
        ("Valéry", META_DOC_VALERY),
        ("정", META_DOC_JEONG),
    ],
)
def test_names_lowercased_trimmed_without_punctuation(raw: str, expected: str) -> None:
    assert meta_key("fn", firstName=raw) == [expected]
    assert meta_key("ln", lastName=raw) == [expected]
    assert ga4(firstName=raw) == {"address": [{"sha256_first_name": expected}]}


def test_names_of_punctuation_only_are_left_out() -> None:
    assert meta(firstName="--", lastName=" . ") is None
    assert ga4(firstName="'", lastName="") is None


# --- gender, birthday ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("Female", GENDER_F), ("f", GENDER_F), (" F ", GENDER_F), ("male", GENDER_M), ("M", GENDER_M), ("MALE", GENDER_M)],
)
def test_gender(raw: str, expected: str) -> None:
    assert meta(gender=raw) == {"ge": [expected]}


@pytest.mark.parametrize("raw", ["other", "non-binary", "w", "fem", "", "mf"])
def test_other_genders_are_left_out(raw: str) -> None:
    assert meta(gender=raw) is None


@pytest.mark.parametrize(
    "raw",
    ["1990-05-17", " 1990-05-17 ", "19900517", "1990-05-17T00:00:00Z", "1990-05-17T23:30:00+02:00", "1990-05-17 08:00"],
)
def test_birthday_iso_dates_and_datetimes(raw: str) -> None:
    assert meta(birthday=raw) == {"db": [DOB_19900517]}


def test_birthday_out_of_range_or_unreadable_is_left_out() -> None:
    tomorrow = (datetime.now(UTC) + timedelta(days=2)).date().isoformat()
    for raw in ["1990-02-30", "1990-13-01", "17/05/1990", "05/17/1990", "May 17, 1990", "1990", "1990-W20-4",
                "1899-12-31", tomorrow, "1990-05-17Tnonsense"]:  # fmt: skip
        assert meta(birthday=raw) is None, raw


# --- location ------------------------------------------------------------------------------------


def test_city_lowercase_without_spaces_or_punctuation() -> None:
    assert meta(city="New York") == {"ct": [NEWYORK]}
    assert meta(city="  NEW-YORK ") == {"ct": [NEWYORK]}
    assert meta(city="St. Louis") == {"ct": [STLOUIS]}
    assert meta(city="São Paulo") == {"ct": [SAOPAULO_ACCENTED]}
    assert meta(city="123 !") is None


def test_state_code_or_name() -> None:
    assert meta(state="CA") == {"st": [STATE_CA]}
    assert meta(state=" ny ") == {"st": [STATE_NY]}
    assert meta(state="N.Y.") == {"st": [STATE_NY]}
    assert meta(state="Île-de-France") == {"st": [ILEDEFRANCE]}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("California", STATE_CA), ("  new york ", STATE_NY), ("NEW-YORK", STATE_NY), ("Georgia", STATE_GA),
     ("District of Columbia", STATE_DC), ("Washington, D.C.", STATE_DC), ("Québec", STATE_QC),
     ("Quebec", STATE_QC)],
)  # fmt: skip
def test_us_state_and_canadian_province_names_become_codes(raw: str, expected: str) -> None:
    assert meta(state=raw) == {"st": [expected]}


def test_state_names_become_codes_only_for_their_country() -> None:
    assert meta(state="California", country="United States") == {"st": [STATE_CA], "country": [COUNTRY_US]}
    assert meta_key("st", state="Quebec", country="CA") == [STATE_QC]
    assert meta_key("st", state="Georgia", country="US") == [STATE_GA]
    # a Canadian name is not turned into a code for a US address, nor a US name for a Mexican one
    assert meta_key("st", state="Quebec", country="US") == [QUEBEC]
    assert meta_key("st", state="Yucatán", country="Mexico") == [YUCATAN]
    assert meta_key("st", state="California", country="MX") == [CALIFORNIA]


def test_zip_codes() -> None:
    assert meta(postalCode="94035-1234") == {"zp": [ZIP_94035]}
    assert meta(postalCode="940351234") == {"zp": [ZIP_94035]}
    assert meta(postalCode=" 94035 ") == {"zp": [ZIP_94035]}
    assert meta(postalCode="SW1A 1AA") == {"zp": [ZIP_SW1A1AA]}
    assert meta(postalCode="12345-678") == {"zp": [ZIP_12345678]}  # Brazilian CEP: dash removed, not cut
    assert meta(postalCode=" - ") is None


def test_country_codes_and_names_become_iso_alpha2() -> None:
    assert meta(country="US") == {"country": [COUNTRY_US]}
    assert meta(country=" de ") == {"country": [COUNTRY_DE]}
    for raw in ["USA", "usa", "U.S.", "U.S.A.", "United States", "united states of america"]:
        assert meta(country=raw) == {"country": [COUNTRY_US]}, raw
    for raw in ["UK", "u.k.", "United Kingdom", "Great Britain", "GBR", "England"]:
        assert meta(country=raw) == {"country": [COUNTRY_GB]}, raw
    for raw in ["Germany", "Deutschland", "DEU"]:
        assert meta(country=raw) == {"country": [COUNTRY_DE]}, raw


def test_countries_that_are_not_codes_or_known_names_are_left_out() -> None:
    for raw in ["zz", "u", "", "12", "Europe", "Atlantis", "中国", "EU"]:
        assert meta(country=raw) is None, raw


def test_ga4_never_gets_location_even_hashed() -> None:
    assert ga4(city="New York", state="NY", postalCode="10001", country="US", gender="f", birthday="1990-05-17") is None


# --- robustness ----------------------------------------------------------------------------------


def test_empty_user_data_is_none() -> None:
    assert meta_user_data(UserData()) is None
    assert ga4_user_data(UserData()) is None


def test_wrong_types_do_not_raise() -> None:
    fields: dict[str, Any] = {
        "email": ["jane@example.com"],
        "phone": 4420794609,
        "lastName": b"x",
        "birthday": 19900517,
        "country": {"us": 1},
    }
    odd = UserData.model_construct(**fields)
    assert meta_user_data(odd) is None
    assert ga4_user_data(odd) is None


def test_lone_surrogates_are_never_hashed_or_raised() -> None:
    assert meta(email="ja\ud800ne@example.com", phone="+44\ud80020 7946 0958", city="\ud800") is None
    assert meta(firstName="Mary\ud800") == {"fn": [META_DOC_MARY]}  # the invalid code point is removed


def test_overlong_values_are_left_out() -> None:
    assert meta(firstName="a" * 5000, city="b" * 5000) is None


FIELDS = ("email", "phone", "firstName", "lastName", "gender", "birthday", "city", "state", "postalCode", "country")


@settings(max_examples=300, deadline=None, database=None)
@given(st.fixed_dictionaries({}, optional={name: st.text(max_size=40) for name in FIELDS}))
def test_property_only_hashes_come_out(fields: dict[str, str]) -> None:
    ud = UserData(**fields)
    out_meta = meta_user_data(ud)
    out_ga4 = ga4_user_data(ud)
    for values in (out_meta or {}).values():
        assert len(values) == 1 and HEX64.fullmatch(values[0])
    assert out_meta is None or (out_meta and set(out_meta) <= set(META_KEYS))
    if out_ga4 is not None:
        assert set(out_ga4) <= {"sha256_email_address", "sha256_phone_number", "address"}
        leaves = [*out_ga4.get("sha256_email_address", []), *out_ga4.get("sha256_phone_number", [])]
        leaves += [v for address in out_ga4.get("address", []) for v in address.values()]
        assert leaves and all(HEX64.fullmatch(v) for v in leaves)


@settings(max_examples=200, deadline=None, database=None)
@given(
    local=st.from_regex(r"[A-Za-z0-9]([A-Za-z0-9._+-]{0,20}[A-Za-z0-9])?", fullmatch=True),
    domain=st.from_regex(r"[a-z0-9]{1,10}\.(com|de|fr)", fullmatch=True),
    pad=st.sampled_from(["", " ", "\t", "  "]),
)
def test_property_email_hash_is_of_the_trimmed_lowercased_address(local: str, domain: str, pad: str) -> None:
    raw = f"{pad}{local}@{domain}{pad}"
    expected = hashlib.sha256(f"{local}@{domain}".lower().encode()).hexdigest()
    assert meta(email=raw) == {"em": [expected]}
