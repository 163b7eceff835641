"""Page and referrer URLs for the anonymisation stage: what of a URL may travel.

``clean_url(url)`` keeps scheme, host, port (a default one is dropped) and path, drops the user
info (``user:password@``) and the fragment, keeps only the allowed query parameters (UTM by
default) in their original order and as sent, and takes the advertising click ids (``gclid``,
``fbclid``...) out into a separate dict, since they may only go where the advertising purpose is
granted. Every path segment and every kept query value is checked as :func:`fairtrack.anonymise.pii.find`
reads text, on its decoded forms too (percent-encoding undone up to four times, for double
encoding; HTML character references such as ``&#64;``; NFKC, for full-width characters; base64 of
text and JWT payloads; query values both with ``+`` as a space and as a literal plus); one that
looks like personal data or a secret is replaced, whole, by a placeholder:

============  ================================================================================
placeholder   when the segment or value holds
============  ================================================================================
``:email``    an e-mail address (``jane@example.com``, ``jane%40example.com``, ``jane%2540...``)
``:phone``    a phone number (``+49-30-1234567``; the heuristic is in :mod:`fairtrack.anonymise.pii`)
``:card``     a payment card number (Luhn-valid, 13-19 digits)
``:iban``     an IBAN (mod-97 checked)
``:ip``       an IPv4 or IPv6 address
``:address``  a street address (``221B%20Baker%20Street``)
``:id``       a UUID (``550e8400-e29b-41d4-a716-446655440000``), anywhere in the segment
``:token``    a JWT (``eyJ...x.y.z``); a hex run of 16+ characters holding a digit and a letter;
              a base64/base64url run of 24+ characters that looks random: upper and lower case
              and digits with a class change (lower/upper/digit/symbol) at least every third
              character, or one case and digits (4+ of each, no ``-``/``_``) with a change at
              least every fourth
============  ================================================================================

The priority is the order of the table. The placeholders hold only ``:`` and letters, which are
valid unencoded in a path and a query, so the cleaned URL stays a valid URL. UTM values are kept
unless they look like one of the above (a per-recipient ``utm_content=<hash>`` becomes
``:token``, a UUID ``utm_id`` becomes ``:id``). A click id is dropped when its value holds personal
data (an e-mail pasted into ``gclid``); the first occurrence of each wins. Parameter names are
compared lower-cased (the sets passed in must be lower case).

Not touched, so a normal URL costs a few microseconds: segments shorter than 16 characters with
fewer than four digits and no ``@``, ``%``, ``:``, ``&`` or non-ASCII character
(``/products/blue-shirt``, ``/orders/1042``,
``/blog/2026/11/24/title``), slugs of words (``how-to-clean-urls-in-python``), camel-case titles
with digits whose class changes are rarer than every third character. Numeric ids (``/users/1042``)
are kept: they identify a record, not a person, unless the site makes them so.

``None`` is returned for anything that is not an absolute ``http``/``https`` URL with a valid host
and port. Tabs and newlines are removed first and surrounding white space stripped, as browsers do.
``referrer_origin(url)`` reduces a referrer to ``scheme://host[:port]``; ``clean_path(path)``
cleans a path sent without its URL.

Cost (2-core dev machine, Python 3.11): about 6 us for a shop URL with three UTM parameters, a
click id, another parameter and a fragment; 2 us for a bare origin; 11 us when a path segment and
a UTM value hold an e-mail and a segment a UUID (an uncached ``urlsplit`` alone takes 3 us).

Known limits: the host is kept as sent (``jane-doe.example`` is not recognised); the fragment is
dropped whole, so hash-routed paths (``#/account/...``) are lost rather than cleaned; ``;`` is not
a parameter separator; camel-case titles with digits and frequent case changes
(``Top10ProductsForSummer2026``) read as ``:token``; a token shorter than the thresholds (a
12-character session id) is kept.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Final, NamedTuple
from urllib.parse import unquote_plus

from fairtrack.anonymise import pii

__all__ = ["CLICK_IDS", "UTM_PARAMS", "CleanUrl", "clean_path", "clean_url", "referrer_origin"]

UTM_PARAMS: Final = frozenset({"utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content", "utm_id"})
CLICK_IDS: Final = frozenset(
    {"gclid", "gbraid", "wbraid", "dclid", "fbclid", "msclkid", "ttclid", "li_fat_id", "twclid"}
)

PLACEHOLDERS: Final[dict[str, str]] = {
    "email": ":email",
    "phone": ":phone",
    "card": ":card",
    "iban": ":iban",
    "ipv4": ":ip",
    "ipv6": ":ip",
    "address": ":address",
    "id": ":id",
    "token": ":token",
}


class CleanUrl(NamedTuple):
    url: str  # scheme://host[:port]/path[?kept query], placeholders in place of what was redacted
    path: str  # the cleaned path ("/" at least)
    search: str | None  # the kept query as "?...", or None when nothing was kept
    click_ids: dict[str, str]  # click-id parameter name (lower case) -> decoded value


_URL = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://([^/?#]*)([^?#]*)(?:\?([^#]*))?", re.S)
_BAD_HOST = re.compile(r"[\x00-\x20\x7f<>\"\\^`{|}/?#@\[\]%:]")
_DEFAULT_PORTS: Final = {"http": "80", "https": "443"}
_HEX_DIGITS: Final = frozenset("0123456789abcdefABCDEF")
_FOUR_DIGITS = re.compile(r"(?:\D*+\d){4}")

_RUN = re.compile(r"[A-Za-z0-9+/_-]{16,}")  # where a UUID, hex or base64 token can be
_UUID = re.compile(r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}")
_JWT = re.compile(r"ey[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{2,}\.")
_PIECE = re.compile(r"[A-Za-z0-9]{16,}")
_HEX = re.compile(r"[0-9A-Fa-f]+")
_UPPER = re.compile(r"[A-Z]")
_LOWER = re.compile(r"[a-z]")
_DIGITS = re.compile(r"\d")
_CLASS_CHANGE = re.compile(r"(?<=[a-z])(?=[^a-z])|(?<=[A-Z])(?=[^A-Z])|(?<=[0-9])(?=[^0-9])|(?<=[+/_-])(?=[A-Za-z0-9])")


def _random_run(run: str) -> bool:
    upper = _UPPER.search(run) is not None
    lower = _LOWER.search(run) is not None
    if upper and lower:
        return _DIGITS.search(run) is not None and len(_CLASS_CHANGE.findall(run)) * 3 >= len(run)
    if "-" in run or "_" in run:
        return False  # a slug of words
    digits = len(_DIGITS.findall(run))
    return digits >= 4 and len(run) - digits >= 4 and len(_CLASS_CHANGE.findall(run)) * 4 >= len(run)


def _suspect(raw: str) -> bool:
    """Whether a raw segment or value could hold anything the placeholders stand for."""
    return (
        len(raw) >= 16
        or "@" in raw
        or "%" in raw
        or ":" in raw
        or "&" in raw
        or not raw.isascii()
        or _FOUR_DIGITS.match(raw) is not None
    )


def _token_kind(text: str) -> str | None:
    if len(text) < 16:
        return None
    if "ey" in text and text.count(".") >= 2 and _JWT.search(text):
        return "token"
    for run in _RUN.findall(text):
        if len(run) >= 36 and "-" in run:
            for m in _UUID.finditer(run):  # a UUID not glued to more hex digits
                start, end = m.span()
                if (start == 0 or run[start - 1] not in _HEX_DIGITS) and (
                    end == len(run) or run[end] not in _HEX_DIGITS
                ):
                    return "id"
        for piece in _PIECE.findall(run):
            if _HEX.fullmatch(piece) and not piece.isdigit() and _DIGITS.search(piece):
                return "token"
        if len(run) >= 24 and _random_run(run):
            return "token"
    return None


def _decodings(raw: str, plus: bool = False) -> list[str]:
    """The text as sent (with ``+`` as a space when ``plus``), then its decoded forms as
    :mod:`fairtrack.anonymise.pii` reads them (``pii.decoded_forms``: percent-encoding undone level by level,
    double encoding being common, ``%2540``; HTML character references; NFKC), each level kept: a
    literal ``%`` in the data must not be decoded away."""
    text = raw.replace("+", " ") if plus and "+" in raw else raw
    return [text, *pii.decoded_forms(text)]


def _kind(levels: list[str], tokens: bool) -> str | None:
    """What the text ``levels[0]`` holds (``pii.classify`` reads its decoded forms itself), else,
    with ``tokens``, whether a decoded form (the text itself when nothing decodes) is a token."""
    kind = pii.classify(levels[0])
    if kind is None and tokens:
        for text in levels[1:] or levels:
            kind = _token_kind(text)
            if kind is not None:
                break
    return kind


def _clean_path(path: str) -> str:
    if not path:
        return "/"
    segments = path.split("/")
    changed = False
    for i, segment in enumerate(segments):
        if segment and _suspect(segment):
            kind = _kind(_decodings(segment), tokens=True)
            if kind is not None:
                segments[i] = PLACEHOLDERS[kind]
                changed = True
    return "/".join(segments) if changed else path


def _value_kind(raw: str, tokens: bool = True) -> str | None:
    """What a raw query value holds, read with ``+`` as a space and, when that differs, as a
    literal plus too (``?utm_term=+4930123456`` written by hand)."""
    if not _suspect(raw):
        return None
    literal = _decodings(raw)
    kind = _kind(_decodings(raw, plus=True), tokens=False) if "+" in raw else None
    return kind or _kind(literal, tokens)


def _decode_name(raw: str) -> str:
    return (unquote_plus(raw) if "%" in raw or "+" in raw else raw).lower()


def _split(url: str) -> tuple[str, str, str, str, str | None] | None:
    """(scheme, host, port, path, query) of an absolute http(s) URL, or None. The host is lower
    case (IPv6 in brackets), the port empty when absent or the scheme's default."""
    if not isinstance(url, str):
        return None
    url = url.strip()
    if "\t" in url or "\n" in url or "\r" in url:
        url = url.replace("\t", "").replace("\n", "").replace("\r", "")
    m = _URL.match(url)
    if m is None:
        return None
    scheme = m.group(1).lower()
    if scheme not in _DEFAULT_PORTS:
        return None
    hostport = m.group(2).rpartition("@")[2]  # user info is never kept
    if hostport.startswith("["):
        close = hostport.find("]")
        if close < 0:
            return None
        host = hostport[1:close].lower()
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            return None
        rest = hostport[close + 1 :]
        if rest and not rest.startswith(":"):
            return None
        port = rest[1:]
        host = f"[{host}]"
    else:
        host, _, port = hostport.partition(":")
        host = host.lower()
        if not host or _BAD_HOST.search(host):
            return None
    if port:
        if not (port.isascii() and port.isdigit()) or len(port) > 5 or int(port) > 65535:
            return None
        port = str(int(port))
        if port == _DEFAULT_PORTS[scheme]:
            port = ""
    return scheme, host, port, m.group(3), m.group(4)


def clean_url(
    url: str,
    *,
    allowed_params: frozenset[str] = UTM_PARAMS,
    click_ids: frozenset[str] = CLICK_IDS,
) -> CleanUrl | None:
    """The URL reduced to what may travel (see the module docstring), or None when it is not an
    absolute http(s) URL. Never raises on a ``str``."""
    parts = _split(url)
    if parts is None:
        return None
    scheme, host, port, raw_path, query = parts
    path = _clean_path(raw_path)
    kept: list[str] = []
    ids: dict[str, str] = {}
    if query:
        for pair in query.split("&"):
            if not pair:
                continue
            raw_name, _, raw_value = pair.partition("=")
            name = _decode_name(raw_name)
            if name in click_ids:
                if name not in ids:
                    value = (unquote_plus(raw_value) if "%" in raw_value or "+" in raw_value else raw_value).strip()
                    if value and _value_kind(raw_value, tokens=False) is None:
                        ids[name] = value
            elif name in allowed_params:
                kind = _value_kind(raw_value)
                kept.append(pair if kind is None else f"{raw_name}={PLACEHOLDERS[kind]}")
    search = "?" + "&".join(kept) if kept else None
    origin = f"{scheme}://{host}:{port}" if port else f"{scheme}://{host}"
    return CleanUrl(origin + path + (search or ""), path, search, ids)


def clean_path(path: str) -> str:
    """A path sent on its own (``context.page.path`` without its URL), cleaned as ``clean_url``
    cleans one: segments holding personal data or tokens become placeholders; ``"/"`` when empty.
    A query or fragment left in it is not split off: a segment holding one is judged whole."""
    return _clean_path(path)


def referrer_origin(url: str) -> str | None:
    """``scheme://host[:port]`` of an http(s) URL (a default port left out), or None."""
    parts = _split(url)
    if parts is None:
        return None
    scheme, host, port, _, _ = parts
    return f"{scheme}://{host}:{port}" if port else f"{scheme}://{host}"
