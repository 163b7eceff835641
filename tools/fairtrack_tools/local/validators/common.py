"""What the GA4 and Meta judges share: value kinds, JSON size, and how a value is shown in a message."""

from __future__ import annotations

import ipaddress
import json
import math
import re
from datetime import UTC, datetime, timedelta
from typing import Any, Final

NAME_RE: Final = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_HEX64_RE: Final = re.compile(r"[0-9a-f]{64}")
HEX32_RE: Final = re.compile(r"[0-9A-Fa-f]{32}")
CURRENCY_RE: Final = re.compile(r"[A-Za-z]{3}")
FBC_RE: Final = re.compile(r"fb\.[0-2]\.[0-9]+\.\S+")
FBP_RE: Final = re.compile(r"fb\.[0-2]\.[0-9]+\.[0-9]+")
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


# -- shared helpers ----------------------------------------------------------------------------------


def since_epoch(now: datetime | None) -> timedelta:
    """``now`` (default: the current time) as time since the Unix epoch; a naive ``now`` is UTC."""
    moment = datetime.now(UTC) if now is None else now
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment - _EPOCH


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, float) and math.isfinite(value)


def is_name(value: Any) -> bool:
    return isinstance(value, str) and NAME_RE.fullmatch(value) is not None


def is_hex64(value: Any) -> bool:
    return isinstance(value, str) and _HEX64_RE.fullmatch(value) is not None


def shown(value: Any) -> str:
    """A short rendering of an offending name or value for a description (never a whole structure)."""
    if isinstance(value, str):
        return value if len(value) <= 60 else value[:57] + "..."
    if value is None or isinstance(value, bool | int | float):
        text = repr(value)
        return text if len(text) <= 60 else text[:57] + "..."
    return f"<{type(value).__name__}>"


def kind_of(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def json_size(body: Any) -> int | None:
    try:
        text = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        return None
    return len(text.encode("utf-8", "surrogatepass"))


def is_member(value: Any, allowed: frozenset[str]) -> bool:
    """``value in allowed`` for a string, False otherwise (an unhashable value would raise)."""
    return isinstance(value, str) and value in allowed


def is_ip(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True
