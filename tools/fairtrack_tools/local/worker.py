"""A local Lambda runtime: one subprocess per function container, like a warm Lambda sandbox.

The parent starts ``python -m fairtrack_tools.local.worker <handler>`` with the function's environment
(resolved from template.yaml) and ``PYTHONPATH`` set to the layer and the function's code, then
writes one JSON line per invocation to stdin. The answer comes back as one JSON line on a private
pipe (the original stdout); the handler's own stdout, where Powertools logs, goes to stderr.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import sys
import time
import traceback
import uuid
from typing import Any


class LocalContext:
    """The parts of the Lambda context object handlers and Powertools read."""

    def __init__(self, function_name: str, timeout_s: float, memory_mb: int) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = memory_mb
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def main() -> None:
    handler_path = sys.argv[1]
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle; we stop when stdin closes
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # anything the handler prints goes to stderr, never onto the protocol pipe
    sys.stdout = sys.stderr
    module_name, func_name = handler_path.rsplit(".", 1)
    try:
        handler = getattr(importlib.import_module(module_name), func_name)
    except Exception as exc:  # noqa: BLE001 - an init error is reported like Lambda does
        init_error: dict[str, Any] | None = {
            "ok": False,
            "errorType": type(exc).__name__,
            "errorMessage": "init failed",
            "trace": traceback.format_exc(),
        }
    else:
        init_error = None
    name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", module_name)
    timeout = float(os.environ.get("AWS_LAMBDA_FUNCTION_TIMEOUT", "30"))
    memory = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512"))
    for line in sys.stdin:
        if not line.strip():
            continue
        if init_error is not None:
            proto.write(json.dumps(init_error) + "\n")
            continue
        event = json.loads(line)
        # the handler's own time, as Lambda's REPORT line gives it (Duration), and the CPU the
        # process spent in it (every thread): what the runtime's pools keep of each invocation
        wall0, cpu0 = time.perf_counter_ns(), time.process_time_ns()
        try:
            result = handler(event, LocalContext(name, timeout, memory))
            answer: dict[str, Any] = {"ok": True, "result": result}
        except Exception as exc:  # noqa: BLE001 - reported to the caller as a function error
            answer = {"ok": False, "errorType": type(exc).__name__, "trace": traceback.format_exc()}
        answer["durationNs"] = time.perf_counter_ns() - wall0
        answer["cpuNs"] = time.process_time_ns() - cpu0
        proto.write(json.dumps(answer, default=str) + "\n")


if __name__ == "__main__":
    main()
