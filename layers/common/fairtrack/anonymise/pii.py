"""Personal data in free text: find it, redact it, or walk a hit's properties/traits for it.

Stdlib only, no per-call set-up: every pattern is compiled at import and starts with a character
class (so the regex engine jumps to the few places a match can start), and a value is searched
only for the kinds it could hold: a value of letters only, or shorter than 7 characters without
``@``, ``%``, ``:``, ``&`` or a non-ASCII character, is done after a few ``str`` checks; an
``@``/``%`` is needed for an e-mail, 7 digits for a phone or IBAN, 13 for a card, three dots for an
IPv4 address, ``::`` or six colons for an IPv6 one, a digit and a space for a street address.
Whole values that are an ISO 8601 date/timestamp, a number of at most 12 integer digits or a UUID
are recognised first and skip the detectors (and the decoding). Figures (2-core dev machine,
Python 3.11, shared and noisy): about 0.1 us for ``"checkout"``, 0.6 us for ``"Blue T-Shirt"``,
0.9 us for an ISO timestamp or a UUID; ``scan`` of a typical 10-property dict about 9 us.

Kinds (``find`` returns them; ``redact`` writes the marker):

============  ==========  =====================================================================
kind          marker      what counts
============  ==========  =====================================================================
``email``     ``[email]`` ``local@domain.tld``: an RFC 5322 atext local part (1-64 chars, dots
                          and Unicode letters allowed), a dotted domain whose last label starts
                          with a letter; ``@`` may be percent-encoded (``%40``, ``%2540``).
                          Retina asset names (``logo@2x.png``) are not addresses.
``iban``      ``[iban]``  a country code from the IBAN registry, 2 check digits and exactly that
                          country's length of letters/digits (single spaces or dashes between
                          them allowed), passing the ISO 7064 mod-97 check. Case-insensitive.
``card``      ``[card]``  13-19 digits, single spaces or dashes between groups allowed, first
                          digit 2-6 (the card networks' ranges: Visa, Mastercard, Amex, Discover,
                          JCB, Diners, UnionPay, Maestro) and Luhn-valid. A longer run of groups
                          is searched for a qualifying sub-run. The 2-6 rule keeps epoch
                          milliseconds (``17...``) and most long ids out: 1 in 10 random numbers
                          passes Luhn.
``ipv6``      ``[ip]``    a colon-hex candidate (optionally with an embedded IPv4 or a zone)
                          that ``ipaddress`` accepts, holding at least one hex digit (``::``
                          alone is not flagged).
``ipv4``      ``[ip]``    four dotted decimal octets 0-255 not glued to a word, a dot or another
                          digit (``v1.2.3.4`` and ``1.2.3.4.5`` are not addresses), nor after
                          ``word/`` (a product version: ``Chrome/131.0.0.0``) unless it is a
                          whole path segment: followed by ``/``, ``?`` or ``#``, or after a
                          segment led by ``/`` (``https://x.example/u/198.51.100.23``).
``phone``     ``[phone]`` see below.
``address``   ``[address]`` a street address: a house number (``5``, ``221B``, ``10-12``) and a
                          street word, written ``221B Baker Street``, ``10 Downing St``,
                          ``725 5th Avenue``, ``12 rue de Rivoli`` (number, 1-4 capitalised
                          words, street word), ``5th Avenue 725``, ``Baker Street 221B`` (full
                          street words only), ``Hauptstraße 5``, ``Kalverstraat 92a``,
                          ``Berliner Straße 12`` (German, Dutch, Nordic compounds and words),
                          ``Rue de Rivoli 12``, ``Via Roma 1``, ``Calle Mayor 5``. Case-sensitive.
``token``     ``[token]`` a JWT: three dot-separated base64url segments, the first starting
                          ``eyJ`` (``{"``); whatever its payload, which is decoded and read too.
============  ==========  =====================================================================

Encoded forms. A value holding a trigger is also read decoded: ``%`` (percent-encoding, undone up
to four levels: ``%2540``, ``%252540``), ``&`` (HTML character references: ``&#64;``,
``&#x40;``, ``&commat;``, via ``html.unescape``), a non-ASCII character (NFKC: full-width ``U+FF20``
and digits, ``&nbsp;`` as a space; zero-width characters removed), a run of 16+ base64 characters
with both cases (decoded as base64 or base64url, padded or not, whole or split at ``/`` or
``_-``, and read when it gives mostly printable UTF-8 text) and ``eyJ`` (a JWT; its payload is
read). Each round of decoding is kept and read (a literal ``%`` in the data must not decode it
away), and base64 found inside base64 or a JWT payload is decoded once more. What is found in a
decoded form is reported under its kind, and ``redact`` replaces the raw text that encoded it,
widened to the run of characters holding it (up to white space or ``/ ? & = #``): ``mail
jane&#64;example.com.`` gives ``mail [email]``, ``https://x.example/?tel=%2B44%207700%20900123``
gives ``https://x.example/?tel=[phone]``. Values without a trigger cost one or two more ``str``
checks than before; a URL with a query (``&``) about 1 us more.

Phone heuristic. A candidate is a run of digit groups, each joined to the next by exactly one of
space ``-`` ``.`` ``/``, a group optionally in parentheses (``(030)``, ``(0)``), optionally led by
``+`` (which may follow ``tel:``); the run must be maximal (not glued to a letter, ``@``, ``:`` or
more digits) and must not start inside a word or a number, nor after ``#``, ``,`` or ``:`` (times
such as ``10:15:30.123-05``). Then:

- it holds 7 to 15 digits (E.164 allows 15);
- dot-separated runs are never decimals (two groups: ``123456.78``) nor thousands
  (``1.234.567``), and without ``+`` every dot-separated group has 2-4 digits (so versions such as
  ``10.0.19045.2965`` pass);
- with ``+`` that is enough (``+49 30 1234567``, ``+442071838750``, ``tel:+1-555-123-4567``);
- without ``+``, a single group (a plain digit run: ids, epoch seconds, ``0301234567``) is not a
  phone; nor is a date (``2026-11-24``, ``24.11.2026``, ``11/24/2026`` at the start of the run), a
  range of years (``2024-2026``), nor, with two groups, anything but a trunk-prefixed
  (``030 1234567``, ``06-12345678``), parenthesised (``(030) 1234567``) or ``ddd-dddd`` number;
  with three groups or more, at most one group may be a single digit and space-grouped thousands
  (``12 345 678``) are not phones.

Times (``10:15:30``), ISO timestamps, prices (``12.50``, ``1,299.00``), years, order ids
(``ord_1042``) and epoch timestamps therefore never match. Known misses, by design: phones written
as one plain digit run without ``+``, with multi-character separators (``030 - 1234567``), glued to
a colon (``Tel:030 1234567``; ``Tel: 030 1234567`` is found) or as thousands-like groups
(``612 345 678``); e-mails written as ``jane (at) example.com``; street addresses without a
house number, with one of more than four digits, with lower-case names (``10 downing street``),
with more than four words before the street word, in other languages' orders or words
(``Unter den Linden 77``, ``Am Markt 3``) or in other scripts; IPv4 addresses as a path segment
after a product-like ``word/`` at the start of a value (``u/198.51.100.23``); base64 shorter than
16 characters or of one case, base64 split by other characters, or of binary data. Street-address
false positives: product names of the ``number + capitalised words + street word`` shape
(``2 Player Court``, ``10 Pro Drive``; ``4 Wheel Drive`` is excepted), German compounds with a
number (``Arbeitsplatz 3``), ``Wall Street 2``. Each detector reads its matches
left to right without overlap, so a candidate that fails its check (Luhn, mod-97, the phone rules)
is not searched again for a shorter valid one, except for card numbers (sub-runs of groups).

``scan`` walks nested dicts and lists (see its docstring); ``KNOWN_PII_FIELDS`` and
``is_known_pii_field`` say which field names are personal data whatever their value.
"""

from __future__ import annotations

import binascii
import html
import ipaddress
import re
import unicodedata
from collections.abc import Callable, Iterator
from functools import lru_cache
from itertools import islice
from typing import Any, Final, Literal, NamedTuple
from urllib.parse import unquote

Action = Literal["redact", "drop", "quarantine"]

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
FIELD_MARKER: Final = "[redacted]"  # a known personal-data field's value, under scan(by_name=True)

# -- detectors ------------------------------------------------------------------------------------

# Every pattern starts with a character class, so the regex engine skips ahead to the few places
# that can start a match instead of trying each position (look-behinds come after that first
# character). An e-mail is found from its "@": the local part is then read leftwards.
_EMAIL_AT = re.compile(
    r"(?:@|%(?:25)?40)"  # "@", percent-encoded once or twice
    r"(?!(?i:\d(?:\.\d)?x\.(?:png|jpe?g|gif|webp|avif|svg)\b))"  # logo@2x.png is an asset
    r"(?:[^\W_](?:[\w-]{0,61}[^\W_])?\.){1,126}"  # domain labels
    r"[^\W\d_][\w-]{0,61}[^\W_]"  # top-level domain: starts with a letter, 2+ chars
)
_LOCAL_PUNCTUATION: Final = frozenset("!#$%&'*+/=?^_`{|}~.-")  # RFC 5322 atext and dots

_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_DOTTED_QUAD = re.compile(r"\d\.\d{1,3}\.\d{1,3}\.\d")  # cheap pre-check for _IPV4
_IPV4 = re.compile(rf"(?<![\w.]){_OCTET}(?:\.{_OCTET}){{3}}(?![\w]|\.\d)")
_IPV6 = re.compile(
    r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}+"
    r"(?:(?:\d{1,3}\.){3}\d{1,3}|[0-9A-Fa-f]{1,4})?+"
    r"(?:%[\w.~-]+)?+"
    r"(?![\w:.])"
)

# Groups of digits joined by single separators; possessive, so a run is matched whole or not at
# all, and never from its middle (the second look-behind).
_CARD_RUN = re.compile(r"\d(?<![\w.,]\d)(?<!\d[ -]\d)\d*+(?:[ -]\d++)*+(?!\w)")
_PHONE = re.compile(
    r"[+(\d]"
    r"(?<![\w+]\+)(?<![\w+.,:/@#%-][(\d])(?<!\d[ ./-][(\d])"  # not glued to a word, not mid-run
    r"(?:(?<=\+) ?(?:\(\d{1,5}\) ?)?+\d{1,15}+|(?<=\()\d{1,5}\) ?\d{1,15}+|(?<=\d)\d{0,14}+)"
    r"(?:[ ./-](?:\(\d{1,5}\) ?)?+\d{1,15}+){0,7}+"
    r"(?![\w@:]|[ ./-]?\(?\d)"
)
_DIGIT_GROUP = re.compile(r"\d+")
_DATE_START = re.compile(r"(?:\d{4}[-./]\d{1,2}[-./]\d{1,2}|\d{1,2}[-./]\d{1,2}[-./]\d{2,4})(?![-./]?\d)")
_DIGITS = re.compile(r"\D*+\d(?P<seven>(?:\D*+\d){6})?")  # one digit at least; "seven" when 7+
_THIRTEEN_DIGITS = re.compile(r"(?:\D*+\d){13}")
# Whole values that are common and hold nothing to find whatever their digits: an ISO 8601 date or
# timestamp, a number of at most 12 integer digits (a card has 13+), a UUID. Checked first, so the
# detectors never run on them.
_BENIGN = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d{1,9})?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?)?"
    r"|-?\d{1,12}(?:[.,]\d{1,6})?"
    r"|[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}"
)
_IBAN_CHECK_DIGITS = re.compile(r"\d(?<=[A-Za-z]{2}\d)(?<![A-Za-z0-9][A-Za-z]{2}\d)\d")  # DE[89]

# A quick look for base64 runs: every base64 byte (ASCII letters, digits, "+/_-") becomes "a",
# anything else " " (a C-level translate, then a substring search).
_B64_BYTES: Final = bytes(ord("a") if i < 128 and (chr(i).isalnum() or chr(i) in "+/_-") else 32 for i in range(256))
_B64_16: Final = b"a" * 16

# Street addresses: a house number and a street word, in the orders addresses are written in.
# Case-sensitive on purpose: the capitals of a name are what tell "10 Downing Street" from text.
_EN_STREET = (
    r"(?:Street|St|Road|Rd|Avenue|Ave|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Place|Pl|Square|Sq"
    r"|Terrace|Parkway|Pkwy|Highway|Hwy|Way|Crescent|Close)"
)
_NAME_WORD = r"[A-Z][A-Za-z0-9'\u2019-]*"  # a capital first; digits inside (a house name, X5)
_ORDINAL = r"\d{1,3}(?:st|nd|rd|th)"
_HOUSE = r"\d{1,4}[A-Za-z]?\b(?![.,:/-]?\d)"  # 5, 12a, 221B; not 12.50, 3:15, 2026-11
_DE_SUFFIX = (
    r"(?:straße|strasse|str\.|weg|gasse|allee|platz|damm|ufer|chaussee|steig|straat|laan|gracht|plein"
    r"|gade|gatan|vägen|veien)"
)
_DE_WORD = r"(?:Straße|Strasse|Str\.|Weg|Gasse|Allee|Platz|Damm|Ufer|Chaussee)"
_ROMANCE = (
    r"(?:Rue|Avenue|Boulevard|Chemin|Allée|Impasse|Quai|Via|Viale|Piazza|Corso|Calle|Avenida|Plaza"
    r"|Paseo|Rua|Praça|Carrer)"
)
_PARTICLES = r"(?:(?:de|du|des|la|le|les|del|della|dei|di|da|do|dos|das|el)[ ]|d'|l')*"
_ADDRESS = re.compile(
    # 221B Baker Street, 10 Downing St, 1600 Amphitheatre Parkway, 725 5th Avenue
    rf"\d(?<![\w.,/:-]\d)\d{{0,4}}[A-Za-z]?(?:-\d{{1,4}})?,?[ ](?!Wheel[ ])"
    rf"(?:(?:{_NAME_WORD}|{_ORDINAL})[ ]){{1,4}}{_EN_STREET}\b(?![-'])"
    # 12 rue de Rivoli
    rf"|\d(?<![\w.,/:-]\d)\d{{0,3}}(?:[ ]?(?:bis|ter))?,?[ ]"
    rf"(?i:rue|avenue|boulevard|bd|place|chemin|allée|impasse|quai|cours)[ ]{_PARTICLES}{_NAME_WORD}"
    # 5th Avenue 725, Baker Street 221B (full street words only)
    rf"|(?<![\w-])(?:(?:{_NAME_WORD}|{_ORDINAL})[ ]){{1,3}}"
    rf"(?:Street|Avenue|Road|Boulevard|Lane|Drive|Parkway|Square)[ ]{_HOUSE}"
    # Hauptstraße 5, Kalverstraat 92a, Berliner Straße 12
    rf"|[A-ZÄÖÜ](?<![\w-][A-ZÄÖÜ])"
    rf"(?:[a-zäöüß]+{_DE_SUFFIX}[ ]?|[a-zäöüß]+[ ](?:[A-ZÄÖÜ][\w.-]*[ ]){{0,2}}{_DE_WORD}[ ]){_HOUSE}"
    # Rue de Rivoli 12, Via Roma 1, Calle Mayor 5
    rf"|(?<![\w-]){_ROMANCE}[ ]{_PARTICLES}(?:{_NAME_WORD}[ ]){{0,2}}{_NAME_WORD},?[ ]{_HOUSE}"
)

# ISO 13616 registry: total IBAN length per country.
_IBAN_LENGTHS: Final[dict[str, int]] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BI": 27, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27,
    "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27,
    "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HN": 28, "HR": 21, "HU": 28,
    "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28,
    "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22,
    "MK": 19, "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23,
    "PK": 24, "PL": 28, "PS": 29, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24, "SC": 31,
    "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28, "TL": 23,
    "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}  # fmt: skip


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = ord(ch) - 48
        if i & 1:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


def _is_card_number(digits: str) -> bool:
    return 13 <= len(digits) <= 19 and digits[0] in "23456" and _luhn(digits)


def _iban_valid(compact: str) -> bool:
    rearranged = compact[4:] + compact[:4]
    try:
        return int("".join(str(int(ch, 36)) for ch in rearranged)) % 97 == 1
    except ValueError:
        return False


def _is_phone(text: str) -> bool:
    groups = _DIGIT_GROUP.findall(text)
    digits = sum(map(len, groups))
    if not 7 <= digits <= 15:
        return False
    dotted = "." in text
    if dotted and (len(groups) == 2 or (len(groups[0]) <= 3 and all(len(g) == 3 for g in groups[1:]))):
        return False  # 123456.78, 1.234.567
    if text[0] == "+":
        return True
    if len(groups) == 1:
        return False  # a plain digit run: an id or a timestamp, not a phone
    if dotted and not all(2 <= len(g) <= 4 for g in groups):
        return False  # 10.0.19045.2965
    if _DATE_START.match(text) or all(len(g) == 4 and g[:2] in ("19", "20") for g in groups):
        return False  # 2026-11-24, 2024-2026
    if len(groups) == 2:
        first = groups[0]
        return first[0] == "0" or text[0] == "(" or (len(first) == 3 and len(groups[1]) == 4)
    if sum(len(g) == 1 for g in groups) > 1:
        return False
    return not (  # 12 345 678: thousands grouped with spaces
        len(groups[0]) <= 2
        and groups[0][0] != "0"
        and all(len(g) == 3 for g in groups[1:])
        and not any(c in text for c in "-/(")
    )


Span = tuple[int, int, str]
_NESTING: Final = 2  # base64 or JWT payloads decoded inside one another (see _decoded)


def _free(spans: list[Span], start: int, end: int) -> bool:
    return all(end <= s or start >= e for s, e, _ in spans)


def _ibans(value: str, spans: list[Span], first: bool) -> bool:
    n = len(value)
    for m in _IBAN_CHECK_DIGITS.finditer(value):
        start = m.start() - 2
        head = value[start : m.end()].upper()
        length = _IBAN_LENGTHS.get(head[:2])
        if length is None:
            continue
        chars = [head]
        need, i = length - 4, m.end()
        while need and i < n:
            ch = value[i]
            if ch.isascii() and ch.isalnum():
                chars.append(ch.upper())
                need -= 1
                i += 1
            elif ch in " -" and i + 1 < n and value[i + 1].isascii() and value[i + 1].isalnum():
                i += 1
            else:
                break
        if need or (i < n and value[i].isalnum()):
            continue
        if _iban_valid("".join(chars)) and _free(spans, start, i):
            spans.append((start, i, "iban"))
            if first:
                return True
    return False


def _cards(value: str, spans: list[Span], first: bool) -> bool:
    for m in _CARD_RUN.finditer(value):
        start, end = m.span()
        if end - start < 13:
            continue
        run = m.group()
        if run.isdigit():
            if _is_card_number(run) and _free(spans, start, end):
                spans.append((start, end, "card"))
                if first:
                    return True
            continue
        groups = [(g.start(), g.end()) for g in _DIGIT_GROUP.finditer(run)][:32]
        i = 0
        while i < len(groups):
            digits = ""
            for j in range(i, len(groups)):
                digits += run[groups[j][0] : groups[j][1]]
                if len(digits) > 19:
                    break
                if _is_card_number(digits):
                    s, e = start + groups[i][0], start + groups[j][1]
                    if _free(spans, s, e):
                        spans.append((s, e, "card"))
                        if first:
                            return True
                    i = j
                    break
            i += 1
    return False


def _emails(value: str, spans: list[Span], first: bool) -> bool:
    floor = 0
    for m in _EMAIL_AT.finditer(value):
        at = start = m.start()
        limit = max(floor, at - 64)
        while start > limit and ((ch := value[start - 1]).isalnum() or ch in _LOCAL_PUNCTUATION):
            start -= 1
        if start == at:
            continue
        spans.append((start, m.end(), "email"))
        floor = m.end()
        if first:
            return True
    return False


def _after_product(value: str, start: int, end: int) -> bool:
    """Whether the dotted quad at ``start:end`` is a product version (``Chrome/131.0.0.0``): it
    follows ``word/`` and is not a whole path segment, i.e. neither followed by ``/``, ``?`` or
    ``#`` nor after a segment that is itself led by ``/`` (``/u/198.51.100.23``)."""
    if start < 2 or value[start - 1] != "/" or not ((ch := value[start - 2]).isalnum() or ch == "_"):
        return False
    if end < len(value) and value[end] in "/?#":
        return False
    i = start - 2
    while i >= 0 and value[i] != "/" and not value[i].isspace():
        i -= 1
    return i < 0 or value[i] != "/"


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


# -- field names ----------------------------------------------------------------------------------

KNOWN_PII_FIELDS: Final[frozenset[str]] = frozenset(
    {
        # contact
        "email", "e_mail", "e-mail", "email_address", "emailAddress", "mail",
        "phone", "phone_number", "phoneNumber", "mobile", "mobile_number", "mobile_phone", "cell",
        "cell_phone", "telephone", "tel", "fax",
        # names
        "name", "full_name", "fullName", "first_name", "firstName", "given_name", "givenName",
        "last_name", "lastName", "family_name", "familyName", "surname", "middle_name",
        "middleName", "maiden_name", "username", "user_name",
        # address
        "address", "address_line1", "address_line2", "addressLine1", "addressLine2", "street",
        "street_address", "streetAddress", "house_number", "zip", "zip_code", "zipCode",
        "postcode", "postal_code", "postalCode",
        # birth, gender, identity documents
        "birthday", "birth_date", "birthdate", "date_of_birth", "dateOfBirth", "dob", "gender",
        "ssn", "social_security_number", "national_id", "passport", "passport_number",
        "tax_id", "driver_license", "drivers_license",
        # network
        "ip", "ip_address", "ipAddress",
        # payment and secrets
        "iban", "card_number", "cardNumber", "credit_card", "creditCard", "cc_number", "cvv",
        "cvc", "password", "passwd",
    }
)  # fmt: skip
_SEPARATORS = str.maketrans("", "", "_-. ")
_KNOWN_NORMALISED: Final = frozenset(name.lower().translate(_SEPARATORS) for name in KNOWN_PII_FIELDS)
# A name ending in one of these is personal data too: billingEmail, customer_phone, shippingZipCode.
_KNOWN_SUFFIXES: Final = (
    "email", "emailaddress", "phone", "phonenumber", "firstname", "lastname", "fullname",
    "streetaddress", "postalcode", "zipcode", "dateofbirth", "ipaddress", "iban", "cardnumber",
)  # fmt: skip


# Names on the list above that mean something else in event properties: a product's ``name``, a
# ``mobile`` flag, a garment's ``gender``, a ``zip`` archive. Traits are a person's; properties
# describe an action, so these are judged by their values there, not by their names.
AMBIGUOUS_IN_PROPERTIES: Final = frozenset({"name", "mobile", "cell", "mail", "gender", "zip", "tel", "fax"})


@lru_cache(maxsize=4096)
def is_personal_property(key: str) -> bool:
    """``is_known_pii_field`` for event properties: the same names except the ambiguous ones
    (memoised: the same few property names come again and again)."""
    if not isinstance(key, str):
        return False
    return is_known_pii_field(key) and key.lower().translate(_SEPARATORS) not in AMBIGUOUS_IN_PROPERTIES


def is_known_pii_field(key: str) -> bool:
    """Whether a field called ``key`` holds personal data by its name: ``KNOWN_PII_FIELDS``
    compared case-insensitively with ``_ - .`` and spaces removed (``First-Name`` is
    ``firstName``), or a name ending in a strong suffix (``billingEmail``, ``customer_phone``).
    Coarse location (city, region, country) is not on the list."""
    if not isinstance(key, str) or len(key) > 128:
        return False
    norm = key.lower().translate(_SEPARATORS)
    return norm in _KNOWN_NORMALISED or norm.endswith(_KNOWN_SUFFIXES)


# -- scanning nested values -----------------------------------------------------------------------


class Finding(NamedTuple):
    """``path``: where (key names and ``[i]`` list indexes; never a value); ``kind``: one of the
    kinds above, ``field`` (a known personal-data field, with ``by_name``) or ``depth`` (a
    container nested deeper than ``max_depth``, not inspected)."""

    path: str
    kind: str


_SAFE_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,63}")
_DROP: Final = object()
_CARD_INT_MIN, _CARD_INT_MAX = 10**12, 10**19
_CONTAINERS = (dict, list, tuple)
_WALKED = (dict, list, tuple, int)  # besides str


def _child(path: str, key: Any, found: bool) -> str:
    name = key if isinstance(key, str) and not found and _SAFE_KEY.fullmatch(key) else "<key>"
    return f"{path}.{name}" if path else name


def _kinds(spans: list[Span]) -> list[str]:
    kinds: list[str] = []
    for _, _, kind in spans:
        if kind not in kinds:
            kinds.append(kind)
    return kinds


class _Walker:
    __slots__ = ("action", "by_name", "findings", "max_depth")

    def __init__(self, action: Action, max_depth: int, by_name: Callable[[str], bool] | None) -> None:
        self.action = action
        self.max_depth = max_depth
        self.by_name = by_name
        self.findings: list[Finding] = []

    def _found(self, value: Any, path: str, kinds: list[str], redacted: Any) -> Any:
        self.findings.extend(Finding(path, kind) for kind in kinds)
        if self.action == "redact":
            return redacted
        return _DROP if self.action == "drop" else value

    def walk(self, value: Any, path: str, depth: int) -> Any:
        """``value`` after the action (``_DROP`` to remove it); paths are built only when needed."""
        if isinstance(value, str):
            spans = _detect(value)
            return self._found(value, path, _kinds(spans), _apply(value, spans)) if spans else value
        if isinstance(value, _CONTAINERS):
            if depth >= self.max_depth:
                return self._found(value, path, ["depth"], _DROP)
            if isinstance(value, dict):
                return self.mapping(value, path, depth + 1)
            return self.sequence(value, path, depth + 1)
        if type(value) is int and _CARD_INT_MIN <= value < _CARD_INT_MAX and _is_card_number(str(value)):
            return self._found(value, path, ["card"], MARKERS["card"])
        return value

    def mapping(self, value: dict[Any, Any], path: str, depth: int) -> Any:
        out: dict[Any, Any] | None = None
        by_name = self.by_name
        for index, (key, item) in enumerate(value.items()):
            new_key: Any = key
            child: str | None = None
            if isinstance(key, str):
                key_spans = _detect(key)
                if key_spans:
                    child = _child(path, key, True)
                    new_key = self._found(key, child, sorted(set(_kinds(key_spans))), _apply(key, key_spans))
                    if new_key is not key and new_key is not _DROP and (new_key in value or (out and new_key in out)):
                        new_key = _DROP  # the redacted key would collide with another
                named = by_name is not None and item is not None and item != "" and by_name(key)
            else:
                named = False
            if named:
                new = self._found(item, child or _child(path, key, False), ["field"], FIELD_MARKER)
            elif isinstance(item, str):
                spans = _detect(item)
                new = (
                    self._found(item, child or _child(path, key, False), _kinds(spans), _apply(item, spans))
                    if spans
                    else item
                )
            elif isinstance(item, _WALKED):
                new = self.walk(item, child or _child(path, key, False), depth)
            else:
                new = item
            if out is None:
                if new is item and new_key is key:
                    continue
                out = dict(islice(value.items(), index))
            if new is not _DROP and new_key is not _DROP:
                out[new_key] = new
        return value if out is None else out

    def sequence(self, value: list[Any] | tuple[Any, ...], path: str, depth: int) -> Any:
        out: list[Any] | None = None
        for index, item in enumerate(value):
            if isinstance(item, str):
                spans = _detect(item)
                new = self._found(item, f"{path}[{index}]", _kinds(spans), _apply(item, spans)) if spans else item
            elif isinstance(item, _WALKED):
                new = self.walk(item, f"{path}[{index}]", depth)
            else:
                new = item
            if out is None and new is not item:
                out = list(value[:index])
            if out is not None and new is not _DROP:
                out.append(new)
        return value if out is None else out


def scan(
    obj: Any,
    action: Action = "redact",
    *,
    path: str = "",
    max_depth: int = 16,
    by_name: bool | Callable[[str], bool] = False,
) -> tuple[Any, list[Finding]]:
    """Walk ``obj`` (nested dicts and lists, as parsed from JSON) and act on every string value
    holding personal data (and every int that is a card number). Returns the result and the
    findings, one per (path, kind), in document order.

    - ``redact``: each finding replaced by its marker (an int card number becomes ``"[card]"``);
    - ``drop``: the field (dict entry or list element) holding it is removed;
    - ``quarantine``: nothing changes (``obj`` itself is returned); the caller quarantines the
      event on any finding.

    Keys are scanned too: a key holding personal data shows as ``<key>`` in paths and is redacted
    (or its entry dropped when the redacted key would collide) or dropped. Paths name a key only
    when it matches ``[A-Za-z_][A-Za-z0-9_-]{0,63}`` and holds nothing found, else ``<key>``; list
    elements are ``[i]``; ``path`` is the prefix (e.g. ``"properties"``). With ``by_name``, any
    non-empty value under a known personal-data field name (see ``is_known_pii_field``, or the
    predicate given, e.g. ``is_personal_property``) is a ``field`` finding, redacted to
    ``[redacted]`` (a whole subtree) or dropped.

    Containers nested more than ``max_depth`` levels below ``obj`` are not inspected: a ``depth``
    finding, and under redact or drop they are removed (what cannot be checked is not sent). A
    top-level value that is dropped comes back as None. The input is never modified; unchanged
    containers are returned as they are (no copy).
    """
    named = is_known_pii_field if by_name is True else (by_name or None)
    walker = _Walker(action, max_depth, named)
    out = walker.walk(obj, path, 0)
    return (None if out is _DROP else out), walker.findings
