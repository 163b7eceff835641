"""Bounded memos: what a warm function remembers between requests, kept from growing without end.

Most repeated work in the layer is memoised where it is done: a page's hits share their ids, URLs,
user agent and campaign; a container sees a few policy versions and purpose sets. Pure functions of
their arguments use :func:`functools.lru_cache` (``hit``, ``errors``, ``anonymise.useragent``).
The others use :class:`Memo`, because lru_cache does not fit them:

- they belong to an instance (the anonymiser, the policy store, the ingestor), which can drop them
  (``Anonymiser.forget``) and which tests build afresh; an lru_cache on a method is one cache for
  every instance, holding each instance alive;
- some keep an expiry with the value (the policy store's negative and suppression caches) or keep
  no value for some keys (a random message id cannot deduplicate);
- a hit must cost a dict lookup: an lru_cache call adds a function call and its LRU bookkeeping on
  every hit, where a Memo is a ``dict`` read and, on a miss, empties itself once full (the working
  set of a warm function is small, so a full memo is mostly stale entries).
"""

from __future__ import annotations

from typing import TypeVar

__all__ = ["Memo", "keep"]

K = TypeVar("K")
V = TypeVar("V")


class Memo(dict[K, V]):
    """A dict of at most ``limit`` entries that empties itself when full: read it with ``get`` (or
    ``in``), add to it with :meth:`keep`."""

    __slots__ = ("limit",)

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def keep(self, key: K, value: V) -> V:
        """Remember ``value`` for ``key`` (emptying the memo first when it is full); returns it."""
        return keep(self, key, value, self.limit)


def keep(memo: dict[K, V], key: K, value: V, limit: int) -> V:
    """:meth:`Memo.keep` for a plain dict another module owns (emptied once it holds ``limit``)."""
    if len(memo) >= limit:
        memo.clear()
    memo[key] = value
    return value
