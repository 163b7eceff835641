"""Operator actions on the policy table: push, activate and roll back policies (sources: ``sources.py``).

The runtime only reads these items (fairtrack.stores.policy_table); this module is the one place that writes
them. Versions are immutable: a push always creates version N+1, activation moves the pointer.

Items written here (besides those described in :mod:`fairtrack.stores.policy_table`):

- ``policy#latest``  -> ``{"version": N}``: the highest version number handed out. A push claims
  N+1 by writing the version and this item in one transaction, conditional on ``policy#latest``
  still holding what the push read, so two concurrent pushes never get the same number.
- ``policy#history`` -> ``{"entries": [{"version", "previous", "activated_at", "action"}, ...],
  "undo": [...]}``: every activation (newest last, the last :data:`HISTORY_LIMIT` kept) and the
  stack of versions a rollback returns to. ``activate`` pushes the version it replaces onto
  ``undo``; ``rollback`` pops it, so repeated rollbacks walk back through earlier activations.
  The pointer and the history are written in one conditional transaction.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from botocore.exceptions import ClientError

from fairtrack.policy import Policy
from fairtrack.stores.policy_table import ACTIVE_POLICY_ID, policy_version_id

LATEST_POLICY_ID = "policy#latest"
HISTORY_ID = "policy#history"
HISTORY_LIMIT = 100
_ATTEMPTS = 20  # conditional writes lost to a concurrent operator before giving up


class PolicyError(Exception):
    """An operator mistake or a state the command refuses to act on (unknown version, nothing to
    roll back to, a concurrent change it could not get past)."""


def load_policy_file(path: Path) -> dict[str, Any]:
    doc = yaml.safe_load(path.read_text())
    Policy.model_validate(doc)  # raises with field paths if the document is invalid
    assert isinstance(doc, dict)
    return doc


def stored_document(doc: dict[str, Any]) -> tuple[Policy, dict[str, Any]]:
    """Validate ``doc`` (raises pydantic's ValidationError) and return the policy and the JSON
    document to store: what the author set, as the model read it (a stored ``version`` is ignored:
    the store gives it)."""
    policy = Policy.model_validate({k: v for k, v in doc.items() if k != "version"})
    return policy, policy.model_dump(mode="json", exclude_unset=True, exclude={"version"})


def _raw(client: Any, table: str, item_id: str) -> str | None:
    item = client.get_item(TableName=table, Key={"id": {"S": item_id}}, ConsistentRead=True).get("Item")
    return str(item["value"]["S"]) if item else None


def _get(client: Any, table: str, item_id: str) -> Any | None:
    raw = _raw(client, table, item_id)
    return json.loads(raw) if raw is not None else None


def _item(item_id: str, value: Any) -> dict[str, Any]:
    return {"id": {"S": item_id}, "value": {"S": json.dumps(value, separators=(",", ":"))}}


def _put_if_unchanged(table: str, item_id: str, value: Any, seen: str | None) -> dict[str, Any]:
    """A transaction Put of ``value`` that fails if the item no longer holds ``seen`` (its raw
    JSON as read; None: the item did not exist)."""
    put: dict[str, Any] = {"TableName": table, "Item": _item(item_id, value)}
    if seen is None:
        put["ConditionExpression"] = "attribute_not_exists(id)"
    else:
        put["ConditionExpression"] = "#v = :seen"
        put["ExpressionAttributeNames"] = {"#v": "value"}
        put["ExpressionAttributeValues"] = {":seen": {"S": seen}}
    return {"Put": put}


def _cancelled(exc: ClientError) -> list[str] | None:
    """The per-item cancellation codes of a cancelled transaction, or None for any other error."""
    if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
        return None
    reasons: list[dict[str, Any]] = exc.response.get("CancellationReasons") or []  # type: ignore[assignment]
    return [str(r.get("Code", "None")) for r in reasons]


def _version_of(raw: str | None) -> int | None:
    doc = json.loads(raw) if raw is not None else None
    if isinstance(doc, dict) and isinstance(doc.get("version"), int):
        return int(doc["version"])
    return None


def push_policy(client: Any, table: str, doc: dict[str, Any]) -> int:
    """Validate ``doc`` and store it as the next immutable version; return its number (not yet
    active). Raises pydantic's ValidationError, before anything is written, for a bad document."""
    _, stored = stored_document(doc)
    floor = 0  # versions found to exist already although policy#latest did not count them
    for _ in range(_ATTEMPTS):
        seen = _raw(client, table, LATEST_POLICY_ID)
        version = max(_version_of(seen) or 0, floor) + 1
        try:
            client.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": table,
                            "Item": _item(policy_version_id(version), stored),
                            "ConditionExpression": "attribute_not_exists(id)",
                        }
                    },
                    _put_if_unchanged(table, LATEST_POLICY_ID, {"version": version}, seen),
                ]
            )
        except ClientError as exc:
            codes = _cancelled(exc)
            if codes is None:
                raise
            if codes and codes[0] == "ConditionalCheckFailed" and codes[1:2] != ["ConditionalCheckFailed"]:
                floor = version  # the number is taken by a version policy#latest missed: skip it
            continue  # someone else pushed in between: read the new latest and try the next number
        return version
    raise PolicyError("could not claim a version number: the policy table keeps changing, try again")


def latest_version(client: Any, table: str) -> int | None:
    return _version_of(_raw(client, table, LATEST_POLICY_ID))


def active_version(client: Any, table: str) -> int | None:
    return _version_of(_raw(client, table, ACTIVE_POLICY_ID))


def get_policy_document(client: Any, table: str, version: int) -> dict[str, Any] | None:
    """The stored document of ``version`` (JSON, without its version number), or None."""
    doc = _get(client, table, policy_version_id(version))
    return doc if isinstance(doc, dict) else None


def policy_history(client: Any, table: str) -> dict[str, Any]:
    """``{"entries": [...], "undo": [...]}`` (empty lists when nothing was ever activated)."""
    return _history(_raw(client, table, HISTORY_ID))


def _history(raw: str | None) -> dict[str, Any]:
    doc = json.loads(raw) if raw is not None else None
    if not isinstance(doc, dict):
        return {"entries": [], "undo": []}
    return {"entries": list(doc.get("entries") or []), "undo": list(doc.get("undo") or [])}


def _move_pointer(client: Any, table: str, decide: Any) -> tuple[int, int | None]:
    """Read the pointer and the history, let ``decide(active, history)`` return ``(version,
    new_history)``, and write both in one transaction that also checks the version exists; retried
    when another operator changed either in between. Returns ``(version, previously active)``."""
    for _ in range(_ATTEMPTS):
        seen_active = _raw(client, table, ACTIVE_POLICY_ID)
        seen_history = _raw(client, table, HISTORY_ID)
        current = _version_of(seen_active)
        version, new_history = decide(current, _history(seen_history))
        if version == current:
            return version, current  # already in force: nothing to write, nothing to record
        try:
            client.transact_write_items(
                TransactItems=[
                    {
                        "ConditionCheck": {
                            "TableName": table,
                            "Key": {"id": {"S": policy_version_id(version)}},
                            "ConditionExpression": "attribute_exists(id)",
                        }
                    },
                    _put_if_unchanged(table, ACTIVE_POLICY_ID, {"version": version}, seen_active),
                    _put_if_unchanged(table, HISTORY_ID, new_history, seen_history),
                ]
            )
        except ClientError as exc:
            codes = _cancelled(exc)
            if codes is None:
                raise
            if codes and codes[0] == "ConditionalCheckFailed":
                raise PolicyError(f"policy version {version} does not exist") from exc
            continue
        return version, current
    raise PolicyError("the active policy keeps changing under this command, try again")


def _entry(version: int, previous: int | None, action: str) -> dict[str, Any]:
    return {
        "version": version,
        "previous": previous,
        "activated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "action": action,
    }


def activate_policy(client: Any, table: str, version: int) -> int | None:
    """Point ``policy#active`` at ``version`` (which must exist) and record the activation; return
    the version that was active before (None: none was). Activating the active version is a no-op."""
    if get_policy_document(client, table, version) is None:
        raise PolicyError(f"policy version {version} does not exist")

    def decide(current: int | None, history: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        undo = [*history["undo"], current] if current is not None else history["undo"]
        entries = [*history["entries"], _entry(version, current, "activate")]
        return version, {"entries": entries[-HISTORY_LIMIT:], "undo": undo[-HISTORY_LIMIT:]}

    _, previous = _move_pointer(client, table, decide)
    return previous


def rollback_policy(client: Any, table: str) -> tuple[int, int]:
    """Re-activate the version that was active before the current one was activated; return
    ``(now active, rolled back from)``. Refused when there is no such version, or when the active
    pointer was moved by something that did not record it here (the history would be wrong)."""

    def decide(current: int | None, history: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if current is None:
            raise PolicyError("no policy is active: nothing to roll back")
        entries, undo = history["entries"], history["undo"]
        if entries and entries[-1].get("version") != current:
            raise PolicyError(
                f"the active version v{current} was not set by `fairtrack policy activate` (the history ends "
                f"at v{entries[-1].get('version')}): activate the version you want explicitly"
            )
        if not undo:
            raise PolicyError(f"v{current} is active and no earlier activation is recorded: nothing to roll back to")
        target = int(undo[-1])
        new_entries = [*entries, _entry(target, current, "rollback")]
        return target, {"entries": new_entries[-HISTORY_LIMIT:], "undo": undo[:-1]}

    target, previous = _move_pointer(client, table, decide)
    assert previous is not None
    return target, previous
