"""Reading the decision log for a period, and adding it up per destination, outcome, reason and day."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from fairtrack.stores.decision_log import PREFIX, merge_rows, read_rows

DESTINATION_ORDER = ("ga4", "meta", "webhook", "lake")
MAX_DAYS = 3660
READ_WORKERS = 16
LATE_DAYS = 31  # delivery days read after the period (see the module docstring)

# what each event outcome and field reason means, in the report's words
OUTCOME_LABELS = {
    "skipped": "skipped by the policy",
    "dropped": "dropped by the destination's rules",
    "failed": "refused by the destination (kept as failed)",
}
REASON_NOTES = {
    "purpose_not_granted": "the visitor did not grant the purpose",
    "not_allowed_for_destination": "not in the destination's allowlist",
    "not_catalogued": "not in the data catalogue",
    "form_not_applicable": "the value did not fit its transformed or reduced form",
    "format_mismatch": "the value did not fit its attribute's format (dropped before it could go anywhere)",
    "nothing_allowed": "nothing in the event was allowed",
    "destination_not_in_policy": "the policy names no such destination",
}


class AuditError(Exception):
    """A refusal: the message goes to stderr and the command exits 2."""


# -- reading --------------------------------------------------------------------------------------


def as_day(value: date | str) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)


def days(start: date | str, end: date | str) -> list[str]:
    first, last = as_day(start), as_day(end)
    return [(first + timedelta(days=n)).isoformat() for n in range((last - first).days + 1)]


def list_keys(s3: Any, bucket: str, day: str, prefix: str = PREFIX) -> list[str]:
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{prefix}/dt={day}/"):
        keys.extend(obj["Key"] for obj in page.get("Contents", []) if obj["Key"].endswith(".ndjson.gz"))
    return keys


def list_delivered(s3: Any, bucket: str, day: str, prefix: str = PREFIX) -> list[str]:
    """The objects Firehose delivered on ``day`` (``<prefix>/YYYY/MM/DD/HH/...``)."""
    keys: list[str] = []
    path = f"{prefix}/{day.replace('-', '/')}/"
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=path):
        keys.extend(obj["Key"] for obj in page.get("Contents", []) if not obj["Key"].endswith("/"))
    return keys


def delivery_days(
    start: date | str, end: date | str, late_days: int = LATE_DAYS, today: date | None = None
) -> list[str]:
    """The delivery days whose objects may hold rows of ``start`` to ``end``: from ``start`` to
    ``late_days`` after ``end``, never past ``today`` (UTC)."""
    today = today or datetime.now(UTC).date()
    last = min(as_day(end) + timedelta(days=max(0, late_days)), max(today, as_day(end)))
    return days(start, last)


def load_rows(
    s3: Any,
    bucket: str,
    start: date | str,
    end: date | str,
    *,
    prefix: str = PREFIX,
    workers: int = READ_WORKERS,
    late_days: int = LATE_DAYS,
) -> list[dict[str, Any]]:
    """Every decision row of the days ``start`` to ``end`` (inclusive), rows with the same key added
    up: from the objects Firehose delivered on :func:`delivery_days` and the former per-day objects
    of the period. Objects are read concurrently; an object that is not a decision log raises
    :class:`AuditError` naming its key (an audit must not skip counts silently)."""
    period = days(start, end)
    wanted = set(period)
    keys = [key for day in delivery_days(start, end, late_days) for key in list_delivered(s3, bucket, day, prefix)]
    keys += [key for day in period for key in list_keys(s3, bucket, day, prefix)]

    def read(key: str) -> list[dict[str, Any]]:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        try:
            return read_rows(body)
        except (ValueError, OSError, EOFError) as exc:
            raise AuditError(f"s3://{bucket}/{key}: not a decision log object ({exc})") from None

    rows: list[dict[str, Any]] = []
    if keys:
        with ThreadPoolExecutor(max_workers=max(1, min(workers, len(keys)))) as pool:
            for part in pool.map(read, keys):
                rows.extend(r for r in part if r["day"] in wanted)
    return merge_rows(rows)


# -- aggregating ----------------------------------------------------------------------------------


@dataclass
class DestinationAudit:
    name: str
    sent: int = 0
    # event outcomes other than sent: (action, reason, purpose, legal basis) -> events
    not_delivered: Counter[tuple[str, str, str | None, str | None]] = field(default_factory=Counter)
    # (field, purpose, legal basis) -> [sent in full, sent reduced]
    shared: dict[tuple[str, str | None, str | None], list[int]] = field(default_factory=dict)
    # (field, reason, purpose) -> events the field was withheld from
    withheld: Counter[tuple[str, str, str | None]] = field(default_factory=Counter)
    versions: dict[int, Counter[str]] = field(default_factory=dict)  # version -> action -> events
    by_day: dict[str, Counter[str]] = field(default_factory=dict)  # day -> action -> events
    sources: Counter[str] = field(default_factory=Counter)  # events sent per source

    def outcome(self, action: str) -> int:
        return sum(n for (a, *_), n in self.not_delivered.items() if a == action)

    @property
    def handled(self) -> int:
        return self.sent + sum(self.not_delivered.values())


@dataclass
class Audit:
    start: str
    end: str
    destinations: dict[str, DestinationAudit]
    versions: dict[int, list[str]]  # version -> days it decided on
    sources: Counter[str]  # events handled per source
    days_with_rows: int


def summarise(rows: Iterable[dict[str, Any]], start: str | None = None, end: str | None = None) -> Audit:
    rows = list(rows)
    dests: dict[str, DestinationAudit] = {}
    versions: dict[int, set[str]] = {}
    sources: Counter[str] = Counter()
    seen_days: set[str] = set()
    for row in rows:
        d = dests.setdefault(row["destination"], DestinationAudit(row["destination"]))
        n, action, version, day = int(row["count"]), row["action"], int(row["policy_version"]), row["day"]
        seen_days.add(day)
        versions.setdefault(version, set()).add(day)
        if row["field"] is None:  # an event row
            sources[row["source"]] += n
            d.versions.setdefault(version, Counter())[action] += n
            d.by_day.setdefault(day, Counter())[action] += n
            if action == "sent":
                d.sent += n
                d.sources[row["source"]] += n
            else:
                d.not_delivered[(action, row["reason"], row["purpose"], row["legal_basis"])] += n
        elif action in ("sent", "reduced"):
            counts = d.shared.setdefault((row["field"], row["purpose"], row["legal_basis"]), [0, 0])
            counts[0 if action == "sent" else 1] += n
        else:
            d.withheld[(row["field"], row["reason"], row["purpose"])] += n
    ordered = sorted(dests, key=lambda name: (DESTINATION_ORDER.index(name) if name in DESTINATION_ORDER else 99, name))
    first = start or (min(seen_days) if seen_days else "")
    last = end or (max(seen_days) if seen_days else "")
    return Audit(
        start=first,
        end=last,
        destinations={name: dests[name] for name in ordered},
        versions={v: sorted(ds) for v, ds in sorted(versions.items())},
        sources=sources,
        days_with_rows=len(seen_days),
    )
