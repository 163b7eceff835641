"""The bounded memo (fairtrack.memo) and the lazy client attribute (fairtrack.stores.clients)."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from fairtrack.memo import Memo, keep
from fairtrack.stores.clients import LazyClient


def test_a_memo_keeps_what_it_is_given_until_full_then_starts_again() -> None:
    """Given a memo of three, when a fourth value is kept, then only the fourth remains; below the
    limit every value stays readable like a dict's."""
    memo: Memo[str, int] = Memo(3)
    for i, key in enumerate("abc"):
        assert memo.keep(key, i) == i
    assert dict(memo) == {"a": 0, "b": 1, "c": 2}

    assert memo.keep("d", 3) == 3

    assert dict(memo) == {"d": 3}
    assert memo.get("a") is None


def test_keep_bounds_a_plain_dict_the_same_way() -> None:
    cache: dict[str, int] = {"a": 0, "b": 1}
    keep(cache, "c", 2, limit=3)
    assert cache == {"a": 0, "b": 1, "c": 2}
    keep(cache, "d", 3, limit=3)
    assert cache == {"d": 3}


class Store:
    s3 = LazyClient("s3")

    def __init__(self, s3: Any = None) -> None:
        self._s3 = s3


def test_a_lazy_client_is_made_on_first_read_once_per_instance(monkeypatch: pytest.MonkeyPatch) -> None:
    """Given stores built without a client, then none is made until one is read; each store makes
    its own once, from boto3's default session; a store given a client keeps that one."""
    made: list[str] = []

    def client(service: str, *args: Any, **kwargs: Any) -> object:
        made.append(service)
        return object()

    monkeypatch.setattr(boto3, "client", client)
    first, second, given = Store(), Store(), Store(s3="injected")
    assert made == []

    assert first.s3 is first.s3
    assert second.s3 is not first.s3
    assert given.s3 == "injected"
    assert made == ["s3", "s3"]
    assert isinstance(Store.s3, LazyClient)
