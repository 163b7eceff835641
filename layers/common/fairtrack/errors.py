"""Client errors: a status, a field path and a reason, never the submitted value nor a key the
client chose.

Submitted values may be personal data, so nothing here ever copies them: pydantic errors are
rendered from their location and message only (``include_input=False``). Keys may be personal data
too (a consent category named ``user_42_jane_doe``, an e-mail as a property name), so a path names
only fields of fairtrack's own models (:class:`~fairtrack.hit.Hit` and its context parts, the
Segment event, the consent receipt...): a key of an object the client fills with its own keys
(``properties``, ``traits``, ``categoryPreferences``, a context's extra keys...) is shown by its
position instead, ``<key #n>``, counted from 1 in the order the object was sent (``<key>`` where the
position is not known); a list item by its index from 0, ``[n]``. An error about the key itself
(too long, say) says so in its reason. Pydantic's union member tags never appear either.
"""

from __future__ import annotations

import re
import types
import typing
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Annotated, Any, Union

import typing_extensions
from pydantic import BaseModel, ValidationError

__all__ = [
    "EVENT_TOO_LARGE",
    "MAX_BATCH_EVENTS",
    "MAX_EVENT_BYTES",
    "TOO_MANY_EVENTS",
    "ClientError",
    "FieldError",
    "field_errors",
    "format_loc",
    "status_for",
]

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
        """``{"success": false, "code", "message"[, "fields"]}``: the shape Segment's and
        RudderStack's own APIs answer and their SDKs read (``payload["code"]``,
        ``payload["message"]``, top level). rudder-sdk-python reads nothing else: a body without
        them raises ``KeyError``, which its backoff takes for a network error and retries, where
        a 4xx it can read is given up at once."""
        out: dict[str, Any] = {"success": False, "code": self.code, "message": self.message}
        if self.errors:
            out["fields"] = [e.as_dict() for e in self.errors]
        return out


SAFE_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")  # a plain name (policy keys, pii findings)
KEY_ITSELF = "[key]"  # pydantic's location part for an error about a dict key, not its value


def _unwrap(tp: Any) -> Any:
    """``Annotated[X, ...]`` and ``X | None`` to ``X``; a union of several types stays a union."""
    while True:
        origin = typing.get_origin(tp)
        if origin is Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (Union, types.UnionType):
            members = [m for m in typing.get_args(tp) if m is not type(None)]
            if len(members) != 1:
                return tp
            tp = members[0]
        else:
            return tp


@lru_cache(maxsize=64)
def _fields(tp: Any) -> dict[str, Any] | None:
    """The declared fields of one of fairtrack's models (a pydantic model or a TypedDict) with their
    types, or ``None`` when ``tp`` is no model."""
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return {name: info.annotation for name, info in tp.model_fields.items()}
    if typing_extensions.is_typeddict(tp):  # fairtrack's are typing_extensions', as pydantic asks
        return typing_extensions.get_type_hints(tp, include_extras=True)
    return None


def _is_union(tp: Any) -> bool:
    return typing.get_origin(tp) in (Union, types.UnionType)


def format_loc(loc: tuple[int | str, ...], prefix: str = "", *, model: Any = None, data: Any = None) -> str:
    """A pydantic location as a path: ``("context", "page", "url")`` -> ``context.page.url``, list
    indexes as ``[n]``. ``model`` (the type validated) tells fields from keys: a part is named only
    when it is a field of the model at that place; any other key (one the client chose) becomes
    ``<key #n>``, its position in ``data`` (what was validated), or ``<key>``. Without ``model``
    no key is named."""
    path = prefix
    tp: Any = _unwrap(model) if model is not None else None
    node: Any = data
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
            node = node[part] if isinstance(node, list) and -len(node) <= part < len(node) else None
            args = typing.get_args(tp) if typing.get_origin(tp) in (list, tuple) else ()
            tp = _unwrap(args[0]) if args else None
            continue
        if part == KEY_ITSELF:
            continue  # the error is about the key already shown; field_errors says so in the reason
        fields = _fields(tp) if tp is not None else None
        if fields is not None and part in fields:
            shown = part
            tp = _unwrap(fields[part])
        elif _is_union(tp):
            tp = None  # a union member's tag (str, int, a model's name...): pydantic's word, not shown
            continue
        else:
            shown = "<key>"
            if isinstance(node, dict) and part in node:
                shown = f"<key #{list(node).index(part) + 1}>"
            args = typing.get_args(tp) if typing.get_origin(tp) is dict else ()
            tp = _unwrap(args[1]) if len(args) == 2 else None  # dict[K, V]
        node = node.get(part) if isinstance(node, dict) else None
        path = f"{path}.{shown}" if path else shown
    return path or "body"


def field_errors(exc: ValidationError, prefix: str = "", *, model: Any = None, data: Any = None) -> list[FieldError]:
    """A validation error's problems as field errors: paths by :func:`format_loc` (``model`` and
    ``data``: what was validated), reasons from pydantic's message, never the input. Problems that
    come out the same (two union members refusing one value) are given once."""
    out: list[FieldError] = []
    for err in exc.errors(include_input=False, include_url=False, include_context=False):
        loc = tuple(err["loc"])
        reason = err["msg"].removeprefix("Value error, ")
        if KEY_ITSELF in loc:
            reason = f"the key: {reason}"
        error = FieldError(format_loc(loc, prefix, model=model, data=data), reason)
        if error not in out:
            out.append(error)
    return out
