"""Ingest Lambda: the HTTP routes of the tracking API. Thin: adapt the request, call the domain."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from fairtrack.errors import ClientError
from fairtrack.hit import EventType
from fairtrack.http import error_response, json_response, to_request
from fairtrack.ingest import Ingestor
from fairtrack.observability import logger, metrics
from fairtrack.settings import ingest_settings

app = APIGatewayHttpResolver()
ingestor = Ingestor(ingest_settings())


# Segment / RudderStack tracking API: long paths and analytics.js's short ones.
TYPED_ROUTES: dict[str, EventType] = {
    "track": "track",
    "t": "track",
    "page": "page",
    "p": "page",
    "screen": "screen",
    "s": "screen",
    "identify": "identify",
    "i": "identify",
    "group": "group",
    "g": "group",
    "alias": "alias",
    "a": "alias",
}
BATCH_ROUTES = ("batch", "b")


@app.post("/v1/<kind>")
def segment(kind: str) -> Response[Any]:
    request = to_request(app.current_event)
    if kind in BATCH_ROUTES:
        result = ingestor.segment_batch(request)
    elif kind in TYPED_ROUTES:
        result = ingestor.segment(request, TYPED_ROUTES[kind])
    else:
        raise ClientError(404, "not_found", "no such route")
    # 200 {"success": true} whenever anything was accepted: real SDKs treat any other 2xx as failure
    return json_response(200, result.body())


@app.post("/beacon/v1/batch")
def beacon_batch() -> Response[Any]:
    return json_response(200, ingestor.segment_batch(to_request(app.current_event)).body())


@app.exception_handler(ClientError)  # type: ignore[untyped-decorator]
def client_error(exc: ClientError) -> Response[Any]:
    metrics.add_metric(name="RequestsRefused", unit="Count", value=1)
    logger.info(
        "request refused", extra={"status": exc.status, "code": exc.code, "fields": [e.path for e in exc.errors][:20]}
    )
    return error_response(exc)


@app.exception_handler(Exception)  # type: ignore[untyped-decorator]
def unexpected_error(exc: Exception) -> Response[Any]:
    # Only the exception type is logged: messages can carry submitted values.
    logger.error("unexpected error", extra={"error_type": type(exc).__name__})
    return error_response(ClientError(500, "internal_error", "the gateway failed to process the request"))


@app.not_found
def not_found(_exc: Exception) -> Response[Any]:
    metrics.add_metric(name="RequestsRefused", unit="Count", value=1)
    return error_response(ClientError(404, "not_found", "no such route"))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
