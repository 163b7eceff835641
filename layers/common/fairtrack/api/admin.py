"""The admin function's routes: data-subject rights over the HTTP API, for IAM-signed (SigV4) callers only.

- ``GET /admin/subjects/{kind}/{id}``: everything fairtrack holds on the subject, as JSON;
- ``DELETE /admin/subjects/{kind}/{id}``: erase it, suppress the subject's later hits and record
  the erasure with the caller's IAM ARN as ``who``.

``kind`` is ``anonymousId`` or ``userId``; optional ``from``/``to`` query parameters (ISO dates)
bound the lake scan (default: every partition the lake holds, whatever its age; the erase answer
names the range covered and the counts per store, and an erase that failed halfway is completed by
the same request sent again). The id in the path is personal data: it is never logged, and no
answer echoes it.

Who may call: API Gateway authorises the routes with ``AWS_IAM`` (SigV4), which lets through any
principal whose IAM policies allow ``execute-api:Invoke`` on them; an HTTP API has no resource
policy to narrow that. So the handler itself admits only a session of the operator role
(``OPERATOR_ROLE_ARN``, the template's ``OperatorRoleArn``): the caller API Gateway authenticated
(``requestContext.authorizer.iam.userArn``) must be ``arn:<partition>:sts::<account>:assumed-role/
<role name>/<session>`` of that role, same partition, account and name (an assumed-role ARN carries
no role path). Every other request is refused with 403 before anything is read:

- ``forbidden``: no IAM caller at all (a route that lost its authorizer never becomes public);
- ``operator_role_not_configured``: ``OperatorRoleArn`` is empty, and the admin API is closed;
- ``not_operator``: an IAM user, another role (of this account or another), or the role itself
  rather than a session of it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from functools import cache
from typing import Any
from urllib.parse import unquote

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response

from fairtrack.api import errors
from fairtrack.api.http import json_response
from fairtrack.errors import ClientError
from fairtrack.observability import logger, metrics
from fairtrack.settings import AdminSettings
from fairtrack.stores import subjects
from fairtrack.stores.clients import make_client

__all__ = ["admin_app"]

KIND_OF = {"anonymousId": "anonymous_id", "userId": "user_id"}
MAX_ID_LENGTH = 512

ADMIN_REFUSALS = errors.Refusals(
    metric="AdminRequestsRefused",
    log_message="admin request refused",
    internal_message="the request failed; nothing is reported about why",
    count_not_found=False,
)


def is_operator_session(caller: str, role_arn: str) -> bool:
    """Whether ``caller`` (an authenticated IAM ARN) is a session of the role ``role_arn``:
    ``arn:P:sts::A:assumed-role/NAME/SESSION`` for ``arn:P:iam::A:role/[PATH/]NAME``."""
    role = role_arn.split(":", 5)
    who = caller.split(":", 5)
    if len(role) != 6 or len(who) != 6 or role[0] != "arn" or who[0] != "arn":
        return False
    if role[2] != "iam" or not role[5].startswith("role/") or who[2] != "sts":
        return False
    if role[3] or who[3] or who[1] != role[1] or who[4] != role[4] or not role[4]:
        return False  # IAM and STS ARNs name no region; partition and account must match
    kind, _, rest = who[5].partition("/")
    name, _, session = rest.partition("/")
    return kind == "assumed-role" and bool(session) and "/" not in session and name == role[5].rsplit("/", 1)[1]


def caller_arn(raw_event: dict[str, Any], operator_role_arn: str) -> str:
    """The IAM ARN API Gateway authenticated (payload 2.0), when it is a session of the operator
    role; refuse the request (403) otherwise, and always while no operator role is configured."""
    context = raw_event.get("requestContext") or {}
    iam = (context.get("authorizer") or {}).get("iam") or {}
    arn = iam.get("userArn") if isinstance(iam, dict) else None
    if not isinstance(arn, str) or not arn.startswith("arn:"):
        raise ClientError(403, "forbidden", "this route takes IAM-signed requests only")
    if not operator_role_arn:
        raise ClientError(
            403, "operator_role_not_configured", "the admin API is closed: the stack has no OperatorRoleArn"
        )
    if not is_operator_session(arn, operator_role_arn):
        raise ClientError(403, "not_operator", "only a session of the stack's operator role may call this route")
    return arn


def subject(kind: str, subject_id: str) -> tuple[str, str]:
    """The subject's kind as the stores name it and its id, from the route's path parameters."""
    if kind not in KIND_OF:
        raise ClientError(404, "not_found", "the subject kind is anonymousId or userId")
    value = unquote(subject_id)
    if not value or len(value) > MAX_ID_LENGTH:
        raise ClientError(400, "invalid_subject", f"the subject id must hold 1 to {MAX_ID_LENGTH} characters")
    return KIND_OF[kind], value


def date_range(query: dict[str, str]) -> tuple[date | None, date | None]:
    """The lake days to scan: from/to when given, else every partition (None, None)."""
    try:
        start = date.fromisoformat(query["from"]) if query.get("from") else None
        end = date.fromisoformat(query["to"]) if query.get("to") else None
    except ValueError:
        raise ClientError(400, "invalid_range", "from and to are ISO dates (YYYY-MM-DD)") from None
    if start is not None and end is not None and start > end:
        raise ClientError(400, "invalid_range", "from must not be after to")
    return start, end


def where(settings: AdminSettings) -> subjects.Where:
    return subjects.Where(
        policy_table=settings.policy_table,
        consent_table=settings.consent_table,
        lake_bucket=settings.lake_bucket,
        failed_bucket=settings.failed_bucket,
        pseudonym_secret_arn=settings.pseudonym_secret_arn,
    )


def admin_app(settings: Callable[[], AdminSettings]) -> APIGatewayHttpResolver:
    """The resolver of one admin container. The settings are read on the first request (the stores)
    and on every request (the operator role); the clients are made on the first request."""
    app = APIGatewayHttpResolver()
    stores = cache(lambda: where(settings()))
    client = cache(make_client)
    data = cache(lambda: {"dynamodb": client("dynamodb"), "s3": client("s3")})  # where a subject's data is

    def found_for(kind: str, value: str) -> subjects.Found:
        start, end = date_range(app.current_event.query_string_parameters or {})
        pseudonym = subjects.pseudonym_for(client("secretsmanager"), stores(), kind, value)
        return subjects.find(data(), stores(), pseudonym, start, end)

    @app.get("/admin/subjects/<kind>/<subject_id>")
    def export_subject(kind: str, subject_id: str) -> Response[Any]:
        caller_arn(app.current_event.raw_event, settings().operator_role_arn)
        internal_kind, value = subject(kind, subject_id)
        found = found_for(internal_kind, value)
        logger.info(
            "subject exported",
            extra={
                "kind": kind,
                "consent_receipts": len(found.receipts),
                "lake_records": len(found.lake_records),
                "failed_events": len(found.failed_events),
            },
        )
        return json_response(200, subjects.export(found, internal_kind))

    @app.delete("/admin/subjects/<kind>/<subject_id>")
    def erase_subject(kind: str, subject_id: str) -> Response[Any]:
        who = caller_arn(app.current_event.raw_event, settings().operator_role_arn)
        internal_kind, value = subject(kind, subject_id)
        found = found_for(internal_kind, value)
        record = subjects.erase(data(), stores(), found, who)
        metrics.add_metric(name="SubjectsErased", unit="Count", value=1)
        # the role, not the session: a session name is often the operator's e-mail (IAM Identity
        # Center); the erasure record keeps the whole ARN, in the access-controlled policy table
        logger.info("subject erased", extra={"kind": kind, "role": who.rsplit("/", 1)[0], "what": record["what"]})
        return json_response(200, record)

    errors.install(app, ADMIN_REFUSALS)
    return app
