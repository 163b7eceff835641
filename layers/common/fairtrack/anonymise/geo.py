"""Country of an IP address, offline: :func:`country_of` turns an address into an ISO 3166-1 alpha-2 code.

The gateway calls it with the visitor's full address, before that address is truncated, so that
a country (for regional consent defaults, for example) survives anonymisation without the full
address ever being stored or forwarded. Nothing here leaves the process or logs an address, and
this module keeps none; the standard library's :mod:`ipaddress` does remember its ``is_private``
and ``is_global`` answers for the last 128 addresses asked about (a ``functools.lru_cache`` in
process memory, in CPython 3.11 to 3.13).

``country_of("8.8.8.8")`` is ``"US"``; it is None for an address that is not a public unicast one
(private, loopback, link-local, unique-local, CGNAT, documentation, multicast, reserved,
unspecified), for a public one that no registry lists, and for anything that is not an address at
all (``""``, ``"1.2.3"``, ``"08.8.8.8"``, a hostname...). Surrounding whitespace is ignored; it
never raises on a string. An IPv4-mapped IPv6 address (``::ffff:8.8.8.8``) is looked up as its
IPv4 address; an IPv6 zone (``%eth0``) is ignored.

Data source: the ``iptocc`` package (https://github.com/roniemartinez/IPToCC; code licensed
MIT OR Apache-2.0), whose native extension embeds lookup tables built from the five Regional
Internet Registries' public "delegated-extended" statistics files (AFRINIC, APNIC, ARIN, LACNIC,
RIPE NCC, in the RIR statistics exchange format): the records with status ``allocated`` or
``assigned``. The package is re-released nightly with fresh registry files, so the data is as
recent as the version the layer's lock pins.

Licence and attribution: keep the package's licence texts (in its ``dist-info``, which the layer
ships with it). The registries publish these statistics openly, as a standard other parties are
expected to rely on; they carry no CC-style attribution clause, but fairtrack credits them
anyway wherever it lists its data sources: "IP-to-country data: RIR delegated statistics
(AFRINIC, APNIC, ARIN, LACNIC, RIPE NCC), via iptocc". No MaxMind GeoLite2 data (its EULA forbids
redistribution) and no IP2Location LITE data (CC BY-SA) is involved.

What the code means: the country the registry lists for the block's holder, which is not always
where the address is used (a multinational's or a cloud provider's block is listed under its
home country; the package cites a study, Zander 2012, that finds RIR data agreeing with MaxMind
for about 95 % of IPv4 addresses). Registries list a few European blocks under ``EU`` (about 1,000
IPv4 /24s), which is no country (ISO 3166-1 only reserves it): those give None, as do
other non-country codes, so every answer is two upper-case ASCII letters naming a country, or None.

Why this package: it is the one on PyPI that covers IPv4 and IPv6 offline with current,
redistributable data in a small typed abi3 wheel (the packages compared, and what each lacks, are
in docs/ingest.md, "Libraries").

Cost: ``import fairtrack.anonymise.geo`` imports only :mod:`ipaddress` and :mod:`threading` (and
its package, whose address parsing it shares); the first lookup imports ``iptocc`` (the database)
and keeps it for the life of the process (the Lambda container). :func:`warm` pays that during a
handler's init. If ``iptocc`` is missing (a broken layer) the first lookup raises
:class:`ImportError` rather than quietly answering None forever.
"""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Callable

from fairtrack.anonymise import _address

__all__ = ["GLOBAL_UNICAST_V6", "NOT_COUNTRIES", "country_of", "warm"]

Lookup = Callable[[str], str | None]

# Codes the registries use that name no country: EU (European Union, "exceptionally reserved" in
# ISO 3166-1), AP (old APNIC "Asia/Pacific"), ZZ (unknown/unassigned; iptocc drops it already).
NOT_COUNTRIES: frozenset[str] = frozenset({"EU", "AP", "ZZ"})

# The only IPv6 space IANA hands to the registries (RFC 4291 global unicast); the rest is reserved.
GLOBAL_UNICAST_V6 = ipaddress.IPv6Network("2000::/3")

# The database handle: None until the first lookup (or warm()) opens it, then kept per process.
_lookup: Lookup | None = None
_lock = threading.Lock()


def _open() -> Lookup:
    """The lookup function, importing the database the first time (once, even across threads)."""
    global _lookup
    lookup = _lookup
    if lookup is None:
        with _lock:
            lookup = _lookup
            if lookup is None:
                import iptocc

                lookup = _lookup = iptocc.country_code
    return lookup


def warm() -> None:
    """Open the database now (during a Lambda's init) rather than on the first lookup."""
    _open()


def country_of(address: str) -> str | None:
    """The upper-case ISO 3166-1 alpha-2 code of a public IPv4/IPv6 ``address``, else None.

    None for non-public (private, loopback, link-local, reserved, multicast...) addresses, for
    addresses no registry lists, and for strings that are not an address. Never raises on a string.
    """
    ip = _address(address) if isinstance(address, str) else None
    if ip is None:
        return None
    if isinstance(ip, ipaddress.IPv6Address):
        mapped = ip.ipv4_mapped
        if mapped is not None:
            ip = mapped
        elif ip.scope_id is not None:
            # Drop the zone (%eth0): it says which link, not which network the address is in.
            ip = ipaddress.IPv6Address(int(ip))
    if not ip.is_global or ip.is_multicast:
        return None
    if ip.version == 6 and ip not in GLOBAL_UNICAST_V6:
        return None  # IANA's reserved IPv6 space: no registry has delegated any of it
    # str(ip) is the canonical ASCII form, so the extension never sees a string it cannot encode.
    code = _open()(str(ip))
    if code is None or len(code) != 2 or not (code.isascii() and code.isalpha() and code.isupper()):
        return None
    return None if code in NOT_COUNTRIES else code
