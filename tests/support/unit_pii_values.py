"""Test helper: generated personal data that checks out as real, for the scanner's property tests
(tests/unit/test_pii.py, test_pii_decoding.py): Luhn-valid card numbers and IBANs with valid
check digits."""

from __future__ import annotations

import string
from collections.abc import Iterable

from hypothesis import strategies as st

# issuer prefixes: Visa, Mastercard (both ranges), Amex, Discover, JCB, Diners, UnionPay
CARD_PREFIXES = ("4", "51", "52", "53", "54", "55", "2221", "2720", "34", "37", "6011", "65", "3528", "36", "62")
IBAN_LENGTHS = {"DE": 22, "GB": 22, "FR": 27, "NL": 18, "NO": 15, "BE": 16, "CH": 21, "IT": 27, "ES": 24, "PL": 28}


def luhn_complete(body: str) -> str:
    """``body`` with the Luhn check digit appended."""
    total = 0
    for i, ch in enumerate(reversed(body)):
        n = int(ch)
        if i % 2 == 0:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return body + str((10 - total % 10) % 10)


@st.composite
def cards(draw: st.DrawFn, prefixes: Iterable[str] = CARD_PREFIXES) -> str:
    """A Luhn-valid card number of 13 to 19 digits, in groups of four or not."""
    prefix = draw(st.sampled_from(list(prefixes)))
    length = draw(st.integers(min_value=13, max_value=19))
    body = prefix + draw(st.text(string.digits, min_size=length - 1 - len(prefix), max_size=length - 1 - len(prefix)))
    number = luhn_complete(body)
    sep = draw(st.sampled_from(["", " ", "-"]))
    return sep.join(number[i : i + 4] for i in range(0, len(number), 4))


@st.composite
def ibans(draw: st.DrawFn, countries: Iterable[str] = IBAN_LENGTHS, *, lowercase: bool = False) -> str:
    """An IBAN of one of ``countries`` with valid check digits, in groups of four or not (and, with
    ``lowercase``, in lower case or not)."""
    country = draw(st.sampled_from(sorted(countries)))
    bban = draw(st.text(string.digits, min_size=IBAN_LENGTHS[country] - 4, max_size=IBAN_LENGTHS[country] - 4))
    numeric = "".join(str(int(ch, 36)) for ch in bban + country + "00")
    iban = f"{country}{98 - int(numeric) % 97:02d}{bban}"
    if draw(st.booleans()):
        iban = " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))
    return iban.lower() if lowercase and draw(st.booleans()) else iban
