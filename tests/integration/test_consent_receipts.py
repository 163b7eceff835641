"""Consent receipts through the ingest function in-process: ``POST /v1/consent`` in, consent table
items out (moto), and the full IP address nowhere else."""

from __future__ import annotations

import argparse
import base64
import copy
import gzip
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from awshelpers import deactivate_policy, error_of, pseudonym_of, queue_messages, sqs_event_from
from logcapture import captured_logs

from fairtrack_tools.local.localcloud import LocalCloud
from fairtrack_tools.local.loopback import LoopbackServer, QuietHandler
from fairtrack_tools.ops import receipts_cli

ROOT = Path(__file__).resolve().parents[2]
ORIGIN = "http://127.0.0.1:3000"  # the dev source's
SAMPLE_ANONYMOUS_ID = "5b4f3c1e-7d2a-4e8b-9c61-2f0a8d3e4b17"
SAMPLE_UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36"
RECEIVED = datetime.fromtimestamp(1795515302, UTC)  # the samples' requestContext.timeEpoch
FORWARDERS = {
    "Ga4Queue": "Ga4ForwarderFunction",
    "MetaQueue": "MetaForwarderFunction",
    "WebhookQueue": "WebhookForwarderFunction",
    "LakeQueue": "LakeForwarderFunction",
}


def sample(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((ROOT / "events" / "ingest" / name).read_text())
    return event


def consent_event(body: Any = None, *, source_ip: str | None = None, **headers: str) -> dict[str, Any]:
    event = sample("consent.json")
    if body is not None:
        event["body"] = body if isinstance(body, str) else json.dumps(body)
    event["headers"].update(headers)
    if source_ip:
        event["requestContext"]["http"]["sourceIp"] = source_ip
    return event


def sample_body() -> dict[str, Any]:
    body: dict[str, Any] = json.loads(sample("consent.json")["body"])
    return body


def consent_items(cloud: LocalCloud) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = cloud.client("dynamodb").scan(TableName=cloud.physical_id("ConsentTable"))["Items"]
    return items


def receipt_item(cloud: LocalCloud, receipt_id: str) -> dict[str, Any]:
    item: dict[str, Any] = cloud.client("dynamodb").get_item(
        TableName=cloud.physical_id("ConsentTable"), Key={"pk": {"S": f"receipt#{receipt_id}"}, "sk": {"S": "receipt"}}
    )["Item"]
    return item


def pointers(cloud: LocalCloud, pseudonym: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = cloud.client("dynamodb").query(
        TableName=cloud.physical_id("ConsentTable"),
        KeyConditionExpression="pk = :pk AND begins_with(sk, :sk)",
        ExpressionAttributeValues={":pk": {"S": f"subject#{pseudonym}"}, ":sk": {"S": "receipt#"}},
    )["Items"]
    return items


def created(response: dict[str, Any]) -> str:
    assert response["statusCode"] == 201, response["body"]
    receipt_id: str = json.loads(response["body"])["receiptId"]
    assert len(receipt_id) == 32 and int(receipt_id, 16) >= 0
    return receipt_id


# -- what is stored --------------------------------------------------------------------------------


def test_receipt_holds_the_full_ip_user_agent_purposes_and_evidence(ingest: Any, cloud: LocalCloud) -> None:
    # Given the sample consent call (analytics granted, advertising denied, from 203.0.113.77)
    response = ingest(sample("consent.json"))
    # Then it answers 201 with the receipt id, and the receipt is evidence of the decision
    receipt_id = created(response)
    assert json.loads(response["body"]) == {"receiptId": receipt_id}
    item = receipt_item(cloud, receipt_id)
    assert item["ip"] == {"S": "203.0.113.77"}
    assert item["user_agent"] == {"S": SAMPLE_UA}
    assert item["source_id"] == {"S": "dev"}
    assert item["subject"] == {"M": {"anonymousId": {"S": pseudonym_of(cloud, "anonymousId", SAMPLE_ANONYMOUS_ID)}}}
    assert item["purposes_granted"] == {"L": [{"S": "analytics"}, {"S": "necessary"}]}
    assert item["purposes_denied"] == {"L": [{"S": "advertising"}]}
    assert item["signals"] == {"L": [{"S": "segment.categoryPreferences"}]}
    assert json.loads(item["evidence"]["S"]) == {"consent": sample_body()["consent"]}
    assert item["policy_version"] == {"N": "1"}
    assert item["received_at"] == {"S": "2026-11-24T10:15:02.000Z"}
    assert item["timestamp"] == {"S": "2026-11-24T10:15:01.000Z"}
    # the raw visitor id is nowhere in the table, and no queue got anything
    assert SAMPLE_ANONYMOUS_ID not in json.dumps(consent_items(cloud))
    assert all(v["visible"] == 0 for v in cloud.queue_depths().values())


def test_expiry_is_received_plus_consent_retention(ingest: Any, cloud: LocalCloud) -> None:
    receipt_id = created(ingest(sample("consent.json")))

    expected = int((RECEIVED + timedelta(days=395)).timestamp())  # defaults.consent_retention_days
    assert all(item["expires_at"] == {"N": str(expected)} for item in consent_items(cloud))
    assert receipt_item(cloud, receipt_id)["expires_at"] == {"N": str(expected)}


def test_pointer_lists_the_receipt_under_the_subject_without_ip_or_agent(ingest: Any, cloud: LocalCloud) -> None:
    receipt_id = created(ingest(sample("consent.json")))

    (pointer,) = pointers(cloud, pseudonym_of(cloud, "anonymousId", SAMPLE_ANONYMOUS_ID))
    assert pointer["sk"] == {"S": f"receipt#2026-11-24T10:15:02.000Z#{receipt_id}"}
    assert pointer["receipt_id"] == {"S": receipt_id}
    assert "ip" not in pointer and "user_agent" not in pointer
    assert "203.0.113.77" not in json.dumps(pointer) and "Mozilla" not in json.dumps(pointer)


def test_user_id_gets_a_pointer_of_its_own_and_receipts_accumulate(ingest: Any, cloud: LocalCloud) -> None:
    body = {**sample_body(), "userId": "user-42"}
    first = created(ingest(consent_event(body)))
    withdrawn = {**body, "consent": {"categoryPreferences": {"analytics": False, "advertising": False}}}
    second = created(ingest(consent_event(withdrawn)))

    by_user = pointers(cloud, pseudonym_of(cloud, "userId", "user-42"))
    by_visitor = pointers(cloud, pseudonym_of(cloud, "anonymousId", SAMPLE_ANONYMOUS_ID))
    assert {p["receipt_id"]["S"] for p in by_user} == {p["receipt_id"]["S"] for p in by_visitor} == {first, second}
    assert receipt_item(cloud, second)["purposes_granted"] == {"L": [{"S": "necessary"}]}
    assert "user-42" not in json.dumps(consent_items(cloud))
    # only receipt# and subject# keys: what the IAM condition allows
    assert {i["pk"]["S"].split("#", 1)[0] for i in consent_items(cloud)} == {"receipt", "subject"}


def test_the_subject_is_the_anonymous_id_lake_records_carry(ingest: Any, cloud: LocalCloud) -> None:
    # Given a hit and a consent receipt from the same visitor
    assert ingest(sample("track.json"))["statusCode"] == 200
    receipt_id = created(ingest(sample("consent.json")))
    # Then the lake record's anonymousId is the receipt's subject
    (message,) = queue_messages(cloud, "LakeQueue")
    lake_id = json.loads(message["Body"])["events"][0]["event"]["anonymousId"]
    assert receipt_item(cloud, receipt_id)["subject"]["M"]["anonymousId"] == {"S": lake_id}


@pytest.mark.parametrize(
    "signal",
    [
        {"gcs": "G111", "npa": "1"},
        {"consentManagement": {"provider": "oneTrust", "allowedConsentIds": ["C0002"], "deniedConsentIds": ["C0004"]}},
    ],
)
def test_consent_mode_and_rudderstack_signals_give_the_same_purposes(
    ingest: Any, cloud: LocalCloud, signal: dict[str, Any]
) -> None:
    receipt_id = created(ingest(consent_event({"anonymousId": "a-1", **signal})))

    item = receipt_item(cloud, receipt_id)
    assert item["purposes_granted"] == {"L": [{"S": "analytics"}, {"S": "necessary"}]}
    assert item["purposes_denied"] == {"L": [{"S": "advertising"}]}
    assert json.loads(item["evidence"]["S"]) == signal


# -- the full IP address lives in the receipt and nowhere else -------------------------------------


def everything_but_the_consent_table(cloud: LocalCloud) -> dict[str, str]:
    """Where else data could be: every message of every queue, every object of every bucket (gzip
    opened), every item of every other table, and what the destinations received."""
    found: dict[str, str] = {}
    for queue in cloud.queue_depths():
        found[f"queue:{queue}"] = json.dumps(queue_messages(cloud, queue))
    s3 = cloud.client("s3")
    for bucket in ("LakeBucket", "FailedEventsBucket"):
        name = cloud.physical_id(bucket)
        for version in s3.list_object_versions(Bucket=name).get("Versions", []):
            raw = s3.get_object(Bucket=name, Key=version["Key"], VersionId=version["VersionId"])["Body"].read()
            text = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
            found[f"s3:{bucket}/{version['Key']}"] = text.decode("utf-8", "replace") + version["Key"]
    ddb = cloud.client("dynamodb")
    for table in ("PolicyTable", "DeliveryTable"):
        found[f"table:{table}"] = json.dumps(ddb.scan(TableName=cloud.physical_id(table))["Items"])
    found["captured"] = json.dumps(cloud.captured())
    return found


def test_the_full_ip_is_stored_only_in_the_consent_receipt(
    load_handler: Any, context: Any, cloud: LocalCloud, capsys: pytest.CaptureFixture[str]
) -> None:
    full_ip = "198.51.100.123"
    ingest_module = load_handler("IngestFunction")
    forwarders = {queue: load_handler(logical) for queue, logical in FORWARDERS.items()}
    with captured_logs() as logs:
        # Given, from one full address: a hit with consent, a hit without (cookieless daily id from
        # the address), a refused request, and a consent receipt
        hit = sample("track.json")
        hit["requestContext"]["http"]["sourceIp"] = full_ip
        no_consent = copy.deepcopy(hit)
        body = json.loads(no_consent["body"])
        del body["context"]["consent"]
        no_consent["body"] = json.dumps(body)
        bad = consent_event({"anonymousId": "a"}, source_ip=full_ip)
        for event, status in ((hit, 200), (no_consent, 200), (bad, 400)):
            assert ingest_module.handler(event, context)["statusCode"] == status
        receipt_id = created(ingest_module.handler(consent_event(source_ip=full_ip), context))
        # and every forwarder delivering what ingest queued (the lake writes its objects)
        for queue, module in forwarders.items():
            messages = queue_messages(cloud, queue)
            if messages:
                assert module.handler(sqs_event_from(messages), context) == {"batchItemFailures": []}
    assert cloud.client("s3").list_objects_v2(Bucket=cloud.physical_id("LakeBucket")).get("KeyCount", 0) >= 1
    # Then the address is in the receipt item, and in nothing else: no other consent table item, no
    # queue message, lake or failed-events object, policy or ledger item, delivery, or log line
    holding = [i for i in consent_items(cloud) if full_ip in json.dumps(i)]
    assert [i["pk"]["S"] for i in holding] == [f"receipt#{receipt_id}"]
    assert holding[0]["ip"] == {"S": full_ip}
    elsewhere = everything_but_the_consent_table(cloud)
    printed = capsys.readouterr()
    elsewhere["logs"] = logs.getvalue() + printed.out + printed.err
    assert "consent receipt stored" in elsewhere["logs"] and "hits routed" in elsewhere["logs"]
    assert [where for where, text in elsewhere.items() if full_ip in text] == []
    # and the truncated address is what the hits carried
    assert "198.51.100.0" in elsewhere["captured"]


# -- auth, CORS, bad bodies ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("auth", "body_key", "query_key", "status", "code"),
    [
        ("", None, None, 401, "missing_write_key"),
        ("Basic " + base64.b64encode(b"nope:").decode(), None, None, 401, "invalid_write_key"),
        ("", "nope", None, 401, "invalid_write_key"),
        ("", "dev-write-key", None, 201, None),
        ("", None, "dev-write-key", 201, None),
    ],
)
def test_write_key_like_the_other_segment_routes(
    ingest: Any,
    cloud: LocalCloud,
    auth: str,
    body_key: str | None,
    query_key: str | None,
    status: int,
    code: str | None,
) -> None:
    body = sample_body()
    if body_key:
        body["writeKey"] = body_key
    event = consent_event(body, authorization=auth)
    if query_key:
        event["rawQueryString"] = f"writeKey={query_key}"
        event["queryStringParameters"] = {"writeKey": query_key}
    response = ingest(event)
    assert response["statusCode"] == status, response["body"]
    if code:
        assert json.loads(response["body"])["code"] == code
        assert consent_items(cloud) == []
    else:
        assert "writeKey" not in receipt_item(cloud, created(response))["evidence"]["S"]


def test_allowed_origin_gets_cors_headers_and_others_are_refused(ingest: Any, cloud: LocalCloud) -> None:
    allowed = ingest(consent_event(origin=ORIGIN))
    refused = ingest(consent_event(origin="https://evil.example"))

    created(allowed)
    assert allowed["headers"]["Access-Control-Allow-Origin"] == ORIGIN
    assert "Access-Control-Allow-Credentials" not in allowed["headers"]
    assert refused["statusCode"] == 403
    assert json.loads(refused["body"])["code"] == "origin_not_allowed"
    assert "Access-Control-Allow-Origin" not in refused["headers"]
    assert len(consent_items(cloud)) == 2  # one receipt and its pointer


def test_refusals_to_an_allowed_origin_carry_cors_headers(ingest: Any, cloud: LocalCloud) -> None:
    bad_body = ingest(consent_event({"anonymousId": "a"}, origin=ORIGIN))
    bad_key = ingest(consent_event(origin=ORIGIN, authorization="Basic " + base64.b64encode(b"nope:").decode()))

    for response, status in ((bad_body, 400), (bad_key, 401)):
        assert response["statusCode"] == status
        assert response["headers"]["Access-Control-Allow-Origin"] == ORIGIN


def preflight(origin: str, query: str = "") -> dict[str, Any]:
    event = sample("preflight.json")
    event["headers"]["origin"] = origin
    event["rawPath"] = event["requestContext"]["http"]["path"] = "/v1/consent"
    event["pathParameters"] = {"proxy": "consent"}
    if query:
        event["rawQueryString"] = query
        event["queryStringParameters"] = dict(p.split("=", 1) for p in query.split("&"))
    return event


@pytest.mark.parametrize("query", ["", "writeKey=dev-write-key"])
def test_preflight_is_answered_like_the_other_routes(ingest: Any, cloud: LocalCloud, query: str) -> None:
    allowed = ingest(preflight(ORIGIN, query))
    refused = ingest(preflight("https://evil.example", query))

    assert allowed["statusCode"] == 204
    assert allowed["headers"]["Access-Control-Allow-Origin"] == ORIGIN
    assert "POST" in allowed["headers"]["Access-Control-Allow-Methods"]
    assert "Authorization" in allowed["headers"]["Access-Control-Allow-Headers"]
    assert refused["statusCode"] == 403
    assert "Access-Control-Allow-Origin" not in refused["headers"]
    assert consent_items(cloud) == []


def test_beacon_text_plain_and_gzip_bodies_are_taken(ingest: Any, cloud: LocalCloud) -> None:
    plain = consent_event(**{"content-type": "text/plain;charset=UTF-8"})
    zipped = consent_event(**{"content-encoding": "gzip"})
    zipped["body"] = base64.b64encode(gzip.compress(zipped["body"].encode())).decode()
    zipped["isBase64Encoded"] = True

    created(ingest(plain))
    created(ingest(zipped))


@pytest.mark.parametrize(
    ("body", "status", "code", "paths"),
    [
        ("{not json", 400, "invalid_json", ["body"]),
        ("", 400, "invalid_json", ["body"]),
        ([{"anonymousId": "a"}], 400, "invalid_consent", ["body"]),
        ({"consent": {"categoryPreferences": {"analytics": True}}}, 400, "invalid_consent", ["anonymousId"]),
        ({"anonymousId": "a", "userId": "u"}, 400, "invalid_consent", ["body"]),
        (
            {"anonymousId": "a", "consent": {"categoryPreferences": {"jane.doe@example.com": "jane.doe@example.com"}}},
            400,
            "invalid_consent",
            ["consent.categoryPreferences.<key #1>"],
        ),
        ({"anonymousId": "a", "gcs": "jane.doe@example.com", "npa": "2"}, 400, "invalid_consent", ["gcs", "npa"]),
        ({"anonymousId": "a", "gcs": "G111", "pad": "x" * (33 * 1024)}, 413, "invalid_consent", ["body"]),
    ],
)
def test_bad_bodies_name_fields_never_values_and_store_nothing(
    ingest: Any, cloud: LocalCloud, body: Any, status: int, code: str, paths: list[str]
) -> None:
    response = ingest(consent_event(body if isinstance(body, str) else json.dumps(body)))

    assert response["statusCode"] == status
    error = json.loads(response["body"])
    assert error["code"] == code
    assert [f["path"] for f in error["fields"]] == paths
    assert "jane.doe" not in response["body"]
    assert consent_items(cloud) == []


def test_a_body_over_500_kb_is_refused_before_parsing(ingest: Any, cloud: LocalCloud) -> None:
    response = ingest(consent_event("x" * (501 * 1024)))
    assert response["statusCode"] == 413
    assert consent_items(cloud) == []


def test_no_active_policy_takes_no_receipt(ingest: Any, cloud: LocalCloud) -> None:
    deactivate_policy(cloud)
    response = ingest(sample("consent.json"))
    assert error_of(response) == (503, "no_active_policy")
    assert consent_items(cloud) == []


def test_a_failing_consent_table_answers_503_so_clients_retry(ingest: Any, cloud: LocalCloud) -> None:
    cloud.client("dynamodb").delete_table(TableName=cloud.physical_id("ConsentTable"))
    response = ingest(sample("consent.json"))
    assert error_of(response) == (503, "receipt_store_unavailable")


def test_the_typed_routes_are_unchanged(ingest: Any, cloud: LocalCloud) -> None:
    # /v1/consent is its own route; /v1/<kind> still serves the tracking API
    event = sample("track.json")
    assert ingest(event)["statusCode"] == 200
    event["rawPath"] = event["requestContext"]["http"]["path"] = "/beacon/v1/consent"
    assert ingest(event)["statusCode"] == 404
    assert consent_items(cloud) == []


# -- fairtrack consent show ------------------------------------------------------------------------


def cli(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="fairtrack")
    sub = parser.add_subparsers(dest="command", required=True)
    receipts_cli.add_parser(sub).set_defaults(func=receipts_cli.run)
    return parser.parse_args(argv)


def test_consent_show_prints_the_receipt(
    ingest: Any, cloud: LocalCloud, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    receipt_id = created(ingest(sample("consent.json")))
    monkeypatch.setattr(
        receipts_cli, "consent_table", lambda args: (cloud.client("dynamodb"), cloud.physical_id("ConsentTable"))
    )
    capsys.readouterr()

    args = cli(["consent", "show", receipt_id])
    assert args.func(args) == 0

    shown = json.loads(capsys.readouterr().out)
    assert shown["receiptId"] == receipt_id
    assert shown["ip"] == "203.0.113.77" and shown["userAgent"] == SAMPLE_UA
    assert shown["subject"] == {"anonymousId": pseudonym_of(cloud, "anonymousId", SAMPLE_ANONYMOUS_ID)}
    assert shown["purposes"] == {"granted": ["analytics", "necessary"], "denied": ["advertising"]}
    assert shown["evidence"] == {"consent": sample_body()["consent"]}
    assert (shown["policyVersion"], shown["receivedAt"]) == (1, "2026-11-24T10:15:02.000Z")


def test_consent_show_exit_codes(
    cloud: LocalCloud, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(
        receipts_cli, "consent_table", lambda args: (cloud.client("dynamodb"), cloud.physical_id("ConsentTable"))
    )
    missing = cli(["consent", "show", "0" * 32])
    malformed = cli(["consent", "show", "receipt#x"])

    assert missing.func(missing) == 1
    assert "no receipt" in capsys.readouterr().err
    assert malformed.func(malformed) == 2
    assert "32 lower-case hex digits" in capsys.readouterr().err


class _DevAws(QuietHandler):
    answer_body: bytes = b"{}"

    def do_GET(self) -> None:
        assert self.path == "/_dev/aws"
        self.answer(200, self.answer_body)


def test_local_finds_the_consent_table_through_dev_aws(cloud: LocalCloud) -> None:
    # Given a local stack answering /_dev/aws with its endpoint, region and outputs
    _DevAws.answer_body = json.dumps(
        {"endpoint_url": "http://127.0.0.1:9", "region": "eu-west-1", "outputs": cloud.outputs()}
    ).encode()
    with LoopbackServer(_DevAws, name="dev-aws") as server:
        args = cli(["consent", "show", "0" * 32, "--local", server.base_url + "/"])
        client, table = receipts_cli.consent_table(args)
    # Then the client points at the local AWS and the table is the stack's
    assert table == cloud.physical_id("ConsentTable")
    assert client.meta.endpoint_url == "http://127.0.0.1:9"
    assert client.meta.region_name == "eu-west-1"


def test_stack_and_local_are_exclusive() -> None:
    with pytest.raises(SystemExit):
        cli(["consent", "show", "0" * 32, "--stack", "s", "--local", "http://x"])
    assert cli(["consent", "show", "0" * 32, "--stack", "prod"]).stack == "prod"
