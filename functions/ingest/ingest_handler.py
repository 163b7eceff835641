"""Ingest Lambda: the HTTP routes of the tracking API (see fairtrack.api.routes). Only wires."""

from __future__ import annotations

import gc

# Initialisation builds only what the container keeps (modules, models, clients): a cyclic
# collection during it finds almost nothing yet walks every object built so far, several times
# over. Paused until the end of this module, where the heap is frozen.
gc.disable()

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from fairtrack.api.routes import ingest_app
from fairtrack.ingest import Ingestor
from fairtrack.observability import logger, metrics
from fairtrack.settings import ingest_settings

ingestor = Ingestor(ingest_settings())
app = ingest_app(ingestor)
# Every accepted hit is queued: the SQS client (thousands of long-lived objects) is made now, while
# the collector is paused, rather than by the first request.
ingestor.sender.client  # noqa: B018


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)


# Initialisation is over: what it built lives as long as the container. Moved to the collector's
# permanent generation, full collections in a warm container scan only what requests create.
gc.freeze()
gc.enable()
