"""Region names to codes, for ad platforms that match on codes only.

Meta's Conversions API hashes ``st`` as "the 2-character ANSI abbreviation code in lowercase" for
US states and ``country`` as "the lowercase, 2-letter country codes in ISO 3166-1 alpha-2"
(developers.facebook.com, Conversions API, Customer Information Parameters): a site that stores
"California" or "United States" matches nobody unless the name becomes ``ca`` / ``us`` first.

The tables are plain data, not a dependency: pycountry is not installed in the layer, and the few
hundred names needed here (ISO 3166-1 for countries, ISO 3166-2:US and ISO 3166-2:CA for
subdivisions, as the iso-codes 4.15 data lists them, plus the common variants sites store) are
smaller than the package and stay fixed until ISO assigns a code. They are kept in
``regions.json`` beside this module (the layer ships it), read once at import. Matching is by
:func:`region_key`: accents folded, case folded, everything but the letters a-z dropped, so
"Côte d'Ivoire", "COTE D IVOIRE" and "Cote-d'Ivoire" are one key, as are "U.S.A." and "usa".
Nothing here guesses: a name not in a table is not a code.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Mapping
from pathlib import Path
from typing import Final

__all__ = [
    "CANADIAN_PROVINCES",
    "COUNTRY_CODES",
    "COUNTRY_NAMES",
    "US_STATES",
    "US_TERRITORY_COUNTRIES",
    "country_code",
    "region_key",
    "subdivision_code",
]

# regions.json: each table maps a lowercase code to the names it is known by.
# - "countries", ISO 3166-1: alpha-2 code -> alpha-3 code, ISO short name, common name, official
#   name (iso-codes 4.15), then the variants sites commonly store (native names, abbreviations,
#   former names);
# - "us_states", ISO 3166-2:US: the 50 states, the District of Columbia and the outlying areas, with
#   their USPS codes (the same letters), then common variants;
# - "canadian_provinces", ISO 3166-2:CA: the 10 provinces and 3 territories (Canada Post uses the
#   same codes), with their English and French names.
_DATA: Final = Path(__file__).with_name("regions.json")


def _load() -> dict[str, Mapping[str, tuple[str, ...]]]:
    tables = json.loads(_DATA.read_text(encoding="utf-8"))
    return {name: {code: tuple(names) for code, names in table.items()} for name, table in tables.items()}


_TABLES: Final = _load()

COUNTRY_NAMES: Final[Mapping[str, tuple[str, ...]]] = _TABLES["countries"]

COUNTRY_CODES: Final[frozenset[str]] = frozenset(COUNTRY_NAMES)
"""The ISO 3166-1 alpha-2 codes officially assigned, lowercase."""

US_STATES: Final[Mapping[str, tuple[str, ...]]] = _TABLES["us_states"]

CANADIAN_PROVINCES: Final[Mapping[str, tuple[str, ...]]] = _TABLES["canadian_provinces"]

US_TERRITORY_COUNTRIES: Final[frozenset[str]] = frozenset({"us", "as", "gu", "mp", "pr", "vi", "um"})
"""Country codes whose addresses carry a US state code (the outlying areas have ISO 3166-1 codes of
their own, and their ISO 3166-2:US subdivision codes are the same letters)."""


def region_key(text: str) -> str:
    """``text`` reduced for lookup: compatibility-decomposed, accents and other marks dropped,
    case-folded, only the letters a-z kept ("Côte d'Ivoire" -> "cotedivoire", "U.S.A." -> "usa")."""
    folded = unicodedata.normalize("NFKD", text).casefold()
    return "".join(ch for ch in folded if "a" <= ch <= "z")


def _index(table: Mapping[str, tuple[str, ...]]) -> dict[str, str]:
    index: dict[str, str] = {}
    for code, names in table.items():
        for name in (code, *names):
            key = region_key(name)
            if index.setdefault(key, code) != code:
                raise ValueError(f"{name!r} names both {index[key]} and {code}")
    return index


_COUNTRY_INDEX: Final[dict[str, str]] = _index(COUNTRY_NAMES)
_US_INDEX: Final[dict[str, str]] = _index(US_STATES)
_CA_INDEX: Final[dict[str, str]] = _index(CANADIAN_PROVINCES)


def country_code(text: str) -> str | None:
    """The lowercase ISO 3166-1 alpha-2 code ``text`` names (a code, an alpha-3 code, a name or a
    listed variant), or ``None``."""
    return _COUNTRY_INDEX.get(region_key(text))


def subdivision_code(text: str, country: str | None) -> str | None:
    """The lowercase US state or Canadian province code ``text`` names, or ``None``. A name is
    looked up only where it can mean that code: US names when ``country`` is unknown or the US (or
    one of its outlying areas), Canadian names when it is unknown or Canada; so "Georgia" with
    country ``us`` is ``ga``, and nothing is guessed for an address in Mexico."""
    key = region_key(text)
    if country is None or country in US_TERRITORY_COUNTRIES:
        code = _US_INDEX.get(key)
        if code is not None:
            return code
    if country is None or country == "ca":
        return _CA_INDEX.get(key)
    return None
