"""What the policy engine records: a :class:`Decision` per destination or field, and the paths it
may name (a key the client chose can hold personal data and is shown as ``<key>``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["Decision"]

Action = Literal["sent", "reduced", "dropped", "skipped"]


@dataclass(frozen=True, slots=True)
class Decision:
    """One explainable outcome: a destination skipped, or a field sent or dropped, and why."""

    destination: str
    action: Action
    reason: str
    field: str | None = None
    purpose: str | None = None
    legal_basis: str | None = None
    policy_version: int = 0
    form: str | None = None  # the transform or reduced form applied

    def as_dict(self) -> dict[str, Any]:
        return {
            k: v
            for k, v in (
                ("destination", self.destination),
                ("action", self.action),
                ("reason", self.reason),
                ("field", self.field),
                ("purpose", self.purpose),
                ("legal_basis", self.legal_basis),
                ("policy_version", self.policy_version),
                ("form", self.form),
            )
            if v is not None
        }


# the Segment/RudderStack event fields that are not the canonical hit's (protocols.segment)
_PROTOCOL_NAMES = ("integrations", "originalTimestamp", "sentAt", "writeKey", "channel", "version", "_metadata")


def _model_names() -> frozenset[str]:
    """Field names of fairtrack's own models: the only keys a recorded path may name. A key the
    client chose (a property's name) can hold personal data and is shown as ``<key>``."""
    from fairtrack import hit  # the models the catalogue's paths run through

    names: set[str] = set(hit.Hit.model_fields) | set(_PROTOCOL_NAMES)
    for part in (hit.Context, hit.Page, hit.Campaign, hit.Library, hit.Session):
        names.update(part.__annotations__)
    return frozenset(names)


_MODEL_NAMES = _model_names()


def _reported(prefix: str, key: str, catalogued: frozenset[str] = frozenset()) -> str:
    """A path safe to record: a key is named only when the catalogue or fairtrack's models name it."""
    path = f"{prefix}.{key}" if prefix else key
    if path in catalogued or key in _MODEL_NAMES:
        return path
    return f"{prefix}.<key>" if prefix else "<key>"
