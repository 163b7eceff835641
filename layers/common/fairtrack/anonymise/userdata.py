"""User-provided data, normalised and then hashed (SHA-256, lowercase hex) for ad destinations.

A site may send what a visitor typed in (Segment spec traits: ``email``, ``phone``,
``firstName``...; see :class:`fairtrack.hit.UserData`). Ad platforms match it against their users
only when it was normalised exactly as they normalise their own copy before hashing, so each
destination gets its own normalisation. Nothing here ever returns an un-hashed value, and nothing
raises: a value that cannot be normalised with confidence is left out (a wrong hash matches nobody,
and leaving a value out shares less).

Common rules
- Text is Unicode-normalised to NFC first (so a decomposed "é" hashes like a composed one), then
  hashed as UTF-8. Values holding lone surrogates (not valid UTF-8) are left out.
- A value is hashed as given: an input that already looks like a SHA-256 hex digest is not passed
  through, since user-provided fields never legitimately hold one.

Meta Conversions API (:func:`meta_user_data`): keys ``em ph fn ln ge db ct st zp country``, each a
one-item list of SHA-256 hex, following Meta's customer information parameters:
- ``em``: trimmed and lowercased; must look like ``local@domain.tld`` (one ``@``, no whitespace or
  control characters, a letter or digit in the local part, non-empty domain labels).
- ``ph``: digits only, country code included, no ``+`` and no international ``00`` prefix. Only a
  number written with its country code (starting with ``+`` or ``00``) is kept: a national number
  ("020 7946 0958") cannot be normalised without guessing the country, so it is left out. Allowed
  separators are spaces, ``- . / ( )``; a ``(0)`` trunk prefix ("+44 (0)20 ...") is dropped;
  letters ("+1 800 FLOWERS", "ext. 12") make the value unusable. The result must be 7 to 15 digits
  (E.164) and not start with 0.
- ``fn``/``ln``: lowercased, trimmed, punctuation and symbols removed (O'Brien -> obrien,
  Jean-Luc -> jeanluc), inner whitespace collapsed to one space, accents and other scripts kept
  as UTF-8 (Valéry -> valéry, 정 -> 정).
- ``ge``: ``m`` or ``f``, from ``m``/``male``/``f``/``female`` (any case); anything else is left
  out.
- ``db``: ``YYYYMMDD`` from an ISO date (``1990-05-17``, ``19900517``) or an ISO date-time (the
  date as written, not converted to UTC); years from 1900, not in the future; anything else is
  left out.
- ``ct``: lowercased letters only (no spaces, punctuation or digits): "New York" -> newyork
  (Meta: "Lowercase only with no punctuation, no special characters, and no spaces"; letters of
  other scripts and accents are kept as UTF-8, as Meta allows).
- ``st``: "the 2-character ANSI abbreviation code in lowercase" for US states. A two-letter value
  is taken as a code ("CA" -> ca, "N.Y." -> ny); a US state, DC or outlying-area name or a
  Canadian province or territory name (English or French) becomes its code ("California" -> ca,
  "Québec" -> qc, :mod:`fairtrack.destinations.regions`) unless ``country`` names another country; any other
  name follows Meta's rule for states outside the U.S., "lowercase with no punctuation, no special
  characters, and no spaces" ("Île-de-France" -> îledefrance).
- ``zp``: lowercased, no whitespace; a US ZIP+4 ("94035-1234", "940351234") cut to its first five
  digits; other dashes and punctuation removed ("SW1A 1AA" -> sw1a1aa).
- ``country``: "the lowercase, 2-letter country codes in ISO 3166-1 alpha-2": an assigned
  alpha-2 or alpha-3 code, an English ISO name or a listed variant ("US", "USA", "United States",
  "U.K.", "Great Britain", "Deutschland") becomes the code (:func:`fairtrack.destinations.regions.country_code`);
  anything else ("zz", "Europe") is left out, since Meta matches only on codes.

GA4 Measurement Protocol (:func:`ga4_user_data`): ``user_data`` with
- ``sha256_email_address``: trimmed, lowercased, and for ``gmail.com``/``googlemail.com`` the dots
  removed from the local part (Google treats them as insignificant; Meta does not, so ``em`` keeps
  them);
- ``sha256_phone_number``: E.164, ``+`` then the digits, under the same rules as ``ph``;
- ``address``: ``[{"sha256_first_name", "sha256_last_name"}]`` normalised as the MP user-provided
  data guide says (developers.google.com/analytics/devguides/collection/ga4/uid-data,
  ``user_data.address[].sha256_first_name``): digits and symbols removed, lower-cased, leading and
  trailing spaces removed, so "O'Brien-Smith 3rd" hashes "obriensmith rd" (hyphens and apostrophes
  are symbols; Meta's ``fn``/``ln`` keep digits). A run of inner whitespace becomes one space, as
  Google Ads' Customer Match asks ("remove extra spaces ... in between"). GA4 takes city, region,
  postal code and country *unhashed*; they are never sent from here.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from datetime import UTC, date, datetime
from typing import Any, Final

from fairtrack.destinations.regions import country_code, subdivision_code
from fairtrack.hit import UserData

__all__ = ["META_KEYS", "ga4_user_data", "meta_user_data", "sha256_hex"]

META_KEYS: Final[tuple[str, ...]] = ("em", "ph", "fn", "ln", "ge", "db", "ct", "st", "zp", "country")
"""The hashed ``user_data`` keys of the Meta Conversions API, in the order they are emitted."""


_MAX_INPUT = 1024  # longer values are not names, addresses or phone numbers: left out
_MAX_EMAIL = 254  # RFC 5321 path limit
_DIGITS = "0123456789"
_PHONE_SEPARATORS = frozenset(" -./()")
_GMAIL_DOMAINS = frozenset({"gmail.com", "googlemail.com"})
_GENDERS = {"m": "m", "male": "m", "f": "f", "female": "f"}
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}|[0-9]{8}")
_ISO_DATETIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ].+")
_ZIP_PLUS_4 = re.compile(r"([0-9]{5})-?[0-9]{4}")
_TWO_LETTERS = re.compile(r"[a-z]{2}")


def sha256_hex(text: str) -> str | None:
    """SHA-256 of ``text`` as UTF-8, lowercase hex; ``None`` when ``text`` is not valid Unicode
    (lone surrogates), so callers never fall back to the clear value."""
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError:
        return None
    return hashlib.sha256(data).hexdigest()


def _text(value: Any) -> str | None:
    """``value`` as NFC text, trimmed, when it is a usable string."""
    if not isinstance(value, str) or len(value) > _MAX_INPUT:
        return None
    text = unicodedata.normalize("NFC", value).strip()
    return text or None


def _keep(text: str, categories: str) -> str:
    """The characters of ``text`` whose Unicode general category starts with one of
    ``categories`` (``L`` letters, ``M`` marks, ``N`` numbers)."""
    return "".join(ch for ch in text if unicodedata.category(ch)[0] in categories)


def _email_parts(value: Any) -> tuple[str, str] | None:
    """(local part, domain) of a trimmed, lowercased e-mail address, or ``None``."""
    text = _text(value)
    if text is None:
        return None
    text = text.lower()
    if len(text) > _MAX_EMAIL or any(ch.isspace() or unicodedata.category(ch)[0] == "C" for ch in text):
        return None
    local, at, domain = text.rpartition("@")
    if not at or "@" in local or not any(ch.isalnum() for ch in local):
        return None
    labels = domain.split(".")
    if len(labels) < 2 or not all(labels):
        return None
    return local, domain


def _meta_email(value: Any) -> str | None:
    parts = _email_parts(value)
    return None if parts is None else f"{parts[0]}@{parts[1]}"


def _ga4_email(value: Any) -> str | None:
    parts = _email_parts(value)
    if parts is None:
        return None
    local, domain = parts
    if domain in _GMAIL_DOMAINS:
        local = local.replace(".", "")
        if not local:
            return None
    return f"{local}@{domain}"


def _phone_digits(value: Any) -> str | None:
    """The country code and number as digits, from a number written with its country code."""
    if not isinstance(value, str) or len(value) > _MAX_INPUT:
        return None
    # NFKC turns full-width digits and plus signs into ASCII ones; no-break spaces into spaces.
    text = unicodedata.normalize("NFKC", value).strip().replace("(0)", "")
    if text.startswith("+"):
        rest = text[1:]
    elif text.startswith("00"):
        rest = text[2:]
    else:
        return None  # no country code: a national number cannot be normalised safely
    if any(ch not in _DIGITS and ch not in _PHONE_SEPARATORS for ch in rest):
        return None
    digits = "".join(ch for ch in rest if ch in _DIGITS)
    if not 7 <= len(digits) <= 15 or digits[0] == "0":
        return None
    return digits


def _name(value: Any) -> str | None:
    text = _text(value)
    if text is None:
        return None
    lowered = unicodedata.normalize("NFC", text.lower())
    kept = "".join(ch if unicodedata.category(ch)[0] in "LMN" else (" " if ch.isspace() else "") for ch in lowered)
    name = " ".join(kept.split())
    return name or None


def _ga4_name(value: Any) -> str | None:
    """A first or last name as GA4's user-provided data wants it: digits and symbols removed,
    lower-cased, leading and trailing spaces removed ("O'Brien-Smith 3rd" -> "obriensmith rd").
    Inner whitespace is kept as one space (Google Ads' "remove extra spaces in between")."""
    text = _text(value)
    if text is None:
        return None
    lowered = unicodedata.normalize("NFC", text.lower())
    kept = "".join(ch if unicodedata.category(ch)[0] in "LM" else (" " if ch.isspace() else "") for ch in lowered)
    return " ".join(kept.split()) or None


def _gender(value: Any) -> str | None:
    text = _text(value)
    return None if text is None else _GENDERS.get(text.lower())


def _birthday(value: Any) -> str | None:
    text = _text(value)
    if text is None:
        return None
    try:
        if _ISO_DATE.fullmatch(text):
            day = date.fromisoformat(text)
        elif _ISO_DATETIME.fullmatch(text):
            day = datetime.fromisoformat(text).date()  # the date as written, not moved to UTC
        else:
            return None
    except ValueError:
        return None
    if day.year < 1900 or day > datetime.now(UTC).date():
        return None
    return f"{day.year:04d}{day.month:02d}{day.day:02d}"


def _city(value: Any) -> str | None:
    text = _text(value)
    return None if text is None else (_keep(unicodedata.normalize("NFC", text.lower()), "LM") or None)


def _state(value: Any, country: str | None = None) -> str | None:
    """``st``: a two-letter code as given; a US state or Canadian province name as its code (see
    :func:`fairtrack.destinations.regions.subdivision_code`, ``country`` being the normalised ``country``); any
    other name lowercased without spaces, punctuation or digits."""
    text = _text(value)
    if text is None:
        return None
    lowered = unicodedata.normalize("NFC", text.lower())
    if _TWO_LETTERS.fullmatch(lowered):
        return lowered
    code = subdivision_code(lowered, country)
    if code is not None:
        return code
    return _keep(lowered, "LM") or None


def _zip(value: Any) -> str | None:
    if not isinstance(value, str) or len(value) > _MAX_INPUT:
        return None
    text = "".join(unicodedata.normalize("NFKC", value).lower().split())
    if match := _ZIP_PLUS_4.fullmatch(text):
        return match.group(1)
    return _keep(text, "LN") or None


def _country(value: Any) -> str | None:
    """``country``: the ISO 3166-1 alpha-2 code a code, alpha-3 code or country name stands for."""
    text = _text(value)
    return None if text is None else country_code(text)


def _field(ud: UserData, name: str) -> Any:
    return getattr(ud, name, None)


def meta_user_data(ud: UserData) -> dict[str, list[str]] | None:
    """Meta Conversions API ``user_data`` hashes for ``ud``: ``{"em": [hex], ...}`` in
    :data:`META_KEYS` order, with only the fields that could be normalised; ``None`` when none
    could."""
    country = _country(_field(ud, "country"))
    normalised = {
        "em": _meta_email(_field(ud, "email")),
        "ph": _phone_digits(_field(ud, "phone")),
        "fn": _name(_field(ud, "firstName")),
        "ln": _name(_field(ud, "lastName")),
        "ge": _gender(_field(ud, "gender")),
        "db": _birthday(_field(ud, "birthday")),
        "ct": _city(_field(ud, "city")),
        "st": _state(_field(ud, "state"), country),
        "zp": _zip(_field(ud, "postalCode")),
        "country": country,
    }
    out: dict[str, list[str]] = {}
    for key in META_KEYS:
        value = normalised[key]
        digest = None if value is None else sha256_hex(value)
        if digest is not None:
            out[key] = [digest]
    return out or None


def ga4_user_data(ud: UserData) -> dict[str, Any] | None:
    """GA4 Measurement Protocol ``user_data`` for ``ud`` (hashed e-mail, phone and first/last name
    only); ``None`` when nothing could be normalised."""
    out: dict[str, Any] = {}
    email = _ga4_email(_field(ud, "email"))
    if email is not None and (digest := sha256_hex(email)) is not None:
        out["sha256_email_address"] = [digest]
    phone = _phone_digits(_field(ud, "phone"))
    if phone is not None and (digest := sha256_hex("+" + phone)) is not None:
        out["sha256_phone_number"] = [digest]
    address: dict[str, str] = {}
    for key, field in (("sha256_first_name", "firstName"), ("sha256_last_name", "lastName")):
        name = _ga4_name(_field(ud, field))
        if name is not None and (digest := sha256_hex(name)) is not None:
            address[key] = digest
    if address:
        out["address"] = [address]
    return out or None
