"""The error handlers every HTTP function shares: what a refused or failed request answers and logs.

- a :class:`~fairtrack.errors.ClientError` answers its status and code (JSON), counted and logged
  with its status and code only (and, for ingest, the paths of the fields it refused, never their
  values); a browser page on an allowed origin may read why (CORS on the error answer) when the
  request was refused before its source was known (bad JSON, a bad write key);
- any other exception answers 500 and logs the exception's type only: messages can carry submitted
  values, a subject's id or a pseudonym;
- an unknown route answers 404.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response

from fairtrack.api import cors
from fairtrack.api.http import error_response
from fairtrack.errors import ClientError
from fairtrack.observability import logger, metrics

__all__ = ["Refusals", "install"]


@dataclass(frozen=True)
class Refusals:
    """How one function reports what it refuses."""

    metric: str  # counted per refused request
    log_message: str
    internal_message: str  # the 500 answer's message
    count_not_found: bool = True
    log_fields: bool = False  # the paths of the refused fields (ingest's validation errors)
    origin_allowed: Callable[[str], bool] | None = None  # CORS on errors for these origins

    def with_origins(self, origin_allowed: Callable[[str], bool]) -> Refusals:
        return replace(self, origin_allowed=origin_allowed)


def install(app: APIGatewayHttpResolver, refusals: Refusals) -> None:
    """Register the shared handlers for ``ClientError``, any other exception and unknown routes."""

    def client_error(exc: ClientError) -> Response[Any]:
        metrics.add_metric(name=refusals.metric, unit="Count", value=1)
        allowed = refusals.origin_allowed
        origin = app.current_event.headers.get("origin") if allowed and app.current_event.headers else None
        if origin and not exc.headers and exc.status != 403 and allowed and allowed(origin):
            # refused before the source was known (bad JSON, bad key): let an allowed page read why
            exc.headers.update(cors.response_headers(origin))
        extra: dict[str, Any] = {"status": exc.status, "code": exc.code}
        if refusals.log_fields:
            extra["fields"] = [e.path for e in exc.errors][:20]
        logger.info(refusals.log_message, extra=extra)
        return error_response(exc)

    def unexpected_error(exc: Exception) -> Response[Any]:
        # Only the exception type is logged: messages can carry submitted values.
        logger.error("unexpected error", extra={"error_type": type(exc).__name__})
        return error_response(ClientError(500, "internal_error", refusals.internal_message))

    def not_found(_exc: Exception) -> Response[Any]:
        if refusals.count_not_found:
            metrics.add_metric(name=refusals.metric, unit="Count", value=1)
        return error_response(ClientError(404, "not_found", "no such route"))

    app.exception_handler(ClientError)(client_error)
    app.exception_handler(Exception)(unexpected_error)
    app.not_found(not_found)
