"""Operator actions on the policy table: push and activate policies (sources: ``sources.py``).

The runtime only reads these items (fairtrack.store); this module is the one place that writes
them. Versions are immutable: a push always creates version N+1, activation moves the pointer.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from fairtrack.policy import Policy
from fairtrack.store import ACTIVE_POLICY_ID, policy_version_id


def load_policy_file(path: Path) -> dict[str, Any]:
    doc = yaml.safe_load(path.read_text())
    Policy.model_validate(doc)  # raises with field paths if the document is invalid
    assert isinstance(doc, dict)
    return doc


def _get(client: Any, table: str, item_id: str) -> Any | None:
    item = client.get_item(TableName=table, Key={"id": {"S": item_id}}, ConsistentRead=True).get("Item")
    return json.loads(item["value"]["S"]) if item else None


def push_policy(client: Any, table: str, doc: dict[str, Any]) -> int:
    """Store ``doc`` as the next immutable version; return its number (not yet active)."""
    latest = _get(client, table, "policy#latest") or {"version": 0}
    version = int(latest["version"]) + 1
    client.put_item(
        TableName=table,
        Item={"id": {"S": policy_version_id(version)}, "value": {"S": json.dumps(doc)}},
        ConditionExpression="attribute_not_exists(id)",
    )
    client.put_item(
        TableName=table, Item={"id": {"S": "policy#latest"}, "value": {"S": json.dumps({"version": version})}}
    )
    return version


def activate_policy(client: Any, table: str, version: int) -> None:
    if _get(client, table, policy_version_id(version)) is None:
        raise ValueError(f"policy version {version} does not exist")
    client.put_item(
        TableName=table, Item={"id": {"S": ACTIVE_POLICY_ID}, "value": {"S": json.dumps({"version": version})}}
    )
