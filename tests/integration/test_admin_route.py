"""The admin function's data-subject routes in-process (moto): export and erase by an IAM caller,
and a refusal for any request API Gateway did not authenticate with IAM."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from logcapture import captured_logs
from subjectkit import OTHER, SUBJECT, hold_subject

from fairtrack_tools.localcloud import LocalCloud

ROOT = Path(__file__).resolve().parents[2]
OPERATOR = "arn:aws:sts::123456789012:assumed-role/fairtrack-operator/alice"


def admin_request(method: str, kind: str, subject_id: str, *, caller: str | None = OPERATOR) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((ROOT / "events" / "admin" / "export.json").read_text())
    path = f"/admin/subjects/{kind}/{subject_id}"
    event["rawPath"] = event["requestContext"]["http"]["path"] = path
    event["requestContext"]["http"]["method"] = method
    event["routeKey"] = event["requestContext"]["routeKey"] = f"{method} /admin/subjects/{{kind}}/{{id}}"
    event["pathParameters"] = {"kind": kind, "id": subject_id}
    if caller is None:
        del event["requestContext"]["authorizer"]
    else:
        event["requestContext"]["authorizer"]["iam"]["userArn"] = caller
    return event


@pytest.fixture
def logs() -> Iterator[io.StringIO]:
    with captured_logs() as out:
        yield out


@pytest.fixture
def held(cloud: LocalCloud, load_handler: Any, context: Any) -> str:
    """Two visitors' hits in one lake object and a consent receipt of the subject."""
    pseudonym, _ = hold_subject(cloud, load_handler, context)
    return pseudonym


def test_export_returns_the_subjects_records_only(
    held: str, load_handler: Any, context: Any, logs: io.StringIO
) -> None:
    admin = load_handler("AdminFunction").handler
    response = admin(admin_request("GET", "anonymousId", SUBJECT), context)
    assert response["statusCode"] == 200, response
    assert response["headers"]["Cache-Control"] == "no-store"
    doc = json.loads(response["body"])
    assert doc["subject"] == {"kind": "anonymousId", "pseudonym": held}
    assert [r["pk"] for r in doc["consent_receipts"]] == ["receipt#r-1"]
    assert [r["event"]["messageId"] for r in doc["lake_records"]] == ["m-subject"]
    assert doc["suppressed"] is False
    assert OTHER not in response["body"]
    text = logs.getvalue()
    assert "subject exported" in text
    assert SUBJECT not in text and held not in text  # never logged


def test_erase_records_the_iam_caller_as_who(cloud: LocalCloud, held: str, load_handler: Any, context: Any) -> None:
    admin = load_handler("AdminFunction").handler
    response = admin(admin_request("DELETE", "anonymousId", SUBJECT), context)
    assert response["statusCode"] == 200, response
    record = json.loads(response["body"])
    assert record["who"] == OPERATOR
    assert record["what"]["consent_receipts_deleted"] == 1
    assert record["what"]["lake_records_removed"] == 1
    assert SUBJECT not in response["body"] and held not in response["body"]

    items = cloud.client("dynamodb").scan(TableName=cloud.outputs()["PolicyTableName"])["Items"]
    erasures = [json.loads(i["value"]["S"]) for i in items if i["id"]["S"].startswith("erasure#")]
    assert [e["who"] for e in erasures] == [OPERATOR]
    (suppressed,) = [json.loads(i["value"]["S"]) for i in items if i["id"]["S"] == f"suppress#{held}"]
    assert suppressed["erasure"] == "complete"
    assert record["range"]["lake"]["whole_lake"] is True

    again = json.loads(admin(admin_request("GET", "anonymousId", SUBJECT), context)["body"])
    assert again["consent_receipts"] == [] and again["lake_records"] == [] and again["suppressed"] is True


@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_a_request_without_an_iam_caller_is_refused(
    cloud: LocalCloud, held: str, load_handler: Any, context: Any, method: str
) -> None:
    admin = load_handler("AdminFunction").handler
    response = admin(admin_request(method, "anonymousId", SUBJECT, caller=None), context)
    assert response["statusCode"] == 403
    assert SUBJECT not in response["body"]
    items = cloud.client("dynamodb").scan(TableName=cloud.outputs()["PolicyTableName"])["Items"]
    assert not any(i["id"]["S"].startswith(("erasure#", "suppress")) for i in items)


def test_errors_never_echo_the_id(held: str, load_handler: Any, context: Any, logs: io.StringIO) -> None:
    admin = load_handler("AdminFunction").handler
    unknown = admin(admin_request("GET", "email", SUBJECT), context)
    assert unknown["statusCode"] == 404 and SUBJECT not in unknown["body"]
    bad_range = admin_request("GET", "userId", SUBJECT)
    bad_range["rawQueryString"] = "from=2026-12-01&to=2026-11-01"
    bad_range["queryStringParameters"] = {"from": "2026-12-01", "to": "2026-11-01"}
    refused = admin(bad_range, context)
    assert refused["statusCode"] == 400 and SUBJECT not in refused["body"]
    text = logs.getvalue()
    assert "admin request refused" in text and SUBJECT not in text
