"""Regression guards: figures that must not get worse than recorded, whatever their old target.

The ingest CPU per hit against the JSON floor and the cold imports against ``import boto3`` are
no longer chased: on Lambda a user pays for requests, queue calls and table writes, and the CPU of
a hit is a small share of that. They are guarded instead. :data:`RECORDED` (``bench/recorded.json``,
the one place their figures are kept; ``bench/README.md`` shows it) holds each guarded row's ratio
and the reason it is what it is. A row passes while its ratio is at most the recorded one plus the
tolerance (10%); a deliberate change that moves a figure records the new one with its reason. A
guarded row without a record is an error, never a pass.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from bench.core import Row

RECORDED = Path(__file__).with_name("recorded.json")


class GuardError(RuntimeError):
    """A guarded figure has no record (or the record file is unreadable)."""


@dataclass(frozen=True)
class Recorded:
    ratio: float
    reason: str


@dataclass(frozen=True)
class Guards:
    tolerance: float
    recorded: Mapping[str, Recorded]

    def limit(self, key: str) -> float:
        return self.record(key).ratio * (1 + self.tolerance)

    def record(self, key: str) -> Recorded:
        try:
            return self.recorded[key]
        except KeyError:
            raise GuardError(f"no recorded figure for the guarded row {key!r} in {RECORDED.name}") from None

    def apply(self, row: Row) -> Row:
        """The row judged against its record: worse than recorded by more than the tolerance fails."""
        record = self.record(row.key)
        if row.ratio is None:
            raise GuardError(f"the guarded row {row.key!r} has no ratio to compare")
        limit = self.limit(row.key)
        return replace(
            row,
            target=f"guard: <= {record.ratio:.2f}x +{self.tolerance:.0%}",
            passed=row.ratio <= limit,
            note=f"guard: recorded {record.ratio:.2f}x, now {row.ratio:.2f}x (limit {limit:.2f}x; {record.reason}); "
            + row.note,
        )


def load(path: Path = RECORDED) -> Guards:
    try:
        doc = json.loads(path.read_text())
        return Guards(
            tolerance=float(doc["tolerance"]),
            recorded={
                key: Recorded(float(value["ratio"]), str(value["reason"])) for key, value in doc["guards"].items()
            },
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise GuardError(f"{path.name} unreadable: {type(exc).__name__}: {exc}") from exc


def guarded(rows: Sequence[Row], keys: Sequence[str], guards: Guards | None = None) -> list[Row]:
    """``rows`` with those whose key is in ``keys`` judged by their guard; every key must be present."""
    guards = guards or load()
    by_key = {row.key for row in rows}
    missing = [k for k in keys if k not in by_key]
    if missing:
        raise GuardError(f"guarded rows not measured: {missing}")
    return [guards.apply(row) if row.key in keys else row for row in rows]
