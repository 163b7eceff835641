"""Test helpers for the tests that run the local stack in this process (:class:`DevStack`, what
``fairtrack dev`` runs): start it, and poll what it does asynchronously."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator

from fairtrack_tools.local.stack import DevStack


@contextlib.contextmanager
def running_dev_stack() -> Iterator[DevStack]:
    """The local stack on free ports, its API serving, stopped afterwards."""
    stack = DevStack(port=0, quiet=True).start()
    assert stack.api is not None
    stack.api.start()
    try:
        yield stack
    finally:
        stack.stop()


def eventually(predicate: Callable[[], bool], timeout: float = 10.0, interval: float = 0.2) -> bool:
    """Whether ``predicate`` comes true within ``timeout`` seconds (asked every ``interval`` seconds,
    and once more at the end)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()
