"""Decoded forms of a value (percent-encoding, HTML character references, NFKC, base64), each
decoded character mapped back to the raw characters it came from, so that a finding made in a
decoded form replaces the raw text that encoded it (see "Encoded forms" in
:mod:`fairtrack.anonymise.pii`)."""

from __future__ import annotations

import binascii
import html
import re
import unicodedata
from collections.abc import Callable
from typing import Final, NamedTuple
from urllib.parse import unquote

from fairtrack.anonymise.pii.patterns import Span

__all__: list[str] = []  # the decoded forms are read by fairtrack.anonymise.pii.detect only

# -- decoding ------------------------------------------------------------------------------------
#
# Personal data sent encoded is found in its decoded forms. A value is decoded only when it holds a
# trigger: "%" (percent-encoding), "&" (HTML character references), a non-ASCII character (NFKC:
# full-width "@" and digits, zero-width characters), a run of 16+ base64 characters with both
# cases, or "eyJ" (a JWT). Decoding builds the text level by level (one percent level, then
# references, then NFKC, per round; up to _ROUNDS rounds) and keeps, for every decoded character,
# the raw characters it came from, so a finding maps back to the raw text it was encoded in.

_ROUNDS: Final = 4  # percent-encoding levels undone (and reference / NFKC passes)

_PERCENT_RUN = re.compile(r"(?:%[0-9A-Fa-f]{2})+")
_REFERENCE = re.compile(r"&(?:#[0-9]{1,7};?|#[xX][0-9A-Fa-f]{1,6};?|[A-Za-z][A-Za-z0-9]{1,31};)")
_NON_ASCII = re.compile(r"[^\x00-\x7f]+")
_INVISIBLE = re.compile("[\u00ad\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]")
_B64_RUN = re.compile(r"[A-Za-z0-9+/_-]{16,}+=*")
_B64_PIECE = re.compile(r"[A-Za-z0-9+_-]{16,}+=*|[A-Za-z0-9+/]{16,}+=*")  # a run split at "/" or at "_-"
_JWT = re.compile(r"eyJ(?<![A-Za-z0-9_-]eyJ)[A-Za-z0-9_-]{5,}+\.[A-Za-z0-9_-]{2,}+\.[A-Za-z0-9_-]*+(?![A-Za-z0-9_.-])")
_UNPRINTABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffd]")
_URLSAFE = str.maketrans("-_", "+/")

_STOPS: Final = frozenset("/?&=#")  # where an encoded finding's replacement stops, besides spaces


def _nfkc(run: str) -> str:
    return _INVISIBLE.sub("", unicodedata.normalize("NFKC", run))


Splicer = tuple[str, "re.Pattern[str]", Callable[[str], str]]
_SPLICERS: Final[tuple[Splicer, ...]] = (
    ("%", _PERCENT_RUN, unquote),
    ("&", _REFERENCE, html.unescape),
    ("", _NON_ASCII, _nfkc),  # "" : when the text is not ASCII
)


class _Level(NamedTuple):
    """A decoded form of a raw value; the decoded character ``i`` came from ``raw[lo[i]:hi[i]]``."""

    text: str
    lo: list[int]
    hi: list[int]


def _splice(text: str, pattern: re.Pattern[str], decode: Callable[[str], str]) -> _Level | None:
    out: list[str] = []
    lo: list[int] = []
    hi: list[int] = []
    pos = 0
    for m in pattern.finditer(text):
        piece = m.group()
        decoded = decode(piece)
        if decoded == piece:
            continue
        start, end = m.span()
        out.append(text[pos:start])
        lo.extend(range(pos, start))
        hi.extend(range(pos + 1, start + 1))
        out.append(decoded)
        lo.extend([start] * len(decoded))
        hi.extend([end] * len(decoded))
        pos = end
    if not out:
        return None
    out.append(text[pos:])
    lo.extend(range(pos, len(text)))
    hi.extend(range(pos + 1, len(text) + 1))
    return _Level("".join(out), lo, hi)


def _levels(value: str) -> list[_Level]:
    """The decoded forms of ``value``, one per round that changed something (each kept: a literal
    ``%`` in the data must not decode the data away)."""
    levels: list[_Level] = []
    current: _Level | None = None
    text = value
    for _ in range(_ROUNDS):
        changed = False
        for trigger, pattern, decode in _SPLICERS:
            if (trigger not in text) if trigger else text.isascii():
                continue
            step = _splice(text, pattern, decode)
            if step is None:
                continue
            if current is not None:  # map through the previous level back to the raw value
                lo, hi = current.lo, current.hi
                step = _Level(step.text, [lo[i] for i in step.lo], [hi[i - 1] for i in step.hi])
            current, text, changed = step, step.text, True
        if not changed or current is None:
            break
        levels.append(current)
    return levels


def _b64_text(piece: str) -> str | None:
    """``piece`` base64- or base64url-decoded when that gives mostly printable UTF-8 text."""
    if not _b64_mixed(piece):
        return None  # base64 of text has both cases; words, hex and digit runs have one
    body = piece.rstrip("=")
    if len(body) % 4 == 1:
        body = body[:-1]
    body = body.translate(_URLSAFE) + "=" * (-len(body) % 4)
    try:
        text = binascii.a2b_base64(body, strict_mode=True).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        return None
    if not text.isprintable() and len(_UNPRINTABLE.findall(text)) * 10 > len(text):
        return None
    return text


def _b64_payload(segment: str) -> str | None:
    body = segment.translate(_URLSAFE)
    body += "=" * (-len(body) % 4)
    try:
        return binascii.a2b_base64(body).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        return None


# A quick look for base64 runs: every base64 byte (ASCII letters, digits, "+/_-") becomes "a",
# anything else " " (a C-level translate, then a substring search).
_B64_BYTES: Final = bytes(ord("a") if i < 128 and (chr(i).isalnum() or chr(i) in "+/_-") else 32 for i in range(256))
_B64_16: Final = b"a" * 16


def _b64_mixed(run: str) -> bool:
    return run.lower() != run and run.upper() != run


def _b64_run(text: str) -> bool:
    """Whether ``text`` may hold base64 of text: 16+ base64 characters in a row, and both cases."""
    return (
        len(text) >= 16 and _B64_16 in text.encode("utf-8", "surrogatepass").translate(_B64_BYTES) and _b64_mixed(text)
    )


def _add(value: str, spans: list[Span], start: int, end: int, kind: str) -> None:
    """Record a finding made in a decoded form at ``start:end`` of the raw value: unless already
    covered, the raw run holding it is replaced whole, up to white space or ``/ ? & = #``."""
    if any(k == kind and s <= start and end <= e for s, e, k in spans):
        return
    n = len(value)
    while start > 0 and not (ch := value[start - 1]).isspace() and ch not in _STOPS:
        start -= 1
    while end < n and not (ch := value[end]).isspace() and ch not in _STOPS:
        end += 1
    spans.append((start, end, kind))
