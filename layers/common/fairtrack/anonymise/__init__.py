"""The anonymise stage: every value a hit carries crosses it before anything is queued.

:class:`~fairtrack.anonymise.stage.Anonymiser` runs the stage on a hit whose consent is resolved, in
this order: identifiers become keyed pseudonyms (:mod:`~fairtrack.anonymise.pseudonym`); the user
agent is reduced to a few low-cardinality fields (:mod:`~fairtrack.anonymise.useragent`); page and
referrer URLs keep what may travel (:mod:`~fairtrack.anonymise.urls`); personal data in free text
and properties is found and redacted (:mod:`~fairtrack.anonymise.pii`); user-provided data is
normalised and hashed for ad destinations (:mod:`~fairtrack.anonymise.userdata`); the country is read
offline from the address (:mod:`~fairtrack.anonymise.geo`) before the address is truncated (here:
IPv4 embedded in IPv6 is truncated as IPv4). :mod:`~fairtrack.anonymise.formats` holds the closed
set of value formats the policy's catalogue declares, and the checks that admit a value.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Final

from fairtrack.lazy import lazy_exports

if TYPE_CHECKING:
    from fairtrack.anonymise.formats import admits
    from fairtrack.anonymise.geo import country_of
    from fairtrack.anonymise.pii import contains_pii, redact, scan
    from fairtrack.anonymise.pseudonym import DailySalts, Pseudonymiser, salt_id, secret_key
    from fairtrack.anonymise.stage import Anonymiser, Visitor, echo_free
    from fairtrack.anonymise.urls import clean_url, referrer_origin
    from fairtrack.anonymise.userdata import ga4_user_data, meta_user_data, sha256_hex

__all__ = [
    "Anonymiser",
    "DailySalts",
    "Pseudonymiser",
    "Visitor",
    "admits",
    "clean_url",
    "client_ip",
    "contains_pii",
    "country_of",
    "echo_free",
    "embedded_ipv4",
    "ga4_user_data",
    "meta_user_data",
    "redact",
    "referrer_origin",
    "salt_id",
    "scan",
    "secret_key",
    "sha256_hex",
    "truncate_ip",
    "viewer_address",
]

__getattr__ = lazy_exports(
    __name__,
    {
        "formats": ("admits",),
        "geo": ("country_of",),
        "pii": ("contains_pii", "redact", "scan"),
        "pseudonym": ("DailySalts", "Pseudonymiser", "salt_id", "secret_key"),
        "stage": ("Anonymiser", "Visitor", "echo_free"),
        "urls": ("clean_url", "referrer_origin"),
        "userdata": ("ga4_user_data", "meta_user_data", "sha256_hex"),
    },
)

_NAT64: Final = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052 well-known prefix
_COMPATIBLE: Final = ipaddress.IPv6Network("::/96")  # RFC 4291 IPv4-compatible (deprecated)


def embedded_ipv4(addr: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The visitor's IPv4 address carried inside an IPv6 one, or None: IPv4-mapped
    (``::ffff:a.b.c.d``), IPv4-compatible (``::a.b.c.d``, not ``::`` or ``::1`` nor anything in
    ``0.0.0.0/8``), NAT64 (``64:ff9b::a.b.c.d``), 6to4 (``2002:AABB:CCDD::/48``, bits 16-48) and
    Teredo (``2001:0::/32``: the client's address, stored XOR ``0xffffffff`` in the last 32 bits;
    the server's, in bits 32-64, is not the visitor's)."""
    if addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    if addr.sixtofour is not None:
        return addr.sixtofour
    if addr.teredo is not None:
        return addr.teredo[1]
    if addr in _NAT64 or addr in _COMPATIBLE:
        v4 = ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF)
        if addr in _NAT64 or int(v4) >> 24:
            return v4
    return None


def truncate_ip(raw: str | None, v4_prefix: int = 24, v6_prefix: int = 48) -> str | None:
    """Zero the host part of an address: IPv4 to /24 (or /16), IPv6 to /48 (or as configured).

    An IPv6 address that carries an IPv4 one (IPv4-mapped or -compatible, NAT64, 6to4, Teredo: see
    ``embedded_ipv4``) is treated as that IPv4 address: the truncated IPv4 comes out
    (``2002:c633:6417::1`` gives ``198.51.100.0``), since its /48 would keep the whole IPv4 (6to4)
    or more than an IPv4 /24 (Teredo keeps the client's address in its last bits). Anything that is
    not an address gives None, so a malformed or spoofed value never travels further.
    """
    addr = _address(raw) if raw else None
    if addr is None:
        return None
    if isinstance(addr, ipaddress.IPv6Address):
        v4 = embedded_ipv4(addr)
        if v4 is not None:
            return str(ipaddress.ip_network((v4, v4_prefix), strict=False).network_address)
        return str(ipaddress.ip_network((addr, v6_prefix), strict=False).network_address)
    return str(ipaddress.ip_network((addr, v4_prefix), strict=False).network_address)


def _address(raw: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """``raw`` (surrounding whitespace ignored) as an address, or None when it is not one."""
    try:
        return ipaddress.ip_address(raw.strip())
    except ValueError:
        return None


def client_ip(source_ip: str | None, forwarded_for: str | None, hops: int = 0) -> str | None:
    """The visitor's address: the connection's (``hops`` 0), or, behind ``hops`` proxies the
    deployment runs, the ``hops``-th ``X-Forwarded-For`` entry from the right.

    Each proxy appends the address it was called from, so the rightmost entries are the trusted
    ones and everything to their left is whatever the client wrote: a forged leftmost entry never
    wins. API Gateway appends the connection's address itself; that last entry (equal to
    ``source_ip``) is not a hop and is left out first. A list shorter than ``hops``, or an entry
    that is not an address, gives the connection's address.
    """
    if hops <= 0 or not forwarded_for:
        return source_ip
    entries = [entry.strip() for entry in forwarded_for.split(",")]
    connection = _address(source_ip) if source_ip else None
    if entries and connection is not None and _address(entries[-1]) == connection:
        entries.pop()  # API Gateway's own entry
    if len(entries) < hops:
        return source_ip
    chosen = _address(entries[-hops])
    return str(chosen) if chosen is not None else source_ip


def viewer_address(header: str | None) -> str | None:
    """The address in CloudFront's ``CloudFront-Viewer-Address`` header, or None.

    CloudFront writes ``address:port``: ``198.51.100.10:46532``, and IPv6 unbracketed,
    ``2001:db8::1:46532`` (the last colon separates the port); a bracketed ``[2001:db8::1]:46532``
    is read too. Anything else gives None.
    """
    if not header:
        return None
    text = header.strip()
    if text.startswith("["):
        host, sep, port = text[1:].partition("]:")
    else:
        host, sep, port = text.rpartition(":")
    if not sep or not port.isascii() or not port.isdigit():
        return None
    address = _address(host)
    return str(address) if address is not None else None
