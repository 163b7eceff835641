"""The GA4 delivery ledger (fairtrack.stores.ledger): one conditional PutItem per message, against moto."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from fairtrack.stores.ledger import LEDGER_DAYS, Ledger

TABLE = "delivery"
NOW = 1_800_000_000.0


@pytest.fixture
def ddb() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="eu-west-1")
        client.create_table(
            TableName=TABLE,
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield client


@pytest.fixture
def calls(ddb: Any) -> Counter[str]:
    """The DynamoDB operations the ledger's client makes, counted."""
    counted: Counter[str] = Counter()
    ddb.meta.events.register("before-call.dynamodb", lambda model, **_: counted.update([model.name]))
    return counted


def item(ddb: Any, key: str) -> dict[str, Any] | None:
    found: dict[str, Any] | None = ddb.get_item(TableName=TABLE, Key={"id": {"S": key}}).get("Item")
    return found


def test_key_is_the_body_hash_under_the_destination() -> None:
    ledger = Ledger(TABLE, "ga4", client=object())
    key = ledger.key('{"events":[1]}')
    assert key.startswith("ga4#") and len(key) == 4 + 32
    assert key == ledger.key('{"events":[1]}')
    assert key != ledger.key('{"events":[2]}')


def test_a_claim_is_one_put_and_holds_the_message_for_its_lease(ddb: Any, calls: Counter[str]) -> None:
    ledger = Ledger(TABLE, "ga4", client=ddb)
    key = ledger.key("body")
    # When a message is claimed
    [claim] = ledger.claim({key: "sqs-1"}, lease_seconds=60, now=NOW).values()
    # Then it is this invocation's, with nothing settled before, for one PutItem
    assert (claim.state, claim.settled) == ("claimed", frozenset())
    assert calls == Counter({"PutItem": 1})
    stored = item(ddb, key)
    assert stored is not None
    assert stored["state"] == {"S": "claimed"}
    assert int(stored["lease_until"]["N"]) == NOW + 60
    assert int(stored["expires_at"]["N"]) == NOW + LEDGER_DAYS * 86400
    # and while the lease lasts, a copy from another SQS message is a duplicate, a second receive
    # of the same message is left for retry (its first receive may still be running)
    assert ledger.claim({key: "sqs-2"}, 60, now=NOW + 59)[key].state == "duplicate"
    assert ledger.claim({key: "sqs-1"}, 60, now=NOW + 59)[key].state == "held_here"
    # once the lease ran out (the forwarder died), the message can be claimed again
    assert ledger.claim({key: "sqs-1"}, 60, now=NOW + 61)[key].state == "claimed"


def test_a_release_records_what_settled_and_the_next_claim_gets_it(ddb: Any, calls: Counter[str]) -> None:
    ledger = Ledger(TABLE, "ga4", client=ddb)
    key = ledger.key("body")
    claim = ledger.claim({key: "sqs-1"}, 60, now=NOW)[key]
    # When the message is retried with two of its events sent
    assert ledger.release([(claim, {"e1", "e2"})]) == 0
    assert calls["UpdateItem"] == 1
    # Then the lease is over at once, and the redelivery's claim says what not to send again
    again = ledger.claim({key: "sqs-1"}, 60, now=NOW + 1)[key]
    assert (again.state, again.settled) == ("claimed", frozenset({"e1", "e2"}))
    # and a further partial retry keeps the earlier events with the new ones
    ledger.release([(again, {"e3"})])
    third = ledger.claim({key: "sqs-1"}, 60, now=NOW + 2)[key]
    assert third.settled == frozenset({"e1", "e2", "e3"})


def test_a_release_with_nothing_settled_deletes_the_claim(ddb: Any, calls: Counter[str]) -> None:
    ledger = Ledger(TABLE, "ga4", client=ddb)
    key = ledger.key("body")
    claim = ledger.claim({key: "sqs-1"}, 60, now=NOW)[key]
    ledger.release([(claim, set())])
    assert calls == Counter({"PutItem": 1, "DeleteItem": 1})
    assert item(ddb, key) is None


def test_only_the_holder_releases_a_claim(ddb: Any) -> None:
    ledger = Ledger(TABLE, "ga4", client=ddb)
    key = ledger.key("body")
    stale = ledger.claim({key: "sqs-1"}, 60, now=NOW)[key]
    current = ledger.claim({key: "sqs-1"}, 60, now=NOW + 61)[key]  # the first one's lease ran out
    # When the first (late) invocation releases, the second's claim stands
    assert ledger.release([(stale, {"e1"})]) == 0
    stored = item(ddb, key)
    assert stored is not None and stored["holder"] == {"S": current.holder} and "settled" not in stored


def test_claims_of_a_batch_run_concurrently_and_each_answers_for_its_key(ddb: Any, calls: Counter[str]) -> None:
    ledger = Ledger(TABLE, "ga4", client=ddb, workers=4)
    keys = {ledger.key(f"body-{i}"): f"sqs-{i}" for i in range(20)}
    taken = ledger.claim({k: v for k, v in list(keys.items())[:5]}, 60, now=NOW)
    claims = ledger.claim(keys, 60, now=NOW)
    assert calls["PutItem"] == 25
    assert {k for k, c in claims.items() if c.state == "claimed"} == set(keys) - set(taken)
    assert {k for k, c in claims.items() if c.state == "held_here"} == set(taken)


def test_an_unwritable_ledger_claims_nothing(ddb: Any) -> None:
    ledger = Ledger("no-such-table", "ga4", client=ddb)
    key = ledger.key("body")
    assert ledger.claim({key: "sqs-1"}, 60, now=NOW)[key].state == "unavailable"


def test_forget_deletes_claims(ddb: Any) -> None:
    ledger = Ledger(TABLE, "ga4", client=ddb)
    keys = [ledger.key("a"), ledger.key("b")]
    ledger.claim(dict.fromkeys(keys, "sqs-1"), 60, now=NOW)
    ledger.forget(keys)
    assert [item(ddb, k) for k in keys] == [None, None]
    assert ledger.claim({keys[0]: "sqs-2"}, 60, now=NOW)[keys[0]].state == "claimed"
