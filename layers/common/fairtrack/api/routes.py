"""The ingest function's routes: which path takes which hits, and what each answers.

- ``POST /v1/<kind>``: the Segment / RudderStack tracking API (long paths and analytics.js's short
  ones), ``POST /beacon/v1/batch`` (a page leaving) and ``GET|POST /g/collect`` (gtag.js) hand the
  request to the :class:`~fairtrack.ingest.Ingestor`; Segment routes answer 200 ``{"success": true}``
  whenever anything was accepted (real SDKs treat any other 2xx as failure), gtag 204 with no body,
  as Google does;
- ``POST /v1/consent`` records a consent receipt (:mod:`fairtrack.consent.receipts`, built on the
  first receipt: most containers only take hits);
- ``GET /fairtrack.js`` serves the website snippet (:mod:`fairtrack.api.snippet`);
- ``OPTIONS`` on the hit routes answers CORS preflights per source (:mod:`fairtrack.api.cors`);
- behind the deployment's CloudFront every route first checks the origin-verify header.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response

from fairtrack.api import errors, snippet
from fairtrack.api.http import empty_response, json_response, to_request
from fairtrack.errors import ClientError
from fairtrack.hit import EventType
from fairtrack.observability import metrics

if TYPE_CHECKING:
    from fairtrack.consent.receipts import ConsentReceipts
    from fairtrack.ingest import Ingestor, IngestResult

__all__ = ["BATCH_ROUTES", "TYPED_ROUTES", "ingest_app"]

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

INGEST_REFUSALS = errors.Refusals(
    metric="RequestsRefused",
    log_message="request refused",
    internal_message="the gateway failed to process the request",
    log_fields=True,
)


def _count_rejected(result: IngestResult) -> IngestResult:
    # the events refused by index are counted here: the answer is a success whenever one was accepted
    if result.rejected:
        metrics.add_metric(name="HitsRejected", unit="Count", value=len(result.rejected))
    return result


def ingest_app(ingestor: Ingestor) -> APIGatewayHttpResolver:
    """The resolver of one ingest container, its routes answered by ``ingestor``."""
    app = APIGatewayHttpResolver()
    if ingestor.proxy.cloudfront:
        # a request sent around the proxy is refused (403 proxy_required) before anything else is read
        from aws_lambda_powertools.event_handler.middlewares import NextMiddleware

        def require_proxy(resolver: APIGatewayHttpResolver, next_middleware: NextMiddleware) -> Response[Any]:
            ingestor.proxy.verify({k.lower(): v for k, v in (resolver.current_event.headers or {}).items()})
            return next_middleware(resolver)

        app.use(middlewares=[require_proxy])

    @cache
    def receipts() -> ConsentReceipts:
        from fairtrack.consent.receipts import ConsentReceipts  # its models' import, on first use

        return ConsentReceipts(ingestor)

    # a static route: Powertools matches static routes before /v1/<kind>
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
        _count_rejected(result)
        return json_response(200, result.body(), result.headers)

    @app.post("/beacon/v1/batch")
    def beacon_batch() -> Response[Any]:
        result = _count_rejected(ingestor.segment_batch(to_request(app.current_event)))
        return json_response(200, result.body(), result.headers)

    @app.get("/g/collect")
    @app.post("/g/collect")
    def gtag_collect() -> Response[Any]:
        result = _count_rejected(ingestor.gtag(to_request(app.current_event)))
        return empty_response(204, result.headers)

    @app.get("/fairtrack.js", compress=True)
    def snippet_js() -> Response[Any]:
        return snippet.response(app.current_event.headers.get("if-none-match"))

    @app.route("/v1/<kind>", method="OPTIONS")
    @app.route("/beacon/v1/batch", method="OPTIONS")
    @app.route("/g/collect", method="OPTIONS")
    def preflight(kind: str = "") -> Response[Any]:
        headers = ingestor.access.preflight(to_request(app.current_event))
        if headers is None:
            metrics.add_metric(name="PreflightsRefused", unit="Count", value=1)
            return empty_response(403)
        return empty_response(204, headers)

    errors.install(app, INGEST_REFUSALS.with_origins(ingestor.store.origin_allowed))
    return app
