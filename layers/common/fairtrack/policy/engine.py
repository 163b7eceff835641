"""The engine that applies the consent policy to a hit.

One pure function, :func:`evaluate`, decides what a destination may receive. Ingest uses it to
route (a destination that may get nothing gets no message) and every forwarder runs it again on
what it dequeues (the active policy may have changed since). Every field is either sent or
dropped with a :class:`Decision` saying which purpose and legal basis allowed or stopped it.

A destination's view of the catalogue is compiled once per policy version and set of granted
purposes (:mod:`fairtrack.policy.plan`); evaluating a hit walks it, and :func:`conform` holds every
hit to the catalogue itself before routing.
"""

from __future__ import annotations

from typing import Any

from fairtrack.anonymise import formats
from fairtrack.policy.decisions import Decision, _reported
from fairtrack.policy.model import Policy
from fairtrack.policy.plan import (
    _AS_IS,
    _DESCEND,
    _DROP,
    _FORM,
    _INTO,
    _MAP,
    _OBJECT,
    _SEND,
    _WHOLE,
    Plan,
    PlanEntry,
    plan_for,
)

__all__ = ["conform", "evaluate"]

MAX_MAP_DEPTH = 8
_KEY = formats.checker("key")
_TEXT = formats.checker("text")
_NUMBER = formats.checker("number")


def fit_map(obj: dict[str, Any], depth: int = 0) -> tuple[dict[str, Any], int]:
    """The entries of a free-form object (``properties``, ``traits``) that the ``map`` format
    admits, and how many were left out: keys must fit ``key``; values are null, booleans, finite
    numbers, ``text``, or lists and objects of these, at most :data:`MAX_MAP_DEPTH` deep."""
    out: dict[str, Any] = {}
    dropped = 0
    for key, value in obj.items():
        if not _KEY(key):
            dropped += 1
            continue
        kind = type(value)
        if kind is str:  # the usual entry, without a call more
            if _TEXT(value):
                out[key] = value
            else:
                dropped += 1
            continue
        kept, n = _fit_value(value, depth + 1)
        dropped += n
        if kept is not _MISSING:
            out[key] = kept
    return out, dropped


_MISSING: Any = object()
_NUMBERS = (int, float)


def _fit_value(value: Any, depth: int) -> tuple[Any, int]:
    if value is None or value is True or value is False:
        return value, 0
    if isinstance(value, str):
        return (value, 0) if _TEXT(value) else (_MISSING, 1)
    if isinstance(value, _NUMBERS):
        return (value, 0) if _NUMBER(value) else (_MISSING, 1)
    if depth >= MAX_MAP_DEPTH:
        return _MISSING, 1
    if isinstance(value, dict):
        return fit_map(value, depth)
    if isinstance(value, list):
        out: list[Any] = []
        dropped = 0
        for item in value:
            kept, n = _fit_value(item, depth + 1)
            dropped += n
            if kept is not _MISSING:
                out.append(kept)
        return out, dropped
    return _MISSING, 1


class _Evaluation:
    """One hit against one compiled plan: the minimal payload and, when recording, the decisions."""

    __slots__ = ("catalogued", "decisions", "destination", "mismatches", "version")

    def __init__(self, destination: str, version: int, record: bool, catalogued: frozenset[str] = frozenset()) -> None:
        self.destination = destination
        self.version = version
        self.catalogued = catalogued
        self.decisions: list[Decision] | None = [] if record else None
        self.mismatches: list[str] = []  # paths of values their format did not admit

    def not_catalogued(self, prefix: str, key: str) -> None:
        if self.decisions is not None:
            reported = _reported(prefix, key, self.catalogued)
            self.decisions.append(
                Decision(self.destination, "dropped", "not_catalogued", reported, policy_version=self.version)
            )

    def dropped(self, reason: str, path: str, made: Decision | None) -> Decision:
        """The value at ``path`` dropped for ``reason``, under the purpose and legal basis of the
        decision ``made`` for it."""
        purpose, basis = (made.purpose, made.legal_basis) if made else (None, None)
        return Decision(self.destination, "dropped", reason, path, purpose, basis, self.version)

    def mismatch(self, path: str, made: Decision | None) -> Decision:
        self.mismatches.append(path)
        return self.dropped("format_mismatch", path, made)

    def fitted_map(self, value: dict[str, Any], children: Plan, path: str, made: Decision | None) -> dict[str, Any]:
        """A free-form object: its catalogued children judged on their own, the rest filtered."""
        own = {k: v for k, v in value.items() if k not in children}
        out, dropped = fit_map(own)
        if dropped and self.decisions is not None:
            self.decisions.append(self.mismatch(f"{path}.<entries: {dropped}>", made))
        elif dropped:
            self.mismatches.append(path)
        present = {k: value[k] for k in children if k in value}
        if present:
            inner, _ = self.walk(present, children, path)
            out.update(inner)
        return out

    def sendable(
        self, out: dict[str, Any], key: str, value: Any, entry: PlanEntry, path: str
    ) -> tuple[Decision | None, bool]:
        """Put a value its destination may have into ``out``, once its format admits it, in the
        form the plan asks for; the decision made, and whether anything went."""
        kind, made, children, form, check = entry
        if check is not None and not check(value):
            return self.mismatch(path, made), False
        if kind == _FORM:
            shaped = form(value)  # type: ignore[misc]
            if shaped is None:
                return self.dropped("form_not_applicable", path, made), False
            out[key] = shaped
            return made, True
        if kind in (_OBJECT, _WHOLE):
            inner, inner_sent = self.walk(value, children, path)  # type: ignore[arg-type]
            if inner:
                out[key] = inner
            return made, inner_sent
        if kind == _MAP:
            if not isinstance(value, dict):
                return self.mismatch(path, made), False
            fitted = self.fitted_map(value, children, path, made)  # type: ignore[arg-type]
            if fitted:
                out[key] = fitted
            return made, bool(fitted)
        out[key] = value
        return made, True

    def walk(self, obj: dict[str, Any], plan: Plan, prefix: str) -> tuple[dict[str, Any], bool]:
        """Allowlist mode: every key of ``obj`` must be catalogued to go, its value admitted by its
        format."""
        out: dict[str, Any] = {}
        sent = False
        decisions = self.decisions
        for key, value in obj.items():
            entry = plan.get(key)  # plan keys hold no dot: "page.path" as one key never matches
            if entry is None:
                self.not_catalogued(prefix, key)
                continue
            if value is None:  # absent: a null is no value, sent or refused
                continue
            kind, made, children, _, _ = entry
            path = f"{prefix}.{key}" if prefix else key
            if kind == _DROP:
                if decisions is not None:
                    decisions.append(made)  # type: ignore[arg-type]
                continue
            if kind == _DESCEND:
                if made is not None and decisions is not None:
                    decisions.append(made)  # the object itself does not go
                if not isinstance(value, dict):
                    if made is None:
                        self.not_catalogued(prefix, key)
                    continue
                inner, inner_sent = self.walk(value, children, path)  # type: ignore[arg-type]
                if inner:
                    out[key] = inner
                sent = sent or inner_sent
                continue
            made, went = self.sendable(out, key, value, entry, path)
            sent = sent or went
            if decisions is not None:
                decisions.append(made)  # type: ignore[arg-type]
        return out, sent


def _select(obj: dict[str, Any], plan: Plan) -> dict[str, Any]:
    """``_Evaluation.walk`` without decision records or format checks, for ingest, which routes
    this way once per hit and receiving destination after :func:`conform` has checked every
    value's format once (the forwarder's recorded walk checks them again). Something was sent
    exactly when the result is not empty."""
    out: dict[str, Any] = {}
    for key, value in obj.items():
        entry = plan.get(key)
        if entry is None:  # not catalogued
            continue
        kind = entry[0]
        if kind in _AS_IS:
            out[key] = value
        elif kind in _INTO:
            if isinstance(value, dict):
                inner = _select(value, entry[2])  # type: ignore[arg-type]
                if inner:
                    out[key] = inner
        elif kind == _FORM:
            shaped = entry[3](value)  # type: ignore[misc]
            if shaped is not None:
                out[key] = shaped
        elif kind == _MAP and isinstance(value, dict):
            children: Plan = entry[2]  # type: ignore[assignment]
            if children and not children.keys().isdisjoint(value):
                inner = {k: v for k, v in value.items() if k not in children}
                inner.update(_select({k: value[k] for k in children if k in value}, children))
                value = inner  # noqa: PLW2901
            if value:
                out[key] = value
        # _DROP: not for this destination
    return out


def conform(payload: dict[str, Any], policy: Policy) -> tuple[dict[str, Any], list[str]]:
    """``payload`` reduced to what the catalogue admits (the last step of the anonymise stage,
    before routing): uncatalogued keys leave, objects keep only their catalogued children, and every
    value that its attribute's format does not admit is dropped. Returns the conformed payload and
    the paths of the values dropped for their format (``format_mismatch``)."""
    mismatches: list[str] = []
    return _conform(payload, policy.catalogue_plan, "", mismatches), mismatches


def _conform_map(value: dict[str, Any], children: Plan, path: str, mismatches: list[str]) -> dict[str, Any]:
    """A free-form object in one pass: its catalogued children judged by their own formats, every
    other entry by the map format's (see :func:`fit_map`)."""
    out: dict[str, Any] = {}
    dropped = 0
    for key, item in value.items():
        if key in children:
            if item is not None:
                out.update(_conform({key: item}, children, path + ".", mismatches))
            continue
        if not _KEY(key):
            dropped += 1
        elif type(item) is str:
            if _TEXT(item):
                out[key] = item
            else:
                dropped += 1
        else:
            kept, n = _fit_value(item, 1)
            dropped += n
            if kept is not _MISSING:
                out[key] = kept
    if dropped:
        mismatches.append(path)
    return out


def _conform(obj: dict[str, Any], plan: Plan, prefix: str, mismatches: list[str]) -> dict[str, Any]:
    """The catalogue plan's walk, lean: no decisions, a path built only for a mismatch."""
    out: dict[str, Any] = {}
    for key, value in obj.items():
        entry = plan.get(key)
        if entry is None or value is None:  # not catalogued, or absent (a null is no value)
            continue
        kind, _, children, _, check = entry
        if kind == _SEND:
            if check is None or check(value):  # None: a value that only ever leaves transformed
                out[key] = value
            else:
                mismatches.append(f"{prefix}{key}")
        elif kind == _MAP:
            if not isinstance(value, dict):
                mismatches.append(f"{prefix}{key}")
                continue
            fitted = _conform_map(value, children, f"{prefix}{key}", mismatches)  # type: ignore[arg-type]
            if fitted:
                out[key] = fitted
        elif kind == _DESCEND or check is None or check(value):
            if isinstance(value, dict):
                inner = _conform(value, children, f"{prefix}{key}.", mismatches)  # type: ignore[arg-type]
                if inner:
                    out[key] = inner
        else:
            mismatches.append(f"{prefix}{key}")
    return out


def evaluate(
    payload: dict[str, Any], granted: frozenset[str], destination: str, policy: Policy, *, record: bool = True
) -> tuple[dict[str, Any] | None, list[Decision]]:
    """The minimal payload ``destination`` may receive, and a decision for every field.

    Returns ``(None, decisions)`` when the destination gets nothing at all. A catalogued object is
    sent with its catalogued children only; a free-form attribute (``properties``) with the entries
    its format admits, its own catalogued children judged on their own (so the policy can hold
    back ``properties.url`` while sending ``properties``). With ``record=False`` only the
    destination-level decisions are returned and formats are not checked again (ingest routes with
    it after :func:`conform`; the forwarder, which makes the final cut, records every field and
    checks every format).
    """
    compiled = plan_for(policy, destination, granted)
    if isinstance(compiled, Decision):  # skipped whole: the same decision for every such hit
        return None, [compiled]
    if not record:
        result = _select(payload, compiled)
        if not result:
            return None, [Decision(destination, "skipped", "nothing_allowed", policy_version=policy.version)]
        return result, []
    run = _Evaluation(destination, policy.version, record, frozenset(policy.attributes))
    result, sent = run.walk(payload, compiled, "")
    decisions = run.decisions or []
    if not sent:
        skipped = Decision(destination, "skipped", "nothing_allowed", policy_version=policy.version)
        return None, [*decisions, skipped]
    return result, decisions
