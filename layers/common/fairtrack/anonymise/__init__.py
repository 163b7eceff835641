"""Anonymisation transforms that run at ingest, before anything is queued.

The spine has IP truncation; user agent, URL, PII and pseudonym transforms join it here.
"""

from __future__ import annotations

import ipaddress


def truncate_ip(raw: str | None, v4_prefix: int = 24, v6_prefix: int = 48) -> str | None:
    """Zero the host part of an address: IPv4 to /24 (or /16), IPv6 to /48 (or as configured).

    IPv4-mapped IPv6 addresses are treated as IPv4. Anything that is not an address gives None, so
    a malformed or spoofed value never travels further.
    """
    if not raw:
        return None
    try:
        addr = ipaddress.ip_address(raw.strip())
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    prefix = v4_prefix if addr.version == 4 else v6_prefix
    return str(ipaddress.ip_network((addr, prefix), strict=False).network_address)


def client_ip(source_ip: str | None, forwarded_for: str | None, trust_proxy: bool) -> str | None:
    """The visitor's address: the connection's, or X-Forwarded-For's first hop behind a trusted proxy."""
    if trust_proxy and forwarded_for:
        first = forwarded_for.split(",")[0].strip()
        if first:
            return first
    return source_ip
