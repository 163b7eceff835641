"""IAB TCF v2.2 / v2.3 TC string decoder (stdlib only).

``decode(tc_string)`` returns a frozen :class:`TCString`; any input that is not a well-formed TC
string raises :class:`TCFError` (a ``ValueError``) and nothing else. Messages name the segment,
field and bit position, never the submitted text (a TC string can itself be personal data).

Layout (IAB "Consent string and vendor list formats v2"): segments separated by ``.``, each
base64url *without* padding, read as a big-endian bit string. The core segment comes first and
has no segment type (its first 6 bits are Version = 2); every later segment starts with a 3-bit
SegmentType: 1 Disclosed Vendors, 2 Allowed Vendors, 3 Publisher TC.

Decisions (strict where the format leaves no doubt, lenient where real CMPs differ harmlessly):

- Input: a ``str`` of at most :data:`MAX_LENGTH` (8 KB) characters from the base64url alphabet
  and ``.``. Padding (``=``), whitespace, empty segments (``..``, a leading or trailing ``.``) are
  malformed, as in the reference implementation (``@iabtechlabtcf/core``).
- Version must be 2 (v1 strings have another layout and are refused). TcfPolicyVersion is
  returned as read and not judged here (it is the GVL's, which the caller may compare).
- Every field must be present: a segment too short for the next field is "truncated". Bits left
  over after the last field are ignored (encoders pad to 6, 8 or 24 bits; the reference pads with
  zeros to a multiple of 24 and also ignores the rest when decoding).
- ConsentLanguage and PublisherCC letters are 0..25 ('A'..'Z'); anything else is malformed (the
  reference would return punctuation).
- Vendor sections (consents, legitimate interests, disclosed, allowed): MaxVendorId is at most
  :data:`MAX_VENDOR_ID` (the GVL's highest id is in the low thousands; 16 bits would allow
  65535). A range entry must have 1 <= start <= end <= MaxVendorId (the reference also refuses
  id 0, but reads ``end < start`` as no vendors and accepts ids past MaxVendorId). Bitfields hold
  exactly MaxVendorId bits.
- Range expansion is budgeted: the ids named by all range entries of one string (vendor sections
  and publisher restrictions, overlaps counted each time) may total :data:`MAX_RANGE_IDS`. A
  legitimate string never overlaps ranges and stays far below it; a crafted one cannot make us
  allocate millions of ints or loop for long (the reference has no such limit: 1.7 KB of
  overlapping ranges keep it busy for half a second). Bitfields are bounded by the input length.
- Publisher restrictions: PurposeId 1..63 (0 is malformed), RestrictionType 0 not allowed,
  1 require consent, 2 require legitimate interest; 3 is undefined and malformed (the reference
  throws a plain ``Error`` on both). Entries repeating a (purpose, type) pair are merged, as the
  reference does. Vendor ids in restrictions are 1..MAX_VENDOR_ID. The reference *encoder* joins
  two restricted vendors into one range when no vendor of its GVL lies between them, so a
  restriction may cover ids the CMP never named: that is what the string says, and we return it.
- Optional segments may come in any order, each at most once (the reference merges repeats);
  type 0 after the core segment and types 4..7 are malformed (the reference fails with a
  TypeError on those, and on versions above 2). Allowed Vendors and Publisher TC are decoded as stated, without
  judging whether the scope (service-specific or global) allows them.
- ``v2_3_compliant`` is true when the Disclosed Vendors segment is present: TCF v2.3 (mandatory
  from 28 February 2026) requires it in every string. Nothing else is checked for it.
- Sets are ``frozenset[int]`` of the ids whose bit is 1; an absent optional segment is ``None``.
  ``Created``/``LastUpdated`` are deciseconds since the epoch, returned as aware UTC datetimes.

Cost: imports ``dataclasses``, ``datetime`` and ``typing`` only (the rest of the layer loads them
anyway; no ``re``, no ``base64``), so it is imported on the first hit that carries a TC string.
Most of its import is ``@dataclass`` generating :class:`TCString`'s methods (the two small records
are NamedTuples, several times cheaper to create). The limits above bound the worst-case decode;
bench/README.md has the figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

__all__ = [
    "MAX_LENGTH",
    "MAX_RANGE_IDS",
    "MAX_VENDOR_ID",
    "NOT_ALLOWED",
    "REQUIRE_CONSENT",
    "REQUIRE_LI",
    "PublisherRestriction",
    "PublisherTC",
    "TCFError",
    "TCString",
    "decode",
]

MAX_LENGTH = 8192
MAX_VENDOR_ID = 10_000
MAX_RANGE_IDS = 100_000

NOT_ALLOWED, REQUIRE_CONSENT, REQUIRE_LI = 0, 1, 2

SEGMENT_NAMES = {0: "core", 1: "disclosed vendors", 2: "allowed vendors", 3: "publisher TC"}

_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_SIXBITS = {ord(c): format(i, "06b") for i, c in enumerate(_ALPHABET)}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class TCFError(ValueError):
    """The input is not a well-formed TCF v2 TC string. The message never quotes the input."""


class PublisherRestriction(NamedTuple):
    """One publisher restriction: ``purpose_id`` restricted with ``restriction_type``
    (:data:`NOT_ALLOWED`, :data:`REQUIRE_CONSENT` or :data:`REQUIRE_LI`) for ``vendor_ids``."""

    purpose_id: int
    restriction_type: int
    vendor_ids: frozenset[int]


class PublisherTC(NamedTuple):
    """The Publisher TC segment (type 3)."""

    purposes_consent: frozenset[int]
    purposes_li_transparency: frozenset[int]
    num_custom_purposes: int
    custom_purposes_consent: frozenset[int]
    custom_purposes_li_transparency: frozenset[int]


@dataclass(frozen=True, slots=True)
class TCString:
    """A decoded TC string. Field names follow the specification's."""

    version: int
    created: datetime
    last_updated: datetime
    cmp_id: int
    cmp_version: int
    consent_screen: int
    consent_language: str
    vendor_list_version: int
    tcf_policy_version: int
    is_service_specific: bool
    use_non_standard_texts: bool
    special_feature_opt_ins: frozenset[int]
    purposes_consent: frozenset[int]
    purposes_li_transparency: frozenset[int]
    purpose_one_treatment: bool
    publisher_cc: str
    vendor_consents: frozenset[int]
    vendor_legitimate_interests: frozenset[int]
    publisher_restrictions: tuple[PublisherRestriction, ...]
    disclosed_vendors: frozenset[int] | None = None
    allowed_vendors: frozenset[int] | None = None
    publisher_tc: PublisherTC | None = None

    @property
    def v2_3_compliant(self) -> bool:
        """Whether the Disclosed Vendors segment, required from TCF v2.3 on, is present."""
        return self.disclosed_vendors is not None

    def purpose_consent(self, purpose_id: int) -> bool:
        return purpose_id in self.purposes_consent

    def purpose_legitimate_interest(self, purpose_id: int) -> bool:
        return purpose_id in self.purposes_li_transparency

    def special_feature_opt_in(self, feature_id: int) -> bool:
        return feature_id in self.special_feature_opt_ins

    def vendor_consent(self, vendor_id: int) -> bool:
        return vendor_id in self.vendor_consents

    def vendor_legitimate_interest(self, vendor_id: int) -> bool:
        return vendor_id in self.vendor_legitimate_interests

    def vendor_disclosed(self, vendor_id: int) -> bool:
        return self.disclosed_vendors is not None and vendor_id in self.disclosed_vendors

    def restriction_types(self, purpose_id: int, vendor_id: int) -> frozenset[int]:
        """The restriction types the publisher set on ``vendor_id`` for ``purpose_id`` (usually
        none or one)."""
        return frozenset(
            r.restriction_type
            for r in self.publisher_restrictions
            if r.purpose_id == purpose_id and vendor_id in r.vendor_ids
        )


class _Reader:
    """A cursor over one segment's bits ('0'/'1' characters)."""

    __slots__ = ("bits", "budget", "pos", "segment")

    def __init__(self, bits: str, segment: str, budget: list[int]) -> None:
        self.bits = bits
        self.pos = 0
        self.segment = segment
        self.budget = budget  # shared by all segments of one string: range ids still allowed

    def truncated(self, n: int, what: str, at: int, field: str = "") -> TCFError:
        name = f"{what} {field}" if field else what  # formatted here, on failure only
        return TCFError(
            f"{self.segment} segment truncated: {name} needs {n} bits at bit {at}, only {len(self.bits) - at} left"
        )

    def take(self, n: int, what: str, field: str = "") -> str:
        start = self.pos
        end = start + n
        if end > len(self.bits):
            raise self.truncated(n, what, start, field)
        self.pos = end
        return self.bits[start:end]

    def uint(self, n: int, what: str, field: str = "") -> int:
        return int(self.take(n, what, field), 2)

    def flag(self, what: str, field: str = "") -> bool:
        start = self.pos
        if start >= len(self.bits):
            raise self.truncated(1, what, start, field)
        self.pos = start + 1
        return self.bits[start] == "1"

    def bitfield(self, n: int, what: str, field: str = "") -> frozenset[int]:
        bits = self.take(n, what, field)
        ids = []
        i = bits.find("1")
        while i != -1:
            ids.append(i + 1)
            i = bits.find("1", i + 1)
        return frozenset(ids)

    def letters(self, what: str) -> str:
        first, second = self.uint(6, what), self.uint(6, what)
        if first > 25 or second > 25:
            raise TCFError(f"{self.segment} segment: {what} is not two letters A-Z")
        return chr(65 + first) + chr(65 + second)

    def ranges(self, what: str, max_id: int) -> frozenset[int]:
        """NumEntries(12) then {IsARange(1), StartOrOnlyVendorId(16), EndVendorId(16)?}."""
        entries = self.uint(12, what, "NumEntries")
        bits, pos, size = self.bits, self.pos, len(self.bits)
        spans: list[tuple[int, int]] = []
        total = 0
        for n in range(entries):  # the hot loop: messages are only formatted on failure
            if pos + 17 > size:
                raise self.truncated(17, f"{what} range entry {n}", pos)
            start = int(bits[pos + 1 : pos + 17], 2)
            if bits[pos] == "1":
                if pos + 33 > size:
                    raise self.truncated(16, f"{what} range entry {n} EndVendorId", pos + 17)
                end = int(bits[pos + 17 : pos + 33], 2)
                pos += 33
            else:
                end = start
                pos += 17
            if start == 0:
                raise TCFError(f"{self.segment} segment: {what} range entry {n} names vendor id 0")
            if end < start:
                raise TCFError(f"{self.segment} segment: {what} range entry {n} ends before it starts")
            if end > max_id:
                raise TCFError(f"{self.segment} segment: {what} range entry {n} goes past vendor id {max_id}")
            spans.append((start, end))
            total += end - start + 1
        self.pos = pos
        self.budget[0] -= total
        if self.budget[0] < 0:
            raise TCFError(f"range entries name more than {MAX_RANGE_IDS} vendor ids in all")
        ids: set[int] = set()
        for start, end in spans:
            ids.update(range(start, end + 1))
        return frozenset(ids)

    def vendors(self, what: str) -> frozenset[int]:
        """A vendor section: MaxVendorId(16), IsRangeEncoding(1), then a bitfield or ranges."""
        max_id = self.uint(16, what, "MaxVendorId")
        if max_id > MAX_VENDOR_ID:
            raise TCFError(f"{self.segment} segment: {what} MaxVendorId {max_id} is above {MAX_VENDOR_ID}")
        if self.flag(what, "IsRangeEncoding"):
            return self.ranges(what, max_id)
        return self.bitfield(max_id, what, "bitfield")

    def restrictions(self) -> tuple[PublisherRestriction, ...]:
        count = self.uint(12, "NumPubRestrictions")
        merged: dict[tuple[int, int], frozenset[int]] = {}
        for n in range(count):
            what = f"publisher restriction {n}"
            purpose = self.uint(6, what, "PurposeId")
            kind = self.uint(2, what, "RestrictionType")
            if purpose == 0:
                raise TCFError(f"core segment: {what} has PurposeId 0")
            if kind == 3:
                raise TCFError(f"core segment: {what} has the undefined RestrictionType 3")
            ids = self.ranges(what, MAX_VENDOR_ID)
            merged[purpose, kind] = merged.get((purpose, kind), frozenset()) | ids
        return tuple(PublisherRestriction(p, k, merged[p, k]) for p, k in sorted(merged))


def _bits(segment: str, index: int) -> str:
    if not segment:
        raise TCFError(f"segment {index + 1} is empty")
    if segment.strip(_ALPHABET):  # leaves something only if a character is outside the alphabet
        raise TCFError(f"segment {index + 1} is not base64url without padding")
    return segment.translate(_SIXBITS)


def _datetime(deciseconds: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=deciseconds * 100)


def _optional_segments(
    segments: list[str], budget: list[int]
) -> tuple[frozenset[int] | None, frozenset[int] | None, PublisherTC | None]:
    """Disclosed Vendors, Allowed Vendors and Publisher TC (each ``None`` when absent)."""
    disclosed: frozenset[int] | None = None
    allowed: frozenset[int] | None = None
    publisher: PublisherTC | None = None
    seen: set[int] = set()
    for index in range(1, len(segments)):
        bits = _bits(segments[index], index)
        kind = int(bits[:3], 2)
        if kind == 0:
            raise TCFError(f"segment {index + 1} is a second core segment (segment type 0)")
        if kind > 3:
            raise TCFError(f"segment {index + 1} has the unknown segment type {kind}")
        name = SEGMENT_NAMES[kind]
        if kind in seen:
            raise TCFError(f"segment {index + 1} repeats the {name} segment")
        seen.add(kind)
        s = _Reader(bits, name, budget)
        s.pos = 3
        if kind == 1:
            disclosed = s.vendors("disclosed vendors section")
        elif kind == 2:
            allowed = s.vendors("allowed vendors section")
        else:
            pub_consent = s.bitfield(24, "PubPurposesConsent")
            pub_li = s.bitfield(24, "PubPurposesLITransparency")
            custom = s.uint(6, "NumCustomPurposes")
            publisher = PublisherTC(
                pub_consent,
                pub_li,
                custom,
                s.bitfield(custom, "CustomPurposesConsent"),
                s.bitfield(custom, "CustomPurposesLITransparency"),
            )
    return disclosed, allowed, publisher


def decode(tc_string: str) -> TCString:
    """Decode a TCF v2 TC string (core segment plus any optional segments).

    Raises :class:`TCFError` for anything malformed, and never another exception.
    """
    if not isinstance(tc_string, str):
        raise TCFError("a TC string must be text")
    if not tc_string:
        raise TCFError("empty TC string")
    if len(tc_string) > MAX_LENGTH:
        raise TCFError(f"TC string longer than {MAX_LENGTH} characters")
    segments = tc_string.split(".")
    budget = [MAX_RANGE_IDS]
    r = _Reader(_bits(segments[0], 0), "core", budget)
    version = r.uint(6, "Version")
    if version != 2:
        hint = " (TCF v1 strings are not supported)" if version == 1 else ""
        raise TCFError(f"core segment: Version is {version}, expected 2{hint}")
    created = _datetime(r.uint(36, "Created"))
    last_updated = _datetime(r.uint(36, "LastUpdated"))
    cmp_id = r.uint(12, "CmpId")
    cmp_version = r.uint(12, "CmpVersion")
    consent_screen = r.uint(6, "ConsentScreen")
    consent_language = r.letters("ConsentLanguage")
    vendor_list_version = r.uint(12, "VendorListVersion")
    tcf_policy_version = r.uint(6, "TcfPolicyVersion")
    is_service_specific = r.flag("IsServiceSpecific")
    use_non_standard_texts = r.flag("UseNonStandardTexts")
    special_features = r.bitfield(12, "SpecialFeatureOptIns")
    purposes_consent = r.bitfield(24, "PurposesConsent")
    purposes_li = r.bitfield(24, "PurposesLITransparency")
    purpose_one_treatment = r.flag("PurposeOneTreatment")
    publisher_cc = r.letters("PublisherCC")
    vendor_consents = r.vendors("vendor consents")
    vendor_li = r.vendors("vendor legitimate interests")
    restrictions = r.restrictions()

    disclosed, allowed, publisher = _optional_segments(segments, budget)
    return TCString(
        version=version,
        created=created,
        last_updated=last_updated,
        cmp_id=cmp_id,
        cmp_version=cmp_version,
        consent_screen=consent_screen,
        consent_language=consent_language,
        vendor_list_version=vendor_list_version,
        tcf_policy_version=tcf_policy_version,
        is_service_specific=is_service_specific,
        use_non_standard_texts=use_non_standard_texts,
        special_feature_opt_ins=special_features,
        purposes_consent=purposes_consent,
        purposes_li_transparency=purposes_li,
        purpose_one_treatment=purpose_one_treatment,
        publisher_cc=publisher_cc,
        vendor_consents=vendor_consents,
        vendor_legitimate_interests=vendor_li,
        publisher_restrictions=restrictions,
        disclosed_vendors=disclosed,
        allowed_vendors=allowed,
        publisher_tc=publisher,
    )
