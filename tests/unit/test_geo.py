"""Country lookup (geo.py): well-known networks, non-public and invalid input, lazy loading."""

from __future__ import annotations

import ipaddress
import os
import subprocess
import sys
from pathlib import Path

import iptocc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fairtrack.anonymise import geo
from fairtrack.anonymise.geo import NOT_COUNTRIES, country_of

ROOT = Path(__file__).resolve().parents[2]
PROPERTY = settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

# Blocks whose registry country has been stable for decades (the registries' own, root servers,
# big operators' home blocks), so a data refresh does not move them.
KNOWN = [
    ("8.8.8.8", "US"),  # Google Public DNS (ARIN)
    ("2001:4860:4860::8888", "US"),  # Google Public DNS over IPv6 (ARIN)
    ("2606:4700::1111", "US"),  # Cloudflare (ARIN)
    ("193.0.6.139", "NL"),  # www.ripe.net, RIPE NCC's own block, Amsterdam
    ("2001:67c:2e8::1", "NL"),  # RIPE NCC's own IPv6 block
    ("217.70.184.38", "FR"),  # Gandi (RIPE)
    ("2001:41d0::1", "FR"),  # OVH (RIPE)
    ("202.12.27.33", "JP"),  # M root server, WIDE project (APNIC)
    ("2001:200::1", "JP"),  # WIDE project, one of the first IPv6 allocations (APNIC)
    ("1.0.16.1", "JP"),  # APNIC, delegated to Japan
    ("203.119.101.61", "AU"),  # APNIC's own infrastructure, Brisbane
    ("2001:dc0:2001::1", "AU"),  # APNIC's own IPv6 block
]

NOT_PUBLIC = [
    "10.0.0.1",  # private
    "172.16.5.4",
    "192.168.1.1",
    "127.0.0.1",  # loopback
    "169.254.169.254",  # link-local (the EC2 metadata address)
    "100.64.0.1",  # carrier-grade NAT
    "0.0.0.0",  # unspecified
    "255.255.255.255",  # broadcast
    "224.0.0.1",  # multicast
    "240.0.0.1",  # reserved
    "192.0.2.1",  # documentation (TEST-NET-1)
    "198.51.100.7",  # documentation (TEST-NET-2)
    "203.0.113.9",  # documentation (TEST-NET-3)
    "::",  # unspecified
    "::1",  # loopback
    "fe80::1",  # link-local
    "fe80::1%eth0",  # link-local with a zone
    "fd00::1",  # unique local
    "fc00::1",
    "2001:db8::1",  # documentation
    "ff02::1",  # multicast
    "4000::1",  # reserved by IANA (outside 2000::/3)
    "100::1",  # discard-only
    "::ffff:10.0.0.1",  # IPv4-mapped private
    "::ffff:127.0.0.1",
]

INVALID = [
    "",
    " ",
    "abc",
    "localhost",
    "dns.google",
    "1.2.3",
    "1.2.3.4.5",
    "256.1.1.1",
    "08.8.8.8",  # leading zeros are ambiguous (octal?) and rejected
    "8.8.8.8/32",
    "8.8.8.8:443",
    "[2001:4860:4860::8888]",
    "2001:4860:4860::8888::1",
    "gggg::1",
    "8.8.8.8\x00",
    "\x00",
    "\ud800",  # a lone surrogate: cannot even be encoded as UTF-8
    "\uff18.\uff18.\uff18.\uff18",  # fullwidth digits
    "\u0668.8.8.8",  # an Arabic-Indic digit eight
    "1" * 10_000,
]


@pytest.mark.parametrize(("address", "country"), KNOWN)
def test_known_networks(address: str, country: str) -> None:
    assert country_of(address) == country


def test_ipv4_mapped_ipv6_is_looked_up_as_ipv4() -> None:
    assert country_of("::ffff:8.8.8.8") == "US"
    assert country_of("::ffff:193.0.6.139") == "NL"


def test_other_spellings_of_the_same_address() -> None:
    assert country_of(" 8.8.8.8\n") == "US"  # surrounding whitespace
    assert country_of("2001:4860:4860:0000:0000:0000:0000:8888") == "US"  # exploded
    assert country_of("2001:4860:4860::8888".upper()) == "US"
    assert country_of("2001:4860:4860::8888%1") == "US"  # a zone does not change the network


@pytest.mark.parametrize("address", NOT_PUBLIC)
def test_non_public_addresses_are_none(address: str) -> None:
    assert country_of(address) is None


@pytest.mark.parametrize("address", NOT_PUBLIC)
def test_non_public_addresses_never_reach_the_database(address: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The address filter is ours, not a gap in the data: even a database that knows them stays unasked."""

    def lookup(addr: str) -> str | None:
        raise AssertionError(f"database asked about {addr}")

    monkeypatch.setattr(geo, "_lookup", lookup)
    assert country_of(address) is None


@pytest.mark.parametrize("address", INVALID)
def test_invalid_strings_are_none(address: str) -> None:
    assert country_of(address) is None


def test_not_a_string_is_none() -> None:
    assert country_of(134744072) is None  # type: ignore[arg-type]  # 8.8.8.8 as an int
    assert country_of(None) is None  # type: ignore[arg-type]
    assert country_of(b"8.8.8.8") is None  # type: ignore[arg-type]


@pytest.mark.parametrize("answer", ["EU", "AP", "ZZ", "us", "U", "USA", "", "1A", "ÜS"])
def test_answers_that_name_no_country_are_none(answer: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(geo, "_lookup", lambda addr: answer)
    assert country_of("8.8.8.8") is None


@pytest.mark.parametrize("address", ["139.191.0.1", "145.218.0.1", "151.175.0.1", "158.67.0.1"])
def test_registry_eu_blocks_give_none(address: str) -> None:
    """The registries list some blocks of EU institutions under EU, which names no country."""
    if iptocc.country_code(address) != "EU":
        pytest.skip(f"this iptocc build no longer lists {address} under EU")
    assert country_of(address) is None


@given(st.one_of(st.ip_addresses(v=4), st.ip_addresses(v=6)))
@PROPERTY
def test_any_address_gives_none_or_a_country(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> None:
    for spelling in {str(ip), ip.exploded, str(ip).upper()}:
        code = country_of(spelling)
        assert code is None or (len(code) == 2 and code.isascii() and code.isalpha() and code.isupper())
        assert code not in NOT_COUNTRIES
        if code is not None:
            # only public addresses get a country, and it is the database's own answer
            looked_up = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped else ip
            assert looked_up.is_global
            assert iptocc.country_code(str(looked_up)) == code


@given(st.text())
@PROPERTY
def test_any_string_never_raises(text: str) -> None:
    code = country_of(text)
    assert code is None or (len(code) == 2 and code.isascii() and code.isupper())


@given(st.from_regex(r"\A[0-9a-fA-F:.%\[\] ]{0,50}\Z"))
@PROPERTY
def test_address_like_strings_never_raise(text: str) -> None:
    code = country_of(text)
    assert code is None or (len(code) == 2 and code.isascii() and code.isupper())


def test_import_does_not_load_the_database() -> None:
    """In a fresh interpreter: importing fairtrack.anonymise.geo opens nothing; non-public or invalid input does
    not either; the first real lookup does, once."""
    script = """
import sys
import fairtrack.anonymise.geo as geo
assert geo._lookup is None, "database opened at import"
assert "iptocc" not in sys.modules, "iptocc imported at import"
assert geo.country_of("10.0.0.1") is None and geo.country_of("not an address") is None
assert geo._lookup is None and "iptocc" not in sys.modules, "database opened for a non-public address"
assert geo.country_of("8.8.8.8") == "US"
first = geo._lookup
assert first is not None and "iptocc" in sys.modules
assert geo.country_of("2001:4860:4860::8888") == "US"
assert geo._lookup is first, "database opened twice"
print("ok")
"""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "layers" / "common"), os.environ.get("PYTHONPATH")])),
    }
    proc = subprocess.run(
        [sys.executable, "-c", script], check=False, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


def test_warm_opens_the_database(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(geo, "_lookup", None)
    geo.warm()
    assert geo._lookup is iptocc.country_code
    assert country_of("8.8.8.8") == "US"
