"""The local stack as the e2e tests drive it: a ``fairtrack dev`` subprocess over HTTP, and operator
commands against it. A module of its own (not conftest) so that test modules import it by a name
no other test folder uses."""

from __future__ import annotations

import inspect
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Stack:
    def __init__(self, base: str, proc: subprocess.Popen[str]) -> None:
        self.base = base
        self.proc = proc

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        req = urllib.request.Request(self.base + path, data=body, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                raw = resp.read()
                status = resp.status
        except urllib.error.HTTPError as err:
            raw, status = err.read(), err.code
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, raw.decode()

    def pseudonym(self, kind: str, raw: str) -> str:
        """What the stack's ingest makes of an identifier (its pseudonym key, read from moto)."""
        import boto3

        from fairtrack.anonymise.pseudonym import Pseudonymiser, secret_key

        env = self.request("GET", "/_dev/aws")[1]
        client = boto3.client(
            "secretsmanager",
            endpoint_url=env["endpoint_url"],
            region_name=env["region"],
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )
        key = client.get_secret_value(SecretId="fairtrack-local-PseudonymSecret")["SecretString"]
        return Pseudonymiser(secret_key(key)).pseudonym(kind, raw)

    def captured(self) -> dict[str, list[Any]]:
        result: dict[str, list[Any]] = self.request("GET", "/_dev/captured")[1]
        return result

    def wait_for(
        self, predicate: Any, timeout: float = 5.0, *, what: str | None = None, allow_timeout: bool = False
    ) -> dict[str, list[Any]]:
        """Poll what the destinations captured until ``predicate`` holds, and return it. When it
        still does not hold after ``timeout`` seconds this raises AssertionError naming what was
        waited for (``what``, else the predicate's source) and how much each destination got, so a
        test that waits for a delivery fails when the delivery never comes (a request refused with
        a 401, say). ``allow_timeout=True`` is the explicit opt-in for a wait that may run out, for
        a test that waits out the time for something *not* to arrive: then the capture at the
        deadline is returned."""
        deadline = time.monotonic() + timeout
        while True:
            got = self.captured()
            if predicate(got):
                return got
            if time.monotonic() > deadline:
                if allow_timeout:
                    return got
                counts = {name: len(items) for name, items in got.items()}
                raise AssertionError(
                    f"waited {timeout} s for {what or _describe(predicate)}; it never held. Captured: {counts}"
                )
            time.sleep(0.1)


def _describe(predicate: Any) -> str:
    """A predicate as its source line(s), for a failure message."""
    try:
        return " ".join(inspect.getsource(predicate).split())
    except (OSError, TypeError):
        return repr(predicate)


def fairtrack(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    """``fairtrack <args> --local <stack>``: an operator command against the running local stack."""
    return subprocess.run(
        [sys.executable, "-m", "fairtrack_tools.ops.cli", *args, "--local", stack.base],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "PYTHONPATH": str(ROOT / "tools") + os.pathsep + str(ROOT / "layers/common")},
    )
