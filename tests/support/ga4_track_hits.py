"""Test helper: the canonical track hit the GA4 mapping tests start from (as the forwarder receives
it), with fields overridden; a field given as None is left out."""

from __future__ import annotations

from typing import Any


def track_hit(**fields: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": "track",
        "messageId": "e-1",
        "timestamp": "2026-11-25T10:00:00.123Z",
        "receivedAt": "2026-11-25T10:00:01.000Z",
        "event": "Button Clicked",
        "anonymousId": "p-3f2a",
    }
    event.update(fields)
    return {k: v for k, v in event.items() if v is not None}
