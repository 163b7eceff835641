"""Golden payloads for Meta's Conversions API ``user_data``, written from the documentation.

``fixtures/meta/customer_information_parameters.json`` holds one case per line of Meta's
"Customer Information Parameters" page (Formatting the user_data Parameters: em, ph, fn, ln, db,
ge, ct, st, zp, country): each names the section it follows, quotes its rule, and gives the input,
the normalised value and the expected ``user_data``. Every expected digest was computed outside
this code (SHA-256 of the normalised value); where Meta prints the digest itself, the test checks
the fixture against Meta's number too.

The trait-shape cases drive real Segment/RudderStack event bodies through ingest
(``parse_event`` -> hit -> ``meta_user_data``), one per shape the Segment and RudderStack specs and
their SDK docs use (issue 18, item 13).
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from fairtrack.anonymise.formats import admits
from fairtrack.anonymise.userdata import META_KEYS, meta_user_data
from fairtrack.destinations.regions import (
    CANADIAN_PROVINCES,
    COUNTRY_CODES,
    COUNTRY_NAMES,
    US_STATES,
    country_code,
    region_key,
)
from fairtrack.hit import UserData
from fairtrack.protocols.segment import SegmentEvent, parse_event

FIXTURES = Path(__file__).parent / "fixtures" / "meta" / "customer_information_parameters.json"
CASES: list[dict[str, Any]] = json.loads(FIXTURES.read_text(encoding="utf-8"))
SECTION = re.compile(
    r"Customer Information Parameters > Formatting the user_data Parameters > "
    r"(em|ph|fn|ln|db|ge|ct|st|zp|country) \([A-Za-z ]+\)"
)
HEX64 = re.compile(r"[0-9a-f]{64}")
RECEIVED_AT = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)

# The digests Meta prints on the page, copied from it (normalised value -> SHA-256 as printed).
META_PUBLISHED = {
    "john_smith@gmail.com": "62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f",
    "16505551212": "e323ec626319ca94ee8bff2e4c87cf613be6ea19919ed1364124e16807ab3176",
    "mary": "6915771be1c5aa0c886870b6951b03d7eafc121fea0e80a5ea83beb7c449f4ec",
    "정": "8fa8cd9c440be61d0151429310034083132b35975c4bea67fdd74158eb51db14",
    "valéry": "08e1996b5dd49e62a4b4c010d44e4345592a863bb9f8e3976219bac29417149c",
    "19970216": "01acdbf6ec7b4f478a225f1a246e5d6767eeab1a7ffa17f025265b5b94f40f0c",
    "us": "79adb2a2fce5c6ba215fe5f27f532d4e7edbac4b6a5e09e1ef3a08084a904621",
}

# sha256sum of the normalised values the trait-shape cases expect
EM_JANE = "8c87b489ce35cf2e2f39f80e282cb2e804932a56a213983eeeb428407d43b52d"  # jane@example.com
PH_US = "e323ec626319ca94ee8bff2e4c87cf613be6ea19919ed1364124e16807ab3176"  # 16505551212
FN_JANE = "81f8f6dde88365f3928796ec7aa53f72820b06db8664f5fe76a7eb13e24546a2"  # jane
LN_DOE = "799ef92a11af918e3fb741df42934f3b568ed2d93ac1df74f1b8d41a27932a6f"  # doe
GE_F = "252f10c83610ebca1a059c0bae8255eba2f95be4d1d7bcfa89d7248a82d9f111"  # f
DB_1990 = "7eaa6e2f3dca12acc11ad21625299f660e38a7510de1e12cf2013dd5274d2926"  # 19900517
CT_SF = "1a6bd4d9d79dc0a79b53795c70d3349fa9e38968a3fbefbfe8783efb1d2b6aac"  # sanfrancisco
ST_CA = "6959097001d10501ac7d54c0bdb8db61420f658f2922cc26e46d536119a31126"  # ca
ZP_94105 = "e73ac16e69f060ee98b0fda5f66f48c4648ee26950e9bab3a097389853fd859e"  # 94105
COUNTRY_US = "79adb2a2fce5c6ba215fe5f27f532d4e7edbac4b6a5e09e1ef3a08084a904621"  # us


def sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --- Meta's Customer Information Parameters, one fixture per documented rule ---------------------


def test_fixtures_cover_every_hashed_key_and_name_their_section() -> None:
    assert {case["section"].rsplit("> ", 1)[1].split(" ", 1)[0] for case in CASES} == set(META_KEYS)
    for case in CASES:
        assert SECTION.fullmatch(case["section"]), case["section"]
        assert case["doc"].startswith("developers.facebook.com/"), case
        assert case["rule"], case


@pytest.mark.parametrize("case", CASES, ids=[f"{c['section'].rsplit('> ', 1)[1]}: {c['input']}" for c in CASES])
def test_meta_user_data_matches_the_documented_normalisation(case: dict[str, Any]) -> None:
    out = meta_user_data(UserData(**case["input"]))
    assert out == case["expected"], case["note"]
    key = case["section"].rsplit("> ", 1)[1].split(" ", 1)[0]
    assert out[key] == [sha(case["normalized"])]
    assert list(out) == [k for k in META_KEYS if k in out]


def test_fixture_digests_equal_the_ones_meta_prints() -> None:
    published = [case for case in CASES if case["published_by_meta"]]
    assert {case["normalized"] for case in published} == set(META_PUBLISHED)
    for case in published:
        leaves = [leaf for key_leaves in case["expected"].values() for leaf in key_leaves]
        assert META_PUBLISHED[case["normalized"]] in leaves, case


def test_every_leaf_is_admitted_by_the_user_data_format() -> None:
    """The closed-world catalogue types ``userData.meta`` as ``user_data``: SHA-256 hex leaves only."""
    for case in CASES:
        out = meta_user_data(UserData(**case["input"]))
        assert out is not None
        assert all(HEX64.fullmatch(leaf) for leaves in out.values() for leaf in leaves)
        assert admits("user_data", out), case


# --- the region tables ---------------------------------------------------------------------------


def test_every_us_state_dc_and_outlying_area_name_hashes_its_code() -> None:
    assert len(US_STATES) == 57  # 50 states, DC, AS GU MP PR VI UM
    for code, names in US_STATES.items():
        for name in names:
            assert meta_user_data(UserData(state=name, country="US")) == {"st": [sha(code)], "country": [sha("us")]}


def test_every_canadian_province_and_territory_name_hashes_its_code() -> None:
    assert len(CANADIAN_PROVINCES) == 13
    for code, names in CANADIAN_PROVINCES.items():
        for name in names:
            assert meta_user_data(UserData(state=name, country="CA")) == {"st": [sha(code)], "country": [sha("ca")]}


def test_every_country_name_and_alpha3_code_hashes_its_alpha2_code() -> None:
    assert len(COUNTRY_CODES) == 249
    for code, names in COUNTRY_NAMES.items():
        for name in (code, code.upper(), *names):
            assert meta_user_data(UserData(country=name)) == {"country": [sha(code)]}, name


def test_region_keys_fold_case_accents_and_punctuation() -> None:
    assert region_key("Côte d'Ivoire") == region_key("COTE D IVOIRE") == "cotedivoire"
    assert country_code("C\u00f4te d\u2019Ivoire")  # a typographic apostrophe == "ci"
    assert country_code("  the netherlands ") == "nl"
    assert country_code("") is None
    assert country_code("中国") is None  # names are matched in Latin script only


# --- traits in the shapes the Segment and RudderStack specs use (item 13) ------------------------

FULL = {
    "em": [EM_JANE],
    "ph": [PH_US],
    "fn": [FN_JANE],
    "ln": [LN_DOE],
    "ge": [GE_F],
    "db": [DB_1990],
    "ct": [CT_SF],
    "st": [ST_CA],
    "zp": [ZP_94105],
    "country": [COUNTRY_US],
}
PERSON = {"email": "Jane@Example.com", "phone": "+1 650 555 1212", "gender": "female", "birthday": "1990-05-17"}

TRAIT_SHAPES: list[tuple[str, dict[str, Any]]] = [
    (
        "Segment Spec, Identify, Traits: firstName, lastName, address {city, state, postalCode, country}",
        {**PERSON, "firstName": "Jane", "lastName": "Doe",
         "address": {"street": "1 Market St", "city": "San Francisco", "state": "CA", "postalCode": "94105",
                     "country": "USA"}},
    ),
    (
        "RudderStack Identify spec, traits: as Segment's, names written out in full",
        {**PERSON, "firstName": "Jane", "lastName": "Doe",
         "address": {"city": "San Francisco", "state": "California", "postalCode": "94105-1234",
                     "country": "United States"}},
    ),
    (
        "rudder-transformer GenericFieldMapping: first_name, last_name, flat city/state/zip/country",
        {**PERSON, "first_name": "Jane", "last_name": "Doe", "city": "San Francisco", "state": "CA", "zip": "94105",
         "country": "US"},
    ),
    (
        "rudder-transformer GenericFieldMapping: firstname, lastname, address.postal_code",
        {**PERSON, "firstname": "Jane", "lastname": "Doe",
         "address": {"city": "San Francisco", "state": "CA", "postal_code": "94105", "country": "US"}},
    ),
    (
        "Segment Spec traits flat: city, state, postalCode (a number, as SDKs send a numeric ZIP), country",
        {**PERSON, "firstName": "Jane", "lastName": "Doe", "city": "San Francisco", "state": "CA",
         "postalCode": 94105, "country": "us"},
    ),
    (
        "rudder-transformer GenericFieldMapping: address.zip, address.zipcode beside flat names",
        {**PERSON, "first_name": "Jane", "lastname": "Doe",
         "address": {"city": "San Francisco", "state": "California", "zip": "94105", "country": "U.S.A."}},
    ),
]  # fmt: skip


def ingest(**event: Any) -> dict[str, list[str]] | None:
    parsed = parse_event({"anonymousId": "a-1", **event}, implied_type=event["type"])
    assert isinstance(parsed, SegmentEvent), parsed
    hit = parsed.to_hit(RECEIVED_AT)
    return None if hit.userData is None else meta_user_data(hit.userData)


@pytest.mark.parametrize(("source", "traits"), TRAIT_SHAPES, ids=[source for source, _ in TRAIT_SHAPES])
def test_identify_traits_in_each_shape_give_the_full_record(source: str, traits: dict[str, Any]) -> None:
    assert ingest(type="identify", traits=traits) == FULL, source


@pytest.mark.parametrize(("source", "traits"), TRAIT_SHAPES, ids=[source for source, _ in TRAIT_SHAPES])
def test_track_context_traits_in_each_shape_give_the_full_record(source: str, traits: dict[str, Any]) -> None:
    assert ingest(type="track", event="Order Completed", context={"traits": traits}) == FULL, source


def test_address_object_wins_over_flat_traits_and_camel_case_over_snake_case() -> None:
    out = ingest(
        type="identify",
        traits={"firstName": "Jane", "first_name": "Joan", "zip": "10001", "address": {"postalCode": "94105"}},
    )
    assert out == {"fn": [FN_JANE], "zp": [ZP_94105]}


def test_event_traits_win_over_context_traits_field_by_field() -> None:
    out = ingest(
        type="identify",
        traits={"first_name": "Jane"},
        context={"traits": {"firstName": "Joan", "lastName": "Doe"}},
    )
    assert out == {"fn": [FN_JANE], "ln": [LN_DOE]}


def test_unusable_trait_values_fall_through_to_the_next_name() -> None:
    out = ingest(type="identify", traits={"firstName": "  ", "first_name": "Jane", "address": "1 Market St"})
    assert out == {"fn": [FN_JANE]}
