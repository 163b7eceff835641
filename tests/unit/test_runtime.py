"""The local Lambda runtime: handler output never corrupts the protocol; a dead container is replaced."""

from __future__ import annotations

from pathlib import Path

import pytest

from fairtrack_tools.runtime import FunctionError, FunctionSpec, Worker

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
