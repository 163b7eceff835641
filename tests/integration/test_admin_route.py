"""The admin function's data-subject routes in-process (moto): export and erase by a session of the
operator role (``OperatorRoleArn``; the local stack's is ``fairtrack-operator``), a refusal for any
request API Gateway did not authenticate with IAM, for any other IAM caller, and for everyone while
no operator role is configured; and the local API server's way to the routes (SigV4 or 403)."""

from __future__ import annotations

import io
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from awshelpers import error_of
from logcapture import captured_logs
from subjectkit import OTHER, SUBJECT, hold_subject

from fairtrack import settings
from fairtrack_tools.local.apiserver import ApiServer
from fairtrack_tools.local.localcloud import LOCAL_OPERATOR_ROLE_ARN, LOCAL_OPERATOR_SESSION, LocalCloud

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


def test_erase_records_the_iam_caller_as_who(
    cloud: LocalCloud, held: str, load_handler: Any, context: Any, logs: io.StringIO
) -> None:
    admin = load_handler("AdminFunction").handler
    response = admin(admin_request("DELETE", "anonymousId", SUBJECT), context)
    assert response["statusCode"] == 200, response
    # the log line names the operator role, never the session (often the operator's e-mail)
    text = logs.getvalue()
    assert "subject erased" in text and OPERATOR.rsplit("/", 1)[0] in text
    assert OPERATOR not in text and "/alice" not in text
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


def policy_items(cloud: LocalCloud) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = cloud.client("dynamodb").scan(TableName=cloud.outputs()["PolicyTableName"])["Items"]
    return items


def test_the_local_stack_configures_the_operator_role(cloud: LocalCloud) -> None:
    assert cloud.functions()["AdminFunction"].environment["OPERATOR_ROLE_ARN"] == LOCAL_OPERATOR_ROLE_ARN
    assert OPERATOR.startswith("arn:aws:sts::123456789012:assumed-role/fairtrack-operator/")


@pytest.mark.parametrize(
    "caller",
    [
        "arn:aws:sts::123456789012:assumed-role/fairtrack-reader/alice",  # another role, same account
        "arn:aws:sts::123456789012:assumed-role/fairtrack-operator-2/alice",  # a name it prefixes
        "arn:aws:sts::210987654321:assumed-role/fairtrack-operator/alice",  # same name, other account
        "arn:aws-cn:sts::123456789012:assumed-role/fairtrack-operator/alice",  # other partition
        "arn:aws:iam::123456789012:user/alice",  # an IAM user of the account
        "arn:aws:iam::123456789012:role/fairtrack-operator",  # the role, not a session of it
        "arn:aws:iam::123456789012:root",
    ],
)
@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_any_other_iam_caller_is_refused(
    cloud: LocalCloud, held: str, load_handler: Any, context: Any, method: str, caller: str
) -> None:
    admin = load_handler("AdminFunction").handler
    response = admin(admin_request(method, "anonymousId", SUBJECT, caller=caller), context)
    assert error_of(response) == (403, "not_operator"), response
    assert SUBJECT not in response["body"] and held not in response["body"]
    assert not any(i["id"]["S"].startswith(("erasure#", "suppress")) for i in policy_items(cloud))


@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_without_an_operator_role_the_admin_api_is_closed(
    cloud: LocalCloud, held: str, load_handler: Any, context: Any, monkeypatch: pytest.MonkeyPatch, method: str
) -> None:
    admin = load_handler("AdminFunction").handler
    monkeypatch.setenv("OPERATOR_ROLE_ARN", "")  # the template's default
    settings.admin_settings.cache_clear()
    for caller in (OPERATOR, "arn:aws:iam::123456789012:user/alice"):
        response = admin(admin_request(method, "anonymousId", SUBJECT, caller=caller), context)
        assert error_of(response) == (403, "operator_role_not_configured"), response
    assert not any(i["id"]["S"].startswith(("erasure#", "suppress")) for i in policy_items(cloud))


def test_a_session_of_a_role_with_a_path_is_the_operator(
    held: str, load_handler: Any, context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An assumed-role ARN carries the role's name, not its path: the role's name decides."""
    admin = load_handler("AdminFunction").handler
    monkeypatch.setenv("OPERATOR_ROLE_ARN", "arn:aws:iam::123456789012:role/ops/privacy/fairtrack-operator")
    settings.admin_settings.cache_clear()
    assert admin(admin_request("GET", "anonymousId", SUBJECT), context)["statusCode"] == 200


def _call(url: str, method: str, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_the_local_api_takes_signed_requests_as_the_operator(
    cloud: LocalCloud, held: str, load_handler: Any, context: Any
) -> None:
    """Given the local API server with the template's routes (what ``make dev`` serves), then an
    unsigned request to an admin route gets API Gateway's 403 without reaching the function, and a
    SigV4-signed one reaches it as a session of the local operator role, which it lets through."""
    admin = load_handler("AdminFunction").handler
    invoked: list[dict[str, Any]] = []

    def invoke(function: str, event: dict[str, Any]) -> Any:
        assert function == "AdminFunction"
        invoked.append(event)
        return admin(event, context)

    routes = cloud.http_routes()
    assert {(r.method, r.path) for r in routes if r.iam_auth} == {
        ("GET", "/admin/subjects/{kind}/{id}"),
        ("DELETE", "/admin/subjects/{kind}/{id}"),
    }
    server = ApiServer([r for r in routes if r.iam_auth], invoke, lambda *_: (404, {}), port=0)
    server.start()
    try:
        url = f"{server.base_url}/admin/subjects/anonymousId/{SUBJECT}"
        assert _call(url, "GET", {}) == (403, {"message": "Forbidden"})
        assert invoked == []
        signed = {"Authorization": "AWS4-HMAC-SHA256 Credential=AKIDLOCAL/20261124/us-east-1/execute-api/aws4_request"}
        status, doc = _call(url, "GET", signed)
    finally:
        server.stop()
    assert status == 200, doc
    assert doc["subject"]["pseudonym"] == held
    (event,) = invoked
    assert event["requestContext"]["authorizer"]["iam"]["userArn"] == LOCAL_OPERATOR_SESSION
