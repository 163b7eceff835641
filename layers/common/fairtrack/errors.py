"""Client errors: a status, a field path and a reason, never the submitted value.

Submitted values may be personal data, so nothing here ever copies them: pydantic errors are
rendered from their location and message only (``include_input=False``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

MAX_EVENT_BYTES = 32 * 1024
EVENT_TOO_LARGE = f"event larger than {MAX_EVENT_BYTES // 1024} KB"  # answered 413 when nothing else is wrong
MAX_BATCH_EVENTS = 2500
TOO_MANY_EVENTS = f"more than {MAX_BATCH_EVENTS} events"  # answered 413
SIZE_REASONS = frozenset({EVENT_TOO_LARGE, TOO_MANY_EVENTS})


def status_for(errors: list[FieldError]) -> int:
    """413 when every problem is a size limit, else 400."""
    return 413 if errors and all(e.reason in SIZE_REASONS for e in errors) else 400


@dataclass(frozen=True)
class FieldError:
    path: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"path": self.path, "reason": self.reason}


@dataclass
class ClientError(Exception):
    """A request fairtrack refuses as a whole (bad JSON, wrong key, too large)."""

    status: int
    code: str
    message: str
    errors: list[FieldError] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)  # e.g. CORS headers for an allowed origin

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"success": False, "error": {"code": self.code, "message": self.message}}
        if self.errors:
            out["error"]["fields"] = [e.as_dict() for e in self.errors]
        return out


SAFE_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")


def format_loc(loc: tuple[int | str, ...], prefix: str = "") -> str:
    """``("context", "page", "url")`` -> ``context.page.url``; ints become ``[n]``. A part that a
    client may have chosen and that does not look like a plain field name (an e-mail used as a
    key) is shown as ``<key>``."""
    path = prefix
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            shown = part if SAFE_KEY.match(part) else "<key>"
            path = f"{path}.{shown}" if path else shown
    return path or "body"


def field_errors(exc: ValidationError, prefix: str = "") -> list[FieldError]:
    return [
        FieldError(format_loc(tuple(err["loc"]), prefix), err["msg"].removeprefix("Value error, "))
        for err in exc.errors(include_input=False, include_url=False, include_context=False)
    ]
