"""IP truncation and client address selection (anonymise.py)."""

from __future__ import annotations

import ipaddress
import random

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from fairtrack.anonymise import client_ip, embedded_ipv4, truncate_ip
from fairtrack.policy import forms


@pytest.mark.parametrize(
    ("raw", "prefix", "expected"),
    [
        ("192.168.1.77", {"v4_prefix": 24}, "192.168.1.0"),
        ("192.168.1.77", {"v4_prefix": 16}, "192.168.0.0"),
        ("203.0.113.255", {"v4_prefix": 24}, "203.0.113.0"),
        ("10.0.0.0", {"v4_prefix": 24}, "10.0.0.0"),
        ("255.255.255.255", {"v4_prefix": 16}, "255.255.0.0"),
        ("2001:db8:abcd:12:34:56:78:9a", {"v6_prefix": 48}, "2001:db8:abcd::"),
        ("2001:db8:abcd:12:34:56:78:9a", {"v6_prefix": 32}, "2001:db8::"),
        ("2001:db8:abcd:1234:56:78:9a:bc", {"v6_prefix": 56}, "2001:db8:abcd:1200::"),
        ("2001:db8:abcd:12:34:56:78:9a", {"v6_prefix": 64}, "2001:db8:abcd:12::"),
        ("2001:DB8:ABCD:0012::1", {"v6_prefix": 48}, "2001:db8:abcd::"),
    ],
)
def test_ip_is_truncated_to_its_family_prefix(raw: str, prefix: dict[str, int], expected: str) -> None:
    """Given an IPv4 or IPv6 address, when truncated, then only the configured prefix survives:
    the host part is zero (IPv6 in canonical form)."""
    assert truncate_ip(raw, **prefix) == expected


def test_ipv4_default_prefix_is_24() -> None:
    """Given no prefix, when an IPv4 address is truncated, then the last octet is dropped."""
    assert truncate_ip("198.51.100.201") == "198.51.100.0"


def test_ipv6_default_prefix_is_48() -> None:
    """Given no prefix, when an IPv6 address is truncated, then the /48 network address is returned."""
    assert truncate_ip("2a00:1450:4001:82a::200e") == "2a00:1450:4001::"


def test_v4_prefix_does_not_apply_to_ipv6_and_vice_versa() -> None:
    """Given both prefixes, then each family uses its own one."""
    assert truncate_ip("2001:db8:abcd:12::1", v4_prefix=16, v6_prefix=64) == "2001:db8:abcd:12::"
    assert truncate_ip("192.0.2.9", v4_prefix=16, v6_prefix=64) == "192.0.0.0"


@pytest.mark.parametrize("raw", ["::ffff:203.0.113.9", "::FFFF:203.0.113.9", "::ffff:cb00:7109"])
def test_ipv4_mapped_ipv6_is_treated_as_ipv4(raw: str) -> None:
    """Given an IPv4-mapped IPv6 address, when truncated, then the IPv4 rule applies (and IPv4 comes out)."""
    assert truncate_ip(raw) == "203.0.113.0"
    assert truncate_ip(raw, v4_prefix=16) == "203.0.0.0"


@pytest.mark.parametrize(
    "raw",
    [
        None,
        "",
        "   ",
        "not-an-ip",
        "999.1.1.1",
        "1.2.3",
        "1.2.3.4:8080",
        "[2001:db8::1]",
        "2001:db8::zz",
        "203.0.113.9, 10.0.0.1",
        "jane.doe@example.com",
    ],
)
def test_garbage_gives_none(raw: str | None) -> None:
    """Given something that is not a single address, when truncated, then nothing travels further."""
    assert truncate_ip(raw) is None


@pytest.mark.parametrize("raw", [" 192.0.2.44", "192.0.2.44 ", "\t192.0.2.44\n"])
def test_surrounding_whitespace_is_ignored(raw: str) -> None:
    """Given an address with surrounding whitespace (header values often have some), then it is truncated."""
    assert truncate_ip(raw) == "192.0.2.0"


# -- property: truncation stays inside the network and zeroes the host bits ------------------------


def _sample_addresses(seed: int = 20240501, count: int = 40) -> list[str]:
    rng = random.Random(seed)
    out = [str(ipaddress.IPv4Address(rng.getrandbits(32))) for _ in range(count)]
    out += [str(ipaddress.IPv6Address(rng.getrandbits(128))) for _ in range(count)]
    return [*out, "0.0.0.0", "255.255.255.255", "::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"]


@pytest.mark.parametrize("raw", _sample_addresses())
@pytest.mark.parametrize(("v4_prefix", "v6_prefix"), [(24, 48), (16, 32), (24, 56), (16, 64)])
def test_truncated_address_is_inside_original_network_with_host_bits_zero(
    raw: str, v4_prefix: int, v6_prefix: int
) -> None:
    """Given any address, when truncated, then the result is in the original's network and its host bits are 0."""
    original = ipaddress.ip_address(raw)
    prefix = v4_prefix if original.version == 4 else v6_prefix

    truncated_text = truncate_ip(raw, v4_prefix=v4_prefix, v6_prefix=v6_prefix)

    assert truncated_text is not None
    truncated = ipaddress.ip_address(truncated_text)
    network = ipaddress.ip_network(f"{raw}/{prefix}", strict=False)
    assert truncated.version == original.version
    assert truncated in network
    assert int(truncated) & int(network.hostmask) == 0
    # idempotent: truncating again changes nothing
    assert truncate_ip(truncated_text, v4_prefix=v4_prefix, v6_prefix=v6_prefix) == truncated_text


# -- client_ip ------------------------------------------------------------------------------------


def test_forwarded_for_is_ignored_without_a_trusted_proxy() -> None:
    """Given X-Forwarded-For but no trusted proxy, then the connection's address is used (XFF can be forged)."""
    assert client_ip("198.51.100.7", "203.0.113.5", hops=0) == "198.51.100.7"


def test_last_forwarded_hop_is_used_behind_one_trusted_proxy() -> None:
    """Given one trusted proxy, then the last X-Forwarded-For entry (the one it wrote) is the visitor,
    whatever the client wrote to its left (more on proxy modes in test_proxy_modes.py)."""
    assert client_ip("10.0.0.2", " 203.0.113.5 , 10.0.0.1, 198.51.100.9", hops=1) == "198.51.100.9"


@pytest.mark.parametrize("forwarded", [None, "", " ", "10.0.0.1, "])
def test_empty_forwarded_for_falls_back_to_source(forwarded: str | None) -> None:
    """Given a trusted proxy but no usable last hop, then the connection's address is used."""
    assert client_ip("198.51.100.7", forwarded, hops=1) == "198.51.100.7"


def test_no_address_at_all_gives_none() -> None:
    """Given neither a source address nor a header, then there is no client address."""
    assert client_ip(None, None, hops=1) is None
    assert truncate_ip(client_ip(None, None, hops=0)) is None


# -- IPv4 carried in IPv6: truncated as the IPv4 it carries -----------------------------------------


def _teredo(server: str, client: str) -> str:
    """A Teredo address (2001:0::/32): server IPv4 in bits 32-64, client IPv4 XOR 0xffffffff last."""
    value = (
        (0x20010000 << 96)
        | (int(ipaddress.IPv4Address(server)) << 64)
        | (int(ipaddress.IPv4Address(client)) ^ 0xFFFFFFFF)
    )
    return str(ipaddress.IPv6Address(value))


@pytest.mark.parametrize(
    "raw",
    [
        "2002:c633:6417::1",  # 6to4: 198.51.100.23 in bits 16-48
        "2002:C633:6417:12:34:56:78:9a",
        _teredo("192.0.2.45", "198.51.100.23"),
        "64:ff9b::198.51.100.23",  # NAT64 well-known prefix
        "64:ff9b::c633:6417",
        "::198.51.100.23",  # IPv4-compatible (deprecated)
        "::ffff:198.51.100.23",
    ],
)
def test_ipv4_embedded_in_ipv6_is_truncated_as_ipv4(raw: str) -> None:
    """Given an IPv6 address carrying an IPv4 one, then the IPv4 rule applies and only its /24 (/16) comes out."""
    assert truncate_ip(raw) == "198.51.100.0"
    assert truncate_ip(raw, v4_prefix=16) == "198.51.0.0"
    assert forms.ip_coarse(raw) == "198.51.0.0"
    assert embedded_ipv4(ipaddress.IPv6Address(raw)) == ipaddress.IPv4Address("198.51.100.23")


def test_teredo_keeps_neither_the_client_nor_the_server() -> None:
    """Given a Teredo address, then the client's truncated IPv4 comes out, and nothing of the server's."""
    out = truncate_ip(_teredo("203.0.113.77", "198.51.100.23"))
    assert out == "198.51.100.0"
    assert "203" not in str(out)


@pytest.mark.parametrize("raw", ["::", "::1", "::0.0.0.9", "2001:db8::1", "fe80::1", "2003:c633:6417::1"])
def test_addresses_that_carry_no_ipv4_stay_ipv6(raw: str) -> None:
    """Given loopback, unspecified, documentation or ordinary addresses, then the IPv6 rule applies."""
    assert embedded_ipv4(ipaddress.IPv6Address(raw)) is None
    out = truncate_ip(raw)
    assert out is not None and ipaddress.ip_address(out).version == 6


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("203.0.113.77", "203.0.0.0"),
        ("2001:db8:abcd:12::1", "2001:db8::"),
        ("2002:cb00:714d::1", "203.0.0.0"),
        (" 192.0.2.1 ", "192.0.0.0"),
        ("", None),
        ("x", None),
        (None, None),
        (42, None),
    ],
)
def test_ip_coarse(value: object, expected: str | None) -> None:
    """Given any value, then ip_coarse cuts an address to /16 (IPv4, embedded ones too) or /32, else None."""
    assert forms.ip_coarse(value) == expected


@settings(max_examples=200, deadline=None, database=None)
@given(
    v4=st.ip_addresses(v=4),
    kind=st.sampled_from(["6to4", "teredo", "nat64", "mapped", "compatible"]),
    low=st.integers(0, 2**64 - 1),
)
def test_no_embedded_ipv4_survives_truncation(v4: ipaddress.IPv4Address, kind: str, low: int) -> None:
    """Given any IPv4 carried in IPv6 in any of those ways, then truncation gives that IPv4's /24, nothing more."""
    n = int(v4)
    if kind == "6to4":
        addr = ipaddress.IPv6Address((0x2002 << 112) | (n << 80) | (low & (2**80 - 1)))
    elif kind == "teredo":
        addr = ipaddress.IPv6Address(
            (0x20010000 << 96) | ((low >> 32) << 64) | (low & 0xFFFF0000) << 16 | (n ^ 0xFFFFFFFF)
        )
    elif kind == "nat64":
        addr = ipaddress.IPv6Address((0x64FF9B << 96) | n)
    elif kind == "mapped":
        addr = ipaddress.IPv6Address((0xFFFF << 32) | n)
    else:
        assume(n >> 24)
        addr = ipaddress.IPv6Address(n)
    expected = str(ipaddress.ip_network((v4, 24), strict=False).network_address)
    assert truncate_ip(str(addr)) == expected
