"""Walking nested values (properties, traits) for personal data: ``scan`` redacts, drops or only
reports what it finds, key by key, with value-free paths."""

from __future__ import annotations

import re
from collections.abc import Callable
from itertools import islice
from typing import Any, Final, Literal, NamedTuple

from fairtrack.anonymise.pii.detect import MARKERS, _apply, _detect, _kinds
from fairtrack.anonymise.pii.fields import is_known_pii_field
from fairtrack.anonymise.pii.patterns import _is_card_number

__all__ = ["FIELD_MARKER", "Action", "Finding", "scan"]

Action = Literal["redact", "drop", "quarantine"]


FIELD_MARKER: Final = "[redacted]"  # a known personal-data field's value, under scan(by_name=True)

# -- scanning nested values -----------------------------------------------------------------------


class Finding(NamedTuple):
    """``path``: where (key names and ``[i]`` list indexes; never a value); ``kind``: one of the
    kinds above, ``field`` (a known personal-data field, with ``by_name``) or ``depth`` (a
    container nested deeper than ``max_depth``, not inspected)."""

    path: str
    kind: str


_SAFE_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,63}")
_DROP: Final = object()
_CARD_INT_MIN, _CARD_INT_MAX = 10**12, 10**19
_CONTAINERS = (dict, list, tuple)
_WALKED = (dict, list, tuple, int)  # besides str


def _child(path: str, key: Any, found: bool) -> str:
    name = key if isinstance(key, str) and not found and _SAFE_KEY.fullmatch(key) else "<key>"
    return f"{path}.{name}" if path else name


class _Walker:
    __slots__ = ("action", "by_name", "findings", "max_depth")

    def __init__(self, action: Action, max_depth: int, by_name: Callable[[str], bool] | None) -> None:
        self.action = action
        self.max_depth = max_depth
        self.by_name = by_name
        self.findings: list[Finding] = []

    def _found(self, value: Any, path: str, kinds: list[str], redacted: Any) -> Any:
        self.findings.extend(Finding(path, kind) for kind in kinds)
        if self.action == "redact":
            return redacted
        return _DROP if self.action == "drop" else value

    def walk(self, value: Any, path: str, depth: int) -> Any:
        """``value`` after the action (``_DROP`` to remove it); paths are built only when needed."""
        if isinstance(value, str):
            spans = _detect(value)
            return self._found(value, path, _kinds(spans), _apply(value, spans)) if spans else value
        if isinstance(value, _CONTAINERS):
            if depth >= self.max_depth:
                return self._found(value, path, ["depth"], _DROP)
            if isinstance(value, dict):
                return self.mapping(value, path, depth + 1)
            return self.sequence(value, path, depth + 1)
        if type(value) is int and _CARD_INT_MIN <= value < _CARD_INT_MAX and _is_card_number(str(value)):
            return self._found(value, path, ["card"], MARKERS["card"])
        return value

    def mapping(self, value: dict[Any, Any], path: str, depth: int) -> Any:
        out: dict[Any, Any] | None = None
        by_name = self.by_name
        for index, (key, item) in enumerate(value.items()):
            new_key: Any = key
            child: str | None = None
            if isinstance(key, str):
                key_spans = _detect(key)
                if key_spans:
                    child = _child(path, key, True)
                    new_key = self._found(key, child, sorted(set(_kinds(key_spans))), _apply(key, key_spans))
                    if new_key is not key and new_key is not _DROP and (new_key in value or (out and new_key in out)):
                        new_key = _DROP  # the redacted key would collide with another
                named = by_name is not None and item is not None and item != "" and by_name(key)
            else:
                named = False
            if named:
                new = self._found(item, child or _child(path, key, False), ["field"], FIELD_MARKER)
            elif isinstance(item, str):
                spans = _detect(item)
                new = (
                    self._found(item, child or _child(path, key, False), _kinds(spans), _apply(item, spans))
                    if spans
                    else item
                )
            elif isinstance(item, _WALKED):
                new = self.walk(item, child or _child(path, key, False), depth)
            else:
                new = item
            if out is None:
                if new is item and new_key is key:
                    continue
                out = dict(islice(value.items(), index))
            if new is not _DROP and new_key is not _DROP:
                out[new_key] = new
        return value if out is None else out

    def sequence(self, value: list[Any] | tuple[Any, ...], path: str, depth: int) -> Any:
        out: list[Any] | None = None
        for index, item in enumerate(value):
            if isinstance(item, str):
                spans = _detect(item)
                new = self._found(item, f"{path}[{index}]", _kinds(spans), _apply(item, spans)) if spans else item
            elif isinstance(item, _WALKED):
                new = self.walk(item, f"{path}[{index}]", depth)
            else:
                new = item
            if out is None and new is not item:
                out = list(value[:index])
            if out is not None and new is not _DROP:
                out.append(new)
        return value if out is None else out


def scan(
    obj: Any,
    action: Action = "redact",
    *,
    path: str = "",
    max_depth: int = 16,
    by_name: bool | Callable[[str], bool] = False,
) -> tuple[Any, list[Finding]]:
    """Walk ``obj`` (nested dicts and lists, as parsed from JSON) and act on every string value
    holding personal data (and every int that is a card number). Returns the result and the
    findings, one per (path, kind), in document order.

    - ``redact``: each finding replaced by its marker (an int card number becomes ``"[card]"``);
    - ``drop``: the field (dict entry or list element) holding it is removed;
    - ``quarantine``: nothing changes (``obj`` itself is returned); the caller quarantines the
      event on any finding.

    Keys are scanned too: a key holding personal data shows as ``<key>`` in paths and is redacted
    (or its entry dropped when the redacted key would collide) or dropped. Paths name a key only
    when it matches ``[A-Za-z_][A-Za-z0-9_-]{0,63}`` and holds nothing found, else ``<key>``; list
    elements are ``[i]``; ``path`` is the prefix (e.g. ``"properties"``). With ``by_name``, any
    non-empty value under a known personal-data field name (see ``is_known_pii_field``, or the
    predicate given, e.g. ``is_personal_property``) is a ``field`` finding, redacted to
    ``[redacted]`` (a whole subtree) or dropped.

    Containers nested more than ``max_depth`` levels below ``obj`` are not inspected: a ``depth``
    finding, and under redact or drop they are removed (what cannot be checked is not sent). A
    top-level value that is dropped comes back as None. The input is never modified; unchanged
    containers are returned as they are (no copy).
    """
    named = is_known_pii_field if by_name is True else (by_name or None)
    walker = _Walker(action, max_depth, named)
    out = walker.walk(obj, path, 0)
    return (None if out is _DROP else out), walker.findings
