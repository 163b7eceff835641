"""Routing: which configured destinations a hit may reach under the purposes its consent granted,
and what the decision log records of the others.

Ingest asks this once per policy version and set of granted purposes (a container sees few of
each) and keeps the answer; each hit then goes to the destinations that may receive something, and
the engine (:func:`fairtrack.policy.engine.evaluate`) keeps of it what each may receive.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from fairtrack.consent.signals import Consent
from fairtrack.policy.decisions import Decision
from fairtrack.policy.model import Policy
from fairtrack.policy.plan import plan_for
from fairtrack.settings import Destination

__all__ = ["Route", "plan_route", "withheld_rows"]

# (destinations that may receive something, skip decisions of the others, purposes to record)
Route = tuple[list[Destination], list[Decision], list[str]]


def plan_route(policy: Policy, configured: Sequence[Destination], granted: Consent) -> Route:
    """The configured destinations that may receive something under ``granted``, the skip
    decisions of the others, and the purposes to record."""
    receiving: list[Destination] = []
    skipped: list[Decision] = []
    for dest in configured:
        outcome = plan_for(policy, dest, granted.granted)
        if isinstance(outcome, Decision):
            skipped.append(outcome)
        else:
            receiving.append(dest)
    return receiving, skipped, granted.purposes


def withheld_rows(
    decisions: list[Decision], policy: Policy, source_id: str, received: datetime | None
) -> list[dict[str, Any]]:
    """Decision-log rows for the destinations a request's hits were kept from, and for the values
    ingest dropped for their format before routing (destination ``ingest``), counted: the audit
    must show what was withheld and why, and only ingest sees most of it."""
    counts: Counter[tuple[str, str, int]] = Counter(
        (d.destination, d.reason, d.policy_version) for d in decisions if d.action == "skipped"
    )
    mismatches: Counter[tuple[str, int]] = Counter(
        (d.field or "", d.policy_version) for d in decisions if d.reason == "format_mismatch"
    )
    if not counts and not mismatches:
        return []
    from fairtrack.stores.decision_log import (  # only requests that withheld something load it
        mismatch_row,
        skip_row,
    )

    day = received.strftime("%Y-%m-%d") if received else datetime.now(UTC).strftime("%Y-%m-%d")
    return [
        *(
            skip_row(day, source_id, dest, reason, version=version, count=n, policy=policy)
            for (dest, reason, version), n in counts.items()
        ),
        *(
            mismatch_row(day, source_id, field, version=version, count=n, policy=policy)
            for (field, version), n in mismatches.items()
        ),
    ]
