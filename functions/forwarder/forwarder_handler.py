"""Forwarder Lambda, one per destination (``DESTINATION``): SQS batch in, partial batch failures out."""

from __future__ import annotations

import gc

# Initialisation builds only what the container keeps: no cyclic collection until it is over (see
# ingest_handler for why); the end of this module freezes the heap and turns the collector back on.
gc.disable()

from typing import Any

from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.typing import LambdaContext

from fairtrack.forwarder import Forwarder, build_destination
from fairtrack.observability import logger, metrics
from fairtrack.settings import forwarder_settings
from fairtrack.stores.clients import SharedClient

SECRET_MAX_AGE = 300


def _secret(arn: str) -> bytes | None:
    value = parameters.get_secret(arn, max_age=SECRET_MAX_AGE)
    return value.encode() if isinstance(value, str) else value


settings = forwarder_settings()
s3 = SharedClient("s3")  # the lake and the failed store write with one client
firehose = SharedClient("firehose")  # the decision log
# Every batch writes its decision log (to Firehose; straight to S3 without a stream), and every lake
# batch its lake object: those clients are made now, while the collector is paused, rather than by
# the first batch.
if settings.decision_log_stream:
    firehose.client  # noqa: B018
if settings.destination == "lake" or (settings.decision_log_bucket and not settings.decision_log_stream):
    s3.client  # noqa: B018
forwarder = Forwarder(settings, build_destination(settings, _secret, s3=s3), s3=s3, firehose=firehose)


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return forwarder.handle(event, context)


# Initialisation is over: move what it built (modules, models, the forwarder) to the collector's
# permanent generation, so that full collections during warm invocations stop scanning it.
gc.freeze()
gc.enable()
