"""The personal-data detectors' patterns and the checks a candidate must pass (Luhn, mod-97,
the phone rules), and the detectors that apply them to a value; the kinds and their rules are
described in :mod:`fairtrack.anonymise.pii`."""

from __future__ import annotations

import re
from typing import Final

__all__ = ["Span"]

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
