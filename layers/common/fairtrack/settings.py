"""Environment variables read through settings models, once per container.

Each Lambda reads its configuration from the environment the SAM template gives it; the models
here are the single place those names are spelled in Python.

``TRUSTED_PROXY`` (the template's ``TrustedProxy``) says where the visitor's address comes from:

- ``none`` (the default): the connection's address (API Gateway's ``sourceIp``); no header is
  trusted, neither ``X-Forwarded-For`` nor ``CloudFront-Viewer-*``.
- ``cloudfront``: the API sits behind the deployment's own CloudFront distribution. A request
  must carry the origin-verify header (``X-Origin-Verify``, a custom origin header CloudFront adds,
  its value in the Secrets Manager secret ``ORIGIN_VERIFY_SECRET_ARN`` names), else it is refused
  with 403 ``proxy_required``: the API cannot be called around the proxy. The address comes from
  ``CloudFront-Viewer-Address``, the country from ``CloudFront-Viewer-Country``.
- ``hops:N`` (N >= 1): N proxies you run sit in front of the API, each appending the address it
  received the request from to ``X-Forwarded-For``; the visitor's address is the Nth entry from the
  right (the entries to its left are written by the client and never trusted). The entry API
  Gateway itself appends (the connection's address) is not counted. A list shorter than N, or an
  entry that is not an address: the connection's address. No country header is trusted.

The former boolean values: ``false`` still means ``none`` (its meaning did not change). ``true``
is refused: it meant "the leftmost ``X-Forwarded-For`` entry" (which the client writes) and the
``CloudFront-Viewer-Country`` header from anyone, and no new mode means that; mapping it to one
(``hops:1`` or ``cloudfront``) would silently change which address is used or start refusing
requests, so a deployment still configured with it fails loudly (the template's pattern refuses
it at deploy time, these settings at a function's start) until one of the modes is chosen.
"""

from __future__ import annotations

import os
from functools import cache
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = [
    "DESTINATIONS",
    "ORIGIN_VERIFY_HEADER",
    "AdminSettings",
    "Destination",
    "ForwarderSettings",
    "IngestSettings",
    "admin_settings",
    "forwarder_settings",
    "ingest_settings",
    "parse_trusted_proxy",
]

ProxyMode = Literal["none", "cloudfront", "hops"]
ORIGIN_VERIFY_HEADER = "x-origin-verify"  # lower-case, as ingest requests carry header names
_MAX_HOPS = 99


def parse_trusted_proxy(value: object) -> str:
    """The canonical ``TRUSTED_PROXY`` value (``none``, ``cloudfront`` or ``hops:N``), or ValueError."""
    if isinstance(value, bool):
        value = "true" if value else "false"
    text = str(value).strip().lower()
    if text in ("", "none", "false"):
        return "none"
    if text == "cloudfront":
        return text
    if text == "true":
        raise ValueError(
            "'true' (the leftmost X-Forwarded-For entry, which the client writes) is no longer a mode: "
            "choose none, cloudfront or hops:N"
        )
    kind, _, count = text.partition(":")
    if kind == "hops" and count.isascii() and count.isdigit() and 1 <= int(count) <= _MAX_HOPS:
        return f"hops:{int(count)}"
    raise ValueError(f"must be none, cloudfront or hops:N (1 <= N <= {_MAX_HOPS})")


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
    trusted_proxy: str = "none"  # none | cloudfront | hops:N (see the module's docstring)
    origin_verify_secret_arn: str = ""  # the origin-verify header's value, under cloudfront
    pseudonym_secret_arn: str = ""
    consent_table: str = ""

    @field_validator("trusted_proxy", mode="before")
    @classmethod
    def _proxy(cls, value: object) -> str:
        return parse_trusted_proxy(value)

    @property
    def proxy_mode(self) -> ProxyMode:
        if self.trusted_proxy == "cloudfront":
            return "cloudfront"
        return "hops" if self.trusted_proxy.startswith("hops:") else "none"

    @property
    def proxy_hops(self) -> int:
        """N of ``hops:N``; 0 in the other modes."""
        return int(self.trusted_proxy[5:]) if self.proxy_mode == "hops" else 0

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
    # the decision log (fairtrack.stores.decision_log): the Firehose stream, else objects straight to the
    # bucket; neither: no log
    decision_log_stream: str = ""
    decision_log_bucket: str = ""


class AdminSettings(CommonSettings):
    """The admin function's (data-subject routes). ``operator_role_arn`` (the template's
    ``OperatorRoleArn``) is the one IAM role whose sessions may call the routes; empty refuses
    every caller (the admin API is closed); the admin handler checks the caller against it."""

    consent_table: str = ""
    lake_bucket: str = ""
    failed_bucket: str = ""
    pseudonym_secret_arn: str = ""
    operator_role_arn: str = ""


@cache
def ingest_settings() -> IngestSettings:
    return IngestSettings.model_validate(dict(os.environ))


@cache
def forwarder_settings() -> ForwarderSettings:
    return ForwarderSettings.model_validate(dict(os.environ))


@cache
def admin_settings() -> AdminSettings:
    return AdminSettings.model_validate(dict(os.environ))
