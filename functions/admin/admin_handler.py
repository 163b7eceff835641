"""Admin Lambda: data-subject rights over the HTTP API, for sessions of the operator role only
(IAM-signed; see fairtrack.api.admin for the routes and who may call them). Only wires."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from fairtrack.api.admin import admin_app
from fairtrack.observability import logger, metrics
from fairtrack.settings import admin_settings

app = admin_app(admin_settings)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
