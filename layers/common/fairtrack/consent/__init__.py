"""The consent stage: which purposes a hit may serve, decided from the signals it carries.

A hit"s signals (Segment/RudderStack consent objects, Google Consent Mode states, an IAB TCF string)
are read in :mod:`~fairtrack.consent.signals`, which resolves them to purposes and fails closed (no
signal: ``necessary`` only; a conflict denies); a TC string is decoded by :mod:`~fairtrack.consent.tcf`
on the first hit that carries one. ``POST /v1/consent`` records a decision as evidence through
:mod:`~fairtrack.consent.receipts`, loaded on the first receipt only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fairtrack.lazy import lazy_exports

if TYPE_CHECKING:
    from fairtrack.consent.receipts import (
        ConsentReceipts,
        ConsentRequest,
        Receipt,
        ReceiptStore,
        make_receipt,
        parse_request,
    )
    from fairtrack.consent.signals import (
        Consent,
        consent_mode_purposes,
        consent_mode_states,
        resolve,
        rudder_purposes,
        tcf_purposes,
    )
    from fairtrack.consent.tcf import TCFError, TCString, decode

__all__ = [
    "Consent",
    "ConsentReceipts",
    "ConsentRequest",
    "Receipt",
    "ReceiptStore",
    "TCFError",
    "TCString",
    "consent_mode_purposes",
    "consent_mode_states",
    "decode",
    "make_receipt",
    "parse_request",
    "resolve",
    "rudder_purposes",
    "tcf_purposes",
]

__getattr__ = lazy_exports(
    __name__,
    {
        "signals": (
            "Consent",
            "resolve",
            "consent_mode_purposes",
            "consent_mode_states",
            "rudder_purposes",
            "tcf_purposes",
        ),
        "tcf": (
            "TCFError",
            "TCString",
            "decode",
        ),
        "receipts": (
            "ConsentReceipts",
            "ConsentRequest",
            "Receipt",
            "ReceiptStore",
            "make_receipt",
            "parse_request",
        ),
    },
)
