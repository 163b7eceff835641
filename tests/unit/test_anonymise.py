"""IP truncation and client address selection (anonymise.py)."""

from __future__ import annotations

import ipaddress
import random

import pytest

from fairtrack.anonymise import client_ip, truncate_ip


@pytest.mark.parametrize(
    ("raw", "v4_prefix", "expected"),
    [
        ("192.168.1.77", 24, "192.168.1.0"),
        ("192.168.1.77", 16, "192.168.0.0"),
        ("203.0.113.255", 24, "203.0.113.0"),
        ("10.0.0.0", 24, "10.0.0.0"),
        ("255.255.255.255", 16, "255.255.0.0"),
    ],
)
def test_ipv4_is_truncated_to_prefix(raw: str, v4_prefix: int, expected: str) -> None:
    """Given an IPv4 address, when truncated, then the host part below the prefix is zero."""
    assert truncate_ip(raw, v4_prefix=v4_prefix) == expected


def test_ipv4_default_prefix_is_24() -> None:
    """Given no prefix, when an IPv4 address is truncated, then the last octet is dropped."""
    assert truncate_ip("198.51.100.201") == "198.51.100.0"


@pytest.mark.parametrize(
    ("raw", "v6_prefix", "expected"),
    [
        ("2001:db8:abcd:12:34:56:78:9a", 48, "2001:db8:abcd::"),
        ("2001:db8:abcd:12:34:56:78:9a", 32, "2001:db8::"),
        ("2001:db8:abcd:1234:56:78:9a:bc", 56, "2001:db8:abcd:1200::"),
        ("2001:db8:abcd:12:34:56:78:9a", 64, "2001:db8:abcd:12::"),
        ("2001:DB8:ABCD:0012::1", 48, "2001:db8:abcd::"),
    ],
)
def test_ipv6_is_truncated_to_prefix(raw: str, v6_prefix: int, expected: str) -> None:
    """Given an IPv6 address, when truncated, then only the configured prefix survives (canonical form)."""
    assert truncate_ip(raw, v6_prefix=v6_prefix) == expected


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
    assert client_ip("198.51.100.7", "203.0.113.5", trust_proxy=False) == "198.51.100.7"


def test_first_forwarded_hop_is_used_behind_a_trusted_proxy() -> None:
    """Given a trusted proxy, then the first hop of X-Forwarded-For is the visitor."""
    assert client_ip("10.0.0.2", " 203.0.113.5 , 10.0.0.1, 10.0.0.2", trust_proxy=True) == "203.0.113.5"


@pytest.mark.parametrize("forwarded", [None, "", " ", ", 10.0.0.1"])
def test_empty_forwarded_for_falls_back_to_source(forwarded: str | None) -> None:
    """Given a trusted proxy but no usable first hop, then the connection's address is used."""
    assert client_ip("198.51.100.7", forwarded, trust_proxy=True) == "198.51.100.7"


def test_no_address_at_all_gives_none() -> None:
    """Given neither a source address nor a header, then there is no client address."""
    assert client_ip(None, None, trust_proxy=True) is None
    assert truncate_ip(client_ip(None, None, trust_proxy=False)) is None
