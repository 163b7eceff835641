"""The local Lambda runtime: handler output never corrupts the protocol; a dead container is replaced."""

from __future__ import annotations

from pathlib import Path

import pytest

from fairtrack_tools.local.runtime import RECENT_INVOCATIONS, FunctionError, FunctionPool, FunctionSpec, Worker

HANDLER = """
import os

COLD = {"count": 0}


def handler(event, context):
    print("a handler printing to stdout must not break the protocol")
    COLD["count"] += 1
    if event.get("die"):
        os._exit(3)
    if event.get("raise"):
        raise RuntimeError("secret value jane.doe@example.com")
    return {"echo": event, "invocations": COLD["count"], "name": context.function_name,
            "env": os.environ.get("DESTINATION")}
"""

SLEEPER = """

def sleeper(event, context):
    import time

    time.sleep(event.get("sleep", 0))
    if event.get("raise"):
        raise RuntimeError("failed")
    return {}
"""


@pytest.fixture
def worker(tmp_path: Path) -> Worker:
    (tmp_path / "sample_handler.py").write_text(HANDLER)
    spec = FunctionSpec("SampleFunction", tmp_path, "sample_handler.handler", {"DESTINATION": "lake"}, 3.0, 128, ())
    w = Worker(spec, {}, quiet=True)
    yield w  # type: ignore[misc]
    w.stop()


def test_invocations_share_a_warm_container(worker: Worker) -> None:
    first = worker.invoke({"n": 1})
    second = worker.invoke({"n": 2})
    assert first == {"echo": {"n": 1}, "invocations": 1, "name": "SampleFunction", "env": "lake"}
    assert second["invocations"] == 2


def test_handler_error_is_a_function_error_and_the_container_survives(worker: Worker) -> None:
    with pytest.raises(FunctionError) as err:
        worker.invoke({"raise": True})
    assert err.value.error_type == "RuntimeError"
    assert worker.invoke({})["invocations"] == 2  # the container survives a handler error


def test_a_dead_container_is_replaced_by_a_cold_one(worker: Worker) -> None:
    worker.invoke({})
    with pytest.raises(FunctionError) as err:
        worker.invoke({"die": True})
    assert err.value.error_type == "Runtime.ExitError"
    assert worker.invoke({})["invocations"] == 1


def test_each_invocation_is_timed_and_kept_per_worker(tmp_path: Path) -> None:
    """Given a pool's invocations, then each is recorded with the handler's wall time (a handler
    that sleeps 30 ms takes at least that, and spends far less CPU), oldest first, failures
    included, at most RECENT_INVOCATIONS per worker; forget() empties the record."""
    (tmp_path / "sample_handler.py").write_text(HANDLER + SLEEPER)
    spec = FunctionSpec("SampleFunction", tmp_path, "sample_handler.sleeper", {}, 3.0, 128, ())
    pool = FunctionPool(spec, {}, size=1, quiet=True)
    try:
        pool.invoke({"sleep": 0.03})
        pool.invoke({})
        with pytest.raises(FunctionError):
            pool.invoke({"raise": True})
        recent = pool.recent()
        assert [i.ok for i in recent] == [True, True, False]
        slept, quick = recent[0], recent[1]
        assert slept.wall_ms >= 30
        assert slept.cpu_ms < slept.wall_ms / 2
        assert quick.wall_ms < slept.wall_ms
        assert recent[0].at <= recent[1].at <= recent[2].at
        pool.forget()
        assert pool.recent() == []
        for _ in range(RECENT_INVOCATIONS + 5):
            pool.invoke({})
        assert len(pool.recent()) == RECENT_INVOCATIONS
    finally:
        pool.stop()
