"""``fairtrack smoke`` against the local stack: green when every forwarder runs, red naming the lake
when the lake forwarder's poller is stopped (a second local stack, started here, whose lake poller
is stopped before the check runs)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_stack import ROOT, Stack, fairtrack, free_port

pytestmark = pytest.mark.e2e

# `fairtrack dev`, with the lake forwarder's poller stopped once the stack is up (the others run)
NO_LAKE_POLLER = """
import sys, threading
from fairtrack_tools.local.stack import DevStack

stack = DevStack(port=int(sys.argv[1]), quiet=True, debug_view=False).start()
for poller in stack.pollers:
    if poller.source.function == "LakeForwarderFunction":
        poller.stop_event = threading.Event()
        poller.stop_event.set()
        poller.thread.join(timeout=10)
        print("lake poller stopped:", not poller.thread.is_alive(), flush=True)
stack.serve_forever()
"""


def _sources(stack: Stack) -> list[str]:
    listed = fairtrack(stack, "source", "list")
    assert listed.returncode == 0, listed.stderr
    return [s["source_id"] for s in json.loads(listed.stdout)]


def test_smoke_passes_on_the_local_stack_and_removes_its_source(stack: Stack) -> None:
    before = _sources(stack)
    result = fairtrack(stack, "smoke", "--timeout", "40")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert any(line.startswith("ingest: ok") for line in lines), result.stdout
    assert any(line.startswith("lake: ok") for line in lines), result.stdout
    assert any(line.startswith("webhook: ok, delivery in the decision log") for line in lines), result.stdout
    assert lines[-1] == "smoke: ok"
    assert "ftk_" not in result.stdout + result.stderr  # the write key is never printed
    assert _sources(stack) == before  # the temporary source is gone
    # and its lake records: nothing of a smoke source is left in the lake
    lake = stack.captured()["lake"]
    assert not [r for r in lake if str(r.get("source", "")).startswith("smoke-")]


@pytest.fixture
def stack_without_lake_poller(tmp_path: Path) -> Iterator[Stack]:
    port = free_port()
    log = tmp_path / "stack.log"
    script = tmp_path / "no_lake_poller.py"
    script.write_text(NO_LAKE_POLLER)
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, str(script), str(port)],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT / "tools") + os.pathsep + str(ROOT / "layers/common")},
        )
        deadline = time.monotonic() + 60
        while "local stack is running" not in log.read_text():
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail("local stack did not start:\n" + log.read_text())
            time.sleep(0.2)
        assert "lake poller stopped: True" in log.read_text(), log.read_text()
        try:
            yield Stack(f"http://127.0.0.1:{port}", proc)
        finally:
            proc.send_signal(2)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()


def test_smoke_fails_naming_the_lake_when_its_forwarder_does_not_run(stack_without_lake_poller: Stack) -> None:
    stack = stack_without_lake_poller
    result = fairtrack(stack, "smoke", "--timeout", "8")
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    lake = next(line for line in lines if line.startswith("lake:"))
    assert lake.startswith("lake: FAILED, no record within 8 s; the lake forwarder's queue holds 1 message"), lake
    assert any(line.startswith("webhook: ok") for line in lines), result.stdout  # the other forwarders ran
    assert lines[-1] == "smoke: FAILED (lake)"
    assert not [s for s in _sources(stack) if s.startswith("smoke-")]  # removed even when a check failed
