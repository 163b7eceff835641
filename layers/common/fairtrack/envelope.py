"""The queue message between ingest and a forwarder: one per destination per request (or per chunk)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from fairtrack.settings import Destination

__all__ = ["Envelope", "RoutedEvent"]


class RoutedEvent(BaseModel):
    model_config = ConfigDict(frozen=True)

    purposes: list[str]
    event: dict[str, Any]


class Envelope(BaseModel):
    model_config = ConfigDict(frozen=True)

    v: Literal[1] = 1
    destination: Destination
    source_id: str
    policy_version: int
    events: list[RoutedEvent]
    # decision-log rows ingest carries to the lake forwarder: counts of the destinations it skipped
    # for this request's hits (purpose not granted, bot, quarantine, suppression), no ids, no values
    decisions: list[dict[str, Any]] = []
