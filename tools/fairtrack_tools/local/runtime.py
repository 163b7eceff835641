"""Runs a function from template.yaml in worker subprocesses, the way a Lambda sandbox would."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[3]
RECENT_INVOCATIONS = 1000  # how many of its latest invocations each worker keeps


@dataclass(frozen=True)
class Invocation:
    """One invocation as the worker timed it around the handler: wall time (what Lambda bills as
    Duration), the CPU the worker process spent in that time (all its threads), and whether the
    handler returned. ``at`` orders invocations across the workers of a pool."""

    at: float  # time.monotonic() when the answer arrived
    wall_ms: float
    cpu_ms: float
    ok: bool


class FunctionError(Exception):
    def __init__(self, error_type: str, trace: str) -> None:
        super().__init__(error_type)
        self.error_type = error_type
        self.trace = trace


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    code_dir: Path
    handler: str
    environment: dict[str, str]
    timeout: float
    memory: int
    layer_dirs: tuple[Path, ...]

    def process_env(self, aws_env: dict[str, str]) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_"))}
        env.update(aws_env)
        env.update(self.environment)
        env.update(
            {
                "AWS_LAMBDA_FUNCTION_NAME": self.logical_id,
                "AWS_LAMBDA_FUNCTION_TIMEOUT": str(self.timeout),
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(self.memory),
                "PYTHONPATH": os.pathsep.join(
                    [str(self.code_dir), *map(str, self.layer_dirs), str(PROJECT_ROOT / "tools")]
                ),
                "PYTHONUNBUFFERED": "1",
            }
        )
        return env


class Worker:
    """One warm container: a subprocess that handles one invocation at a time."""

    def __init__(self, spec: FunctionSpec, aws_env: dict[str, str], quiet: bool = False) -> None:
        self.spec = spec
        self.aws_env = aws_env
        self.quiet = quiet
        self.recent: deque[Invocation] = deque(maxlen=RECENT_INVOCATIONS)
        self.proc = self._spawn()

    def _spawn(self) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "fairtrack_tools.local.worker", self.spec.handler],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL if self.quiet else None,
            env=self.spec.process_env(self.aws_env),
            cwd=str(self.spec.code_dir),
            text=True,
            bufsize=1,
        )

    def invoke(self, event: dict[str, Any]) -> Any:
        if self.proc.poll() is not None:  # the container died: the next invocation gets a cold one
            self.proc = self._spawn()
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(event) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            # stdout closed: the process is exiting; reap it so the next invocation sees it dead
            # (poll() can still say "running" for a moment after the pipe closes)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            raise FunctionError("Runtime.ExitError", f"{self.spec.logical_id} worker exited")
        answer = json.loads(line)
        if "durationNs" in answer:  # not after an init error: no handler ran
            self.recent.append(
                Invocation(
                    at=time.monotonic(),
                    wall_ms=int(answer["durationNs"]) / 1e6,
                    cpu_ms=int(answer.get("cpuNs", 0)) / 1e6,
                    ok=bool(answer.get("ok")),
                )
            )
        if not answer.get("ok"):
            raise FunctionError(answer.get("errorType", "Error"), answer.get("trace", ""))
        return answer["result"]

    def stop(self) -> None:
        if self.proc.poll() is None:
            if self.proc.stdin:
                self.proc.stdin.close()
            try:
                self.proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                self.proc.kill()


class FunctionPool:
    """Up to ``size`` warm workers for one function; callers block while all are busy."""

    def __init__(self, spec: FunctionSpec, aws_env: dict[str, str], size: int = 1, quiet: bool = False):
        self.spec = spec
        self._idle: queue.Queue[Worker] = queue.Queue()
        self._all = [Worker(spec, aws_env, quiet) for _ in range(size)]
        for w in self._all:
            self._idle.put(w)

    def invoke(self, event: dict[str, Any]) -> Any:
        worker = self._idle.get()
        try:
            return worker.invoke(event)
        finally:
            self._idle.put(worker)

    def recent(self) -> list[Invocation]:
        """The latest invocations of every worker of the pool, oldest first (each worker keeps
        :data:`RECENT_INVOCATIONS`)."""
        return sorted((i for w in self._all for i in list(w.recent)), key=lambda i: i.at)

    def forget(self) -> None:
        """Drop the invocations recorded so far (a bench's warm-up)."""
        for w in self._all:
            w.recent.clear()

    def stop(self) -> None:
        for w in self._all:
            w.stop()
