"""Value formats: the closed set of forms a catalogued attribute may declare, and their checks.

The closed-world rule: every attribute of the policy catalogue declares exactly one format, and a
value leaves the gateway only when its format admits it. ``checker(name, values=..., max_length=...)``
returns the predicate for one attribute (built once per policy version); the predicate takes any
value and returns True only when that value, exactly as it is, fits. Predicates are pure (they
never change or copy the value) and never raise. A value that does not fit is replaced or dropped
by the caller; nothing here repairs it.

"Scanned" below means that the personal-data scanner (:mod:`fairtrack.anonymise.pii`) finds nothing in the
text (e-mails, phones, IPv4/IPv6, cards, IBANs; its decoding of percent, entity, full-width,
base64 and JWT forms included). Text holding an invisible format character (zero-width space and
joiner, soft hyphen, word joiner, BOM) is scanned again with those characters removed, so
``jane\\u200b@example.com`` is still an e-mail; bidirectional overrides (U+202A-202E, U+2066-2069)
and lone surrogates are refused outright.

=============  ====================================================================================
format         admits
=============  ====================================================================================
``id``         an opaque identifier: ``str`` of 1..``max_length`` (128) characters of
               ``[A-Za-z0-9_.:-]`` that is not personal data: no ``@`` (the charset), no IPv4
               dotted quad, no run of 7+ decimal digits unless the run lies inside a UUID or a
               hex token (a maximal run of 8+ hex digits holding a letter a-f) or is an epoch
               time in seconds or milliseconds from 2017 to 2033 (10 or 13 digits starting 15-19,
               as in analytics.js's ``ajs-next-<ms>-<hex>``), no JWT segment (``eyJ`` starting a
               word), no base64url run of 12+ characters that decodes to personal data, and scanned
               (a phone written ``555-123-4567``, an IPv6 address). ``ord_1042``, UUIDs and
               pseudonyms pass.
``pseudonym``  what :mod:`fairtrack.anonymise.pseudonym` makes: ``p-`` or ``d-`` then 32 lower-case hex digits.
``enum``       a ``str`` in the attribute's ``values`` (required, and only for this format).
``number``     an ``int`` or a finite ``float``; never a ``bool``; never an integral value of
               13-19 digits that is a Luhn-valid card number (first digit 2-6, as the scanner),
               nor one of 10-15 digits (a phone number's length) unless it is an epoch time in
               seconds or milliseconds from 2017 to 2033.
``integer``    an ``int`` (not ``bool``), under the same rules.
``bool``       ``True`` or ``False`` only.
``timestamp``  ``YYYY-MM-DDTHH:MM:SS.mmmZ`` naming a real instant, as :func:`fairtrack.timestamps.iso`
               writes it.
``locale``     a BCP 47 tag of at most 16 characters, hyphen-separated: language (2-3 letters),
               optional script (4 letters), optional region (2 letters or 3 digits). Variants,
               extensions and private use (``en-x-...``) are refused: they could carry anything.
``timezone``   an IANA zone name known to this machine's time zone data (``Europe/Berlin``), or
               ``UTC``. Without tz data, only ``UTC`` (fails closed; see below).
``country``    an assigned ISO 3166-1 alpha-2 code in upper case (``DE``; the 249 of the tz
               database's ``iso3166.tab``: no ``EU``, ``XK``, ``UK`` nor lower case).
``url``        an absolute http(s) URL that URL cleaning leaves as it is (a fixed point of
               :func:`fairtrack.anonymise.urls.clean_url`: no user info, no fragment, only ``utm_*``
               parameters, placeholders where the path or a UTM value held personal data or a
               token), its path and query scanned (the host is the site's, its shape vouched for
               by the parser: an IP host is no visitor's data), without white space or control
               characters, at most ``max_length`` (2048).
``origin``     ``scheme://host[:port]`` as :func:`fairtrack.anonymise.urls.referrer_origin` writes it.
``path``       a ``/``-led path without ``?`` or ``#`` that :func:`fairtrack.anonymise.urls.clean_path` leaves as
               it is, scanned, without white space or control characters, at most ``max_length``
               (1024).
``query``      a ``?``-led query string as a cleaned URL's ``search`` (only ``utm_*`` parameters,
               clean values), scanned, at most ``max_length`` (2048).
``name``       an event, page, screen or product name: ``str`` of 1..``max_length`` (256) characters,
               no control characters, scanned.
``text``       free text: ``str`` of at most ``max_length`` (8192) characters, no control characters
               but tab and newline, scanned (the scanner's markers such as ``[email]`` are fine).
``user_agent`` 1..512 printable ASCII characters holding a product/version token
               (``Mozilla/5.0``), scanned.
``ip``         a truncated address in canonical form: IPv4 with its last octet 0 (/24 or shorter),
               or IPv6 with every bit after the first 48 zero; a 6to4 address (``2002::/16``) must
               carry a truncated IPv4 too. IPv4-mapped, NAT64 and Teredo client addresses keep
               their IPv4 in the low bits, so the /48 rule already refuses them.
``hash``       a SHA-256 digest: 64 lower-case hex digits.
``user_data``  the hashed user data :mod:`fairtrack.anonymise.userdata` makes, and nothing else: either Meta's
               (keys among ``em ph fn ln ge db ct st zp country``, each a one-item list of a
               ``hash``) or GA4's (``sha256_email_address``/``sha256_phone_number``: a one-item list
               of a ``hash``; ``address``: a one-item list of a dict of ``sha256_first_name``/
               ``sha256_last_name`` hashes). Neither makes an unhashed field, so none is admitted
               (GA4's plain city/region/postal code/country are never sent).
``key``        a client-chosen object key: 1..``max_length`` (64) characters of
               ``[A-Za-z0-9_ .$:-]`` starting with a letter, ``_`` or ``$``; digit runs as for
               ``id``; scanned.
``map``        a free-form object (``properties``, ``traits``): a dict whose keys fit ``key`` and
               whose values are, recursively, ``None``, ``bool``, ``number``, ``text`` (8192, or
               ``max_length``), a list of such or a dict of such; at most 8 levels of containers
               (the map itself is the first) and 1000 leaves.
``object``     a dict: the policy engine keeps only its catalogued keys, each with its own format.
``meta_cookie`` Meta's browser cookies as the Pixel writes them (Meta's "fbp and fbc parameters"):
               ``fb.<subdomain index 0-2>.<creation time: epoch milliseconds, 2017 to 2033>.<rest>``,
               where the rest is the ``_fbp`` cookie's random number (1-10 digits, the Pixel draws
               it below 2^31) or the ``_fbc`` cookie's click id (``fbclid``: 1-500 characters that
               pass ``id``'s checks); at most 600 characters.
=============  ====================================================================================

Values are checked as they are, not as they could be made: ``"de"`` is not a ``country`` (lower
case), ``1`` is not a ``bool``, ``"42"`` is not an ``integer``, a URL with a fragment is not a
``url`` (clean it first, then check).

Time zone data. ``timezone`` reads the zone names from ``zoneinfo.available_timezones()`` once, on
first use (``localtime``, ``Factory`` and ``posixrules`` excluded). Lambda's python3.13 runtime is
built on Amazon Linux 2023, whose images ship ``/usr/share/zoneinfo`` (the AL2023 minimal image
gained ``tzdata`` in its 2023.3 release, January 2024); the layer does not add pip's ``tzdata``.
Should a machine have no tz data, ``timezone`` admits only ``UTC`` (it fails closed rather than
admitting names by their shape, which could carry words) and :func:`timezone_data_available`
says so, for a start-up check.

Cost (2-core dev machine, Python 3.11): most checks are one type test and one precompiled regex
match, well under a microsecond; those that scan (``id``, ``name``, ``text``, ``url``, ``path``,
``user_agent``) cost what the scanner costs, and ``url``, ``path``, ``query``, ``origin``,
``user_agent``, ``name`` and ``id`` remember their last few thousand answers (the same page URLs,
user agents, event names and visitor ids come again and again).
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import math
import re
import zoneinfo
from collections.abc import Callable
from datetime import datetime
from functools import lru_cache
from typing import Any, Final

from fairtrack.anonymise import embedded_ipv4, pii, urls

__all__ = ["DESCRIPTIONS", "FORMATS", "Check", "admits", "checker", "timezone_data_available"]

Check = Callable[[Any], bool]

DESCRIPTIONS: Final[dict[str, str]] = {
    "id": "Opaque id: 1-128 of A-Z a-z 0-9 _ . : -; no e-mail, IP, phone, long number, JWT or encoded personal data.",
    "pseudonym": "Keyed pseudonym made by the gateway: p- or d- and 32 hex digits.",
    "enum": "One of the values the policy lists.",
    "number": "A finite number (not a card number, nor a phone number's 10-15 digits).",
    "integer": "A whole number (not a card number, nor a phone number's 10-15 digits).",
    "bool": "true or false.",
    "timestamp": "UTC time with milliseconds, e.g. 2026-11-24T10:15:30.123Z.",
    "locale": "Language tag: language, optional script and region (en-GB, zh-Hant-TW); nothing more.",
    "timezone": "IANA time zone name, e.g. Europe/Berlin, or UTC.",
    "country": "ISO 3166-1 alpha-2 country code, e.g. DE.",
    "url": "Cleaned http(s) URL: utm_* parameters only, no fragment or user info, personal data as placeholders.",
    "origin": "Scheme and host (and port) of a URL only, e.g. https://www.example.com.",
    "path": "Cleaned URL path without query or fragment, personal data replaced by placeholders.",
    "query": "Cleaned query string: utm_* parameters only.",
    "name": "Short name (event, page, product): up to 256 characters, checked for personal data.",
    "text": "Free text up to 8192 characters, checked for personal data.",
    "user_agent": "Browser user agent string (product/version tokens), checked for personal data.",
    "ip": "IP address truncated by the gateway: IPv4 to /24, IPv6 to /48.",
    "hash": "SHA-256 digest (64 hex digits).",
    "user_data": "User data normalised and SHA-256 hashed by the gateway for GA4 or Meta; no clear value.",
    "key": "Object key: up to 64 of letters, digits and _ . $ : - space, checked for personal data.",
    "map": "Object of keys and values (text, numbers, booleans, lists, objects); 8 levels, 1000 values, all checked.",
    "object": "Object whose catalogued keys are checked one by one; the others are dropped.",
    "meta_cookie": "Meta _fbp or _fbc cookie: fb.<0-2>.<creation time in ms>.<random number, or the fbclid click id>.",
}
FORMATS: Final[frozenset[str]] = frozenset(DESCRIPTIONS)

_DEFAULT_LENGTH: Final[dict[str, int]] = {
    "id": 128,
    "url": 2048,
    "path": 1024,
    "query": 2048,
    "name": 256,
    "text": 8192,
    "key": 64,
    "map": 8192,  # the length of each string in it
}
_MAX_DEPTH: Final = 8
_MAX_LEAVES: Final = 1000


# -- personal data --------------------------------------------------------------------------------


def _classify(text: str) -> bool:
    return pii.classify(text) is not None


# The scanner's own yes/no when it has one; classify (stops at the first finding) otherwise.
_scan: Callable[[str], bool] = getattr(pii, "contains_pii", _classify)

_UNSAFE_CHARS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_INVISIBLE = re.compile(r"[\u00ad\u180e\u200b-\u200f\u2060-\u2064\ufeff]")


def _clean_text(text: str, controls: re.Pattern[str]) -> bool:
    """No refused character, and nothing found, with invisible characters or without them."""
    if controls.search(text) is not None:
        return False
    if _scan(text):
        return False
    if _INVISIBLE.search(text) is not None:
        return not _scan(_INVISIBLE.sub("", text))
    return True


_NAME_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_TEXT_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


@lru_cache(maxsize=4096)
def _name_ok(text: str) -> bool:
    return _clean_text(text, _NAME_CONTROLS)


def _text_ok(text: str) -> bool:
    if len(text) <= 64:
        return _short_text_ok(text)
    return _clean_text(text, _TEXT_CONTROLS)


@lru_cache(maxsize=4096)
def _short_text_ok(text: str) -> bool:  # short texts repeat (property values): remembered
    return _clean_text(text, _TEXT_CONTROLS)


# -- id -------------------------------------------------------------------------------------------

_ID = re.compile(r"[A-Za-z0-9_.:-]+")
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4_IN_ID = re.compile(rf"(?<![0-9]){_OCTET}(?:\.{_OCTET}){{3}}(?![0-9])")
_SEVEN_DIGITS = re.compile(r"[0-9]{7}")
_UUID_OR_HEX_RUN = re.compile(
    r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}(?![0-9A-Fa-f])|[0-9A-Fa-f]{7,}"
)
_DIGIT_RUN = re.compile(r"[0-9]{7,}")
_HEX_LETTER = re.compile(r"[A-Fa-f]")
_EPOCH = re.compile(r"1[5-9][0-9]{8}(?:[0-9]{3})?")
_JWT_START = re.compile(r"(?<![A-Za-z0-9])eyJ[A-Za-z0-9_-]{4}")
_B64_RUN = re.compile(r"[A-Za-z0-9_-]{12,}")
# A run of words then hex digits and separators (UUIDs, "p-<hex>", "ajs-next-<ms>-<hex>"): not
# base64 text (which mixes letters beyond f with digits), so not decoded.
_WORDS_THEN_HEX = re.compile(r"(?:[A-Za-z]+[-_])*[0-9A-Fa-f][0-9A-Fa-f_-]*")


def _digit_runs_ok(value: str) -> bool:
    for hex_run in _UUID_OR_HEX_RUN.finditer(value):
        run = hex_run.group()
        if (len(run) == 36 and run[8] == "-") or (len(run) >= 8 and _HEX_LETTER.search(run) is not None):
            continue  # a UUID or a hex token: its digit runs are part of it
        for digits in _DIGIT_RUN.finditer(run):
            if _EPOCH.fullmatch(digits.group()) is None:
                return False
    return True


_NOT_PRINTABLE = re.compile(r"[^\x20-\x7e]+")
_B64_STARTS: Final = 8


def _b64_texts(run: str) -> list[str]:
    """The run decoded as base64url from each of its first four offsets and from just after each
    of its first ``-``/``_`` (a prefix such as ``ord_`` shifts the encoded part), as text in which
    whatever is not printable ASCII reads as a space (so decoded garbage before the data does not
    glue to it)."""
    starts = [0, 1, 2, 3]
    for i, ch in enumerate(run):
        if ch in "-_" and len(starts) < _B64_STARTS:
            starts.append(i + 1)
    out = []
    for start in starts:
        part = run[start:]
        if len(part) < 8:
            continue
        rest = len(part) % 4
        part = part[:-1] if rest == 1 else part + "=" * (-rest % 4)
        try:
            raw = base64.urlsafe_b64decode(part)
        except (binascii.Error, ValueError):
            continue
        out.append(_NOT_PRINTABLE.sub(" ", raw.decode("utf-8", "replace")))
    return out


_IPV6_RUN = re.compile(r"[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*")


def _holds_ipv6(value: str) -> bool:
    """Whether a run of hex digits, colons and dots in ``value`` (or the run without its first
    few characters, which may belong to a word) is an IPv6 address."""
    for m in _IPV6_RUN.finditer(value):
        run = m.group()
        for start in range(min(5, len(run) - 1)):
            try:
                ipaddress.IPv6Address(run[start:])
            except ValueError:
                continue
            return True
    return False


@lru_cache(maxsize=4096)
def _opaque_id(value: str) -> bool:
    if _SEVEN_DIGITS.search(value) is not None and not _digit_runs_ok(value):
        return False
    if "." in value and _IPV4_IN_ID.search(value) is not None:
        return False
    if "eyJ" in value and _JWT_START.search(value) is not None:
        return False
    if value.count(":") >= 2 and _holds_ipv6(value):
        return False
    if len(value) >= 12:
        for m in _B64_RUN.finditer(value):
            run = m.group()
            if _WORDS_THEN_HEX.fullmatch(run) is None and any(_scan(t) for t in _b64_texts(run)):
                return False
    return not _scan(value)


# The common ids, admitted without scanning: up to three words, an optional epoch time, then a
# UUID or a hex token (16-64 hex digits with a letter after the fourth, so that an IBAN such as
# DE89370400440532013000 is not one); e.g. "ajs-next-<ms>-<hex>", "p-<hex>", a UUID. Nothing the
# scanner finds fits this shape: it holds no "@", colon, dot or free-standing digits.
_COMMON_ID = re.compile(
    r"(?:[A-Za-z]{1,16}[-_]){0,3}(?:1[5-9][0-9]{8}(?:[0-9]{3})?[-_])?"
    r"(?:[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}"
    r"|[0-9A-Fa-f]{4}(?=[0-9]*[A-Fa-f])[0-9A-Fa-f]{12,60})"
)


def _id_check(max_length: int) -> Check:
    match = _ID.fullmatch
    common = _COMMON_ID.fullmatch

    def check(value: Any) -> bool:
        return (
            type(value) is str
            and 0 < len(value) <= max_length
            and (common(value) is not None or (match(value) is not None and _opaque_id(value)))
        )

    return check


# -- simple shapes --------------------------------------------------------------------------------

_PSEUDONYM = re.compile(r"[pd]-[0-9a-f]{32}")
_HASH = re.compile(r"[0-9a-f]{64}")
_TIMESTAMP = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z")
_LOCALE = re.compile(r"[A-Za-z]{2,3}(?:-[A-Za-z]{4})?(?:-(?:[A-Za-z]{2}|[0-9]{3}))?")
_CARD_MIN, _CARD_MAX = 10**12, 10**19


def _regex_check(pattern: re.Pattern[str]) -> Check:
    match = pattern.fullmatch

    def check(value: Any) -> bool:
        return type(value) is str and match(value) is not None

    return check


_PHONE_MIN, _PHONE_MAX = 10**9, 10**15  # 10 to 15 digits: the length of a phone number (E.164)
_EPOCH_S = (1_483_228_800, 2_000_000_000)  # 2017 to 2033, in seconds; times 1,000 in milliseconds


def _card_like(number: int) -> bool:
    number = abs(number)
    if _PHONE_MIN <= number < _PHONE_MAX and not (
        _EPOCH_S[0] <= number < _EPOCH_S[1] or _EPOCH_S[0] * 1000 <= number < _EPOCH_S[1] * 1000
    ):
        return True  # a phone number sent as a JSON number (447700900123), unless an epoch time
    return _CARD_MIN <= number < _CARD_MAX and pii.classify(str(number)) == "card"


def _number(value: Any) -> bool:
    kind = type(value)
    if kind is int:
        return -_PHONE_MIN < value < _PHONE_MIN or not _card_like(value)
    if kind is float:
        if not math.isfinite(value):
            return False
        return -_PHONE_MIN < value < _PHONE_MIN or not value.is_integer() or not _card_like(int(value))
    return False


def _integer(value: Any) -> bool:
    return type(value) is int and _number(value)


def _bool(value: Any) -> bool:
    return value is True or value is False


def _timestamp(value: Any) -> bool:
    if type(value) is not str or _TIMESTAMP.fullmatch(value) is None:
        return False
    try:
        datetime.fromisoformat(value[:-1])
    except ValueError:
        return False
    return True


def _locale(value: Any) -> bool:
    return type(value) is str and len(value) <= 16 and _LOCALE.fullmatch(value) is not None


_timezones: frozenset[str] | None = None


def _zone_names() -> frozenset[str]:
    global _timezones
    if _timezones is None:
        names = {name for name in zoneinfo.available_timezones() if name not in ("localtime", "Factory", "posixrules")}
        _timezones = frozenset(names | {"UTC"})
    return _timezones


def timezone_data_available() -> bool:
    """Whether this machine has time zone data (else ``timezone`` admits only ``UTC``)."""
    return len(_zone_names()) > 1


def _timezone(value: Any) -> bool:
    return type(value) is str and value in _zone_names()


# ISO 3166-1 alpha-2, officially assigned (tz database iso3166.tab, 249 codes).
COUNTRIES: Final[frozenset[str]] = frozenset(
    """
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS
    BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE
    EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM
    HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC
    LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA
    NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW
    SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO
    TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW
    """.split()  # noqa: SIM905
)


def _country(value: Any) -> bool:
    return type(value) is str and value in COUNTRIES


# -- URLs -----------------------------------------------------------------------------------------

_URL_UNSAFE = re.compile(r"[\x00-\x20\x7f-\xa0\u1680\u2000-\u200f\u2028-\u202f\u205f-\u206f\u3000\ufeff\ud800-\udfff]")


@lru_cache(maxsize=4096)
def _url_ok(value: str) -> bool:
    if _URL_UNSAFE.search(value) is not None:
        return False
    cleaned = urls.clean_url(value)
    # the host is the site's (an address such as 127.0.0.1 or a staging IP is no visitor's data,
    # and the URL parser has vouched for its shape): the path and query are scanned
    return (
        cleaned is not None
        and cleaned.url == value
        and not _scan(value[len(value) - len(cleaned.path) - len(cleaned.search or "") :])
    )


@lru_cache(maxsize=1024)
def _origin_ok(value: str) -> bool:
    # scheme and host only, the host's shape vouched for by the URL parser: a site's address, not
    # a visitor's data (a referrer on an IP host is still a referrer)
    return _URL_UNSAFE.search(value) is None and urls.referrer_origin(value) == value


@lru_cache(maxsize=4096)
def _path_ok(value: str) -> bool:
    return (
        value[:1] == "/"
        and "?" not in value
        and "#" not in value
        and _URL_UNSAFE.search(value) is None
        and urls.clean_path(value) == value
        and not _scan(value)
    )


@lru_cache(maxsize=1024)
def _query_ok(value: str) -> bool:
    if value[:1] != "?" or "#" in value or _URL_UNSAFE.search(value) is not None:
        return False
    cleaned = urls.clean_url("https://h.invalid/" + value)
    return cleaned is not None and cleaned.search == value and not _scan(value)


def _cached_str_check(ok: Callable[[str], bool], max_length: int) -> Check:
    def check(value: Any) -> bool:
        return type(value) is str and 0 < len(value) <= max_length and ok(value)

    return check


def _origin(value: Any) -> bool:
    return type(value) is str and 0 < len(value) <= 2048 and _origin_ok(value)


# -- user agent, IP -------------------------------------------------------------------------------

_UA = re.compile(r"[\x20-\x7e]{1,512}")
_PRODUCT = re.compile(r"(?<![A-Za-z0-9._+-])[A-Za-z][A-Za-z0-9._+-]*/[0-9A-Za-z][0-9A-Za-z._+-]*")


# RFC 9110's grammar: products (token[/token]) and comments in parentheses, separated by spaces;
# a comma-joined second header or text after the last product does not fit it
_UA_PRODUCT_PATTERN = r"[A-Za-z0-9!#$%&'*+.^_`|~-]+(?:/[A-Za-z0-9!#$%&'*+.^_`|~-]+)?"
_UA_GRAMMAR = re.compile(rf"{_UA_PRODUCT_PATTERN}(?: +(?:{_UA_PRODUCT_PATTERN}|\([^()]*\)))*")
_UA_PUNCTUATION = re.compile(r"[,;()\[\]]")


@lru_cache(maxsize=4096)
def _user_agent_ok(value: str) -> bool:
    # scanned as it is and with its punctuation as line breaks: a version before a comment must
    # not hide what follows it ("Firefox/133.0 (4350-0662-3103-9933)" reads as one run of digits)
    return (
        _UA.fullmatch(value) is not None
        and _UA_GRAMMAR.fullmatch(value) is not None
        and _PRODUCT.search(value) is not None
        and not _scan(value)
        and not _scan(_UA_PUNCTUATION.sub("\n", value))
    )


def _user_agent(value: Any) -> bool:
    return type(value) is str and _user_agent_ok(value)


_V6_HOST_BITS: Final = (1 << 80) - 1


@lru_cache(maxsize=1024)
def _ip_ok(value: str) -> bool:
    if "%" in value or len(value) > 39:
        return False
    try:
        addr = ipaddress.ip_address(value)
    except ValueError:
        return False
    if str(addr) != value:
        return False  # not canonical (upper case, uncompressed): not what truncation writes
    if isinstance(addr, ipaddress.IPv4Address):
        return addr.packed[3] == 0
    if int(addr) & _V6_HOST_BITS:
        return False
    # an IPv6 form that carries an IPv4 (mapped, compatible, NAT64, 6to4, Teredo) is never what
    # truncation writes: it writes that IPv4, truncated
    return embedded_ipv4(addr) is None


def _ip(value: Any) -> bool:
    return type(value) is str and _ip_ok(value)


# -- user data ------------------------------------------------------------------------------------

_META_KEYS: Final = frozenset({"em", "ph", "fn", "ln", "ge", "db", "ct", "st", "zp", "country"})
_GA4_LISTS: Final = frozenset({"sha256_email_address", "sha256_phone_number"})
_GA4_ADDRESS: Final = frozenset({"sha256_first_name", "sha256_last_name"})
_hash_match = _HASH.fullmatch


def _is_hash(value: Any) -> bool:
    return type(value) is str and _hash_match(value) is not None


def _one_hash(value: Any) -> bool:
    return type(value) is list and len(value) == 1 and _is_hash(value[0])


def _ga4_address(value: Any) -> bool:
    if type(value) is not list or len(value) != 1:
        return False
    entry = value[0]
    return (
        type(entry) is dict
        and len(entry) > 0
        and entry.keys() <= _GA4_ADDRESS
        and all(_is_hash(v) for v in entry.values())
    )


def _user_data(value: Any) -> bool:
    if type(value) is not dict or not value:
        return False
    keys = value.keys()
    if keys <= _META_KEYS:
        return all(_one_hash(v) for v in value.values())
    if keys <= _GA4_LISTS | {"address"}:
        return all(_ga4_address(v) if k == "address" else _one_hash(v) for k, v in value.items())
    return False


# -- keys, maps, objects --------------------------------------------------------------------------

_KEY = re.compile(r"[A-Za-z_$][A-Za-z0-9_ .$:-]*")


@lru_cache(maxsize=4096)
@lru_cache(maxsize=4096)
def _key_ok(value: str) -> bool:  # keys repeat from hit to hit: remembered
    return (
        _KEY.fullmatch(value) is not None
        and (_SEVEN_DIGITS.search(value) is None or _digit_runs_ok(value))
        and not _scan(value)
    )


def _key_check(max_length: int) -> Check:
    def check(value: Any) -> bool:
        return type(value) is str and 0 < len(value) <= max_length and _key_ok(value)

    return check


def _map_check(max_length: int) -> Check:
    def walk(value: Any, depth: int, budget: list[int]) -> bool:
        """Whether a container at ``depth`` fits; ``budget[0]`` counts the leaves left."""
        if depth > _MAX_DEPTH:
            return False
        is_dict = type(value) is dict
        for key, item in value.items() if is_dict else enumerate(value):
            if is_dict and not (type(key) is str and 0 < len(key) <= 64 and _key_ok(key)):
                return False
            kind = type(item)
            if kind is dict or kind is list:
                if not walk(item, depth + 1, budget):
                    return False
                continue
            budget[0] -= 1
            if budget[0] < 0:
                return False
            if item is None or kind is bool:
                continue
            if kind is str:
                if len(item) > max_length or not _text_ok(item):
                    return False
            elif not _number(item):
                return False
        return True

    def check(value: Any) -> bool:
        return type(value) is dict and walk(value, 1, [_MAX_LEAVES])

    return check


_META_COOKIE = re.compile(r"fb\.[0-2]\.1[5-9][0-9]{11}\.([0-9]{1,10}|[A-Za-z0-9_.:-]{1,500})")
_FBCLID_CHECK: Final = _id_check(500)


@lru_cache(maxsize=4096)
def _meta_cookie_ok(value: str) -> bool:
    m = _META_COOKIE.fullmatch(value)
    if m is None:
        return False
    rest = m.group(1)
    return (rest.isdigit() and len(rest) <= 10) or _FBCLID_CHECK(rest)


def _meta_cookie(value: Any) -> bool:
    return type(value) is str and len(value) <= 600 and _meta_cookie_ok(value)


def _object(value: Any) -> bool:
    return type(value) is dict


def _length_check(max_length: int, ok: Callable[[str], bool], minimum: int) -> Check:
    def check(value: Any) -> bool:
        return type(value) is str and minimum <= len(value) <= max_length and ok(value)

    return check


# -- the registry ---------------------------------------------------------------------------------

_FIXED: Final[dict[str, Check]] = {
    "pseudonym": _regex_check(_PSEUDONYM),
    "hash": _regex_check(_HASH),
    "number": _number,
    "integer": _integer,
    "bool": _bool,
    "timestamp": _timestamp,
    "locale": _locale,
    "timezone": _timezone,
    "country": _country,
    "origin": _origin,
    "user_agent": _user_agent,
    "ip": _ip,
    "user_data": _user_data,
    "object": _object,
    "meta_cookie": _meta_cookie,
}
_SIZED: Final[dict[str, Callable[[int], Check]]] = {
    "id": _id_check,
    "url": lambda n: _cached_str_check(_url_ok, n),
    "path": lambda n: _cached_str_check(_path_ok, n),
    "query": lambda n: _cached_str_check(_query_ok, n),
    "name": lambda n: _length_check(n, _name_ok, 1),
    "text": lambda n: _length_check(n, _text_ok, 0),
    "key": _key_check,
    "map": _map_check,
}


@lru_cache(maxsize=256)
def _checker(name: str, values: frozenset[str] | None, max_length: int | None) -> Check:
    if name not in FORMATS:
        raise ValueError(f"unknown format {name!r}; the formats are {', '.join(sorted(FORMATS))}")
    if name == "enum":
        if values is None:
            raise ValueError("the enum format needs its values")
        if max_length is not None:
            raise ValueError("the enum format takes no max_length")
        if not all(isinstance(v, str) for v in values):
            raise ValueError("enum values must be strings")
        allowed = frozenset(values)
        return lambda value: type(value) is str and value in allowed
    if values is not None:
        raise ValueError(f"values are for the enum format, not {name!r}")
    if name in _SIZED:
        if max_length is None:
            max_length = _DEFAULT_LENGTH[name]
        elif type(max_length) is not int or max_length < 1:
            raise ValueError("max_length must be a positive integer")
        return _SIZED[name](max_length)
    if max_length is not None:
        raise ValueError(f"the {name!r} format takes no max_length")
    return _FIXED[name]


def checker(name: str, *, values: frozenset[str] | None = None, max_length: int | None = None) -> Check:
    """The predicate of format ``name`` (see the module docstring): True when a value fits exactly.

    ``values``: the admitted strings, for ``enum`` only (required there). ``max_length``: for
    ``id``, ``url``, ``path``, ``query``, ``name``, ``text``, ``key`` and ``map`` (each string in
    it); the defaults are in the module docstring. Raises ValueError for an unknown name, an enum
    without values, values for another format or a max_length where none applies. Checkers are
    memoised: the same arguments give the same function."""
    if values is not None and not isinstance(values, frozenset):
        values = frozenset(values)
    return _checker(name, values, max_length)


def admits(name: str, value: Any, **params: Any) -> bool:
    """``checker(name, **params)(value)``."""
    return checker(name, **params)(value)
