"""The destination a forwarder function delivers to, built from its settings, and the clients it
shares between its writers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities import parameters

from fairtrack.destinations import DestinationClient, UnavailableDestination
from fairtrack.settings import ForwarderSettings
from fairtrack.stores.clients import SharedClient

__all__ = ["build_destination", "function_clients", "stored_secret"]

SECRET_MAX_AGE = 300  # seconds a secret read from Secrets Manager is kept


def stored_secret(arn: str) -> bytes | None:
    """A destination's secret from Secrets Manager (Powertools' cache, :data:`SECRET_MAX_AGE`)."""
    value = parameters.get_secret(arn, max_age=SECRET_MAX_AGE)
    return value.encode() if isinstance(value, str) else value


def function_clients(settings: ForwarderSettings) -> tuple[SharedClient, SharedClient]:
    """The S3 client (the lake, the failed store and a bucket decision log write with one) and the
    Firehose client (the decision log) of a forwarder function. Every batch writes its decision log
    and every lake batch its lake object: those clients are made now, while the function
    initialises, rather than by the first batch."""
    s3, firehose = SharedClient("s3"), SharedClient("firehose")
    if settings.decision_log_stream:
        firehose.client  # noqa: B018
    if settings.destination == "lake" or (settings.decision_log_bucket and not settings.decision_log_stream):
        s3.client  # noqa: B018
    return s3, firehose


def build_destination(
    settings: ForwarderSettings, secret_getter: Callable[[str], bytes | None], *, s3: Any = None
) -> DestinationClient:
    """The destination client for this forwarder, or one that leaves every record for the DLQ when
    the destination is not configured (its queue then receives nothing from ingest anyway). ``s3``:
    the S3 client the lake writes with (one of its own, created on first use, when None); pass the
    :class:`~fairtrack.stores.clients.SharedClient` the :class:`Forwarder` gets too, and the function
    creates one S3 client, not one per writer."""

    def secret(arn: str) -> Callable[[], bytes | None]:
        return lambda: secret_getter(arn) if arn else None

    timeout = settings.destination_timeout_seconds
    if settings.destination == "webhook" and settings.webhook_url:
        from fairtrack.destinations.webhook import WebhookDestination

        return WebhookDestination(
            settings.webhook_url, secret(settings.webhook_secret_arn), settings.webhook_timeout_seconds
        )
    if settings.destination == "lake":
        from fairtrack.destinations.lake import LakeDestination

        return LakeDestination(settings.lake_bucket, settings.lake_prefix, s3=s3)
    if settings.destination == "ga4" and settings.ga4_measurement_id:
        from fairtrack.destinations.ga4 import Ga4Destination

        return Ga4Destination(
            settings.ga4_endpoint,
            settings.ga4_measurement_id,
            secret(settings.ga4_api_secret_arn),
            timeout=timeout,
            debug=settings.ga4_debug,
        )
    if settings.destination == "meta" and settings.meta_pixel_id:
        from fairtrack.destinations.meta import MetaDestination

        return MetaDestination(
            settings.meta_graph_url,
            settings.meta_pixel_id,
            secret(settings.meta_access_token_arn),
            timeout=timeout,
            test_event_code=settings.meta_test_event_code,
        )
    return UnavailableDestination(settings.destination, f"{settings.destination} is not configured")
