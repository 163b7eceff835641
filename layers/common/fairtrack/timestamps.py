"""Timestamps as fairtrack writes them. Stdlib only: the forwarders need this without importing
the hit models of :mod:`fairtrack.hit` (building their pydantic schemas costs a cold start)."""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["iso"]


def iso(ts: datetime) -> str:
    """UTC ISO 8601 with milliseconds and a ``Z``, as Segment writes timestamps."""
    text = ts.isoformat(timespec="milliseconds")
    if text.endswith("+00:00"):  # already UTC (the usual case): no conversion
        return text[:-6] + "Z"
    return ts.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"
