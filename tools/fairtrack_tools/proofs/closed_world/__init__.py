"""Closed-world canary proof: personal data planted in every place a client can put a value.

``python -m fairtrack_tools.proofs.closed_world --hits 5000`` is the long form (``tests/proof/
test_closed_world.py`` runs a short one); it prints the report and exits non-zero on any leak or on
coverage below 100%.

Unlike :func:`fairtrack_tools.proofs.canary_report.run_canaries`, which plants where the team expected personal
data, the places here are derived from the code (:mod:`fairtrack_tools.proofs.closed_world.places`): every
field and key the Segment/RudderStack event model and the batch envelope accept at any depth, every
gtag parameter the adapter reads (found by running it on recording containers) and every header
ingest reads. Coverage is places planted (a planted value found again in the request that carried
it) over places derived, and must be 100%.

Each place gets values of every kind it takes (:data:`KINDS`, 19: e-mails plain, percent-encoded
once and three times, as an HTML entity, with a full-width at sign, in base64 with and without
padding and inside a JWT; phone numbers, plain and percent-encoded inside a URL; IPv4, IPv4 as a
URL path segment, IPv6, 6to4 and Teredo with distinct embedded IPv4 addresses; card numbers (Luhn),
IBANs (mod 97), street addresses, user ids), each value unique per place and hit, so a find names
its place. Whether a place takes a kind is asked of the adapter itself: a value it refuses goes into
a hit of its own (one refused place per hit), so most hits are valid and reach the destinations,
and the refused ones test the error answers.

Hits carry every consent state the policy distinguishes (every subset of its non-necessary purposes
through each signal family: Segment ``categoryPreferences``, RudderStack ``consentManagement``,
Google Consent Mode ``gcs``/``gcd`` and IAB TCF strings), no signal, and conflicting signals.

Then every surface :func:`~fairtrack_tools.proofs.canary_report.run_canaries` searches is searched here after
decoding (percent-decoding to depth 4, HTML entities, JSON escapes, NFKC, base64 and JWT segments;
IPv6 addresses parsed, and their embedded IPv4 compared): markers (``cnry`` + kind letter + tag)
for the kinds that carry text, digits for phones, cards and IBANs, addresses for IPs. **A leak** is
a planted value, or its decoded form, anywhere. One allowance: a find at a place whose catalogued
attribute declares a ``format`` (policies/default.yaml) that admits the planted value as it is
(``fairtrack.anonymise.formats.admits``) is listed as "admitted by format"; until both exist,
every find is a leak.
"""

from __future__ import annotations

from fairtrack_tools.proofs.closed_world.registry import KINDS, Registry, b64, jwt, make_value, search
from fairtrack_tools.proofs.closed_world.run import Report, run_closed_world
from fairtrack_tools.proofs.closed_world.states import consent_states

__all__ = [
    "KINDS",
    "Registry",
    "Report",
    "b64",
    "consent_states",
    "jwt",
    "make_value",
    "run_closed_world",
    "search",
]
