"""Finding personal data in one string, as written and in its decoded forms: ``find``,
``classify``, ``contains_pii``, ``redact`` (the kinds and markers are described in
:mod:`fairtrack.anonymise.pii`)."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from typing import Final

from fairtrack.anonymise.pii.decoding import (
    _B64_PIECE,
    _B64_RUN,
    _JWT,
    _PERCENT_RUN,
    _REFERENCE,
    _add,
    _b64_mixed,
    _b64_payload,
    _b64_run,
    _b64_text,
    _levels,
)
from fairtrack.anonymise.pii.patterns import (
    _ADDRESS,
    _BENIGN,
    _DIGITS,
    _DOTTED_QUAD,
    _IPV4,
    _IPV6,
    _PHONE,
    _THIRTEEN_DIGITS,
    Span,
    _after_product,
    _cards,
    _emails,
    _free,
    _ibans,
    _is_phone,
)

__all__ = ["MARKERS", "PRECHECK", "classify", "contains_pii", "decoded_forms", "find", "redact"]

MARKERS: Final[dict[str, str]] = {
    "email": "[email]",
    "phone": "[phone]",
    "iban": "[iban]",
    "card": "[card]",
    "ipv4": "[ip]",
    "ipv6": "[ip]",
    "address": "[address]",
    "token": "[token]",
}

_NESTING: Final = 2  # base64 or JWT payloads decoded inside one another (see _decoded)


def _detect(value: str, first: bool = False, depth: int = _NESTING) -> list[Span]:
    """Spans of personal data in ``value``, by priority (an e-mail's digits are not also a phone),
    then those found in its decoded forms (``_decoded``; not with a negative ``depth``), which may
    overlap the others (``_apply`` merges them).

    With ``first``, stops at the first span found (in priority order, not by position)."""
    spans: list[Span] = []
    if value.isalpha():  # letters only: nothing to find (the common case, with the next one)
        return spans if len(value) < 16 or depth < 0 else _decoded(value, spans, first, depth)
    if "@" in value or "%" in value:
        if _emails(value, spans, first):
            return spans
    elif len(value) < 7 and ":" not in value:  # no e-mail; too short for anything but IPv6
        if depth < 0 or (value.isascii() and "&" not in value):
            return spans
        return _decoded(value, spans, first, depth)
    counted = _DIGITS.match(value)
    digits = counted is not None and counted.group("seven") is not None
    if digits:
        if _BENIGN.fullmatch(value):
            return spans  # nothing encoded in it either
        if _ibans(value, spans, first):
            return spans
        if _THIRTEEN_DIGITS.match(value) and _cards(value, spans, first):
            return spans
    if "::" in value or value.count(":") >= 6:  # an IPv6 address has one or the other
        for m in _IPV6.finditer(value):
            candidate = m.group()
            if candidate.strip(":") and _free(spans, *m.span()):
                try:
                    ipaddress.IPv6Address(candidate)
                except ValueError:
                    continue
                spans.append((m.start(), m.end(), "ipv6"))
                if first:
                    return spans
    if value.count(".") >= 3 and _DOTTED_QUAD.search(value):
        for m in _IPV4.finditer(value):
            if _after_product(value, *m.span()):
                continue
            if _free(spans, *m.span()):
                spans.append((m.start(), m.end(), "ipv4"))
                if first:
                    return spans
    if digits:
        for m in _PHONE.finditer(value):
            if _is_phone(m.group()) and _free(spans, *m.span()):
                spans.append((m.start(), m.end(), "phone"))
                if first:
                    return spans
    if counted is not None and " " in value:
        for m in _ADDRESS.finditer(value):
            if _free(spans, *m.span()):
                spans.append((m.start(), m.end(), "address"))
                if first:
                    return spans
    if depth < 0 or not ("%" in value or "&" in value or "eyJ" in value or len(value) >= 16 or not value.isascii()):
        return spans
    return _decoded(value, spans, first, depth)


def _encoded(text: str, depth: int, first: bool, tried: set[str]) -> Iterator[Span]:
    """Spans of ``text`` that are JWTs (kind ``token``) or base64 runs, with the kinds found in
    their decoded payloads (``depth`` more levels of such nesting allowed)."""
    jwts: list[tuple[int, int]] = []
    if "eyJ" in text:
        for m in _JWT.finditer(text):
            start, end = m.span()
            jwts.append((start, end))
            yield start, end, "token"
            if first:
                return
            payload = _b64_payload(m.group().split(".", 2)[1])
            if payload:
                for _, _, kind in _detect(payload, False, depth - 1):
                    yield start, end, kind
    if not _b64_run(text):
        return
    for m in _B64_RUN.finditer(text):
        start, end = m.span()
        run = m.group()
        if not _b64_mixed(run) or any(s <= start and end <= e for s, e in jwts):
            continue
        pieces = [(0, run)]
        if "/" in run or "-" in run or "_" in run:
            pieces += [(p.start(), p.group()) for p in _B64_PIECE.finditer(run) if p.group() != run]
        for offset, piece in pieces:
            if piece in tried:
                continue
            tried.add(piece)
            decoded = _b64_text(piece)
            if decoded is None:
                continue
            found = _detect(decoded, first, depth - 1)
            for kind in _kinds(found):
                yield start + offset, start + offset + len(piece), kind
            if found:
                break


def _decoded(value: str, spans: list[Span], first: bool, depth: int) -> list[Span]:
    """``spans`` (found in ``value`` as written) and those found in its decoded forms, mapped back
    to the raw text that held them; ``depth`` more base64/JWT payloads may be decoded."""
    encoded = (
        ("%" in value and _PERCENT_RUN.search(value) is not None)
        or ("&" in value and _REFERENCE.search(value) is not None)
        or not value.isascii()
    )
    if not encoded and (depth == 0 or ("eyJ" not in value and not _b64_run(value))):
        return spans
    levels = _levels(value) if encoded else []
    for level in levels:
        for start, end, kind in _detect(level.text, first, -1):
            _add(value, spans, level.lo[start], level.hi[end - 1], kind)
            if first:
                return spans
    if depth > 0:
        tried: set[str] = set()
        for decoded in (None, *levels):
            text = value if decoded is None else decoded.text
            for start, end, kind in _encoded(text, depth, first, tried):
                if decoded is None:
                    _add(value, spans, start, end, kind)
                else:
                    _add(value, spans, decoded.lo[start], decoded.hi[end - 1], kind)
                if first:
                    return spans
    return spans


def _kinds(spans: list[Span]) -> list[str]:
    kinds: list[str] = []
    for _, _, kind in spans:
        if kind not in kinds:
            kinds.append(kind)
    return kinds


def find(value: str) -> set[str]:
    """The kinds of personal data in ``value``, written out or encoded (see "Encoded forms"):
    ``email``, ``phone``, ``iban``, ``card``, ``ipv4``, ``ipv6``, ``address``, ``token``. Never
    raises on a ``str``."""
    return {kind for _, _, kind in _detect(value)}


def classify(value: str) -> str | None:
    """The first kind found in ``value`` in priority order (email, iban, card, ipv6, ipv4, phone,
    address as written; then what the decoded forms hold, a JWT being ``token``), or None: ``find``
    without the work of finding everything."""
    spans = _detect(value, first=True)
    return spans[0][2] if spans else None


def contains_pii(value: str) -> bool:
    """Whether ``find(value)`` would find anything (decoded forms included), at ``classify``'s cost."""
    return bool(_detect(value, first=True))


def decoded_forms(value: str) -> list[str]:
    """The texts ``value`` decodes to, as ``find`` reads them: one per round of percent-decoding,
    HTML character references and NFKC (up to four), the last fully decoded; empty when ``value``
    holds nothing to decode. Base64 and JWT payloads are not included (``find`` reads them)."""
    return [level.text for level in _levels(value)]


# For a quick look at JSON (bytes) before a scan: whatever ``find`` can find in a value matches this
# somewhere in the value's JSON (a superset; most of its matches are nothing). "@", "%", "&" and any
# non-ASCII byte (encoded forms), a run of 7+ digits with separators (phone, card, IBAN, IPv4), two
# colons among hex digits (IPv6), 16 base64 characters (base64, JWT), a house number before a word
# or a street name before a number (addresses). JSON that escapes characters (``\u00e9``) is not
# covered: look for a backslash too.
PRECHECK: Final = re.compile(
    rb"[@%&\x80-\xff]|\d[\d\s().+/-]{5,}\d|:[0-9A-Fa-f]{0,4}:|[A-Za-z0-9+/_-]{16}"
    rb"|\d[A-Za-z]?(?:-\d+)?,? [A-Za-z]|[a-z] ?\d|[a-z]\.\d"
)


_RANK: Final = {kind: rank for rank, kind in enumerate(dict.fromkeys(("token", *MARKERS)))}  # a JWT's marker first


def _apply(value: str, spans: list[Span]) -> str:
    """``value`` with each span replaced by its kind's marker; overlapping spans (a finding made in
    a decoded form over one made in the raw text) are replaced together, by the first one's."""
    spans.sort(key=lambda span: (span[0], -span[1], _RANK.get(span[2], 9)))
    out: list[str] = []
    pos = 0
    for start, end, kind in spans:
        if start < pos:
            pos = max(pos, end)
            continue
        out.append(value[pos:start])
        out.append(MARKERS[kind])
        pos = end
    out.append(value[pos:])
    return "".join(out)


def redact(value: str) -> str:
    """``value`` with each finding replaced by its marker (``[email]``, ``[phone]``, ``[iban]``,
    ``[card]``, ``[ip]``, ``[address]``, ``[token]``); the same object when nothing was found. A
    finding made in a decoded form replaces the raw text that encoded it, widened to the run of
    characters holding it (up to white space or ``/ ? & = #``), so neither the data nor any
    encoding of it is left."""
    spans = _detect(value)
    return _apply(value, spans) if spans else value
