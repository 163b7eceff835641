"""The forms an attribute can take on its way to a destination (named in the policy's catalogue).

- full-form transforms, applied when the attribute's purpose is granted:
  ``none`` (as is) and ``sha256_normalised`` (trimmed, lower-cased, then SHA-256 hex: how GA4 and
  Meta take e-mail addresses);
- reduced forms, applied when the purpose is not granted but the destination lists the attribute:
  ``drop`` (the default), ``url_origin`` (a URL cut to ``scheme://host[:port]``) and ``ip_coarse``
  (an address cut to /16 for IPv4, /32 for IPv6).

A form returns None when the value does not fit it (a number where a URL was expected): the
engine then drops the field rather than send something it cannot vouch for. The anonymisation
stage adds its own forms (user agent, URL cleaning, daily ids) to these tables.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

__all__ = ["REDUCTIONS", "TRANSFORMS", "Form", "ip_coarse", "sha256_normalised", "url_origin"]

Form = Callable[[Any], Any]


def sha256_normalised(value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    return hashlib.sha256(value.strip().lower().encode("utf-8", "surrogatepass")).hexdigest()


def url_origin(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    from fairtrack.anonymise.urls import referrer_origin  # one origin rule for the whole gateway (IPv6 hosts included)

    return referrer_origin(value)


def ip_coarse(value: Any) -> str | None:
    """An address cut to /16 (IPv4) or /32 (IPv6); an IPv6 address carrying an IPv4 one (6to4,
    Teredo, NAT64, IPv4-mapped or -compatible) is cut as that IPv4 address, to /16."""
    if not isinstance(value, str):
        return None
    from fairtrack.anonymise import truncate_ip  # one truncation rule for the whole gateway

    return truncate_ip(value, 16, 32)


TRANSFORMS: dict[str, Form | None] = {"none": None, "sha256_normalised": sha256_normalised}
REDUCTIONS: dict[str, Form | None] = {"drop": None, "url_origin": url_origin, "ip_coarse": ip_coarse}
