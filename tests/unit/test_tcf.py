"""fairtrack.consent.tcf, held to IAB Tech Lab's reference implementation ``@iabtechlabtcf/core``.

The cross-check runs ``node tools/tcf/make-strings.mjs`` (its pinned, locked dependency is installed
by ``make test`` with ``npm ci --prefix tools/tcf``; tests never reach the network): the reference library encodes TC
strings from known values, decodes them back, and for every case our ``decode`` must give the
values set and exactly what the library decodes. Node is required: without it these tests fail.

Then hand-built malformed strings (each refused with a clear TCFError) and hypothesis properties:
any text, any bytes as base64url, any bits behind a valid header, and mutations of a real string
either decode or raise TCFError, never anything else.
"""

from __future__ import annotations

import base64
import contextlib
import json
import shutil
import subprocess
import time
import timeit
from dataclasses import FrozenInstanceError
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fairtrack.consent.tcf import (
    MAX_LENGTH,
    MAX_RANGE_IDS,
    MAX_VENDOR_ID,
    NOT_ALLOWED,
    REQUIRE_CONSENT,
    TCFError,
    TCString,
    decode,
)

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / "tools" / "tcf"
PROPERTY = settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

# Encoded by @iabtechlabtcf/core 1.5.21 (the 'service-specific-range' case of make-strings.mjs):
# core (vendor sections as ranges, four publisher restrictions) + disclosed vendors + publisher TC.
REFERENCE = (
    "CQbwIj_QgVeAAEs___DEBYE0ALCAAAEgAIYgXcQA4FeAWCBdwF3ARXQAwAyAPnBFcAIEgBAAKAAYPAAwABAAYEACAApArwCvQwAGApoEVgAA"
    ".IXcQBgAyQK8AsEB84F3ARXAu4AAA"
    ".fAAACEAAAkoA"
)


# -- the reference implementation ----------------------------------------------------------------


class Reference:
    """The reference cases, or why they could not be made. Tests read ``cases``, which fails the test
    itself (a FAIL, not a setup error or a skip) when node is missing or the script broke."""

    def __init__(self, cases: list[dict[str, Any]] | None = None, error: str | None = None) -> None:
        self._cases, self._error = cases or [], error

    @property
    def cases(self) -> list[dict[str, Any]]:
        if self._error is not None:
            pytest.fail(self._error, pytrace=False)
        return self._cases


def _make_reference() -> Reference:
    node = shutil.which("node")
    if node is None:
        return Reference(
            error="node is not on PATH: tests/unit/test_tcf.py cross-checks fairtrack.consent.tcf with IAB Tech Lab's "
            "reference implementation (@iabtechlabtcf/core in tools/tcf). Install Node.js 20+ and npm (CI has them)."
        )
    if not (TOOL / "node_modules" / "@iabtechlabtcf" / "core").is_dir():
        return Reference(
            error="tools/tcf/node_modules is missing: `make test` installs it (npm ci --prefix tools/tcf); "
            "tests do not reach the network themselves"
        )
    proc = subprocess.run(
        [node, str(TOOL / "make-strings.mjs")], check=False, cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    if proc.returncode != 0:
        return Reference(error=f"node tools/tcf/make-strings.mjs failed:\n{proc.stderr}")
    cases: list[dict[str, Any]] = json.loads(proc.stdout)
    return Reference(cases) if cases else Reference(error="make-strings.mjs produced no cases")


@pytest.fixture(scope="session")
def reference() -> Reference:
    """Runs ``npm ci`` (only when tools/tcf/node_modules lacks the library) and the script, once."""
    return _make_reference()


def plain(tc: TCString) -> dict[str, Any]:
    """Our decoding in the JSON shape make-strings.mjs prints."""

    def ids(values: frozenset[int] | None) -> list[int] | None:
        return None if values is None else sorted(values)

    pub = tc.publisher_tc
    return {
        "version": tc.version,
        "created": tc.created.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "lastUpdated": tc.last_updated.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "cmpId": tc.cmp_id,
        "cmpVersion": tc.cmp_version,
        "consentScreen": tc.consent_screen,
        "consentLanguage": tc.consent_language,
        "vendorListVersion": tc.vendor_list_version,
        "policyVersion": tc.tcf_policy_version,
        "isServiceSpecific": tc.is_service_specific,
        "useNonStandardTexts": tc.use_non_standard_texts,
        "specialFeatureOptins": ids(tc.special_feature_opt_ins),
        "purposeConsents": ids(tc.purposes_consent),
        "purposeLegitimateInterests": ids(tc.purposes_li_transparency),
        "purposeOneTreatment": tc.purpose_one_treatment,
        "publisherCountryCode": tc.publisher_cc,
        "vendorConsents": ids(tc.vendor_consents),
        "vendorLegitimateInterests": ids(tc.vendor_legitimate_interests),
        "publisherRestrictions": [
            {"purposeId": r.purpose_id, "restrictionType": r.restriction_type, "vendorIds": sorted(r.vendor_ids)}
            for r in tc.publisher_restrictions
        ],
        "vendorsDisclosed": ids(tc.disclosed_vendors),
        "vendorsAllowed": ids(tc.allowed_vendors),
        "publisherTC": None
        if pub is None
        else {
            "publisherConsents": sorted(pub.purposes_consent),
            "publisherLegitimateInterests": sorted(pub.purposes_li_transparency),
            "numCustomPurposes": pub.num_custom_purposes,
            "publisherCustomConsents": sorted(pub.custom_purposes_consent),
            "publisherCustomLegitimateInterests": sorted(pub.custom_purposes_li_transparency),
        },
    }


def test_decode_matches_the_values_set_and_the_reference_decoding(reference: Reference) -> None:
    """Given TC strings the reference library encoded, then every field we decode equals what the library
    decodes, and the values that were set (publisher restrictions: at least the vendors named)."""
    for case in reference.cases:
        ours = plain(decode(case["tcString"]))
        assert ours == case["library"], case["name"]
        expected = dict(case["expected"])
        named = expected.pop("publisherRestrictions")
        got = ours.pop("publisherRestrictions")
        assert ours == expected, case["name"]
        assert [(r["purposeId"], r["restrictionType"]) for r in got] == [
            (r["purposeId"], r["restrictionType"]) for r in named
        ], case["name"]
        for want, have in zip(named, got, strict=True):
            assert set(want["vendorIds"]) <= set(have["vendorIds"]), case["name"]


def test_cases_cover_both_vendor_encodings_and_every_segment(reference: Reference) -> None:
    """Given the reference cases, then each vendor section was encoded both as a bitfield and as ranges
    somewhere, and every optional segment type (and a core-only string) occurs."""
    seen: dict[str, set[str]] = {}
    for case in reference.cases:
        for section, encoding in case["encodings"].items():
            seen.setdefault(section, set()).add(encoding)
    for section in ("vendorConsents", "vendorLegitimateInterests", "vendorsDisclosed"):
        assert seen[section] == {"bitfield", "range"}, section
    assert "range" in seen["vendorsAllowed"]
    segments = {tuple(case["segments"]) for case in reference.cases}
    assert {name for s in segments for name in s} == {"core", "vendorsDisclosed", "vendorsAllowed", "publisherTC"}
    assert ("core",) in segments
    assert any(case["library"]["publisherRestrictions"] for case in reference.cases)
    assert any((case["library"]["publisherTC"] or {}).get("numCustomPurposes") for case in reference.cases)


def test_v2_3_flag_follows_the_disclosed_vendors_segment(reference: Reference) -> None:
    """Given each reference string, then v2_3_compliant is true exactly when it has a Disclosed Vendors segment
    (the library leaves it out of core-only and of isForVendors strings without OOB support)."""
    flags = {case["name"]: decode(case["tcString"]).v2_3_compliant for case in reference.cases}
    for case in reference.cases:
        assert flags[case["name"]] == ("vendorsDisclosed" in case["segments"]), case["name"]
    assert set(flags.values()) == {True, False}


def test_reference_encoder_widens_restrictions_over_vendors_missing_from_its_gvl(
    reference: Reference,
) -> None:
    """Given a restriction set on vendors 333 and 555 with no GVL vendor between them, then the library wrote
    one range 333-555, and the string (ours and the library's decoding alike) covers 334..554 too."""
    case = next(c for c in reference.cases if c["name"] == "service-specific-range")
    assert case["tcString"] == REFERENCE  # the constant the other tests use is this case's string
    restriction = decode(case["tcString"]).publisher_restrictions
    widened = next(r for r in restriction if (r.purpose_id, r.restriction_type) == (3, NOT_ALLOWED))
    assert widened.vendor_ids == frozenset(range(333, 556))


# -- a known string, helpers ----------------------------------------------------------------------


def test_reference_string_fields_and_helpers() -> None:
    """Given a string the reference encoded, then the fields and the helper methods read as set."""
    tc = decode(REFERENCE)
    assert (tc.version, tc.cmp_id, tc.cmp_version, tc.consent_screen) == (2, 300, 4095, 63)
    assert tc.created == datetime(2025, 11, 30, 23, 59, 59, 900000, tzinfo=UTC)
    assert (tc.consent_language, tc.publisher_cc, tc.vendor_list_version, tc.tcf_policy_version) == ("DE", "DE", 88, 4)
    assert tc.is_service_specific and tc.use_non_standard_texts and tc.purpose_one_treatment
    assert tc.purpose_consent(1) and tc.purpose_consent(9) and not tc.purpose_consent(2)
    assert tc.purpose_legitimate_interest(8) and not tc.purpose_legitimate_interest(1)
    assert tc.special_feature_opt_in(2) and not tc.special_feature_opt_in(1)
    assert tc.vendor_consent(3000) and tc.vendor_consent(702) and not tc.vendor_consent(706)
    assert tc.vendor_legitimate_interest(2222) and not tc.vendor_legitimate_interest(700)
    assert tc.vendor_disclosed(999) and not tc.vendor_disclosed(1)
    assert tc.restriction_types(2, 10) == {REQUIRE_CONSENT} and tc.restriction_types(2, 11) == frozenset()
    assert tc.v2_3_compliant
    assert tc.publisher_tc is not None and tc.publisher_tc.custom_purposes_consent == {1, 4}
    with pytest.raises(FrozenInstanceError):
        tc.cmp_id = 1  # type: ignore[misc]


def test_optional_segments_in_any_order() -> None:
    """Given the same segments in another order, then the decoding is the same."""
    core, disclosed, publisher = REFERENCE.split(".")
    assert decode(f"{core}.{publisher}.{disclosed}") == decode(REFERENCE)
    assert decode(core).disclosed_vendors is None and not decode(core).v2_3_compliant


# -- hand-built strings ---------------------------------------------------------------------------

ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def b64(bits: str) -> str:
    bits += "0" * (-len(bits) % 6)
    return "".join(ALPHABET[int(bits[i : i + 6], 2)] for i in range(0, len(bits), 6))


def f(value: int, width: int) -> str:
    return format(value, f"0{width}b")


def header(version: int = 2, language: tuple[int, int] = (4, 13)) -> str:
    """Core fields up to PublisherCC (213 bits)."""
    return (
        f(version, 6)
        + f(17_000_000_000, 36) * 2
        + f(10, 12)
        + f(1, 12)
        + f(1, 6)
        + f(language[0], 6)
        + f(language[1], 6)
        + f(100, 12)
        + f(5, 6)
        + "0"
        + "0"
        + f(0, 12)
        + "1" * 24
        + f(0, 24)
        + "0"
        + f(3, 6)
        + f(1, 6)
    )


EMPTY_VENDORS = f(0, 16) + "0"


def ranges(max_id: int, entries: list[tuple[int, int]]) -> str:
    out = f(max_id, 16) + "1" + f(len(entries), 12)
    for start, end in entries:
        out += "0" + f(start, 16) if start == end else "1" + f(start, 16) + f(end, 16)
    return out


def core(consents: str = EMPTY_VENDORS, li: str = EMPTY_VENDORS, restrictions: str = f(0, 12), **kw: Any) -> str:
    return b64(header(**kw) + consents + li + restrictions)


def test_hand_built_core_decodes() -> None:
    """Given a core segment built bit by bit, then it decodes to those values."""
    tc = decode(core(consents=ranges(50, [(3, 3), (10, 12)]), li=f(4, 16) + "0" + "1001"))
    assert tc.consent_language == "EN" and tc.publisher_cc == "DB" and tc.cmp_id == 10
    assert tc.created == datetime.fromtimestamp(1_700_000_000, UTC)
    assert tc.purposes_consent == frozenset(range(1, 25)) and tc.special_feature_opt_ins == frozenset()
    assert tc.vendor_consents == {3, 10, 11, 12} and tc.vendor_legitimate_interests == {1, 4}
    assert tc.publisher_restrictions == () and tc.disclosed_vendors is None


def test_duplicate_restriction_pairs_merge() -> None:
    """Given two restriction entries for the same purpose and type, then they merge into one."""
    one = f(2, 6) + f(REQUIRE_CONSENT, 2) + f(1, 12) + "0" + f(5, 16)
    other = f(2, 6) + f(REQUIRE_CONSENT, 2) + f(1, 12) + "1" + f(8, 16) + f(9, 16)
    (merged,) = decode(core(restrictions=f(2, 12) + one + other)).publisher_restrictions
    assert (merged.purpose_id, merged.restriction_type, merged.vendor_ids) == (2, REQUIRE_CONSENT, frozenset({5, 8, 9}))


@pytest.mark.parametrize(
    ("tc_string", "message"),
    [
        pytest.param("", "empty TC string", id="empty"),
        pytest.param("CO+abc", "not base64url", id="plus"),
        pytest.param("CO/abc", "not base64url", id="slash"),
        pytest.param(REFERENCE.split(".", maxsplit=1)[0] + "==", "not base64url", id="padding"),
        pytest.param(" " + REFERENCE, "not base64url", id="space"),
        pytest.param("CQbw\u00e9", "not base64url", id="non-ascii"),
        pytest.param(REFERENCE + ".", "segment 4 is empty", id="trailing-dot"),
        pytest.param(REFERENCE.replace(".", ".."), "segment 2 is empty", id="double-dot"),
        pytest.param("A" * (MAX_LENGTH + 1), f"longer than {MAX_LENGTH}", id="too-long"),
        pytest.param(core(version=1), "Version is 1, expected 2 (TCF v1", id="version-1"),
        pytest.param(core(version=3), "Version is 3, expected 2", id="version-3"),
        pytest.param("BOEFEAyOEFEAyAHABDENAI4AAAB9vABAASA", "Version is 1", id="real-v1"),
        pytest.param(REFERENCE[:20], "core segment truncated", id="truncated-core"),
        pytest.param(b64(header()), "vendor consents MaxVendorId needs 16 bits at bit 213", id="no-vendor-section"),
        pytest.param(
            b64(header() + EMPTY_VENDORS + EMPTY_VENDORS), "NumPubRestrictions needs 12 bits", id="no-restrictions"
        ),
        pytest.param(core(language=(26, 0)), "ConsentLanguage is not two letters", id="bad-letter"),
        pytest.param(core(consents=ranges(100, [(50, 40)])), "range entry 0 ends before it starts", id="end<start"),
        pytest.param(core(consents=ranges(100, [(0, 4)])), "names vendor id 0", id="vendor-0"),
        pytest.param(core(li=ranges(100, [(90, 101)])), "goes past vendor id 100", id="past-max"),
        pytest.param(
            core(consents=f(65535, 16) + "0"), f"MaxVendorId 65535 is above {MAX_VENDOR_ID}", id="huge-max-id"
        ),
        pytest.param(core(consents=f(9000, 16) + "0"), "vendor consents bitfield needs 9000 bits", id="short-bitfield"),
        pytest.param(
            b64(header() + f(10, 16) + "1" + f(4095, 12) + "0" + f(1, 16)),
            "core segment truncated: vendor consents range entry 1",
            id="num-entries-beyond-end",
        ),
        pytest.param(
            core(consents=ranges(MAX_VENDOR_ID, [(1, MAX_VENDOR_ID)] * (MAX_RANGE_IDS // MAX_VENDOR_ID + 1))),
            f"more than {MAX_RANGE_IDS} vendor ids",
            id="range-budget",
        ),
        pytest.param(
            core(restrictions=f(1, 12) + f(0, 6) + f(0, 2) + f(0, 12)), "has PurposeId 0", id="restriction-purpose-0"
        ),
        pytest.param(
            core(restrictions=f(1, 12) + f(2, 6) + f(3, 2) + f(0, 12)), "RestrictionType 3", id="restriction-type-3"
        ),
        pytest.param(core() + "." + b64(f(5, 3) + "0" * 21), "unknown segment type 5", id="segment-type-5"),
        pytest.param(core() + "." + b64(f(0, 3) + "0" * 21), "second core segment", id="segment-type-0"),
        pytest.param(
            core() + "." + b64(f(1, 3) + EMPTY_VENDORS) + "." + b64(f(1, 3) + EMPTY_VENDORS),
            "repeats the disclosed vendors segment",
            id="repeated-segment",
        ),
        pytest.param(core() + ".I", "disclosed vendors segment truncated", id="truncated-disclosed"),
        pytest.param(
            core() + "." + b64(f(3, 3) + "0" * 48 + f(40, 6) + "1" * 40),
            "CustomPurposesLITransparency needs 40 bits",
            id="truncated-publisher-tc",
        ),
    ],
)
def test_malformed_strings_raise_tcf_error(tc_string: str, message: str) -> None:
    """Given a malformed string, then TCFError names what is wrong (and never quotes the input)."""
    with pytest.raises(TCFError) as info:
        decode(tc_string)
    assert message in str(info.value)
    if len(tc_string) > 8:
        assert tc_string not in str(info.value)


def test_non_text_input_is_refused() -> None:
    """Given bytes or None, then TCFError, not a TypeError."""
    for value in (b"CQ", None, 12):
        with pytest.raises(TCFError, match="must be text"):
            decode(value)  # type: ignore[arg-type]


def test_tcf_error_is_a_value_error() -> None:
    assert issubclass(TCFError, ValueError)


def test_worst_case_strings_stay_fast() -> None:
    """Given the most expensive strings the limits allow (range budget spent in full, the longest
    bitfields), then each decodes or fails in well under 50 ms."""
    full_budget = core(consents=ranges(MAX_VENDOR_ID, [(1, MAX_VENDOR_ID)] * (MAX_RANGE_IDS // MAX_VENDOR_ID)))
    restrictions = f(252, 12) + "".join(
        f(p, 6) + f(t, 2) + f(1, 12) + "1" + f(1, 16) + f(MAX_VENDOR_ID, 16) for p in range(1, 64) for t in range(3)
    )
    longest_bitfield = core(consents=f(MAX_VENDOR_ID, 16) + "0" + "1" * MAX_VENDOR_ID)
    for tc_string in (full_budget, core(restrictions=restrictions), longest_bitfield):
        started = time.perf_counter()
        with contextlib.suppress(TCFError):
            decode(tc_string)
        assert time.perf_counter() - started < 0.05


def test_typical_decode_time() -> None:
    """A typical three-segment string decodes in well under a millisecond (measured: see the report)."""
    per_call = min(timeit.repeat(lambda: decode(REFERENCE), number=200, repeat=5)) / 200
    assert per_call < 1e-3


# -- properties -----------------------------------------------------------------------------------


def decodes_or_refuses(tc_string: str) -> None:
    try:
        tc = decode(tc_string)
    except TCFError as exc:
        assert str(exc)
        return
    assert isinstance(tc, TCString) and tc.version == 2


@PROPERTY
@given(st.text())
def test_any_text_decodes_or_raises_tcf_error(text: str) -> None:
    decodes_or_refuses(text)


@PROPERTY
@given(st.lists(st.binary(max_size=400), min_size=1, max_size=5))
def test_any_bytes_as_base64url_segments(chunks: list[bytes]) -> None:
    decodes_or_refuses(".".join(base64.urlsafe_b64encode(c).rstrip(b"=").decode() for c in chunks))


@PROPERTY
@given(
    st.lists(st.sampled_from("01"), max_size=3000).map("".join),
    st.lists(st.tuples(st.integers(0, 7), st.lists(st.sampled_from("01"), max_size=600).map("".join)), max_size=4),
)
def test_any_bits_behind_a_valid_header(rest: str, segments: list[tuple[int, str]]) -> None:
    """Random bits after a valid core header (and random optional segments) reach the vendor, range and
    restriction decoders; still only TCFError or a decoding."""
    tc_string = b64(header() + rest) + "".join("." + b64(f(kind, 3) + bits) for kind, bits in segments)
    decodes_or_refuses(tc_string)


@PROPERTY
@given(st.lists(st.tuples(st.integers(0, len(REFERENCE) - 1), st.sampled_from(ALPHABET + ".=")), max_size=6))
def test_mutations_of_a_real_string(edits: list[tuple[int, str]]) -> None:
    chars = list(REFERENCE)
    for index, char in edits:
        chars[index] = char
    decodes_or_refuses("".join(chars))
