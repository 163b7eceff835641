"""Keyed pseudonyms and cookieless daily ids (fairtrack.anonymise.pseudonym)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root, for `bench`

from bench.fakes import MemorySalts
from fairtrack.anonymise.pseudonym import DailySalts, Pseudonymiser, salt_id

KEY = b"k" * 32


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 24, 23, 59, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def salts_with(clock: Clock) -> MemorySalts:
    salts = MemorySalts()
    salts._clock = clock
    return salts


@settings(max_examples=200, deadline=None)
@given(value=st.text(min_size=1, max_size=60), kind=st.sampled_from(["anonymousId", "userId"]))
def test_pseudonym_is_stable_keyed_and_never_holds_the_id(value: str, kind: str) -> None:
    one, again = Pseudonymiser(KEY).pseudonym(kind, value), Pseudonymiser(KEY).pseudonym(kind, value)

    assert one == again
    assert one != Pseudonymiser(b"x" * 32).pseudonym(kind, value)  # another deployment, another pseudonym
    assert one.startswith("p-") and len(one) == 34
    assert value not in one[2:] or len(value) < 4


def test_the_kind_separates_pseudonyms() -> None:
    p = Pseudonymiser(KEY)
    assert p.pseudonym("anonymousId", "42") != p.pseudonym("userId", "42")


def test_a_short_key_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 16 bytes"):
        Pseudonymiser(b"short")


def test_same_visitor_same_day_same_id_next_day_another() -> None:
    clock = Clock()
    salts = salts_with(clock)
    today = salts.daily_id("web", "203.0.113.77", "Mozilla/5.0")

    assert salts.daily_id("web", "203.0.113.77", "Mozilla/5.0") == today
    assert salts.daily_id("web", "203.0.113.78", "Mozilla/5.0") != today
    assert salts.daily_id("shop", "203.0.113.77", "Mozilla/5.0") != today
    clock.now += timedelta(minutes=2)  # past midnight UTC
    assert salts.daily_id("web", "203.0.113.77", "Mozilla/5.0") != today


def test_after_its_day_an_earlier_cookieless_id_cannot_be_produced_again() -> None:
    clock = Clock()
    salts = salts_with(clock)
    yesterday_id = salts.daily_id("web", "198.51.100.1", "UA")
    day_one = salts.today()
    clock.now += timedelta(minutes=2)
    salts.daily_id("web", "198.51.100.1", "UA")  # the new day's salt is made...

    table = salts._table.items
    assert salt_id(day_one) not in table  # ...and the old one deleted, not left for the TTL
    assert list(table) == [salt_id(salts.today())]
    # a fresh container, or anyone reading the table, can only get today's salt: no way back
    other = salts_with(clock)
    other._table = salts._table
    assert other.daily_id("web", "198.51.100.1", "UA") != yesterday_id
    assert all(yesterday_id != salts.daily_id("web", "198.51.100.1", "UA") for _ in range(3))


def test_two_containers_share_the_days_salt() -> None:
    clock = Clock()
    first = salts_with(clock)
    second = salts_with(clock)
    second._table = first._table

    assert first.daily_id("web", "192.0.2.1", "UA") == second.daily_id("web", "192.0.2.1", "UA")


def test_the_salt_item_expires_an_hour_after_its_day() -> None:
    clock = Clock()
    salts = salts_with(clock)
    salts.salt()

    item = salts._table.items[salt_id(salts.today())]
    assert int(item["expires_at"]["N"]) == int(datetime(2026, 11, 25, 1, 0, tzinfo=UTC).timestamp())


def test_daily_salts_is_the_production_class() -> None:
    assert issubclass(MemorySalts, DailySalts)
