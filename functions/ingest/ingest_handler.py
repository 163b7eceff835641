"""Ingest Lambda: the HTTP routes of the tracking API. Thin: adapt the request, call the domain."""

from __future__ import annotations

import gc

# Initialisation builds only what the container keeps (modules, models, clients): a cyclic
# collection during it finds almost nothing (about 700 objects) yet walks every object built so
# far, several times over. Paused until the end of this module, where the heap is frozen.
gc.disable()

from functools import cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from fairtrack.api import cors, snippet
from fairtrack.api.http import empty_response, error_response, json_response, to_request
from fairtrack.errors import ClientError
from fairtrack.hit import EventType
from fairtrack.ingest import Ingestor
from fairtrack.observability import logger, metrics
from fairtrack.settings import ingest_settings

if TYPE_CHECKING:
    from fairtrack.consent.receipts import ConsentReceipts

app = APIGatewayHttpResolver()
ingestor = Ingestor(ingest_settings())
if ingestor.settings.proxy_mode == "cloudfront":
    # Behind the deployment's CloudFront, every route first checks the origin-verify header: a
    # request sent around the proxy is refused (403 proxy_required) before anything else is read.
    from aws_lambda_powertools.event_handler.middlewares import NextMiddleware

    def require_proxy(resolver: APIGatewayHttpResolver, next_middleware: NextMiddleware) -> Response[Any]:
        ingestor.verify_proxy({k.lower(): v for k, v in (resolver.current_event.headers or {}).items()})
        return next_middleware(resolver)

    app.use(middlewares=[require_proxy])

# Every accepted hit is queued: the SQS client (thousands of long-lived objects) is made now, while
# the collector is paused, rather than by the first request.
ingestor.sender.client  # noqa: B018


@cache
def receipts() -> ConsentReceipts:
    """Consent receipts, built on the first ``POST /v1/consent``: most containers only take hits,
    and the receipt models (about 6 ms of import) would be built for nothing there."""
    from fairtrack.consent.receipts import ConsentReceipts

    return ConsentReceipts(ingestor)


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


# Consent receipts (a static route: Powertools matches static routes before /v1/<kind>).
@app.post("/v1/consent")
def consent_receipt() -> Response[Any]:
    result = receipts().record(to_request(app.current_event))
    return json_response(201, result.body(), result.headers)


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
    # (and read no more of it: the events refused by index are counted here, as for gtag)
    if result.rejected:
        metrics.add_metric(name="HitsRejected", unit="Count", value=len(result.rejected))
    return json_response(200, result.body(), result.headers)


@app.post("/beacon/v1/batch")
def beacon_batch() -> Response[Any]:
    result = ingestor.segment_batch(to_request(app.current_event))
    if result.rejected:
        metrics.add_metric(name="HitsRejected", unit="Count", value=len(result.rejected))
    return json_response(200, result.body(), result.headers)


# GA4 gtag.js hits: 204 with no body whenever anything was accepted, as Google answers.
@app.get("/g/collect")
@app.post("/g/collect")
def gtag_collect() -> Response[Any]:
    result = ingestor.gtag(to_request(app.current_event))
    if result.rejected:
        metrics.add_metric(name="HitsRejected", unit="Count", value=len(result.rejected))
    return empty_response(204, result.headers)


# fairtrack.js, the website snippet (see fairtrack.api.snippet): cacheable, gzipped when accepted.
@app.get("/fairtrack.js", compress=True)
def snippet_js() -> Response[Any]:
    body, etag = snippet.source()
    headers = {
        "Cache-Control": snippet.CACHE_CONTROL,
        "ETag": etag,
        "Vary": "Accept-Encoding",
        "X-Content-Type-Options": "nosniff",
        "Cross-Origin-Resource-Policy": "cross-origin",
    }
    if snippet.not_modified(app.current_event.headers.get("if-none-match"), etag):
        return Response(status_code=304, body=None, headers=headers)
    return Response(status_code=200, content_type=snippet.CONTENT_TYPE, body=body, headers=headers)


# CORS preflights, answered per source (see fairtrack.api.cors for why here and not in API Gateway).
@app.route("/v1/<kind>", method="OPTIONS")
@app.route("/beacon/v1/batch", method="OPTIONS")
@app.route("/g/collect", method="OPTIONS")
def preflight(kind: str = "") -> Response[Any]:
    headers = ingestor.preflight(to_request(app.current_event))
    if headers is None:
        metrics.add_metric(name="PreflightsRefused", unit="Count", value=1)
        return empty_response(403)
    return empty_response(204, headers)


@app.exception_handler(ClientError)  # type: ignore[untyped-decorator]
def client_error(exc: ClientError) -> Response[Any]:
    metrics.add_metric(name="RequestsRefused", unit="Count", value=1)
    origin = app.current_event.headers.get("origin") if app.current_event.headers else None
    if origin and not exc.headers and exc.status != 403 and ingestor.store.origin_allowed(origin):
        # refused before the source was known (bad JSON, bad key): let an allowed page read why
        exc.headers.update(cors.response_headers(origin))
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


# Initialisation is over: every object built so far (modules, models, the resolver, the ingestor)
# lives as long as the container. Move them to the collector's permanent generation, so that the
# full collections a warm container still runs scan only what requests create, not all of this.
# Then the collector runs again, as usual, for what requests create.
gc.freeze()
gc.enable()
