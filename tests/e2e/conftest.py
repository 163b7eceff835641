"""End-to-end: the local stack started as a subprocess (``fairtrack dev``), driven over HTTP."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from e2e_stack import ROOT, Stack, free_port


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    port = free_port()
    log = tmp_path_factory.mktemp("stack") / "stack.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "fairtrack_tools.ops.cli", "dev", "--port", str(port)],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT / "tools") + os.pathsep + str(ROOT / "layers/common")},
        )
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail("local stack exited:\n" + log.read_text())
            if "local stack is running" in log.read_text():
                break
            time.sleep(0.2)
        else:
            proc.kill()
            pytest.fail("local stack did not start:\n" + log.read_text())
        stack = Stack(base, proc)
        stack.log = log  # type: ignore[attr-defined]
        try:
            yield stack
        finally:
            proc.send_signal(2)  # Ctrl-C
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                raise


@pytest.fixture
def clean(stack: Stack) -> Stack:
    stack.request("DELETE", "/_dev/captured")
    return stack
