"""The decision log: what the policy engine and the destinations decided, counted, never per visitor.

Every forwarder batch sends its rows to an Amazon Data Firehose stream (direct PUT,
``DECISION_LOG_STREAM``) as one record: the rows as NDJSON in one gzip member. Firehose buffers
the records of every forwarder (60 s or 5 MB) and writes them to the lake bucket under::

    decisions/YYYY/MM/DD/HH/<stream>-<version>-<delivery time>-<id>.ndjson.gz

by delivery time (UTC), uncompressed by Firehose: an object is the records one after the other,
and concatenated gzip members are one valid gzip stream, so each object is gzip NDJSON as
:func:`read_rows` reads it. A row's ``day`` is the day its event was received, never later than the
day its record was delivered (:mod:`fairtrack_tools.audit` reads the delivery days from the
period's first day on). One row per distinct (day, source, destination, field, action, reason,
purpose, legal basis, policy version) with its count::

    {"day": "2026-11-24", "source": "web", "destination": "ga4", "field": "context.page.url",
     "action": "sent", "reason": "allowed", "purpose": "analytics", "legal_basis": "consent",
     "policy_version": 3, "count": 118}

Why Firehose: one S3 PutObject per batch and destination cost $0.005 per 1,000 (about $0.80 per
million single hits); Firehose bills $0.029 per GB with each record rounded up to 5 KB (about
$0.02 for the same traffic), and a record it accepted is durable. Counts carried in the lake's own
objects would only cover the lake forwarder; counts buffered per Lambda container and flushed by
size would be lost whenever Lambda reclaims a container, and the audit would under-count.

Without a stream, ``DECISION_LOG_BUCKET`` writes one object per batch and day straight to the
bucket, as earlier versions did (:class:`BucketDecisionLog`)::

    decisions/dt=YYYY-MM-DD/destination=<destination>/<utc time>-<uuid>.ndjson.gz

The audit reads both layouts. With neither set there is no log.

No ids, no values, no visitor: ``day`` is the date of the event's ``receivedAt`` (the gateway's own
clock), ``source`` the site's source id, ``field`` a catalogued path (client-chosen keys that are
not catalogued appear as the engine reports them: a safe key name or ``<key>``).

Two kinds of rows:

- **event rows** (``field`` is null) count events once they settle: ``sent`` (reason
  ``delivered``), ``skipped`` by the policy in force at delivery (``purpose_not_granted`` with the
  missing purpose and its legal basis, ``nothing_allowed``, ``destination_not_in_policy``),
  ``dropped`` by the destination's own rules (``too_old``, ``missing_client_id``...) and
  ``failed`` for good (``http_400``, ``meta_code_100``...: kept in the failed-events store).
- **field rows** (``field`` set) count, for the events that were sent, each field the policy
  ``sent`` (reason ``allowed``), ``reduced`` (sent in a reduced form because its purpose was not
  granted) or ``dropped`` (``not_allowed_for_destination``, ``purpose_not_granted``,
  ``not_catalogued``, ``form_not_applicable``), with the purpose and legal basis the catalogue
  gives it and the policy version that decided.

Events inside a message SQS will redeliver are not counted until they settle: a skip or a
destination drop is counted only when its message is not retried (it would be decided again on
redelivery), while sent and failed events are counted at once (the delivery ledger settles them,
so a redelivery skips them). A failed event sent later by ``fairtrack replay`` is counted as
failed on the first delivery and as sent on the later one.

The forwarder runs policy evaluation with ``record=True`` anyway; counting adds a few dictionary
updates per event and one Firehose ``PutRecordBatch`` per batch. Records Firehose does not accept
(``FailedPutCount``) are sent again a few times with a short backoff; what is still refused is
logged and counted (``DecisionLogWriteFailed``), never raised: the events were delivered, and
delivery must not depend on the audit trail.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fairtrack.destinations import EventRef
from fairtrack.policy.decisions import Decision
from fairtrack.policy.model import Policy
from fairtrack.stores.clients import LazyClient

PREFIX = "decisions"
BUCKET_ENV = "DECISION_LOG_BUCKET"
STREAM_ENV = "DECISION_LOG_STREAM"
# Firehose's quotas: a record of at most 1,000 KiB (before base64), a PutRecordBatch of at most
# 500 records and 4 MiB
RECORD_LIMIT = 1_000 * 1024
CALL_RECORDS = 500
CALL_BYTES = 4 * 1024 * 1024
PUT_ATTEMPTS = 4  # the first put, then the records Firehose did not accept three more times
BACKOFF_SECONDS = 0.05  # before the first retry; doubled before each next one
ROW_KEYS = ("day", "source", "destination", "field", "action", "reason", "purpose", "legal_basis", "policy_version")
EVENT_ACTIONS = ("sent", "skipped", "dropped", "failed")
FIELD_ACTIONS = ("sent", "reduced", "dropped")
DELIVERED = "delivered"

# (day, source, destination, field, action, reason, purpose, legal_basis, policy_version)
RowKey = tuple[str, str, str, str | None, str, str, str | None, str | None, int]

_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_PURPOSE_NAME = re.compile(r"[A-Za-z_][\w-]*")

__all__ = [
    "BUCKET_ENV",
    "PREFIX",
    "STREAM_ENV",
    "BatchDecisions",
    "BucketDecisionLog",
    "DecisionCounts",
    "DecisionLog",
    "Written",
    "day_of",
    "decision_log_bucket",
    "decision_log_stream",
    "merge_rows",
    "mismatch_row",
    "read_rows",
    "skip_row",
]


def decision_log_bucket(settings: object | None = None) -> str:
    """The bucket the decision log goes to (``DECISION_LOG_BUCKET``; empty: no log).

    Read from the settings model when it has the field (``ForwarderSettings.decision_log_bucket``),
    else from the environment."""
    value = getattr(settings, "decision_log_bucket", None) if settings is not None else None
    if value is None:
        value = os.environ.get(BUCKET_ENV, "")
    return str(value).strip()


def decision_log_stream(settings: object | None = None) -> str:
    """The Firehose stream the decision log goes to (``DECISION_LOG_STREAM``; empty: none), from
    the settings model when it has the field (``ForwarderSettings.decision_log_stream``), else from
    the environment."""
    value = getattr(settings, "decision_log_stream", None) if settings is not None else None
    if value is None:
        value = os.environ.get(STREAM_ENV, "")
    return str(value).strip()


def day_of(event: dict[str, Any]) -> str:
    """The event's day: the date of ``receivedAt`` (set by the gateway), today (UTC) without one."""
    received = event.get("receivedAt")
    if isinstance(received, str) and _DAY.match(received[:10]):
        return received[:10]
    return datetime.now(UTC).strftime("%Y-%m-%d")


class DecisionCounts:
    """Rows and their counts. Field decisions are kept as ``(day, source, decisions)`` groups, so
    events that got the same decisions (the usual case: one policy version, a few consent states,
    one event shape) cost one counter update each; rows are expanded once, when written.

    A group is keyed on the identity of its decisions, not their value: the engine makes most of
    them once per compiled plan and hands the same objects out for every event, and hashing ints is
    far cheaper than hashing dataclasses. Decisions made per event
    (``not_catalogued``...) just make their own group; rows are summed by value in the end."""

    __slots__ = ("_fields", "_groups", "_rows")

    def __init__(self) -> None:
        self._rows: Counter[RowKey] = Counter()
        self._fields: Counter[tuple[str, str, tuple[int, ...]]] = Counter()
        self._groups: dict[tuple[int, ...], Sequence[Decision]] = {}  # holds the objects the ids name

    def add(self, key: RowKey, count: int = 1) -> None:
        self._rows[key] += count

    def add_fields(self, day: str, source: str, decisions: Sequence[Decision], count: int = 1) -> None:
        """The field decisions of ``count`` sent events (skip decisions are not field rows)."""
        ids = tuple(map(id, decisions))
        if ids not in self._groups:
            self._groups[ids] = decisions
        self._fields[(day, source, ids)] += count

    def counter(self) -> Counter[RowKey]:
        out = Counter(self._rows)
        for (day, source, ids), n in self._fields.items():
            for d in self._groups[ids]:
                if d.field is not None and d.action in FIELD_ACTIONS:
                    key = (day, source, d.destination, d.field, d.action, d.reason, d.purpose, d.legal_basis)
                    out[(*key, d.policy_version)] += n
        return out

    def rows(self) -> list[dict[str, Any]]:
        """The rows, sorted (day, source, destination, event rows first, then fields)."""
        return [_row(key, n) for key, n in sorted(self.counter().items(), key=lambda kv: _sort_key(kv[0]))]

    def __bool__(self) -> bool:
        return bool(self._rows) or bool(self._fields)


def _row(key: RowKey, count: int) -> dict[str, Any]:
    return {**dict(zip(ROW_KEYS, key, strict=True)), "count": count}


def _sort_key(key: RowKey) -> tuple[Any, ...]:
    day, source, destination, field, action, reason, purpose, basis, version = key
    event_first = (day, source, destination, field is not None, field or "")
    return (*event_first, action, reason, purpose or "", basis or "", version)


def _missing_purposes(decision: Decision, policy: Policy) -> tuple[str, str | None, str | None]:
    """``purpose_not_granted:analytics`` -> (``purpose_not_granted``, ``analytics``, ``consent``).
    ``any of a|b`` stays as ``a|b``; the legal bases of every purpose named, comma-separated."""
    reason, _, missing = decision.reason.partition(":")
    if not missing:
        return reason, None, None
    purpose = ",".join(part.removeprefix("any of ") for part in missing.split(","))
    bases = sorted(
        {policy.purposes[name].legal_basis for name in _PURPOSE_NAME.findall(purpose) if name in policy.purposes}
    )
    return reason, purpose, ",".join(bases) or None


def skip_row(
    day: str, source: str, destination: str, reason: str, *, version: int, count: int, policy: Policy
) -> dict[str, Any]:
    """A row for ``count`` hits kept from ``destination`` (ingest's skips), purpose and legal basis
    worked out from the reason (``purpose_not_granted:advertising``)."""
    bare, purpose, basis = _missing_purposes(Decision(destination, "skipped", reason, policy_version=version), policy)
    return _row((day, source, destination, None, "skipped", bare, purpose, basis, version), count)


INGEST = "ingest"  # the destination of the rows for what ingest dropped before routing


def mismatch_row(day: str, source: str, field: str, *, version: int, count: int, policy: Policy) -> dict[str, Any]:
    """A row for ``count`` values of ``field`` that ingest dropped before routing because the
    attribute's format did not admit them (``format_mismatch``), under the attribute's purpose."""
    attr = policy.attributes.get(field)
    purpose = attr.primary if attr is not None else None
    basis = policy.purposes[purpose].legal_basis if purpose in policy.purposes else None
    return _row((day, source, INGEST, field, "dropped", "format_mismatch", purpose, basis, version), count)


class BatchDecisions:
    """The decisions of one forwarder batch, counted as its events settle.

    The forwarder reports what it evaluated (:meth:`evaluated`, :meth:`skipped`) and what the
    destination made of it (:meth:`sent`, :meth:`failed`, :meth:`dropped`); :meth:`finish` with
    the batch's final retry set gives the counts to write."""

    __slots__ = ("_events", "_pending", "_skip_reasons", "counts", "destination")

    def __init__(self, destination: str) -> None:
        self.destination = destination
        self.counts = DecisionCounts()
        # (message id, event id) -> (day, source, policy version, decisions) of events handed on
        self._events: dict[tuple[str, str], tuple[str, str, int, Sequence[Decision]]] = {}
        # message id -> rows counted only if the message is not redelivered (skips, drops)
        self._pending: dict[str, Counter[RowKey]] = {}
        self._skip_reasons: dict[tuple[int, Decision], tuple[str, str | None, str | None]] = {}

    def evaluated(
        self, message_id: str, event_id: str, day: str, source: str, *, version: int, decisions: Sequence[Decision]
    ) -> None:
        """An event the policy lets through, with every field decision the engine recorded (the
        list is kept, not copied: the caller hands it over)."""
        self._events[(message_id, event_id)] = (day, source, version, decisions)

    def skipped(self, message_id: str, day: str, source: str, decision: Decision, policy: Policy) -> None:
        """An event the policy in force sends nowhere at this destination (``decision`` is the skip)."""
        memo = (policy.version, decision)
        explained = self._skip_reasons.get(memo)
        if explained is None:
            explained = self._skip_reasons[memo] = _missing_purposes(decision, policy)
        reason, purpose, basis = explained
        key = (day, source, self.destination, None, "skipped", reason, purpose, basis, decision.policy_version)
        self._pending.setdefault(message_id, Counter())[key] += 1

    def carried(self, message_id: str, rows: Iterable[dict[str, Any]]) -> int:
        """Rows ingest carried in a queue message (its skips), counted once the message settles;
        returns how many were not rows (ignored)."""
        bad = 0
        for row in rows:
            if not _valid_row(row):
                bad += 1
                continue
            key: RowKey = tuple(row[k] for k in ROW_KEYS)
            self._pending.setdefault(message_id, Counter())[key] += int(row["count"])
        return bad

    def sent(self, refs: Iterable[EventRef]) -> None:
        counts = self.counts
        for ref in refs:
            found = self._events.get((ref.message_id, ref.event_id))
            if found is None:
                continue
            day, source, version, decisions = found
            counts.add((day, source, self.destination, None, "sent", DELIVERED, None, None, version))
            counts.add_fields(day, source, decisions)

    def failed(self, refs: Iterable[EventRef], reason: str) -> None:
        """Events refused for good and kept in the failed-events store."""
        for ref in refs:
            found = self._events.get((ref.message_id, ref.event_id))
            if found is not None:
                day, source, version, _ = found
                self.counts.add((day, source, self.destination, None, "failed", reason, None, None, version))

    def dropped(self, dropped: Iterable[tuple[EventRef, str]]) -> None:
        """Events the destination's own rules left out (``too_old``...)."""
        for ref, reason in dropped:
            found = self._events.get((ref.message_id, ref.event_id))
            if found is not None:
                day, source, version, _ = found
                key = (day, source, self.destination, None, "dropped", reason, None, None, version)
                self._pending.setdefault(ref.message_id, Counter())[key] += 1

    def finish(self, retry: set[str]) -> DecisionCounts:
        """The counts of this batch: pending rows of messages SQS will redeliver are left out."""
        for message_id, rows in self._pending.items():
            if message_id not in retry:
                for key, n in rows.items():
                    self.counts.add(key, n)
        self._pending.clear()
        return self.counts


def ndjson_lines(counts: DecisionCounts) -> list[bytes]:
    """The rows as NDJSON lines (each ending in a newline), sorted."""
    return [(json.dumps(row, separators=(",", ":")) + "\n").encode() for row in counts.rows()]


def gzip_members(lines: Sequence[bytes], limit: int = RECORD_LIMIT) -> list[bytes]:
    """``lines`` as as few gzip members as fit in ``limit`` bytes each (one, short of a batch of
    hundreds of thousands of rows): halves are compressed apart until every part fits. A single
    line that does not fit on its own raises ``ValueError``."""
    member = gzip.compress(b"".join(lines), compresslevel=6, mtime=0)
    if len(member) <= limit:
        return [member]
    if len(lines) < 2:
        raise ValueError(f"a decision row of {len(member)} bytes compressed is over the {limit}-byte record limit")
    half = len(lines) // 2
    return gzip_members(lines[:half], limit) + gzip_members(lines[half:], limit)


@dataclass(frozen=True)
class Written:
    """What a write did: records (Firehose) or objects (bucket) accepted, and those still refused
    after the retries (their rows are not in the log) with the error codes Firehose gave."""

    records: int
    failed: int = 0
    errors: tuple[str, ...] = ()
    keys: tuple[str, ...] = ()  # the objects written (bucket only)


class DecisionLog:
    """Sends a batch's counts to the Firehose stream: one record (a gzip member of the rows as
    NDJSON), in one ``PutRecordBatch``; more records only past Firehose's record limit."""

    def __init__(
        self,
        stream: str,
        destination: str,
        firehose: Any = None,
        *,
        attempts: int = PUT_ATTEMPTS,
        backoff: float = BACKOFF_SECONDS,
        sleep: Callable[[float], None] = time.sleep,
        record_limit: int = RECORD_LIMIT,
    ) -> None:
        if not stream:
            raise ValueError(f"{STREAM_ENV} is not configured")
        self.stream = stream
        self.destination = destination
        self.attempts = max(1, attempts)
        self.backoff = backoff
        self.record_limit = record_limit
        self._sleep = sleep
        self._firehose = firehose

    firehose = LazyClient("firehose")

    def records(self, counts: DecisionCounts) -> list[bytes]:
        """The Firehose records of ``counts``: gzip members, each within the record limit."""
        lines = ndjson_lines(counts)
        return gzip_members(lines, self.record_limit) if lines else []

    def write(self, counts: DecisionCounts) -> Written:
        """Send the rows; records Firehose refuses (``FailedPutCount``) are sent again up to
        ``attempts`` times in all, with a doubling backoff. Never raises for refused records: they
        are in :attr:`Written.failed`. A call that fails as a whole (the stream is missing, access
        denied, botocore's own retries exhausted) raises."""
        pending = self.records(counts)
        total = len(pending)
        errors: list[str] = []
        for attempt in range(self.attempts):
            if attempt:
                self._sleep(self.backoff * 2 ** (attempt - 1))
            errors = []
            refused: list[bytes] = []
            for call in _calls(pending):
                answer = self.firehose.put_record_batch(
                    DeliveryStreamName=self.stream, Records=[{"Data": data} for data in call]
                )
                if not answer.get("FailedPutCount"):
                    continue
                for data, response in zip(call, answer.get("RequestResponses", []), strict=False):
                    if response.get("ErrorCode"):
                        refused.append(data)
                        errors.append(str(response["ErrorCode"]))
            pending = refused
            if not pending:
                break
        return Written(records=total - len(pending), failed=len(pending), errors=tuple(sorted(set(errors))))


def _calls(records: list[bytes]) -> list[list[bytes]]:
    """``records`` in groups one ``PutRecordBatch`` may carry (500 records, 4 MiB)."""
    calls: list[list[bytes]] = []
    size = 0
    for data in records:
        if not calls or len(calls[-1]) >= CALL_RECORDS or size + len(data) > CALL_BYTES:
            calls.append([])
            size = 0
        calls[-1].append(data)
        size += len(data)
    return calls


class BucketDecisionLog:
    """Writes a batch's counts straight to the bucket, one object per day under
    ``<prefix>/dt=<day>/destination=<destination>/`` (without a Firehose stream)."""

    def __init__(self, bucket: str, destination: str, s3: Any = None, prefix: str = PREFIX) -> None:
        if not bucket:
            raise ValueError(f"{BUCKET_ENV} is not configured")
        self.bucket = bucket
        self.destination = destination
        self.prefix = prefix.strip("/")
        self._s3 = s3

    s3 = LazyClient("s3")

    def key(self, day: str, now: datetime | None = None) -> str:
        stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
        return f"{self.prefix}/dt={day}/destination={self.destination}/{stamp}-{uuid.uuid4().hex}.ndjson.gz"

    def write(self, counts: DecisionCounts) -> Written:
        """Put the rows, one object per day they cover. Raises on failure."""
        by_day: dict[str, list[str]] = {}
        for row in counts.rows():
            by_day.setdefault(row["day"], []).append(json.dumps(row, separators=(",", ":")))
        keys = []
        now = datetime.now(UTC)
        for day, lines in by_day.items():
            key = self.key(day, now)
            self.s3.put_object(
                Bucket=self.bucket,
                Key=key,
                ContentType="application/x-ndjson",
                ContentEncoding="gzip",
                Body=gzip.compress(("\n".join(lines) + "\n").encode(), compresslevel=6),
            )
            keys.append(key)
        return Written(records=len(keys), keys=tuple(keys))


def read_rows(body: bytes) -> list[dict[str, Any]]:
    """The rows of one decision-log object (gzip NDJSON: one gzip member, or several one after the
    other as Firehose writes them). Raises ``ValueError`` on a line that is not a decision row."""
    rows = []
    for number, line in enumerate(gzip.decompress(body).decode("utf-8").splitlines(), 1):
        if not line.strip():
            continue
        row = json.loads(line)
        if not _valid_row(row):
            raise ValueError(f"line {number} is not a decision row")
        rows.append(row)
    return rows


def _valid_row(row: Any) -> bool:
    if not isinstance(row, dict) or set(row) != {*ROW_KEYS, "count"}:
        return False
    text = ("day", "source", "destination", "action", "reason")
    optional = ("field", "purpose", "legal_basis")
    return (
        all(isinstance(row[k], str) for k in text)
        and all(row[k] is None or isinstance(row[k], str) for k in optional)
        and all(isinstance(row[k], int) and not isinstance(row[k], bool) for k in ("policy_version", "count"))
        and bool(_DAY.match(row["day"]))
        and row["count"] >= 0
    )


def merge_rows(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows with the same key added up (the log holds one row per key per batch)."""
    total: Counter[RowKey] = Counter()
    for row in rows:
        total[tuple(row[k] for k in ROW_KEYS)] += int(row["count"])
    return [_row(key, n) for key, n in sorted(total.items(), key=lambda kv: _sort_key(kv[0]))]
