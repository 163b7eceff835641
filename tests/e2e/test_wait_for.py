"""``Stack.wait_for`` cannot pass vacuously: a wait for a delivery that never comes fails the test
(issue 17), unless the test opts in to waiting out the time for an absence. No stack needed."""

from __future__ import annotations

from typing import Any

import pytest
from e2e_stack import Stack


class Quiet(Stack):
    """A stack whose destinations never receive anything."""

    def __init__(self) -> None:  # no process, no HTTP
        self.polls = 0

    def captured(self) -> dict[str, list[Any]]:
        self.polls += 1
        return {"ga4": [], "meta": [], "webhook": [], "lake": []}


def test_a_wait_that_runs_out_raises_and_names_what_it_waited_for() -> None:
    with pytest.raises(AssertionError, match=r"the hit in the lake.*'lake': 0"):
        Quiet().wait_for(lambda c: c["lake"], timeout=0.2, what="the hit in the lake")


def test_without_a_description_the_predicate_is_named() -> None:
    with pytest.raises(AssertionError, match=r'c\["webhook"\]'):
        Quiet().wait_for(lambda c: c["webhook"], timeout=0.2)


def test_waiting_for_an_absence_is_an_explicit_opt_in() -> None:
    stack = Quiet()
    got = stack.wait_for(lambda c: c["meta"], timeout=0.2, allow_timeout=True)

    assert got["meta"] == []
    assert stack.polls > 1  # it did wait out the time


def test_a_predicate_that_holds_returns_at_once() -> None:
    stack = Quiet()
    assert stack.wait_for(lambda c: c["lake"] == [], timeout=5)["lake"] == []
    assert stack.polls == 1
