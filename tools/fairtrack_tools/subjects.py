"""Data-subject rights: ``fairtrack subject export|erase`` (operator CLI, never a public route).

The core lives in the runtime layer (:mod:`fairtrack.subjects`) so the IAM-authorised admin
function uses the same code; this module re-exports it for the CLI and its tests.
"""

from __future__ import annotations

from fairtrack.subjects import (
    KINDS,
    Found,
    Where,
    default_range,
    erase,
    export,
    find,
    pseudonym_for,
    suppress,
)

__all__ = ["KINDS", "Found", "Where", "default_range", "erase", "export", "find", "pseudonym_for", "suppress"]
