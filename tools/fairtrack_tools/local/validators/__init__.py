"""Payload judges for the capture server: GA4 Measurement Protocol and the Meta Conversions API.

A stand-in written from the public documentation (and from error answers seen in public code), not
Google's or Meta's validator: what the real services accept may differ in details, and both change
over time. It lets tests show that the forwarders send valid payloads, and lets GA4's
``/debug/mp/collect`` semantics be exercised offline. Neither function raises, whatever it is given.

:func:`validate_ga4` (:mod:`~fairtrack_tools.local.validators.ga4`) answers like GA4's
``/debug/mp/collect``, with its codes as :class:`~fairtrack_tools.local.validators.ga4.Ga4Code`;
:func:`validate_meta` (:mod:`~fairtrack_tools.local.validators.meta`) like the Graph API.
"""

from __future__ import annotations

from fairtrack_tools.local.validators.ga4 import Ga4Code, validate_ga4
from fairtrack_tools.local.validators.meta import (
    META_SUBCODE_INVALID_PARAMETER,
    META_SUBCODE_NOT_ENOUGH_CUSTOMER_INFO,
    META_SUBCODE_TIMESTAMP_TOO_OLD,
    validate_meta,
)

__all__ = [
    "META_SUBCODE_INVALID_PARAMETER",
    "META_SUBCODE_NOT_ENOUGH_CUSTOMER_INFO",
    "META_SUBCODE_TIMESTAMP_TOO_OLD",
    "Ga4Code",
    "validate_ga4",
    "validate_meta",
]
