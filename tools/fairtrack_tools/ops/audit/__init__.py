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

from fairtrack_tools.ops.audit.command import add_parser, run
from fairtrack_tools.ops.audit.document import SHARED_SERIES, Chart
from fairtrack_tools.ops.audit.read import Audit, AuditError, delivery_days, load_rows, summarise
from fairtrack_tools.ops.audit.render import render, segments, text_chart

__all__ = [
    "SHARED_SERIES",
    "Audit",
    "AuditError",
    "Chart",
    "add_parser",
    "delivery_days",
    "load_rows",
    "render",
    "run",
    "segments",
    "summarise",
    "text_chart",
]
