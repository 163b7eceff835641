"""The audit document: tables and charts per destination, in the order a reader asks."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from fairtrack_tools.ops.audit.read import OUTCOME_LABELS, REASON_NOTES, Audit, DestinationAudit, days
from fairtrack_tools.ops.policy_files import LEGAL_BASIS_LABELS

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
        shown = [f"{thousands(v)} {short[i]}".strip() for i, v in enumerate(values) if v]
        return ", ".join(shown) or "0"


# a document is a list of parts: ("h1" | "h2" | "h3" | "p" | "ul" | "table" | "chart" | "signoff", payload)
Part = tuple[str, Any]

SHARED_SERIES = ["sent in full", "sent reduced"]
SHARED_SHORT = ["", "reduced"]
DAY_SERIES = ["sent", "skipped by the policy", "dropped by the destination", "failed"]
DAY_SHORT = ["sent", "skipped", "dropped", "failed"]
DAY_ACTIONS = ["sent", "skipped", "dropped", "failed"]
MAX_CHART_DAYS = 92  # a longer period charts only the days with records


def thousands(value: int) -> str:
    return f"{value:,}"


def _count(n: int, noun: str) -> str:
    return f"{thousands(n)} {noun}" + ("" if n == 1 else "s")


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
                + ", ".join(f"{s} {thousands(n)}" for s, n in sorted(audit.sources.items()))
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
                thousands(d.sent),
                thousands(d.outcome("skipped")),
                thousands(d.outcome("dropped")),
                thousands(d.outcome("failed")),
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
                        [fld, REASON_NOTES.get(reason, reason), purpose or "-", thousands(n)]
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
            f"{thousands(d.sent)} of {thousands(d.handled)} events handled were sent to {d.name} "
            f"({_pct(d.sent, d.handled)}); {thousands(d.outcome('skipped'))} skipped by the policy, "
            f"{thousands(d.outcome('dropped'))} dropped by the destination's rules, "
            f"{thousands(d.outcome('failed'))} failed."
            + (
                " Sent per source: " + ", ".join(f"{s} {thousands(n)}" for s, n in sorted(d.sources.items())) + "."
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
                    f"Fields shared with {d.name}: events that carried each field, of {thousands(d.sent)} sent",
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
                        [
                            fld,
                            purpose or "-",
                            basis_label(basis),
                            thousands(full),
                            thousands(reduced),
                            _pct(full + reduced, d.sent),
                        ]
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
                        [fld, reason_label(reason), purpose or "-", thousands(n)]
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
                        [OUTCOME_LABELS.get(a, a), reason_label(r), p or "-", basis_label(b), thousands(n)]
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
                    [f"v{v}", thousands(c["sent"]), thousands(sum(n for a, n in c.items() if a != "sent"))]
                    for v, c in sorted(d.versions.items())
                ],
                numeric=frozenset({1, 2}),
            ),
        )
    )
    return parts
