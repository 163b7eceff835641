"""Test helper: consent policy documents for the unit tests. The shipped default
(policies/default.yaml), and the pieces small test policies are built of."""

from __future__ import annotations

from pathlib import Path
from typing import Any, get_args

import yaml

from fairtrack.hit import EventType
from fairtrack.policy import Policy

DEFAULT_POLICY = Path(__file__).resolve().parents[2] / "policies" / "default.yaml"


def default_doc() -> dict[str, Any]:
    """policies/default.yaml as a new document each time (a test may change it)."""
    doc: dict[str, Any] = yaml.safe_load(DEFAULT_POLICY.read_text(encoding="utf-8"))
    return doc


def default_policy(version: int) -> Policy:
    """The default policy, validated, as stored under ``version``."""
    return Policy.model_validate({**default_doc(), "version": version})


def purposes(**legal_bases: str) -> dict[str, dict[str, str]]:
    """A policy's ``purposes``: each purpose with its legal basis."""
    return {name: {"legal_basis": basis} for name, basis in legal_bases.items()}


def type_attribute() -> dict[str, Any]:
    """The ``type`` attribute as every policy catalogues it: necessary, one of the event types."""
    return {"purpose": "necessary", "format": "enum", "values": list(get_args(EventType))}
