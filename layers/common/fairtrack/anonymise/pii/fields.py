"""Field names that are personal data whatever their value (``email``, ``firstName``,
``billingEmail``), and those that mean something else in event properties."""

from __future__ import annotations

from functools import lru_cache
from typing import Final

__all__ = ["AMBIGUOUS_IN_PROPERTIES", "KNOWN_PII_FIELDS", "is_known_pii_field", "is_personal_property"]

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
