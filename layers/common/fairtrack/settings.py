"""Environment variables read through settings models, once per container.

Each Lambda reads its configuration from the environment the SAM template gives it; the models
here are the single place those names are spelled in Python.
"""

from __future__ import annotations

import os
from functools import cache
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Destination = Literal["ga4", "meta", "webhook", "lake"]
DESTINATIONS: tuple[Destination, ...] = ("ga4", "meta", "webhook", "lake")


class CommonSettings(BaseModel):
    """Settings every function shares; names are the upper-case environment variables."""

    model_config = ConfigDict(frozen=True, extra="ignore", alias_generator=str.upper, populate_by_name=True)

    policy_table: str = "fairtrack-policy"
    policy_cache_seconds: int = Field(default=30, ge=1, le=60)


class IngestSettings(CommonSettings):
    ga4_queue_url: str = ""
    meta_queue_url: str = ""
    webhook_queue_url: str = ""
    lake_queue_url: str = ""
    ip_v4_prefix_length: int = 24
    ip_v6_prefix_length: int = 48
    trusted_proxy: bool = False
    pseudonym_secret_arn: str = ""
    consent_table: str = ""

    @field_validator("ip_v4_prefix_length")
    @classmethod
    def _v4(cls, value: int) -> int:
        if value not in (16, 24):
            raise ValueError("must be 16 or 24")
        return value

    @field_validator("ip_v6_prefix_length")
    @classmethod
    def _v6(cls, value: int) -> int:
        if value not in (32, 48, 56, 64):
            raise ValueError("must be 32, 48, 56 or 64")
        return value

    def queue_url(self, destination: Destination) -> str:
        url: str = getattr(self, f"{destination}_queue_url")
        return url


class ForwarderSettings(CommonSettings):
    destination: Destination
    ga4_measurement_id: str = ""
    ga4_api_secret_arn: str = ""
    ga4_endpoint: str = "https://www.google-analytics.com"
    ga4_debug: bool = False
    meta_pixel_id: str = ""
    meta_access_token_arn: str = ""
    meta_graph_url: str = "https://graph.facebook.com/v21.0"
    meta_test_event_code: str = ""
    destination_timeout_seconds: float = Field(default=5.0, gt=0, le=25)
    webhook_url: str = ""
    webhook_secret_arn: str = ""
    webhook_timeout_seconds: float = Field(default=5.0, gt=0, le=25)
    lake_bucket: str = ""
    lake_prefix: str = "lake"
    delivery_table: str = ""
    failed_bucket: str = ""
    decision_log_bucket: str = ""  # empty: no decision log (fairtrack.decision_log)


@cache
def ingest_settings() -> IngestSettings:
    return IngestSettings.model_validate(dict(os.environ))


@cache
def forwarder_settings() -> ForwarderSettings:
    return ForwarderSettings.model_validate(dict(os.environ))
