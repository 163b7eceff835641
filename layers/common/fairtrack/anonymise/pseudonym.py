"""Keyed pseudonyms for identifiers, and cookieless daily visitor ids.

- **Pseudonyms**: ``anonymousId``, ``userId``, ``groupId`` and ``previousId`` leave ingest only as
  ``HMAC-SHA256(key, kind + value)`` (128 bits, hex, prefixed ``p-``). The key is per deployment
  (Secrets Manager, read through Powertools with a cache): the same visitor keeps the same pseudonym,
  the raw id never leaves ingest, and without the key nobody can test a guess.
- **Cookieless ids**: without analytics consent a hit carries no usable id, yet counting visitors
  per day is legitimate. ``HMAC-SHA256(salt, source + full IP + user agent)`` (``d-`` prefix) where
  the salt is 32 random bytes made for the current UTC day, never derived from anything. It lives
  in the policy table (``salt#YYYY-MM-DD``, a TTL one hour after its day) and only in memory
  otherwise. Creating a day's salt deletes the previous day's, and only today's salt is ever
  served, so once a day is over its ids cannot be computed again by anyone.
"""

from __future__ import annotations

import hmac
import json
import secrets
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

__all__ = ["DailySalts", "Pseudonymiser", "salt_id", "secret_key"]

SALT_PREFIX = "salt#"


def _digest(key: bytes, *parts: str) -> str:
    message = "\x1f".join(parts).encode("utf-8", "surrogatepass")
    return hmac.digest(key, message, "sha256")[:16].hex()


class Pseudonymiser:
    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("the pseudonym key must hold at least 16 bytes")
        self._key = key

    def pseudonym(self, kind: str, value: str) -> str:
        return "p-" + _digest(self._key, kind, value)


def salt_id(day: date) -> str:
    return f"{SALT_PREFIX}{day.isoformat()}"


class DailySalts:
    """Today's random salt, created once per day by whichever container needs it first."""

    def __init__(self, table_name: str, client: Callable[[], Any], clock: Callable[[], datetime] | None = None) -> None:
        self.table_name = table_name
        self._client = client
        self._clock = clock or (lambda: datetime.now(UTC))
        self._day: date | None = None
        self._salt: bytes | None = None

    def today(self) -> date:
        return self._clock().astimezone(UTC).date()

    def salt(self) -> bytes:
        day = self.today()
        if self._day != day or self._salt is None:
            self._salt, self._day = self._load_or_create(day), day
        return self._salt

    def daily_id(self, source_id: str, full_ip: str, user_agent: str) -> str:
        return "d-" + _digest(self.salt(), source_id, full_ip, user_agent)

    def _load_or_create(self, day: date) -> bytes:
        client = self._client()
        key = {"id": {"S": salt_id(day)}}
        item = client.get_item(TableName=self.table_name, Key=key, ConsistentRead=True).get("Item")
        if item is not None:
            return bytes.fromhex(json.loads(item["value"]["S"])["salt"])
        salt = secrets.token_bytes(32)
        end_of_day = datetime.combine(day + timedelta(days=1), datetime.min.time(), UTC)
        try:
            client.put_item(
                TableName=self.table_name,
                Item={
                    **key,
                    "value": {"S": json.dumps({"salt": salt.hex()})},
                    "expires_at": {"N": str(int(end_of_day.timestamp()) + 3600)},
                },
                ConditionExpression="attribute_not_exists(id)",
            )
        except client.exceptions.ConditionalCheckFailedException:
            # another container made today's salt first: use theirs
            item = client.get_item(TableName=self.table_name, Key=key, ConsistentRead=True)["Item"]
            return bytes.fromhex(json.loads(item["value"]["S"])["salt"])
        # the day before is over: its salt goes now rather than when the TTL gets round to it
        client.delete_item(TableName=self.table_name, Key={"id": {"S": salt_id(day - timedelta(days=1))}})
        return salt


def secret_key(raw: str | bytes) -> bytes:
    """The pseudonym key from a secret's value (text or binary)."""
    return raw.encode() if isinstance(raw, str) else raw
