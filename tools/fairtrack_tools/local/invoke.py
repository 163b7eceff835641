"""``fairtrack invoke``: one function, one event file, one response, like ``sam local invoke``.

Runs in an ephemeral local cloud (moto, resources from template.yaml, seeded policy, capture
servers) so that the function's AWS calls and HTTP deliveries land somewhere real; the response
goes to stdout and, on stderr, what the queues and destinations received.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from fairtrack_tools.local.localcloud import LocalCloud
from fairtrack_tools.local.runtime import FunctionError, Worker


def run(logical_id: str, event: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    cloud = LocalCloud().start()
    try:
        specs = cloud.functions()
        if logical_id not in specs:
            raise SystemExit(f"no function {logical_id!r} in template.yaml (have: {', '.join(sorted(specs))})")
        worker = Worker(specs[logical_id], cloud.aws_env)
        try:
            response = worker.invoke(event)
        finally:
            worker.stop()
        effects = {"queues": cloud.queue_depths(), "captured": cloud.captured()}
        return response, effects
    finally:
        cloud.stop()


def invoke(logical_id: str, event_path: Path, show_captured: bool = True) -> int:
    event = json.loads(event_path.read_text())
    try:
        response, effects = run(logical_id, event)
    except FunctionError as exc:
        print(json.dumps({"errorType": exc.error_type}), flush=True)
        sys.stderr.write(exc.trace)
        return 1
    print(json.dumps(response, indent=2), flush=True)
    if show_captured:
        sys.stderr.write("side effects: " + json.dumps(effects, indent=2) + "\n")
    return 0
