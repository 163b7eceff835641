"""Compiled evaluation plans: for each key at each level of a hit,
what one destination under one set of granted purposes does with it, decided in advance."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fairtrack.anonymise import formats
from fairtrack.policy.decisions import Decision
from fairtrack.policy.forms import REDUCTIONS, TRANSFORMS, Form

if TYPE_CHECKING:
    from fairtrack.policy.model import Policy  # the plan reads a policy; the policy caches its plans

__all__ = ["Plan", "PlanEntry", "plan_for"]


# A compiled plan: for each key at one level of the hit, what to do with it. Built once per policy
# version, destination and set of granted purposes (there are few such sets), so that evaluating a
# hit is a dict lookup per key with the decisions made in advance, not a catalogue scan.
# _SEND: a value sent as it is once its format admits it; _FORM: a value put in a transformed or
# reduced form once its format admits it; _DROP: not for this destination; _DESCEND: not sent
# itself, but catalogued children of it may be; _OBJECT: an object attribute sent with its
# catalogued children only; _MAP: a free-form attribute (properties), its catalogued children
# judged on their own and every other entry filtered by the map format; _WHOLE: an _OBJECT whose
# catalogued children all go as they are, so that a conformed one (only catalogued children, each
# admitted) is sent whole by the unrecorded route.
_SEND, _DROP, _DESCEND, _OBJECT, _FORM, _MAP, _WHOLE = 0, 1, 2, 3, 4, 5, 6
_AS_IS, _INTO = frozenset({_SEND, _WHOLE}), frozenset({_DESCEND, _OBJECT})  # the unrecorded route's cases
# key -> (what to do, the decision made in advance, the plan one level down, the form, the check)
PlanEntry = tuple[int, "Decision | None", "Plan | None", "Form | None", "formats.Check | None"]
Plan = dict[str, PlanEntry]


def _compile(policy: Policy, destination: str | None, granted: frozenset[str]) -> Plan:
    """The plan of ``destination`` under ``granted``; ``destination=None`` compiles the catalogue's
    own plan (every attribute listed, every purpose granted, no forms): what ingest conforms a hit
    to before any destination is considered."""
    everything = destination is None
    allowed = set(policy.attributes) if everything else set(policy.destinations[destination].attributes)  # type: ignore[index]
    name = destination or "catalogue"
    v = policy.version

    def listed(path: str) -> bool:
        if path in allowed:
            return True
        parts = path.split(".")
        for i in range(len(parts) - 1, 0, -1):  # an object attribute listed brings its catalogued children
            parent = ".".join(parts[:i])
            attr = policy.attributes.get(parent)
            if attr is not None and attr.format == "object":
                return listed(parent)
        return False

    def decision(path: str) -> tuple[int, Decision, Form | None]:
        attr = policy.attributes[path]
        # the purpose recorded: the first of the attribute's purposes at this destination that is
        # granted (the one that allowed it), else the first of them (the one it is withheld under)
        allowed_by = attr.primary if everything else attr.allowed_by(granted, destination)
        purpose = allowed_by or attr.purposes(destination)[0]
        basis = policy.purposes[purpose].legal_basis
        if not listed(path):
            made = Decision(name, "dropped", "not_allowed_for_destination", path, purpose, basis, v)
            return _DROP, made, None
        if allowed_by is None:
            reducer = REDUCTIONS[attr.reduced]
            if reducer is None:
                return _DROP, Decision(name, "dropped", "purpose_not_granted", path, purpose, basis, v), None
            made = Decision(name, "reduced", "purpose_not_granted", path, purpose, basis, v, attr.reduced)
            return _FORM, made, reducer
        transform = None if everything else TRANSFORMS[attr.transform]
        if transform is not None:
            made = Decision(name, "sent", "allowed", path, purpose, basis, v, attr.transform)
            return _FORM, made, _checked(transform, attr.check)
        return _SEND, Decision(name, "sent", "allowed", path, purpose, basis, v), None

    def level(prefix: str) -> Plan:
        plan: Plan = {}
        names = {
            path[len(prefix) :].split(".", 1)[0]
            for path in [*policy.attributes, *policy.parent_paths]
            if path.startswith(prefix)
        }
        for key in names:
            path = prefix + key
            has_children = path in policy.parent_paths
            attr = policy.attributes.get(path)
            if attr is not None:
                kind, made, form = decision(path)
                if kind == _SEND and attr.format in ("object", "map"):
                    children = level(path + ".") if has_children else {}
                    if attr.format == "map":  # fit_map is its check, entry by entry
                        plan[key] = (_MAP, made, children, None, None)
                    else:
                        whole = all(e[0] == _SEND for e in children.values())
                        plan[key] = (_WHOLE if whole else _OBJECT, made, children, None, attr.check)
                elif kind == _DROP and has_children and any(a.startswith(path + ".") for a in allowed):
                    # the object may not go, but the destination lists some of its catalogued
                    # fields (traits.email without traits): those are judged on their own
                    plan[key] = (_DESCEND, made, level(path + "."), None, None)
                else:
                    # an attribute with a full-form transform declares the format of what the
                    # transform makes (a hash): checked on the way out (``_checked``), and by
                    # nothing before, since the value never leaves untransformed
                    transformed = attr.transform != "none" and (everything or made.form == attr.transform)
                    plan[key] = (kind, made, None, form, None if transformed else attr.check)
            elif has_children:
                plan[key] = (_DESCEND, None, level(path + "."), None, None)
        return plan

    return level("")


def _checked(transform: Form, check: formats.Check) -> Form:
    """``transform``, whose result must fit the attribute's format to go (None otherwise)."""

    def form(value: Any) -> Any:
        shaped = transform(value)
        return shaped if shaped is not None and check(shaped) else None

    return form


def plan_for(policy: Policy, destination: str, granted: frozenset[str]) -> Plan | Decision:
    """The compiled plan for a destination and granted purposes, or the decision skipping that
    destination for every such hit; cached per policy version."""
    cached = policy.plans.get((destination, granted))
    if cached is None:
        cached = policy.plans[(destination, granted)] = _plan_for(policy, destination, granted)
    return cached


def _plan_for(policy: Policy, destination: str, granted: frozenset[str]) -> Plan | Decision:
    v = policy.version
    dest = policy.destinations.get(destination)  # type: ignore[call-overload]
    if dest is None:
        return Decision(destination, "skipped", "destination_not_in_policy", policy_version=v)
    missing = dest.requires.missing(granted)
    if missing:
        return Decision(destination, "skipped", "purpose_not_granted:" + ",".join(missing), policy_version=v)
    return _compile(policy, destination, granted)
