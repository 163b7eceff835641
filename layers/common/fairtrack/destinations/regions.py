"""Region names to codes, for ad platforms that match on codes only.

Meta's Conversions API hashes ``st`` as "the 2-character ANSI abbreviation code in lowercase" for
US states and ``country`` as "the lowercase, 2-letter country codes in ISO 3166-1 alpha-2"
(developers.facebook.com, Conversions API, Customer Information Parameters): a site that stores
"California" or "United States" matches nobody unless the name becomes ``ca`` / ``us`` first.

The tables are plain constants, not a dependency: pycountry is not installed in the layer, and the
few hundred names needed here (ISO 3166-1 for countries, ISO 3166-2:US and ISO 3166-2:CA for
subdivisions, as the iso-codes 4.15 data lists them, plus the common variants sites store) are
smaller than the package and stay fixed until ISO assigns a code. Matching is by
:func:`region_key`: accents folded, case folded, everything but the letters a-z dropped, so
"Côte d'Ivoire", "COTE D IVOIRE" and "Cote-d'Ivoire" are one key, as are "U.S.A." and "usa".
Nothing here guesses: a name not in a table is not a code.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
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

# ISO 3166-1: alpha-2 code -> alpha-3 code, ISO short name, common name, official name (iso-codes
# 4.15), then the variants sites commonly store (native names, abbreviations, former names).
COUNTRY_NAMES: Final[Mapping[str, tuple[str, ...]]] = {
    "ad": ("AND", "Andorra", "Principality of Andorra"),
    "ae": ("ARE", "United Arab Emirates", "UAE", "U.A.E."),
    "af": ("AFG", "Afghanistan", "Islamic Republic of Afghanistan"),
    "ag": ("ATG", "Antigua and Barbuda"),
    "ai": ("AIA", "Anguilla"),
    "al": ("ALB", "Albania", "Republic of Albania"),
    "am": ("ARM", "Armenia", "Republic of Armenia"),
    "ao": ("AGO", "Angola", "Republic of Angola"),
    "aq": ("ATA", "Antarctica"),
    "ar": ("ARG", "Argentina", "Argentine Republic"),
    "as": ("ASM", "American Samoa"),
    "at": ("AUT", "Austria", "Republic of Austria", "Österreich"),
    "au": ("AUS", "Australia"),
    "aw": ("ABW", "Aruba"),
    "ax": ("ALA", "Åland Islands"),
    "az": ("AZE", "Azerbaijan", "Republic of Azerbaijan"),
    "ba": ("BIH", "Bosnia and Herzegovina", "Republic of Bosnia and Herzegovina", "Bosnia"),
    "bb": ("BRB", "Barbados"),
    "bd": ("BGD", "Bangladesh", "People's Republic of Bangladesh"),
    "be": ("BEL", "Belgium", "Kingdom of Belgium", "België", "Belgique", "Belgien"),
    "bf": ("BFA", "Burkina Faso"),
    "bg": ("BGR", "Bulgaria", "Republic of Bulgaria"),
    "bh": ("BHR", "Bahrain", "Kingdom of Bahrain"),
    "bi": ("BDI", "Burundi", "Republic of Burundi"),
    "bj": ("BEN", "Benin", "Republic of Benin"),
    "bl": ("BLM", "Saint Barthélemy"),
    "bm": ("BMU", "Bermuda"),
    "bn": ("BRN", "Brunei Darussalam"),
    "bo": ("BOL", "Bolivia, Plurinational State of", "Bolivia", "Plurinational State of Bolivia"),
    "bq": ("BES", "Bonaire, Sint Eustatius and Saba"),
    "br": ("BRA", "Brazil", "Federative Republic of Brazil", "Brasil"),
    "bs": ("BHS", "Bahamas", "Commonwealth of the Bahamas", "The Bahamas"),
    "bt": ("BTN", "Bhutan", "Kingdom of Bhutan"),
    "bv": ("BVT", "Bouvet Island"),
    "bw": ("BWA", "Botswana", "Republic of Botswana"),
    "by": ("BLR", "Belarus", "Republic of Belarus"),
    "bz": ("BLZ", "Belize"),
    "ca": ("CAN", "Canada"),
    "cc": ("CCK", "Cocos (Keeling) Islands"),
    "cd": (
        "COD",
        "Congo, The Democratic Republic of the",
        "Democratic Republic of the Congo",
        "DR Congo",
        "Congo-Kinshasa",
    ),
    "cf": ("CAF", "Central African Republic"),
    "cg": ("COG", "Congo", "Republic of the Congo", "Congo-Brazzaville"),
    "ch": ("CHE", "Switzerland", "Swiss Confederation", "Schweiz", "Suisse", "Svizzera", "Confoederatio Helvetica"),
    "ci": ("CIV", "Côte d'Ivoire", "Republic of Côte d'Ivoire", "Ivory Coast"),
    "ck": ("COK", "Cook Islands"),
    "cl": ("CHL", "Chile", "Republic of Chile"),
    "cm": ("CMR", "Cameroon", "Republic of Cameroon"),
    "cn": ("CHN", "China", "People's Republic of China"),
    "co": ("COL", "Colombia", "Republic of Colombia"),
    "cr": ("CRI", "Costa Rica", "Republic of Costa Rica"),
    "cu": ("CUB", "Cuba", "Republic of Cuba"),
    "cv": ("CPV", "Cabo Verde", "Republic of Cabo Verde", "Cape Verde"),
    "cw": ("CUW", "Curaçao"),
    "cx": ("CXR", "Christmas Island"),
    "cy": ("CYP", "Cyprus", "Republic of Cyprus"),
    "cz": ("CZE", "Czechia", "Czech Republic"),
    "de": ("DEU", "Germany", "Federal Republic of Germany", "Deutschland", "Bundesrepublik Deutschland"),
    "dj": ("DJI", "Djibouti", "Republic of Djibouti"),
    "dk": ("DNK", "Denmark", "Kingdom of Denmark", "Danmark"),
    "dm": ("DMA", "Dominica", "Commonwealth of Dominica"),
    "do": ("DOM", "Dominican Republic"),
    "dz": ("DZA", "Algeria", "People's Democratic Republic of Algeria"),
    "ec": ("ECU", "Ecuador", "Republic of Ecuador"),
    "ee": ("EST", "Estonia", "Republic of Estonia"),
    "eg": ("EGY", "Egypt", "Arab Republic of Egypt"),
    "eh": ("ESH", "Western Sahara"),
    "er": ("ERI", "Eritrea", "the State of Eritrea"),
    "es": ("ESP", "Spain", "Kingdom of Spain", "España"),
    "et": ("ETH", "Ethiopia", "Federal Democratic Republic of Ethiopia"),
    "fi": ("FIN", "Finland", "Republic of Finland", "Suomi"),
    "fj": ("FJI", "Fiji", "Republic of Fiji"),
    "fk": ("FLK", "Falkland Islands (Malvinas)"),
    "fm": ("FSM", "Micronesia, Federated States of", "Federated States of Micronesia"),
    "fo": ("FRO", "Faroe Islands"),
    "fr": ("FRA", "France", "French Republic"),
    "ga": ("GAB", "Gabon", "Gabonese Republic"),
    "gb": (
        "GBR",
        "United Kingdom",
        "United Kingdom of Great Britain and Northern Ireland",
        "UK",
        "U.K.",
        "Great Britain",
        "Britain",
        "England",
        "Scotland",
        "Wales",
        "Northern Ireland",
    ),
    "gd": ("GRD", "Grenada"),
    "ge": ("GEO", "Georgia"),
    "gf": ("GUF", "French Guiana"),
    "gg": ("GGY", "Guernsey"),
    "gh": ("GHA", "Ghana", "Republic of Ghana"),
    "gi": ("GIB", "Gibraltar"),
    "gl": ("GRL", "Greenland"),
    "gm": ("GMB", "Gambia", "Republic of the Gambia", "The Gambia"),
    "gn": ("GIN", "Guinea", "Republic of Guinea"),
    "gp": ("GLP", "Guadeloupe"),
    "gq": ("GNQ", "Equatorial Guinea", "Republic of Equatorial Guinea"),
    "gr": ("GRC", "Greece", "Hellenic Republic"),
    "gs": ("SGS", "South Georgia and the South Sandwich Islands"),
    "gt": ("GTM", "Guatemala", "Republic of Guatemala"),
    "gu": ("GUM", "Guam"),
    "gw": ("GNB", "Guinea-Bissau", "Republic of Guinea-Bissau"),
    "gy": ("GUY", "Guyana", "Republic of Guyana"),
    "hk": ("HKG", "Hong Kong", "Hong Kong Special Administrative Region of China"),
    "hm": ("HMD", "Heard Island and McDonald Islands"),
    "hn": ("HND", "Honduras", "Republic of Honduras"),
    "hr": ("HRV", "Croatia", "Republic of Croatia"),
    "ht": ("HTI", "Haiti", "Republic of Haiti"),
    "hu": ("HUN", "Hungary"),
    "id": ("IDN", "Indonesia", "Republic of Indonesia"),
    "ie": ("IRL", "Ireland", "Éire", "Republic of Ireland"),
    "il": ("ISR", "Israel", "State of Israel"),
    "im": ("IMN", "Isle of Man"),
    "in": ("IND", "India", "Republic of India"),
    "io": ("IOT", "British Indian Ocean Territory"),
    "iq": ("IRQ", "Iraq", "Republic of Iraq"),
    "ir": ("IRN", "Iran, Islamic Republic of", "Iran", "Islamic Republic of Iran"),
    "is": ("ISL", "Iceland", "Republic of Iceland"),
    "it": ("ITA", "Italy", "Italian Republic", "Italia"),
    "je": ("JEY", "Jersey"),
    "jm": ("JAM", "Jamaica"),
    "jo": ("JOR", "Jordan", "Hashemite Kingdom of Jordan"),
    "jp": ("JPN", "Japan"),
    "ke": ("KEN", "Kenya", "Republic of Kenya"),
    "kg": ("KGZ", "Kyrgyzstan", "Kyrgyz Republic"),
    "kh": ("KHM", "Cambodia", "Kingdom of Cambodia"),
    "ki": ("KIR", "Kiribati", "Republic of Kiribati"),
    "km": ("COM", "Comoros", "Union of the Comoros"),
    "kn": ("KNA", "Saint Kitts and Nevis"),
    "kp": ("PRK", "Korea, Democratic People's Republic of", "North Korea", "Democratic People's Republic of Korea"),
    "kr": ("KOR", "Korea, Republic of", "South Korea"),
    "kw": ("KWT", "Kuwait", "State of Kuwait"),
    "ky": ("CYM", "Cayman Islands"),
    "kz": ("KAZ", "Kazakhstan", "Republic of Kazakhstan"),
    "la": ("LAO", "Lao People's Democratic Republic", "Laos"),
    "lb": ("LBN", "Lebanon", "Lebanese Republic"),
    "lc": ("LCA", "Saint Lucia"),
    "li": ("LIE", "Liechtenstein", "Principality of Liechtenstein"),
    "lk": ("LKA", "Sri Lanka", "Democratic Socialist Republic of Sri Lanka"),
    "lr": ("LBR", "Liberia", "Republic of Liberia"),
    "ls": ("LSO", "Lesotho", "Kingdom of Lesotho"),
    "lt": ("LTU", "Lithuania", "Republic of Lithuania"),
    "lu": ("LUX", "Luxembourg", "Grand Duchy of Luxembourg"),
    "lv": ("LVA", "Latvia", "Republic of Latvia"),
    "ly": ("LBY", "Libya"),
    "ma": ("MAR", "Morocco", "Kingdom of Morocco"),
    "mc": ("MCO", "Monaco", "Principality of Monaco"),
    "md": ("MDA", "Moldova, Republic of", "Moldova", "Republic of Moldova"),
    "me": ("MNE", "Montenegro"),
    "mf": ("MAF", "Saint Martin (French part)"),
    "mg": ("MDG", "Madagascar", "Republic of Madagascar"),
    "mh": ("MHL", "Marshall Islands", "Republic of the Marshall Islands"),
    "mk": ("MKD", "North Macedonia", "Republic of North Macedonia", "Macedonia"),
    "ml": ("MLI", "Mali", "Republic of Mali"),
    "mm": ("MMR", "Myanmar", "Republic of Myanmar", "Burma"),
    "mn": ("MNG", "Mongolia"),
    "mo": ("MAC", "Macao", "Macao Special Administrative Region of China", "Macau"),
    "mp": ("MNP", "Northern Mariana Islands", "Commonwealth of the Northern Mariana Islands"),
    "mq": ("MTQ", "Martinique"),
    "mr": ("MRT", "Mauritania", "Islamic Republic of Mauritania"),
    "ms": ("MSR", "Montserrat"),
    "mt": ("MLT", "Malta", "Republic of Malta"),
    "mu": ("MUS", "Mauritius", "Republic of Mauritius"),
    "mv": ("MDV", "Maldives", "Republic of Maldives"),
    "mw": ("MWI", "Malawi", "Republic of Malawi"),
    "mx": ("MEX", "Mexico", "United Mexican States"),
    "my": ("MYS", "Malaysia"),
    "mz": ("MOZ", "Mozambique", "Republic of Mozambique"),
    "na": ("NAM", "Namibia", "Republic of Namibia"),
    "nc": ("NCL", "New Caledonia"),
    "ne": ("NER", "Niger", "Republic of the Niger"),
    "nf": ("NFK", "Norfolk Island"),
    "ng": ("NGA", "Nigeria", "Federal Republic of Nigeria"),
    "ni": ("NIC", "Nicaragua", "Republic of Nicaragua"),
    "nl": ("NLD", "Netherlands", "Kingdom of the Netherlands", "The Netherlands", "Nederland", "Holland"),
    "no": ("NOR", "Norway", "Kingdom of Norway", "Norge"),
    "np": ("NPL", "Nepal", "Federal Democratic Republic of Nepal"),
    "nr": ("NRU", "Nauru", "Republic of Nauru"),
    "nu": ("NIU", "Niue"),
    "nz": ("NZL", "New Zealand"),
    "om": ("OMN", "Oman", "Sultanate of Oman"),
    "pa": ("PAN", "Panama", "Republic of Panama"),
    "pe": ("PER", "Peru", "Republic of Peru"),
    "pf": ("PYF", "French Polynesia"),
    "pg": ("PNG", "Papua New Guinea", "Independent State of Papua New Guinea"),
    "ph": ("PHL", "Philippines", "Republic of the Philippines"),
    "pk": ("PAK", "Pakistan", "Islamic Republic of Pakistan"),
    "pl": ("POL", "Poland", "Republic of Poland", "Polska"),
    "pm": ("SPM", "Saint Pierre and Miquelon"),
    "pn": ("PCN", "Pitcairn"),
    "pr": ("PRI", "Puerto Rico"),
    "ps": ("PSE", "Palestine, State of", "the State of Palestine", "Palestine"),
    "pt": ("PRT", "Portugal", "Portuguese Republic"),
    "pw": ("PLW", "Palau", "Republic of Palau"),
    "py": ("PRY", "Paraguay", "Republic of Paraguay"),
    "qa": ("QAT", "Qatar", "State of Qatar"),
    "re": ("REU", "Réunion"),
    "ro": ("ROU", "Romania"),
    "rs": ("SRB", "Serbia", "Republic of Serbia"),
    "ru": ("RUS", "Russian Federation", "Russia"),
    "rw": ("RWA", "Rwanda", "Rwandese Republic"),
    "sa": ("SAU", "Saudi Arabia", "Kingdom of Saudi Arabia"),
    "sb": ("SLB", "Solomon Islands"),
    "sc": ("SYC", "Seychelles", "Republic of Seychelles"),
    "sd": ("SDN", "Sudan", "Republic of the Sudan"),
    "se": ("SWE", "Sweden", "Kingdom of Sweden", "Sverige"),
    "sg": ("SGP", "Singapore", "Republic of Singapore"),
    "sh": ("SHN", "Saint Helena, Ascension and Tristan da Cunha"),
    "si": ("SVN", "Slovenia", "Republic of Slovenia"),
    "sj": ("SJM", "Svalbard and Jan Mayen"),
    "sk": ("SVK", "Slovakia", "Slovak Republic"),
    "sl": ("SLE", "Sierra Leone", "Republic of Sierra Leone"),
    "sm": ("SMR", "San Marino", "Republic of San Marino"),
    "sn": ("SEN", "Senegal", "Republic of Senegal"),
    "so": ("SOM", "Somalia", "Federal Republic of Somalia"),
    "sr": ("SUR", "Suriname", "Republic of Suriname"),
    "ss": ("SSD", "South Sudan", "Republic of South Sudan"),
    "st": ("STP", "Sao Tome and Principe", "Democratic Republic of Sao Tome and Principe"),
    "sv": ("SLV", "El Salvador", "Republic of El Salvador"),
    "sx": ("SXM", "Sint Maarten (Dutch part)"),
    "sy": ("SYR", "Syrian Arab Republic", "Syria"),
    "sz": ("SWZ", "Eswatini", "Kingdom of Eswatini", "Swaziland"),
    "tc": ("TCA", "Turks and Caicos Islands"),
    "td": ("TCD", "Chad", "Republic of Chad"),
    "tf": ("ATF", "French Southern Territories"),
    "tg": ("TGO", "Togo", "Togolese Republic"),
    "th": ("THA", "Thailand", "Kingdom of Thailand"),
    "tj": ("TJK", "Tajikistan", "Republic of Tajikistan"),
    "tk": ("TKL", "Tokelau"),
    "tl": ("TLS", "Timor-Leste", "Democratic Republic of Timor-Leste", "East Timor"),
    "tm": ("TKM", "Turkmenistan"),
    "tn": ("TUN", "Tunisia", "Republic of Tunisia"),
    "to": ("TON", "Tonga", "Kingdom of Tonga"),
    "tr": ("TUR", "Türkiye", "Republic of Türkiye", "Turkey"),
    "tt": ("TTO", "Trinidad and Tobago", "Republic of Trinidad and Tobago"),
    "tv": ("TUV", "Tuvalu"),
    "tw": ("TWN", "Taiwan, Province of China", "Taiwan"),
    "tz": ("TZA", "Tanzania, United Republic of", "Tanzania", "United Republic of Tanzania"),
    "ua": ("UKR", "Ukraine"),
    "ug": ("UGA", "Uganda", "Republic of Uganda"),
    "um": ("UMI", "United States Minor Outlying Islands"),
    "us": ("USA", "United States", "United States of America", "U.S.", "U.S.A.", "America"),
    "uy": ("URY", "Uruguay", "Eastern Republic of Uruguay"),
    "uz": ("UZB", "Uzbekistan", "Republic of Uzbekistan"),
    "va": ("VAT", "Holy See (Vatican City State)", "Vatican", "Vatican City", "Holy See"),
    "vc": ("VCT", "Saint Vincent and the Grenadines"),
    "ve": ("VEN", "Venezuela, Bolivarian Republic of", "Venezuela", "Bolivarian Republic of Venezuela"),
    "vg": ("VGB", "Virgin Islands, British", "British Virgin Islands"),
    "vi": ("VIR", "Virgin Islands, U.S.", "Virgin Islands of the United States"),
    "vn": ("VNM", "Viet Nam", "Vietnam", "Socialist Republic of Viet Nam"),
    "vu": ("VUT", "Vanuatu", "Republic of Vanuatu"),
    "wf": ("WLF", "Wallis and Futuna"),
    "ws": ("WSM", "Samoa", "Independent State of Samoa"),
    "ye": ("YEM", "Yemen", "Republic of Yemen"),
    "yt": ("MYT", "Mayotte"),
    "za": ("ZAF", "South Africa", "Republic of South Africa"),
    "zm": ("ZMB", "Zambia", "Republic of Zambia"),
    "zw": ("ZWE", "Zimbabwe", "Republic of Zimbabwe"),
}

COUNTRY_CODES: Final[frozenset[str]] = frozenset(COUNTRY_NAMES)
"""The ISO 3166-1 alpha-2 codes officially assigned, lowercase."""

# ISO 3166-2:US: the 50 states, the District of Columbia and the outlying areas, with their USPS
# codes (the same letters), then common variants.
US_STATES: Final[Mapping[str, tuple[str, ...]]] = {
    "al": ("Alabama",),
    "ak": ("Alaska",),
    "az": ("Arizona",),
    "ar": ("Arkansas",),
    "ca": ("California",),
    "co": ("Colorado",),
    "ct": ("Connecticut",),
    "de": ("Delaware",),
    "fl": ("Florida",),
    "ga": ("Georgia",),
    "hi": ("Hawaii",),
    "id": ("Idaho",),
    "il": ("Illinois",),
    "in": ("Indiana",),
    "ia": ("Iowa",),
    "ks": ("Kansas",),
    "ky": ("Kentucky",),
    "la": ("Louisiana",),
    "me": ("Maine",),
    "md": ("Maryland",),
    "ma": ("Massachusetts",),
    "mi": ("Michigan",),
    "mn": ("Minnesota",),
    "ms": ("Mississippi",),
    "mo": ("Missouri",),
    "mt": ("Montana",),
    "ne": ("Nebraska",),
    "nv": ("Nevada",),
    "nh": ("New Hampshire",),
    "nj": ("New Jersey",),
    "nm": ("New Mexico",),
    "ny": ("New York", "New York State"),
    "nc": ("North Carolina",),
    "nd": ("North Dakota",),
    "oh": ("Ohio",),
    "ok": ("Oklahoma",),
    "or": ("Oregon",),
    "pa": ("Pennsylvania",),
    "ri": ("Rhode Island",),
    "sc": ("South Carolina",),
    "sd": ("South Dakota",),
    "tn": ("Tennessee",),
    "tx": ("Texas",),
    "ut": ("Utah",),
    "vt": ("Vermont",),
    "va": ("Virginia",),
    "wa": ("Washington", "Washington State"),
    "wv": ("West Virginia",),
    "wi": ("Wisconsin",),
    "wy": ("Wyoming",),
    "dc": ("District of Columbia", "Washington, D.C.", "Washington DC"),
    "as": ("American Samoa",),
    "gu": ("Guam",),
    "mp": ("Northern Mariana Islands",),
    "pr": ("Puerto Rico",),
    "vi": ("Virgin Islands, U.S.", "U.S. Virgin Islands", "United States Virgin Islands"),
    "um": ("United States Minor Outlying Islands",),
}

# ISO 3166-2:CA: the 10 provinces and 3 territories (Canada Post uses the same codes), with their
# English and French names.
CANADIAN_PROVINCES: Final[Mapping[str, tuple[str, ...]]] = {
    "ab": ("Alberta",),
    "bc": ("British Columbia", "Colombie-Britannique"),
    "mb": ("Manitoba",),
    "nb": ("New Brunswick", "Nouveau-Brunswick"),
    "nl": ("Newfoundland and Labrador", "Newfoundland", "Terre-Neuve-et-Labrador"),
    "ns": ("Nova Scotia", "Nouvelle-Écosse"),
    "nt": ("Northwest Territories", "Territoires du Nord-Ouest"),
    "nu": ("Nunavut",),
    "on": ("Ontario",),
    "pe": ("Prince Edward Island", "Île-du-Prince-Édouard", "PEI", "P.E.I."),
    "qc": ("Quebec", "Québec"),
    "sk": ("Saskatchewan",),
    "yt": ("Yukon", "Yukon Territory"),
}

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
