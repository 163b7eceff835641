"""Data-subject rights: ``fairtrack subject export|erase`` (operator CLI, never a public route).

The core lives in the runtime layer (:mod:`fairtrack.stores.subjects`) so the IAM-authorised admin
function uses the same code; this module re-exports it for the CLI and its tests.
"""

from __future__ import annotations

from fairtrack.stores.subjects import (
    KINDS,
    Found,
    Where,
    erase,
    export,
    find,
    migrate_suppressed,
    pseudonym_for,
    suppress,
    suppression_state,
)

__all__ = [
    "KINDS",
    "Found",
    "Where",
    "erase",
    "export",
    "find",
    "migrate_suppressed",
    "pseudonym_for",
    "suppress",
    "suppression_state",
]
