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
built on Amazon Linux 2023, whose images (the minimal one included) ship ``/usr/share/zoneinfo``;
the layer does not add pip's ``tzdata``. Should a machine have no tz data, ``timezone`` admits only
``UTC`` (it fails closed rather than admitting names by their shape, which could carry words) and
:func:`timezone_data_available` says so, for a start-up check.

Cost: most checks are one type test and one precompiled regex match; those that scan (``id``,
``name``, ``text``, ``url``, ``path``, ``user_agent``) cost what the scanner costs, and ``url``,
``path``, ``query``, ``origin``, ``user_agent``, ``name`` and ``id`` remember their last few
thousand answers (the same page URLs, user agents, event names and visitor ids come again and
again).

The checks themselves are in :mod:`fairtrack.anonymise.format_checks`; this module names the
formats, describes them and builds the predicate of each attribute.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Final

from fairtrack.anonymise.format_checks import FIXED, SIZED, Check, timezone_data_available

__all__ = ["DESCRIPTIONS", "FORMATS", "Check", "admits", "checker", "timezone_data_available"]


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


# -- the registry ---------------------------------------------------------------------------------


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
    if name in SIZED:
        if max_length is None:
            max_length = _DEFAULT_LENGTH[name]
        elif type(max_length) is not int or max_length < 1:
            raise ValueError("max_length must be a positive integer")
        return SIZED[name](max_length)
    if max_length is not None:
        raise ValueError(f"the {name!r} format takes no max_length")
    return FIXED[name]


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
