"""Consent receipts (fairtrack.consent.receipts): validating a consent body, resolving it as a hit would be
resolved, and the items that reach the consent table."""

from __future__ import annotations

import base64
import json
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from logcapture import captured_logs
from unit_policy_docs import default_doc, default_policy

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root, for `bench`

from bench.fakes import ORIGIN, DiscardingSender, MemoryPolicyStore, all_destinations_settings, memory_ingestor
from fairtrack.anonymise.pseudonym import Pseudonymiser
from fairtrack.consent import receipts
from fairtrack.consent import signals as consent
from fairtrack.consent.receipts import ConsentReceipts, ConsentRequest, Receipt, make_receipt, parse_request
from fairtrack.errors import ClientError, FieldError
from fairtrack.ingest import IngestRequest, Visitor
from fairtrack.policy import Policy
from fairtrack.protocols.segment import parse_event

KEY = b"k" * 32
RECEIVED = datetime(2026, 11, 24, 10, 15, 2, tzinfo=UTC)
FULL_IP = "198.51.100.123"
UA = "Mozilla/5.0 (X11; Linux x86_64) Chrome/130.0 Safari/537.36"
VISITOR = Visitor(country="DE", ip="198.51.100.0", full_ip=FULL_IP, user_agent=UA)
WRITE_KEY = "unit-write-key"


@pytest.fixture
def policy() -> Policy:
    return default_policy(7)


def body(**extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "anonymousId": "anon-1",
        "consent": {"categoryPreferences": {"analytics": True, "advertising": False}},
    }
    out.update(extra)
    return out


def parsed(raw: dict[str, Any]) -> ConsentRequest:
    result = parse_request(raw)
    assert isinstance(result, ConsentRequest), result
    return result


def errors(raw: Any) -> list[FieldError]:
    result = parse_request(raw)
    assert isinstance(result, list), "expected the body to be refused"
    return result


def receipt_for(raw: dict[str, Any], policy: Policy, **kw: Any) -> Receipt:
    return make_receipt(
        parsed(raw),
        policy=policy,
        source_id="web",
        visitor=kw.pop("visitor", VISITOR),
        received_at=RECEIVED,
        pseudonymiser=Pseudonymiser(KEY),
        receipt_id="r1",
        **kw,
    )


# -- validation ------------------------------------------------------------------------------------


def test_a_segment_consent_body_is_read_as_a_hits_signal() -> None:
    # Given the Segment shape, with a write key and keys fairtrack does not read
    request = parsed(body(writeKey="k", context={"page": {"path": "/"}}, timestamp="2026-11-24T10:15:00Z"))
    # Then the signal is the one a hit would carry, and the evidence holds it as sent
    assert request.signals().categoryPreferences == {"analytics": True, "advertising": False}
    assert request.evidence() == {"consent": {"categoryPreferences": {"analytics": True, "advertising": False}}}
    assert request.timestamp == datetime(2026, 11, 24, 10, 15, tzinfo=UTC)
    assert request.subjects() == {"anonymousId": "anon-1"}


def test_every_signal_shape_is_kept_as_sent() -> None:
    managed = {"provider": "oneTrust", "allowedConsentIds": ["C0001", 2], "deniedConsentIds": ["C0004"]}
    request = parsed(
        {
            "anonymousId": "a",
            "consentManagement": {**managed, "resolutionStrategy": "OR", "vendorSpecific": {"x": 1}},
            "gcs": "G110",
            "gcd": "13r3r3r3r5",
            "npa": 1,
            "tcString": (
                "CQHk2gAQHk2gAAGABCENBOFgAP_AAAAAAAAAAAAAAAAA.II7Nd_X__bX9n-_7_6ft0eY1f9_r37uQzDhfNs-8F3L_W"
                "_LwX32E7NF36tq4KmR4ku1bBIQNtHMnUDUmxaolVrzHsak2cpyNKJ_JkknsZe2dYGF9Pn9lD-YKZ7_5_9_f52T_9_9"
                "_-39z3_9f___dv_-__-vjf_599n_v9fV_78_Kf9______-____________8A"
            ),
        }
    )
    evidence = request.evidence()
    # unknown keys inside a signal are not read, so not kept either
    assert evidence["consentManagement"] == {**managed, "resolutionStrategy": "OR"}
    assert (evidence["gcs"], evidence["gcd"], evidence["npa"]) == ("G110", "13r3r3r3r5", "1")
    assert evidence["tcString"].startswith("CQHk2g")
    assert request.signals().consentManagement == evidence["consentManagement"]


def test_ids_are_read_like_a_segment_events() -> None:
    # numbers as text, surrounding whitespace removed, an empty userId absent (RudderStack JS)
    assert parsed(body(anonymousId=42, userId="")).subjects() == {"anonymousId": "42"}
    assert parsed(body(anonymousId="  a-1 ", userId=" u-9 ")).subjects() == {"anonymousId": "a-1", "userId": "u-9"}


@pytest.mark.parametrize("anonymous_id", [None, "", "   ", "missing"])
def test_anonymous_id_is_required(anonymous_id: Any) -> None:
    raw = body(userId="u-1")
    if anonymous_id == "missing":
        del raw["anonymousId"]
    else:
        raw["anonymousId"] = anonymous_id
    assert errors(raw) == [FieldError("anonymousId", receipts.ANONYMOUS_ID_REQUIRED)]


def test_a_body_without_any_signal_is_refused() -> None:
    assert errors({"anonymousId": "a", "userId": "u"}) == [FieldError("body", receipts.SIGNAL_REQUIRED)]


@pytest.mark.parametrize(
    ("raw", "path"),
    [
        # a category is a key the client chose: named by its position, never its name
        (body(consent={"categoryPreferences": {"analytics": "yes"}}), "consent.categoryPreferences.<key #1>"),
        (body(consent={"categoryPreferences": ["analytics"]}), "consent.categoryPreferences"),
        (body(consent={"analytics": True}), "consent.categoryPreferences"),
        (body(consentManagement={"allowedConsentIds": "C0002"}), "consentManagement.allowedConsentIds"),
        (body(consentManagement={"resolutionStrategy": "xor"}), "consentManagement.resolutionStrategy"),
        (body(gcs="G1x1"), "gcs"),
        (body(gcd="13"), "gcd"),
        (body(npa="2"), "npa"),
        (body(tcString="not a tc string"), "tcString"),
        (body(timestamp="yesterday"), "timestamp"),
        (body(timestamp="1900-01-01T00:00:00Z"), "timestamp"),
        (body(userId=True), "userId"),
        (body(anonymousId="x" * 201), "anonymousId"),
    ],
)
def test_bad_fields_are_named_with_a_reason(raw: dict[str, Any], path: str) -> None:
    (error,) = errors(raw)
    assert error.path == path
    assert error.reason


def test_errors_never_echo_what_was_sent() -> None:
    # Given personal data as a category name and as values
    raw = body(
        consent={"categoryPreferences": {"jane.doe@example.com": "jane.doe@example.com"}},
        tcString="jane.doe@example.com",
        gcs="jane.doe@example.com",
    )
    found = errors(raw)
    # Then the paths hide the client's key and no reason holds a value
    assert {e.path for e in found} == {"consent.categoryPreferences.<key #1>", "tcString", "gcs"}
    assert "jane" not in json.dumps([e.as_dict() for e in found])


@pytest.mark.parametrize("raw", [[1, 2], "text", 42, None])
def test_the_body_must_be_an_object(raw: Any) -> None:
    assert errors(raw) == [FieldError("body", "must be a JSON object")]


def test_a_body_over_32_kb_is_too_large() -> None:
    assert errors(body(padding="x" * (33 * 1024))) == [FieldError("body", receipts.RECEIPT_TOO_LARGE)]


# -- resolution ------------------------------------------------------------------------------------


def test_purposes_are_resolved_against_the_policy_and_denied_is_the_rest(policy: Policy) -> None:
    receipt = receipt_for(body(), policy)

    assert receipt.granted == ["analytics", "necessary"]
    assert receipt.denied == ["advertising"]
    assert receipt.signals == ["segment.categoryPreferences"]
    assert receipt.policy_version == 7


@pytest.mark.parametrize(
    ("signal", "granted", "sources"),
    [
        # gcs says nothing of ad_user_data and ad_personalization: advertising needs gcd
        ({"gcs": "G111"}, ["analytics", "necessary"], ["google.consent_mode"]),
        ({"gcd": "13r3r3r3r5"}, ["advertising", "analytics", "necessary"], ["google.consent_mode"]),
        ({"gcs": "G111", "npa": "1"}, ["analytics", "necessary"], ["google.consent_mode"]),
        (
            {"consentManagement": {"allowedConsentIds": ["C0002"], "deniedConsentIds": ["C0004"]}},
            ["analytics", "necessary"],
            ["rudderstack.consentManagement"],
        ),
        ({"tcString": "AAAA"}, ["necessary"], ["iab.tcf"]),  # undecodable: grants nothing, still a signal
        (
            {"consent": {"categoryPreferences": {"analytics": True}}, "gcs": "G100"},
            ["necessary"],  # one signal denies analytics: denied
            ["segment.categoryPreferences", "google.consent_mode"],
        ),
    ],
)
def test_each_signal_resolves_as_on_a_hit(
    policy: Policy, signal: dict[str, Any], granted: list[str], sources: list[str]
) -> None:
    receipt = receipt_for({"anonymousId": "a", **signal}, policy)

    assert receipt.granted == granted
    assert receipt.denied == sorted({"necessary", "analytics", "advertising"} - set(granted))
    assert receipt.signals == sources


def test_region_defaults_never_stand_in_for_a_signal(policy: Policy) -> None:
    # Given a policy that grants analytics by default in DE, and a receipt that denies it
    doc = default_doc()
    doc.setdefault("defaults", {})["regions"] = {"DE": ["analytics"]}
    regional = Policy.model_validate({**doc, "version": 8})
    receipt = receipt_for(body(consent={"categoryPreferences": {"analytics": False}}), regional)
    # Then the visitor's own decision is what the receipt says
    assert receipt.granted == ["necessary"]


def test_receipt_matches_what_ingest_makes_of_the_same_hit(policy: Policy) -> None:
    # Given a hit and a receipt from the same visitor with the same consent, ids padded and numeric
    prefs = {"analytics": True, "Targeting Cookies": False}
    event = {
        "type": "track",
        "event": "e",
        "anonymousId": 1234,
        "userId": " user-7 ",
        "context": {"consent": {"categoryPreferences": prefs}},
    }
    hit = parse_event(event, implied_type=None)
    assert not isinstance(hit, list)
    receipt = receipt_for(
        {"anonymousId": 1234, "userId": " user-7 ", "consent": {"categoryPreferences": prefs}}, policy
    )
    # Then the receipt's subject is the hit's pseudonymised ids and its purposes the hit's
    pseudonymiser = Pseudonymiser(KEY)
    assert receipt.subject == {
        "anonymousId": pseudonymiser.pseudonym("anonymousId", str(hit.anonymousId)),
        "userId": pseudonymiser.pseudonym("userId", str(hit.userId)),
    }
    resolved = consent.resolve(hit.to_hit(RECEIVED).consent, policy, VISITOR.country)
    assert receipt.granted == resolved.purposes


def test_expiry_is_received_plus_the_policys_consent_retention() -> None:
    doc = default_doc()
    doc.setdefault("defaults", {})["consent_retention_days"] = 30
    short = Policy.model_validate({**doc, "version": 2})

    receipt = receipt_for(body(), short)

    assert receipt.expires_at == int((RECEIVED + timedelta(days=30)).timestamp())


# -- items -----------------------------------------------------------------------------------------


def test_the_receipt_item_holds_the_evidence_and_round_trips(policy: Policy) -> None:
    receipt = receipt_for(body(userId="u-1", timestamp="2026-11-24T10:15:00Z"), policy)
    item = receipt.item()

    assert item["pk"] == {"S": "receipt#r1"} and item["sk"] == {"S": "receipt"}
    assert item["ip"] == {"S": FULL_IP} and item["user_agent"] == {"S": UA}
    assert item["expires_at"] == {"N": str(receipt.expires_at)}
    assert json.loads(item["evidence"]["S"]) == receipt.evidence
    assert "anon-1" not in json.dumps(item) and "u-1" not in json.dumps(item)  # only pseudonyms
    assert Receipt.from_item(item) == receipt


def test_pointers_one_per_subject_without_address_or_user_agent(policy: Policy) -> None:
    receipt = receipt_for(body(userId="u-1"), policy)
    pointers = receipt.pointers()

    assert [p["pk"]["S"] for p in pointers] == [f"subject#{receipt.subject[k]}" for k in ("anonymousId", "userId")]
    for pointer in pointers:
        assert pointer["sk"] == {"S": "receipt#2026-11-24T10:15:02.000Z#r1"}
        assert pointer["receipt_id"] == {"S": "r1"}
        assert pointer["expires_at"] == {"N": str(receipt.expires_at)}
        assert FULL_IP not in json.dumps(pointer) and "Mozilla" not in json.dumps(pointer)


def test_a_connection_without_address_or_agent_stores_neither(policy: Policy) -> None:
    receipt = receipt_for(body(), policy, visitor=Visitor(None, None, None, None))
    assert "ip" not in receipt.item() and "user_agent" not in receipt.item()
    assert Receipt.from_item(receipt.item()) == receipt


def test_the_operator_view_names_everything(policy: Policy) -> None:
    shown = receipt_for(body(), policy).as_json()

    assert shown["receiptId"] == "r1" and shown["ip"] == FULL_IP and shown["userAgent"] == UA
    assert shown["purposes"] == {"granted": ["analytics", "necessary"], "denied": ["advertising"]}
    assert shown["receivedAt"] == "2026-11-24T10:15:02.000Z"
    assert shown["expiresAt"] == "2027-12-24T10:15:02Z"  # 395 days


def test_the_table_name_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from fairtrack.settings import IngestSettings

    monkeypatch.setenv("CONSENT_TABLE", "consent-table")
    assert IngestSettings.model_validate(dict(os.environ)).consent_table == "consent-table"
    monkeypatch.delenv("CONSENT_TABLE")
    assert IngestSettings.model_validate(dict(os.environ)).consent_table == ""


# -- the route, with in-memory stand-ins -----------------------------------------------------------


class MemoryReceipts:
    """The part of a DynamoDB client ReceiptStore uses."""

    def __init__(self, fail: bool = False) -> None:
        self.items: list[dict[str, Any]] = []
        self.fail = fail

    def transact_write_items(self, TransactItems: list[dict[str, Any]]) -> None:
        if self.fail:
            raise RuntimeError(f"boom {json.dumps(TransactItems)}")
        for entry in TransactItems:
            assert entry["Put"]["ConditionExpression"] == "attribute_not_exists(pk)"
            self.items.append(entry["Put"]["Item"])


def request(raw: Any, **headers: str) -> IngestRequest:
    auth = "Basic " + base64.b64encode(f"{WRITE_KEY}:".encode()).decode()
    return IngestRequest(
        body=raw if isinstance(raw, str) else json.dumps(raw),
        is_base64=False,
        headers={"authorization": auth, "user-agent": UA, **headers},
        query={},
        source_ip=FULL_IP,
        received_at=RECEIVED,
        request_id="req-1",
    )


def route(table: MemoryReceipts, *, pseudonyms: bool = True) -> ConsentReceipts:
    ingestor = memory_ingestor(all_destinations_settings(), MemoryPolicyStore(WRITE_KEY, "web"), DiscardingSender())
    if not pseudonyms:
        ingestor._pseudonymiser = None
    return ConsentReceipts(ingestor, receipts.ReceiptStore("consent", lambda: table), new_id=lambda: "r1")


def test_record_stores_the_receipt_and_its_pointer() -> None:
    table = MemoryReceipts()
    result = route(table).record(request(body(), origin=ORIGIN))

    assert result.body() == {"receiptId": "r1"}
    assert result.headers["Access-Control-Allow-Origin"] == ORIGIN
    receipt, pointer = table.items
    assert receipt["ip"] == {"S": FULL_IP} and receipt["source_id"] == {"S": "web"}
    assert pointer["pk"]["S"].startswith("subject#p-")


def test_an_invalid_body_from_an_allowed_origin_gets_its_cors_headers() -> None:
    table = MemoryReceipts()
    with pytest.raises(ClientError) as caught:
        route(table).record(request({"anonymousId": "a"}, origin=ORIGIN))

    assert caught.value.status == 400 and caught.value.code == "invalid_consent"
    assert caught.value.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert table.items == []


def test_a_failing_table_answers_503_and_logs_only_the_error_type() -> None:
    with captured_logs() as logs, pytest.raises(ClientError) as caught:
        route(MemoryReceipts(fail=True)).record(request(body()))

    assert (caught.value.status, caught.value.code) == (503, "receipt_store_unavailable")
    (line,) = [json.loads(line) for line in logs.getvalue().splitlines()]
    assert line["message"] == "storing the consent receipt failed" and line["error_type"] == "RuntimeError"
    assert FULL_IP not in logs.getvalue() and "anon-1" not in logs.getvalue()


def test_a_stored_receipt_logs_counts_and_codes_only() -> None:
    with captured_logs() as logs:
        route(MemoryReceipts()).record(request(body(userId="u-1")))

    (line,) = [json.loads(line) for line in logs.getvalue().splitlines()]
    assert line["message"] == "consent receipt stored"
    assert (line["granted"], line["denied"], line["subjects"]) == (2, 1, 2)
    assert line["signals"] == ["segment.categoryPreferences"]
    for value in (FULL_IP, "Mozilla", "anon-1", "u-1", "r1", "p-"):
        assert value not in logs.getvalue()


def test_without_a_pseudonym_key_no_receipt_is_taken() -> None:
    table = MemoryReceipts()
    with pytest.raises(ClientError) as caught:
        route(table, pseudonyms=False).record(request(body()))

    assert (caught.value.status, caught.value.code) == (503, "receipts_unavailable")
    assert table.items == []


def test_without_a_consent_table_no_receipt_is_taken() -> None:
    settings = all_destinations_settings().model_copy(update={"consent_table": ""})
    ingestor = memory_ingestor(settings, MemoryPolicyStore(WRITE_KEY, "web"), DiscardingSender())
    with pytest.raises(ClientError) as caught:
        ConsentReceipts(ingestor).record(request(body()))

    assert (caught.value.status, caught.value.code) == (503, "receipts_unavailable")
