"""Each destination's delivery guarantee: one table in code (fairtrack.destinations.guarantees),
the table of docs/destinations.md, and the keys that make "at least once" safe to deduplicate."""

from __future__ import annotations

from pathlib import Path

import pytest

from fairtrack.destinations.guarantees import GUARANTEES, TABLE_HEAD, keeps_ledger
from fairtrack.destinations.lake import object_name
from fairtrack.destinations.webhook import idempotency_key
from fairtrack.forwarder import Forwarder
from fairtrack.settings import DESTINATIONS, ForwarderSettings

PAGE = Path(__file__).resolve().parents[2] / "docs" / "destinations.md"


def page_table() -> list[str]:
    lines = PAGE.read_text().splitlines()
    start = lines.index(TABLE_HEAD)
    rows = []
    for line in lines[start + 2 :]:  # after the head and its --- line
        if not line.startswith("|"):
            break
        rows.append(line)
    return rows


def test_the_destinations_page_states_each_destinations_guarantee_as_the_code_does() -> None:
    assert set(GUARANTEES) == set(DESTINATIONS)
    assert page_table() == [g.table_row() for g in GUARANTEES.values()]


def test_only_a_destination_that_cannot_deduplicate_keeps_a_ledger() -> None:
    assert {d for d in DESTINATIONS if keeps_ledger(d)} == {"ga4"}
    assert all((g.delivery == "once unless an answer is lost") == g.ledger for g in GUARANTEES.values())


@pytest.mark.parametrize("destination", sorted(DESTINATIONS))
def test_the_forwarder_claims_only_where_the_table_says(destination: str) -> None:
    settings = ForwarderSettings.model_validate({"destination": destination, "delivery_table": "ledger"})
    forwarder = Forwarder(settings, destination=object(), store=object(), failed_store=None, decision_log=None)  # type: ignore[arg-type]
    assert (forwarder.ledger is not None) == GUARANTEES[destination].ledger


def test_the_webhook_key_names_the_events_in_any_order_and_nothing_else() -> None:
    a, b = {"messageId": "m-1", "type": "track"}, {"messageId": "m-2", "type": "page"}
    key = idempotency_key("src", [a, b])
    assert key == idempotency_key("src", [b, a])
    assert len(key) == 32 and int(key, 16) >= 0
    assert key != idempotency_key("src", [a])
    assert key != idempotency_key("other", [a, b])
    # without a messageId, an event stands for itself by its content
    bare = {"type": "track", "event": "x"}
    assert idempotency_key("src", [bare]) == idempotency_key("src", [dict(bare)])
    assert idempotency_key("src", [bare]) != idempotency_key("src", [{**bare, "event": "y"}])


def test_a_lake_object_is_named_by_its_rows_in_any_order() -> None:
    rows = ['{"event":{"messageId":"m-1"}}', '{"event":{"messageId":"m-2"}}']
    name = object_name(rows)
    assert name.endswith(".ndjson.gz") and len(name) == 32 + len(".ndjson.gz")
    assert name == object_name(list(reversed(rows)))
    assert name != object_name(rows[:1])
