"""The canonical hit: what every protocol adapter produces and every later stage consumes.

The spine carries the Segment/RudderStack shape (the native format), so that a forwarded event
looks like what the client sent, minus what the policy does not allow. Field by field:

- ``type``: ``track`` | ``page`` | ``screen`` | ``identify`` | ``group`` | ``alias``.
- ``event``: the event name (``track``); ``name``: the page or screen name.
- ``messageId``: the client's dedup id, or a server-made UUID when the client sent none.
- ``anonymousId`` / ``userId``: identifiers as sent (pseudonymised by the anonymisation stage);
  ``groupId`` (group) and ``previousId`` (alias) likewise.
- ``timestamp``: when it happened, corrected for the client clock:
  ``receivedAt - (sentAt - originalTimestamp)`` when the client sent both, else as sent, else
  ``receivedAt``.
- ``receivedAt``: when the gateway received the request (API Gateway's request time).
- ``context``: the client context (page, locale, library, campaign...); ``context.ip`` holds the
  *truncated* address only, never the full one.
- ``properties`` (track/page/screen) and ``traits`` (identify/group).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

EventType = Literal["track", "page", "screen", "identify", "group", "alias"]


def iso(ts: datetime) -> str:
    """UTC ISO 8601 with milliseconds and a ``Z``, as Segment writes timestamps."""
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


class Hit(BaseModel):
    model_config = ConfigDict(frozen=True)

    type: EventType
    messageId: str
    timestamp: datetime
    receivedAt: datetime
    event: str | None = None
    name: str | None = None
    anonymousId: str | None = None
    userId: str | None = None
    groupId: str | None = None
    previousId: str | None = None
    context: dict[str, Any] = {}
    properties: dict[str, Any] = {}
    traits: dict[str, Any] = {}

    def to_payload(self) -> dict[str, Any]:
        """The hit as a JSON-ready dict, leaving out what is absent or empty."""
        out: dict[str, Any] = {"type": self.type, "messageId": self.messageId}
        for key in ("event", "name", "anonymousId", "userId", "groupId", "previousId"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        out["timestamp"] = iso(self.timestamp)
        out["receivedAt"] = iso(self.receivedAt)
        for key in ("context", "properties", "traits"):
            value = getattr(self, key)
            if value:
                out[key] = value
        return out
