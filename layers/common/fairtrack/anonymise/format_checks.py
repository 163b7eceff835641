"""The checks of the value formats: one pure predicate per format (or a builder of one, for the
formats that take a length), True only when a value fits exactly as it is; never raising, never
changing the value. :mod:`fairtrack.anonymise.formats` describes the formats and builds each
attribute's predicate from these."""

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

__all__ = ["COUNTRIES", "FIXED", "SIZED", "Check", "timezone_data_available"]

Check = Callable[[Any], bool]


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


# -- which check each format uses -----------------------------------------------------------------

FIXED: Final[dict[str, Check]] = {
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
SIZED: Final[dict[str, Callable[[int], Check]]] = {
    "id": _id_check,
    "url": lambda n: _cached_str_check(_url_ok, n),
    "path": lambda n: _cached_str_check(_path_ok, n),
    "query": lambda n: _cached_str_check(_query_ok, n),
    "name": lambda n: _length_check(n, _name_ok, 1),
    "text": lambda n: _length_check(n, _text_ok, 0),
    "key": _key_check,
    "map": _map_check,
}
