"""``fairtrack audit``: what was shared with whom, on which basis, under which policy versions.

Reads the decision log the forwarders keep in the lake bucket (see :mod:`fairtrack.stores.decision_log`)
for a period and renders the regular audit a data protection
officer can sign off, as Markdown or a standalone HTML page: per destination, the events sent,
skipped by the policy, dropped by the destination's own rules and failed; the fields shared with
their purpose and legal basis (sent in full or reduced); the fields withheld and why; the policy
versions that decided; and a chart per destination (HTML: inline SVG, nothing loaded from
elsewhere; Markdown: a text bar chart).

The log holds counts only (day, source, destination, field, action, reason, purpose, legal basis,
policy version), never an id or a value, so neither does the report.

Firehose writes the log by delivery time (``decisions/YYYY/MM/DD/HH/...``); each row carries the
day its event was received, and that day is never later than the delivery. So the rows of a period
are in the objects delivered from its first day on: the audit reads the delivery days from the
period's first day to ``--late-days`` (default 31) after its last day, never past today, and keeps
the rows of the period's days. 31 days covers what can settle late: a message in a dead-letter
queue (kept 14 days from when it was sent) redriven by ``fairtrack replay``, and a failed event
replayed from the failed-events store (kept 30 days by default). Objects in the former layout
(``decisions/dt=YYYY-MM-DD/...``, one per batch and day, without a stream) are read for the
period's days.

    fairtrack audit --from 2026-11-01 --to 2026-11-30 --format html --out audit-2026-11.html
    fairtrack audit --from 2026-11-01 --to 2026-11-30 --stack fairtrack       # a deployed stack
    fairtrack audit --from 2026-11-01 --to 2026-11-30 --bucket my-lake-bucket  # a bucket directly

Reading needs ``s3:ListBucket`` on the bucket (prefix ``decisions/``) and ``s3:GetObject`` on
``decisions/*``; ``--stack`` also ``cloudformation:DescribeStacks``.
"""

from __future__ import annotations

import argparse
import html
import re
import sys
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from fairtrack.stores.decision_log import PREFIX, merge_rows, read_rows
from fairtrack_tools.ops.policy_cli import LEGAL_BASIS_LABELS
from fairtrack_tools.ops.stackref import stack_outputs

EXIT_OK, EXIT_ERROR = 0, 2
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


# -- the document -----------------------------------------------------------------------------------


@dataclass
class Table:
    header: list[str]
    rows: list[list[str]]
    numeric: frozenset[int] = frozenset()  # columns that hold numbers (right-aligned)
    code_columns: frozenset[int] = frozenset()


@dataclass
class Chart:
    """Horizontal stacked bars: one bar per label, one segment per series."""

    title: str
    series: list[str]
    bars: list[tuple[str, list[int]]]
    scale: int  # the value a full-width bar stands for
    short: list[str] = field(default_factory=list)  # a word after each number ("" for none)

    def numbers(self, values: list[int]) -> str:
        """``12``, or ``9, 3 reduced``: the non-zero values, each with its short name."""
        short = self.short or self.series
        shown = [f"{_n(v)} {short[i]}".strip() for i, v in enumerate(values) if v]
        return ", ".join(shown) or "0"


# a document is a list of parts: ("h1" | "h2" | "h3" | "p" | "ul" | "table" | "chart" | "signoff", payload)
Part = tuple[str, Any]

SHARED_SERIES = ["sent in full", "sent reduced"]
SHARED_SHORT = ["", "reduced"]
DAY_SERIES = ["sent", "skipped by the policy", "dropped by the destination", "failed"]
DAY_SHORT = ["sent", "skipped", "dropped", "failed"]
DAY_ACTIONS = ["sent", "skipped", "dropped", "failed"]
MAX_CHART_DAYS = 92  # a longer period charts only the days with records


def _n(value: int) -> str:
    return f"{value:,}"


def _count(n: int, noun: str) -> str:
    return f"{_n(n)} {noun}" + ("" if n == 1 else "s")


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "-"


def basis_label(basis: str | None) -> str:
    if not basis:
        return "-"
    return ", ".join(LEGAL_BASIS_LABELS.get(b, b.replace("_", " ")) for b in basis.split(","))


def reason_label(reason: str) -> str:
    note = REASON_NOTES.get(reason)
    return f"{reason} ({note})" if note else reason


def _version_days(days_: list[str]) -> str:
    return days_[0] if len(days_) == 1 else f"{days_[0]} to {days_[-1]} ({len(days_)} days with records)"


def document(audit: Audit, bucket: str | None = None) -> tuple[str, list[Part]]:
    title = f"Data sharing audit: {audit.start} to {audit.end}" if audit.start else "Data sharing audit"
    parts: list[Part] = [("h1", title)]
    where = f" in the lake bucket {bucket}" if bucket else ""
    period = days(audit.start, audit.end) if audit.start and audit.end else []
    period_days = len(period)
    parts.append(
        (
            "p",
            f"Period: {audit.start} to {audit.end} ({_count(period_days, 'day')}; decisions recorded on "
            f"{audit.days_with_rows} of them). Generated from the fairtrack decision log{where}: counts of what "
            "the consent policy and each destination decided, per day, source, destination, field and reason. "
            "The log holds no identifier, no value and nothing about any single visitor; neither does this report.",
        )
    )
    if not audit.destinations:
        parts.append(("p", "No decisions were recorded in this period: no event reached a forwarder."))
        parts.append(("signoff", None))
        return title, parts
    parts.append(
        (
            "ul",
            [
                "Policy versions in force: "
                + "; ".join(f"v{v}: {_version_days(ds)}" for v, ds in audit.versions.items())
                + ".",
                "Sources, with their event outcomes (one per event and destination it was queued for): "
                + ", ".join(f"{s} {_n(n)}" for s, n in sorted(audit.sources.items()))
                + ".",
                "Events are counted when they settle: sent, skipped by the policy in force at delivery, dropped by "
                "the destination's own rules, or refused for good (kept as failed, and counted as sent again if a "
                "replay delivers them later). Events waiting for a retry are not counted yet.",
                "Fields are counted for the events that were sent: in full, in a reduced form (because their "
                "purpose was not granted), or withheld. Ingest already leaves out what a destination may not "
                "receive before anything is queued; the fields withheld here are those the policy in force at "
                "delivery withheld as well.",
                "A destination with no decision recorded in the period is not listed. Check the forwarders' "
                "DecisionLogWriteFailed metric is zero for the period: a batch whose log could not be written "
                "was delivered but is not counted here.",
            ],
        )
    )
    parts.append(("h2", "Summary"))
    summary = Table(
        [
            "Destination",
            "Events sent",
            "Skipped by the policy",
            "Dropped by the destination",
            "Failed",
            "Policy versions",
        ],
        [
            [
                d.name,
                _n(d.sent),
                _n(d.outcome("skipped")),
                _n(d.outcome("dropped")),
                _n(d.outcome("failed")),
                ", ".join(f"v{v}" for v in sorted(d.versions)),
            ]
            for d in audit.destinations.values()
            if d.name != "ingest"  # no destination: its own section, below
        ],
        numeric=frozenset({1, 2, 3, 4}),
        code_columns=frozenset({0}),
    )
    parts.append(("table", summary))
    for d in audit.destinations.values():
        parts += _destination_parts(d, period)
    parts.append(("signoff", None))
    return title, parts


def _destination_parts(d: DestinationAudit, period: list[str]) -> list[Part]:
    if d.name == "ingest":  # values no destination could get: dropped for their format before routing
        return [
            ("h2", "Before routing: values dropped for their format"),
            (
                "table",
                Table(
                    ["Field", "Reason", "Purpose", "Values"],
                    [
                        [fld, REASON_NOTES.get(reason, reason), purpose or "-", _n(n)]
                        for (fld, reason, purpose), n in sorted(d.withheld.items(), key=lambda kv: -kv[1])
                    ],
                    numeric=frozenset({3}),
                    code_columns=frozenset({0}),
                ),
            ),
        ]
    parts: list[Part] = [("h2", f"Destination: {d.name}")]
    parts.append(
        (
            "p",
            f"{_n(d.sent)} of {_n(d.handled)} events handled were sent to {d.name} "
            f"({_pct(d.sent, d.handled)}); {_n(d.outcome('skipped'))} skipped by the policy, "
            f"{_n(d.outcome('dropped'))} dropped by the destination's rules, {_n(d.outcome('failed'))} failed."
            + (
                " Sent per source: " + ", ".join(f"{s} {_n(n)}" for s, n in sorted(d.sources.items())) + "."
                if d.sources
                else ""
            ),
        )
    )
    shared = sorted(d.shared.items(), key=lambda kv: (-(kv[1][0] + kv[1][1]), kv[0][0]))
    parts.append(("h3", "Fields shared"))
    if shared:
        parts.append(
            (
                "chart",
                Chart(
                    f"Fields shared with {d.name}: events that carried each field, of {_n(d.sent)} sent",
                    SHARED_SERIES,
                    [(fld, counts) for (fld, _, _), counts in shared],
                    max(d.sent, *(sum(c) for _, c in shared)),
                    SHARED_SHORT,
                ),
            )
        )
        parts.append(
            (
                "table",
                Table(
                    ["Field", "Purpose", "Legal basis", "Sent in full", "Sent reduced", "Share of events sent"],
                    [
                        [fld, purpose or "-", basis_label(basis), _n(full), _n(reduced), _pct(full + reduced, d.sent)]
                        for (fld, purpose, basis), (full, reduced) in shared
                    ],
                    numeric=frozenset({3, 4, 5}),
                    code_columns=frozenset({0}),
                ),
            )
        )
    else:
        parts.append(("p", f"No field was sent to {d.name} in this period."))
    parts.append(("h3", "Fields withheld"))
    if d.withheld:
        parts.append(
            (
                "table",
                Table(
                    ["Field", "Reason", "Purpose", "Events"],
                    [
                        [fld, reason_label(reason), purpose or "-", _n(n)]
                        for (fld, reason, purpose), n in sorted(d.withheld.items(), key=lambda kv: (-kv[1], kv[0]))
                    ],
                    numeric=frozenset({3}),
                    code_columns=frozenset({0}),
                ),
            )
        )
    else:
        parts.append(("p", f"The policy in force at delivery withheld no field from the events sent to {d.name}."))
    parts.append(("h3", "Events not delivered"))
    if d.not_delivered:
        rows = sorted(
            d.not_delivered.items(),
            key=lambda kv: (DAY_ACTIONS.index(kv[0][0]) if kv[0][0] in DAY_ACTIONS else 9, -kv[1]),
        )
        parts.append(
            (
                "table",
                Table(
                    ["Outcome", "Reason", "Purpose not granted", "Legal basis", "Events"],
                    [
                        [OUTCOME_LABELS.get(a, a), reason_label(r), p or "-", basis_label(b), _n(n)]
                        for (a, r, p, b), n in rows
                    ],
                    numeric=frozenset({4}),
                ),
            )
        )
    else:
        parts.append(("p", f"Every event handled for {d.name} was sent."))
    if len(period) > 1 and d.by_day:
        # every day of the period, so a day without records shows as a gap
        shown = period if len(period) <= MAX_CHART_DAYS else sorted(d.by_day)
        empty: Counter[str] = Counter()
        bars = [(day, [d.by_day.get(day, empty)[a] for a in DAY_ACTIONS]) for day in shown]
        parts.append(("h3", "Events per day"))
        chart = Chart(f"Events handled for {d.name} per day", DAY_SERIES, bars, max(sum(v) for _, v in bars), DAY_SHORT)
        parts.append(("chart", chart))
    parts.append(("h3", "Policy versions"))
    parts.append(
        (
            "table",
            Table(
                ["Policy version", "Events sent", "Events not delivered"],
                [
                    [f"v{v}", _n(c["sent"]), _n(sum(n for a, n in c.items() if a != "sent"))]
                    for v, c in sorted(d.versions.items())
                ],
                numeric=frozenset({1, 2}),
            ),
        )
    )
    return parts


# -- Markdown -------------------------------------------------------------------------------------

BAR_WIDTH = 40
BAR_CHARS = ("█", "▓", "▒", "░")


def _md(text: str) -> str:
    """A Markdown table cell or paragraph: HTML shown, not rendered; pipes and line breaks cannot
    break a table."""
    text = html.escape(text, quote=False).replace("\\", "\\\\").replace("|", "\\|")
    return " ".join(text.split())


def _md_code(text: str) -> str:
    return f"`{text}`" if re.fullmatch(r"[^`|<>&\\\s]+", text) else _md(text)


def _plain(text: str) -> str:
    """Text inside a fenced code block: no backticks, no control characters."""
    return "".join(c if c.isprintable() and c != "`" else "?" for c in text)


def segments(values: list[int], scale: int, width: int) -> list[int]:
    """Widths (in characters or pixels) of a bar's segments: proportional to ``scale``, a non-zero
    value at least 1 wide, the whole never wider than ``width``."""
    if scale <= 0:
        return [0] * len(values)
    out = [max(1, round(v * width / scale)) if v > 0 else 0 for v in values]
    while sum(out) > width:
        out[out.index(max(out))] -= 1
    return out


def text_chart(chart: Chart) -> list[str]:
    label_width = min(48, max(len(label) for label, _ in chart.bars))
    lines = ["  ".join(f"{BAR_CHARS[i]} {name}" for i, name in enumerate(chart.series))]
    for label, values in chart.bars:
        bar = "".join(BAR_CHARS[i] * w for i, w in enumerate(segments(values, chart.scale, BAR_WIDTH)))
        shown = _plain(label if len(label) <= label_width else label[: label_width - 1] + "~")
        lines.append(f"{shown.ljust(label_width)}  {bar.ljust(BAR_WIDTH)}  {chart.numbers(values)}".rstrip())
    return lines


def render_markdown(title: str, parts: list[Part]) -> str:
    lines: list[str] = []
    for kind, payload in parts:
        if kind in ("h1", "h2", "h3"):
            lines += ["#" * int(kind[1]) + " " + _md(payload), ""]
        elif kind == "p":
            lines += [_md(payload), ""]
        elif kind == "ul":
            lines += [f"- {_md(item)}" for item in payload] + [""]
        elif kind == "table":
            table: Table = payload
            lines.append("| " + " | ".join(_md(h) for h in table.header) + " |")
            lines.append("|" + "".join(" ---: |" if i in table.numeric else " --- |" for i in range(len(table.header))))
            for row in table.rows:
                cells = [_md_code(c) if i in table.code_columns else _md(c) for i, c in enumerate(row)]
                lines.append("| " + " | ".join(cells) + " |")
            lines.append("")
        elif kind == "chart":
            chart: Chart = payload
            lines += [f"*{_md(chart.title)}*", "", "```text", *text_chart(chart), "```", ""]
        elif kind == "signoff":
            lines += [
                "## Sign-off",
                "",
                "| Reviewed by | Role | Date | Signature |",
                "| --- | --- | --- | --- |",
                "|  | Data protection officer |  |  |",
                "",
            ]
    return "\n".join(lines)


# -- HTML -------------------------------------------------------------------------------------------

_CSS = (
    "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:80rem;margin:2rem auto;"
    "padding:0 1rem;color:#1b1b1b;line-height:1.45}"
    "table{border-collapse:collapse;width:100%;margin:1rem 0;font-size:.92rem}"
    "th,td{border:1px solid #c8c8c8;padding:.35rem .5rem;text-align:left;vertical-align:top}"
    "th{background:#f2f2f2}td.num{text-align:right;font-variant-numeric:tabular-nums}code{font-size:.95em}"
    "ul{font-size:.9rem}figure{margin:1rem 0}figcaption{font-size:.9rem;color:#444;margin-bottom:.3rem}"
    "svg text{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;font-size:12px;fill:#1b1b1b}"
    "table.signoff td{height:2.5rem}h2{margin-top:2.5rem;border-bottom:1px solid #c8c8c8}"
)
COLORS = ("#2b6cb0", "#90cdf4", "#dd6b20", "#c53030")
DAY_COLORS = ("#2f855a", "#a0aec0", "#dd6b20", "#c53030")


def svg_chart(chart: Chart, chart_id: str) -> str:
    """An inline SVG bar chart: no script, no external reference, every text escaped."""
    e = html.escape
    colors = DAY_COLORS if chart.series == DAY_SERIES else COLORS
    row, bar_h, top = 22, 14, 28
    label_w = min(340, 16 + 7 * max(len(label) for label, _ in chart.bars))
    bar_w = 420
    number_w = 12 + 7 * max(len(chart.numbers(values)) for _, values in chart.bars)
    width = label_w + bar_w + number_w
    height = top + row * len(chart.bars) + 6
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-labelledby="{chart_id}">',
        f'<title id="{chart_id}">{e(chart.title)}</title>',
    ]
    x = label_w
    for i, name in enumerate(chart.series):
        out.append(f'<rect x="{x}" y="6" width="10" height="10" fill="{colors[i % len(colors)]}"/>')
        out.append(f'<text x="{x + 14}" y="15">{e(name)}</text>')
        x += 24 + 7 * len(name)
    for n, (label, values) in enumerate(chart.bars):
        y = top + n * row
        shown = label if len(label) <= 46 else label[:45] + "…"
        out.append(f'<text x="{label_w - 8}" y="{y + 11}" text-anchor="end">{e(shown)}</text>')
        x = label_w
        for i, w in enumerate(segments(values, chart.scale, bar_w)):
            if w:
                value = f"{chart.series[i]}: {_n(values[i])}"
                out.append(
                    f'<rect x="{x}" y="{y}" width="{w}" height="{bar_h}" fill="{colors[i % len(colors)]}">'
                    f"<title>{e(label)}, {e(value)}</title></rect>"
                )
                x += w
        out.append(f'<text x="{x + 6}" y="{y + 11}">{e(chart.numbers(values))}</text>')
    out.append("</svg>")
    return "".join(out)


def render_html(title: str, parts: list[Part]) -> str:
    """A standalone page: inline style and SVG, no script, nothing loaded from elsewhere (its CSP
    says so); every piece of text from the log is escaped."""
    e = html.escape
    out = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">",
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{e(title)}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
    ]
    charts = 0
    for kind, payload in parts:
        if kind in ("h1", "h2", "h3"):
            out.append(f"<{kind}>{e(payload)}</{kind}>")
        elif kind == "p":
            out.append(f"<p>{e(payload)}</p>")
        elif kind == "ul":
            out.append("<ul>" + "".join(f"<li>{e(item)}</li>" for item in payload) + "</ul>")
        elif kind == "table":
            table: Table = payload
            out.append("<table>")
            out.append("<thead><tr>" + "".join(f'<th scope="col">{e(h)}</th>' for h in table.header) + "</tr></thead>")
            out.append("<tbody>")
            for row in table.rows:
                cells = []
                for i, cell in enumerate(row):
                    content = f"<code>{e(cell)}</code>" if i in table.code_columns else e(cell)
                    tag, attrs = ("th", ' scope="row"') if i == 0 else ("td", "")
                    if i in table.numeric:
                        attrs += ' class="num"'
                    cells.append(f"<{tag}{attrs}>{content}</{tag}>")
                out.append("<tr>" + "".join(cells) + "</tr>")
            out.append("</tbody></table>")
        elif kind == "chart":
            charts += 1
            chart: Chart = payload
            out.append(
                f"<figure><figcaption>{e(chart.title)}</figcaption>{svg_chart(chart, f'chart-{charts}')}</figure>"
            )
        elif kind == "signoff":
            out.append("<h2>Sign-off</h2>")
            out.append(
                '<table class="signoff"><thead><tr><th scope="col">Reviewed by</th><th scope="col">Role</th>'
                '<th scope="col">Date</th><th scope="col">Signature</th></tr></thead>'
                "<tbody><tr><td></td><td>Data protection officer</td><td></td><td></td></tr></tbody></table>"
            )
    out += ["</body>", "</html>", ""]
    return "\n".join(out)


def render(
    rows: Iterable[dict[str, Any]],
    fmt: str = "md",
    *,
    start: date | str | None = None,
    end: date | str | None = None,
    bucket: str | None = None,
) -> str:
    """The audit report of ``rows`` (from :func:`load_rows`) as Markdown (``md``) or HTML (``html``).
    The period is ``start`` to ``end``, or the first to the last day in the rows."""
    if fmt not in ("md", "html"):
        raise ValueError(f"unknown format {fmt!r}: md or html")
    audit = summarise(rows, as_day(start).isoformat() if start else None, as_day(end).isoformat() if end else None)
    title, parts = document(audit, bucket)
    return render_html(title, parts) if fmt == "html" else render_markdown(title, parts)


# -- the command ------------------------------------------------------------------------------------


def resolve(args: argparse.Namespace) -> tuple[Any, str]:
    """An S3 client and the lake bucket: ``--bucket`` (credentials from the environment), a deployed
    stack's ``LakeBucketName`` output (``--stack``), or the running local stack's (``--local``)."""
    import boto3

    if args.bucket:
        return boto3.client("s3"), args.bucket
    try:
        outputs, client = stack_outputs(args)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise AuditError(
            f"no local stack at {args.local} ({exc}): start it with `make dev`, or pass --stack or --bucket"
        ) from None
    bucket = outputs.get("LakeBucketName")
    if not bucket:
        where = f"stack {args.stack}" if args.stack else f"the local stack at {args.local}"
        raise AuditError(f"{where} names no LakeBucketName")
    return client("s3"), bucket


def run(args: argparse.Namespace) -> int:
    """Run ``fairtrack audit``; refusals go to stderr with exit status 2."""
    from botocore.exceptions import BotoCoreError, ClientError

    start, end = args.start, args.end
    if start > end:
        print(f"fairtrack audit: --from {start} is after --to {end}", file=sys.stderr)
        return EXIT_ERROR
    if (end - start).days >= MAX_DAYS:
        print(f"fairtrack audit: a period of at most {MAX_DAYS} days", file=sys.stderr)
        return EXIT_ERROR
    try:
        s3, bucket = resolve(args)
        rows = load_rows(s3, bucket, start, end, late_days=args.late_days)
    except AuditError as exc:
        print(f"fairtrack audit: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except ClientError as exc:
        error = exc.response.get("Error", {})
        print(f"fairtrack audit: {error.get('Code')}: {error.get('Message')}", file=sys.stderr)
        return EXIT_ERROR
    except BotoCoreError as exc:
        print(f"fairtrack audit: {exc}", file=sys.stderr)
        return EXIT_ERROR
    text = render(rows, args.format, start=start, end=end, bucket=bucket)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
        print(f"wrote {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    if not rows:
        print(f"fairtrack audit: no decisions recorded from {start} to {end}", file=sys.stderr)
    return EXIT_OK


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError("a date, YYYY-MM-DD") from None


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``fairtrack audit`` on the CLI's subparsers (its ``func`` is :func:`run`)."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "audit",
        help="what was shared with whom, on which basis, under which policy versions (Markdown or HTML)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--from", dest="start", required=True, type=_day, metavar="YYYY-MM-DD", help="first day")
    parser.add_argument("--to", dest="end", required=True, type=_day, metavar="YYYY-MM-DD", help="last day (included)")
    parser.add_argument(
        "--format", choices=["md", "html"], default="md", help="Markdown (default) or a standalone page"
    )
    parser.add_argument("--out", metavar="FILE", help="write to FILE instead of stdout")
    parser.add_argument(
        "--late-days",
        type=int,
        default=LATE_DAYS,
        metavar="N",
        help=f"also read the log delivered up to N days after --to (default {LATE_DAYS}): events that settle late",
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--local",
        default="http://127.0.0.1:3000",
        help="URL of a running local stack (default, without --stack/--bucket)",
    )
    where.add_argument(
        "--stack", help="name of a deployed stack: its LakeBucketName output (credentials from the environment)"
    )
    where.add_argument("--bucket", help="the lake bucket itself (credentials from the environment)")
    parser.set_defaults(func=run)
    return parser
