"""GA4 and Meta forwarders in-process: the template's environment, secrets from Secrets Manager
(moto), real HTTP to the capture server (judged like the real services) or to a scripted loopback
server for the answers the capture server never gives (validation messages, Meta error codes)."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from awshelpers import mocked_cloud
from loopback import Flaky

from fairtrack.stores.failed_events import FailedStore
from fairtrack_tools.local.localcloud import LocalCloud

ROOT = Path(__file__).resolve().parents[2]


def now_iso(delta: timedelta = timedelta(0)) -> str:
    return (datetime.now(UTC) + delta).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def sample(destination: str, *, events: int = 1, messages: int = 1, age: timedelta = timedelta(0)) -> dict[str, Any]:
    """The destination's sample record, dated now (minus ``age``), as ``messages`` records of
    ``events`` events each, every event with its own messageId."""
    event: dict[str, Any] = json.loads((ROOT / "events" / "forwarder" / f"{destination}.json").read_text())
    template = event["Records"][0]
    records = []
    for m in range(messages):
        record = copy.deepcopy(template)
        record["messageId"] = f"message-{m}"
        body = json.loads(record["body"])
        routed = body["events"][0]
        body["events"] = []
        for e in range(events):
            item = copy.deepcopy(routed)
            item["event"]["messageId"] = f"event-{m}-{e}"
            item["event"]["timestamp"] = item["event"]["receivedAt"] = now_iso(-age)
            body["events"].append(item)
        record["body"] = json.dumps(body)
        records.append(record)
    return {"Records": records}


def secret_of(cloud: LocalCloud, parameter: str) -> str:
    arn = cloud.resolver.param(parameter)  # type: ignore[union-attr]
    value: str = cloud.client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"]
    return value


def failed_docs(cloud: LocalCloud, destination: str) -> list[dict[str, Any]]:
    store = FailedStore(cloud.physical_id("FailedEventsBucket"), destination, cloud.client("s3"))
    return [store.read(k) for k in store.list_keys()]


@pytest.fixture
def run(load_handler: Any, context: Any) -> Any:
    def forward(logical_id: str, event: dict[str, Any]) -> list[str]:
        result = load_handler(logical_id).handler(event, context)
        return [f["itemIdentifier"] for f in result["batchItemFailures"]]

    return forward


# -- against the capture server (the local stack's stand-in, judged like the real services) -------


def test_ga4_sends_valid_measurement_protocol_with_the_secret_only_in_the_url(run: Any, cloud: LocalCloud) -> None:
    assert run("Ga4ForwarderFunction", sample("ga4")) == []
    (request,) = cloud.captures.requests("ga4")
    # the local stack runs GA4 in debug mode: validated by the stand-in, nothing "recorded"
    assert request["path"] == "/ga4/debug/mp/collect"
    assert request["valid"], request["problems"]
    secret = secret_of(cloud, "Ga4ApiSecretArn")
    assert f"api_secret={secret}" in request["query"] and "measurement_id=G-LOCAL" in request["query"]
    (body,) = cloud.captures.snapshot()["ga4"]
    assert secret not in json.dumps(body)
    assert body["client_id"] == "p-3b1f0c5e2a9d47c6b8e0f1a2d3c4b5a6"
    assert body["consent"] == {"ad_user_data": "DENIED", "ad_personalization": "DENIED"}  # analytics only
    (purchase,) = body["events"]
    assert purchase["name"] == "purchase"
    assert purchase["params"]["transaction_id"] == "ord_1042" and purchase["params"]["currency"] == "EUR"
    assert purchase["params"]["session_id"] == "1795515290"
    assert purchase["params"]["engagement_time_msec"] == 5200


def test_ga4_sixty_events_in_three_messages_go_as_three_requests(run: Any, cloud: LocalCloud) -> None:
    assert run("Ga4ForwarderFunction", sample("ga4", events=20, messages=3)) == []
    sizes = sorted(len(body["events"]) for body in cloud.captures.snapshot()["ga4"])  # sent concurrently
    assert sizes == [10, 25, 25]
    assert all(r["valid"] for r in cloud.captures.requests("ga4"))


def test_meta_sends_a_valid_conversions_api_batch(run: Any, cloud: LocalCloud) -> None:
    assert run("MetaForwarderFunction", sample("meta", events=3)) == []
    (request,) = cloud.captures.requests("meta")
    assert request["path"] == "/meta/v21.0/1234567890/events"
    assert request["valid"], request["problems"]
    token = secret_of(cloud, "MetaAccessTokenArn")
    assert f"access_token={token}" in request["query"]
    (body,) = cloud.captures.snapshot()["meta"]
    assert token not in json.dumps(body)
    assert [e["event_id"] for e in body["data"]] == ["event-0-0", "event-0-1", "event-0-2"]
    event = body["data"][0]
    assert event["event_name"] == "Purchase" and event["action_source"] == "website"
    assert event["user_data"]["client_ip_address"] == "203.0.113.0"  # truncated at ingest
    assert event["user_data"]["fbc"].startswith("fb.1.") and event["user_data"]["fbc"].endswith(".IwAR2example")
    assert event["custom_data"]["value"] == 49.9 and event["custom_data"]["currency"] == "EUR"


def test_meta_events_older_than_seven_days_are_dropped_with_a_reason(
    run: Any, cloud: LocalCloud, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("MetaForwarderFunction", sample("meta", age=timedelta(days=8))) == []  # not retried either
    assert cloud.captures.snapshot()["meta"] == []
    assert failed_docs(cloud, "meta") == []
    metrics = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert any(m.get("reason") == "too_old" and m.get("EventsDropped") == [1.0] for m in metrics)


def test_meta_limited_data_use_follows_the_policy(run: Any, cloud: LocalCloud) -> None:
    import yaml

    from fairtrack_tools.ops import policy_ops

    doc = yaml.safe_load((ROOT / "policies" / "default.yaml").read_text())
    doc["defaults"]["region_groups"]["US_LDU"] = ["US"]
    doc["destinations"]["meta"]["limited_data_use"] = ["US_LDU"]
    ddb, table = cloud.client("dynamodb"), cloud.physical_id("PolicyTable")
    policy_ops.activate_policy(ddb, table, policy_ops.push_policy(ddb, table, doc))
    event = sample("meta", events=2)
    body = json.loads(event["Records"][0]["body"])
    body["events"][1]["event"]["context"]["location"]["country"] = "US"
    event["Records"][0]["body"] = json.dumps(body)
    assert run("MetaForwarderFunction", event) == []
    (sent,) = cloud.captures.snapshot()["meta"]
    assert "data_processing_options" not in sent["data"][0]  # from DE
    assert sent["data"][1]["data_processing_options"] == ["LDU"]  # from US


# -- against a scripted server (answers the stand-in never gives) ----------------------------------


@pytest.fixture
def scripted() -> Iterator[Flaky]:
    server = Flaky()
    yield server
    server.stop()


VALIDATION = json.dumps(
    {
        "validationMessages": [
            {
                "fieldPath": "events",
                "description": "Event at index: [0] has invalid name [purchase!!].",
                "validationCode": "NAME_INVALID",
            }
        ]
    }
).encode()


def meta_error(code: int, *, transient: bool = False) -> bytes:
    return json.dumps(
        {"error": {"message": "x", "type": "OAuthException", "code": code, "is_transient": transient}}
    ).encode()


class TestScriptedAnswers:
    """GA4 and Meta pointed at a scripted server (``cloud`` overridden for this class)."""

    @pytest.fixture
    def cloud(self, scripted: Flaky) -> Iterator[LocalCloud]:
        endpoints = {"Ga4Endpoint": scripted.base + "/ga4", "MetaGraphUrl": scripted.base + "/meta/v21.0"}
        with mocked_cloud(parameters=endpoints) as c:
            yield c

    def test_ga4_validation_messages_are_permanent_failures_logged_without_descriptions(
        self, scripted: Flaky, cloud: LocalCloud, run: Any, caplog: pytest.LogCaptureFixture
    ) -> None:
        scripted.script = [(200, VALIDATION)]
        assert run("Ga4ForwarderFunction", sample("ga4")) == []  # not retried: it cannot pass as is
        (doc,) = failed_docs(cloud, "ga4")
        assert doc["reason"] == "ga4_validation" and doc["status"] == 200
        assert json.loads(doc["answer"]) == json.loads(VALIDATION)
        logs = json.dumps([{**r.__dict__, "args": None, "exc_info": None} for r in caplog.records], default=str)
        assert "NAME_INVALID" in logs  # the developer sees what to fix...
        assert "purchase!!" not in logs  # ...but not the description, which may quote values
        assert scripted.requests[0]["path"] == "/ga4/debug/mp/collect"

    @pytest.mark.parametrize(
        ("answer", "retried", "reason"),
        [
            ((400, meta_error(100)), False, "meta_code_100"),  # invalid parameter
            ((401, meta_error(190)), False, "meta_code_190"),  # invalid token
            ((400, meta_error(613)), True, None),  # rate limit, sent as a 400
            ((400, meta_error(17)), True, None),  # user rate limit
            ((400, meta_error(4)), True, None),  # application rate limit
            ((500, meta_error(2, transient=True)), True, None),  # service unavailable
            ((500, meta_error(1)), True, None),  # unknown error
            ((400, meta_error(2804000, transient=True)), True, None),  # Meta says: transient
            (503, True, None),
            ("timeout", True, None),
            ("reset", True, None),
        ],
    )
    def test_meta_answers_are_classified_by_their_error_code(
        self,
        scripted: Flaky,
        cloud: LocalCloud,
        run: Any,
        monkeypatch: pytest.MonkeyPatch,
        answer: Any,
        retried: bool,
        reason: str | None,
    ) -> None:
        monkeypatch.setenv("DESTINATION_TIMEOUT_SECONDS", "0.5")
        scripted.script = [answer]
        event = sample("meta")
        assert run("MetaForwarderFunction", event) == (["message-0"] if retried else [])
        docs = failed_docs(cloud, "meta")
        if retried:
            assert docs == []
            # redelivered after the destination recovered: sent once
            assert run("MetaForwarderFunction", event) == []
            assert [e["event_id"] for body in scripted.received for e in body["data"]] == ["event-0-0"]
        else:
            (doc,) = docs
            assert doc["reason"] == reason
            # a duplicate delivery is sent again (Meta keeps no ledger: it deduplicates on event_id)
            assert run("MetaForwarderFunction", event) == []
            assert [e["event_id"] for body in scripted.received for e in body["data"]] == ["event-0-0"]
            assert len(failed_docs(cloud, "meta")) == 1
