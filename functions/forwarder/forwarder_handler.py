"""Forwarder Lambda, one per destination (``DESTINATION``): SQS batch in, partial batch failures out."""

from __future__ import annotations

import gc

# Initialisation builds only what the container keeps: no cyclic collection until it is over (see
# ingest_handler for why); the end of this module freezes the heap and turns the collector back on.
gc.disable()

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from fairtrack.destinations.configured import build_destination, function_clients, stored_secret
from fairtrack.forwarder import Forwarder
from fairtrack.observability import logger, metrics
from fairtrack.settings import forwarder_settings

settings = forwarder_settings()
s3, firehose = function_clients(settings)  # made now when every batch needs them
forwarder = Forwarder(settings, build_destination(settings, stored_secret, s3=s3), s3=s3, firehose=firehose)


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return forwarder.handle(event, context)


# Initialisation is over: move what it built (modules, models, the forwarder) to the collector's
# permanent generation, so that full collections during warm invocations stop scanning it.
gc.freeze()
gc.enable()
