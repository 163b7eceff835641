"""API Gateway HTTP API (payload 2.0) glue for the ingest routes: request in, JSON response out."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

from fairtrack.errors import ClientError
from fairtrack.ingest import IngestRequest

__all__ = ["empty_response", "error_response", "json_response", "to_request"]


def to_request(event: APIGatewayProxyEventV2) -> IngestRequest:
    # read with .get: a direct invoke may leave out what API Gateway always sends
    raw: dict[str, Any] = event.raw_event
    ctx: dict[str, Any] = raw.get("requestContext") or {}
    http: dict[str, Any] = ctx.get("http") or {}
    epoch_ms = ctx.get("timeEpoch") or 0
    received = (
        datetime.fromtimestamp(epoch_ms / 1000, UTC) if isinstance(epoch_ms, int) and epoch_ms else datetime.now(UTC)
    )
    return IngestRequest(
        body=event.body,
        is_base64=bool(event.is_base64_encoded),
        headers={k.lower(): v for k, v in (event.headers or {}).items()},
        query=dict(event.query_string_parameters or {}),
        source_ip=str(http.get("sourceIp") or ""),
        received_at=received,
        request_id=str(ctx.get("requestId") or ""),
        method=str(http.get("method") or "POST").upper(),
        raw_query=str(raw.get("rawQueryString") or ""),
    )


def json_response(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response[Any]:
    return Response(
        status_code=status,
        content_type="application/json",
        body=json.dumps(body, separators=(",", ":")),
        headers={"Cache-Control": "no-store", **(headers or {})},
    )


def empty_response(status: int, headers: dict[str, str] | None = None) -> Response[Any]:
    return Response(status_code=status, body=None, headers={"Cache-Control": "no-store", **(headers or {})})


def error_response(exc: ClientError) -> Response[Any]:
    return json_response(exc.status, exc.body(), exc.headers)
