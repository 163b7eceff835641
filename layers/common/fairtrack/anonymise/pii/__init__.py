"""Personal data in free text: find it, redact it, or walk a hit's properties/traits for it.

Stdlib only, no per-call set-up: every pattern is compiled at import and starts with a character
class (so the regex engine jumps to the few places a match can start), and a value is searched
only for the kinds it could hold: a value of letters only, or shorter than 7 characters without
``@``, ``%``, ``:``, ``&`` or a non-ASCII character, is done after a few ``str`` checks; an
``@``/``%`` is needed for an e-mail, 7 digits for a phone or IBAN, 13 for a card, three dots for an
IPv4 address, ``::`` or six colons for an IPv6 one, a digit and a space for a street address.
Whole values that are an ISO 8601 date/timestamp, a number of at most 12 integer digits or a UUID
are recognised first and skip the detectors (and the decoding).

Kinds (``find`` returns them; ``redact`` writes the marker):

============  ==========  =====================================================================
kind          marker      what counts
============  ==========  =====================================================================
``email``     ``[email]`` ``local@domain.tld``: an RFC 5322 atext local part (1-64 chars, dots
                          and Unicode letters allowed), a dotted domain whose last label starts
                          with a letter; ``@`` may be percent-encoded (``%40``, ``%2540``).
                          Retina asset names (``logo@2x.png``) are not addresses.
``iban``      ``[iban]``  a country code from the IBAN registry, 2 check digits and exactly that
                          country's length of letters/digits (single spaces or dashes between
                          them allowed), passing the ISO 7064 mod-97 check. Case-insensitive.
``card``      ``[card]``  13-19 digits, single spaces or dashes between groups allowed, first
                          digit 2-6 (the card networks' ranges: Visa, Mastercard, Amex, Discover,
                          JCB, Diners, UnionPay, Maestro) and Luhn-valid. A longer run of groups
                          is searched for a qualifying sub-run. The 2-6 rule keeps epoch
                          milliseconds (``17...``) and most long ids out: 1 in 10 random numbers
                          passes Luhn.
``ipv6``      ``[ip]``    a colon-hex candidate (optionally with an embedded IPv4 or a zone)
                          that ``ipaddress`` accepts, holding at least one hex digit (``::``
                          alone is not flagged).
``ipv4``      ``[ip]``    four dotted decimal octets 0-255 not glued to a word, a dot or another
                          digit (``v1.2.3.4`` and ``1.2.3.4.5`` are not addresses), nor after
                          ``word/`` (a product version: ``Chrome/131.0.0.0``) unless it is a
                          whole path segment: followed by ``/``, ``?`` or ``#``, or after a
                          segment led by ``/`` (``https://x.example/u/198.51.100.23``).
``phone``     ``[phone]`` see below.
``address``   ``[address]`` a street address: a house number (``5``, ``221B``, ``10-12``) and a
                          street word, written ``221B Baker Street``, ``10 Downing St``,
                          ``725 5th Avenue``, ``12 rue de Rivoli`` (number, 1-4 capitalised
                          words, street word), ``5th Avenue 725``, ``Baker Street 221B`` (full
                          street words only), ``Hauptstraße 5``, ``Kalverstraat 92a``,
                          ``Berliner Straße 12`` (German, Dutch, Nordic compounds and words),
                          ``Rue de Rivoli 12``, ``Via Roma 1``, ``Calle Mayor 5``. Case-sensitive.
``token``     ``[token]`` a JWT: three dot-separated base64url segments, the first starting
                          ``eyJ`` (``{"``); whatever its payload, which is decoded and read too.
============  ==========  =====================================================================

Encoded forms. A value holding a trigger is also read decoded: ``%`` (percent-encoding, undone up
to four levels: ``%2540``, ``%252540``), ``&`` (HTML character references: ``&#64;``,
``&#x40;``, ``&commat;``, via ``html.unescape``), a non-ASCII character (NFKC: full-width ``U+FF20``
and digits, ``&nbsp;`` as a space; zero-width characters removed), a run of 16+ base64 characters
with both cases (decoded as base64 or base64url, padded or not, whole or split at ``/`` or
``_-``, and read when it gives mostly printable UTF-8 text) and ``eyJ`` (a JWT; its payload is
read). Each round of decoding is kept and read (a literal ``%`` in the data must not decode it
away), and base64 found inside base64 or a JWT payload is decoded once more. What is found in a
decoded form is reported under its kind, and ``redact`` replaces the raw text that encoded it,
widened to the run of characters holding it (up to white space or ``/ ? & = #``): ``mail
jane&#64;example.com.`` gives ``mail [email]``, ``https://x.example/?tel=%2B44%207700%20900123``
gives ``https://x.example/?tel=[phone]``.

Phone heuristic. A candidate is a run of digit groups, each joined to the next by exactly one of
space ``-`` ``.`` ``/``, a group optionally in parentheses (``(030)``, ``(0)``), optionally led by
``+`` (which may follow ``tel:``); the run must be maximal (not glued to a letter, ``@``, ``:`` or
more digits) and must not start inside a word or a number, nor after ``#``, ``,`` or ``:`` (times
such as ``10:15:30.123-05``). Then:

- it holds 7 to 15 digits (E.164 allows 15);
- dot-separated runs are never decimals (two groups: ``123456.78``) nor thousands
  (``1.234.567``), and without ``+`` every dot-separated group has 2-4 digits (so versions such as
  ``10.0.19045.2965`` pass);
- with ``+`` that is enough (``+49 30 1234567``, ``+442071838750``, ``tel:+1-555-123-4567``);
- without ``+``, a single group (a plain digit run: ids, epoch seconds, ``0301234567``) is not a
  phone; nor is a date (``2026-11-24``, ``24.11.2026``, ``11/24/2026`` at the start of the run), a
  range of years (``2024-2026``), nor, with two groups, anything but a trunk-prefixed
  (``030 1234567``, ``06-12345678``), parenthesised (``(030) 1234567``) or ``ddd-dddd`` number;
  with three groups or more, at most one group may be a single digit and space-grouped thousands
  (``12 345 678``) are not phones.

Times (``10:15:30``), ISO timestamps, prices (``12.50``, ``1,299.00``), years, order ids
(``ord_1042``) and epoch timestamps therefore never match. Known misses, by design: phones written
as one plain digit run without ``+``, with multi-character separators (``030 - 1234567``), glued to
a colon (``Tel:030 1234567``; ``Tel: 030 1234567`` is found) or as thousands-like groups
(``612 345 678``); e-mails written as ``jane (at) example.com``; street addresses without a
house number, with one of more than four digits, with lower-case names (``10 downing street``),
with more than four words before the street word, in other languages' orders or words
(``Unter den Linden 77``, ``Am Markt 3``) or in other scripts; IPv4 addresses as a path segment
after a product-like ``word/`` at the start of a value (``u/198.51.100.23``); base64 shorter than
16 characters or of one case, base64 split by other characters, or of binary data. Street-address
false positives: product names of the ``number + capitalised words + street word`` shape
(``2 Player Court``, ``10 Pro Drive``; ``4 Wheel Drive`` is excepted), German compounds with a
number (``Arbeitsplatz 3``), ``Wall Street 2``. Each detector reads its matches
left to right without overlap, so a candidate that fails its check (Luhn, mod-97, the phone rules)
is not searched again for a shorter valid one, except for card numbers (sub-runs of groups).

``scan`` walks nested dicts and lists (see its docstring); ``KNOWN_PII_FIELDS`` and
``is_known_pii_field`` say which field names are personal data whatever their value.

The modules: :mod:`~fairtrack.anonymise.pii.patterns` (the detectors' patterns and checks),
:mod:`~fairtrack.anonymise.pii.decoding` (decoded forms, mapped back to the raw text),
:mod:`~fairtrack.anonymise.pii.detect` (finding, classifying, redacting),
:mod:`~fairtrack.anonymise.pii.fields` (personal-data field names) and
:mod:`~fairtrack.anonymise.pii.walker` (walking nested values).
"""

from __future__ import annotations

from fairtrack.anonymise.pii.detect import (
    MARKERS,
    PRECHECK,
    classify,
    contains_pii,
    decoded_forms,
    find,
    redact,
)
from fairtrack.anonymise.pii.fields import (
    AMBIGUOUS_IN_PROPERTIES,
    KNOWN_PII_FIELDS,
    is_known_pii_field,
    is_personal_property,
)
from fairtrack.anonymise.pii.walker import FIELD_MARKER, Action, Finding, scan

__all__ = [
    "AMBIGUOUS_IN_PROPERTIES",
    "FIELD_MARKER",
    "KNOWN_PII_FIELDS",
    "MARKERS",
    "PRECHECK",
    "Action",
    "Finding",
    "classify",
    "contains_pii",
    "decoded_forms",
    "find",
    "is_known_pii_field",
    "is_personal_property",
    "redact",
    "scan",
]
