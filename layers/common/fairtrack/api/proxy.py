"""What the deployment's ``TrustedProxy`` mode decides about a request: whether it came through the
proxy, and who sent it.

- ``cloudfront``: only requests carrying CloudFront's origin-verify header are taken (any other was
  sent around the proxy, and could set ``CloudFront-Viewer-*`` headers to anything); the visitor's
  address and country are CloudFront's viewer headers.
- ``none`` / ``api-gateway``: the address is the connection's or ``X-Forwarded-For``'s, after the
  configured number of trusted hops; the country comes from the registries' allocation data shipped
  with the layer (:mod:`fairtrack.anonymise.geo`).

The :class:`~fairtrack.anonymise.stage.Visitor` made here is the anonymise stage's only view of the
connection: the country is worked out before the address is truncated, and the full address and
user agent are used only inside the cookieless daily id.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import TYPE_CHECKING

from fairtrack.anonymise import client_ip, geo, truncate_ip, viewer_address
from fairtrack.anonymise.stage import Visitor
from fairtrack.errors import ClientError
from fairtrack.observability import logger
from fairtrack.settings import ORIGIN_VERIFY_HEADER, IngestSettings

if TYPE_CHECKING:
    from fairtrack.ingest import IngestRequest

__all__ = ["TrustedProxy"]


class TrustedProxy:
    """The proxy mode of one ingest container (``settings.proxy_mode``)."""

    def __init__(self, settings: IngestSettings) -> None:
        self.settings = settings
        self.cloudfront = settings.proxy_mode == "cloudfront"

    @property
    def origin_verify_secret(self) -> str | None:
        """The origin-verify header's expected value, read from Secrets Manager and cached for 5
        minutes; None when no secret is configured."""
        if not self.settings.origin_verify_secret_arn:
            return None
        from aws_lambda_powertools.utilities import parameters

        value = parameters.get_secret(self.settings.origin_verify_secret_arn, max_age=300)
        return value.strip() if isinstance(value, str) and value.strip() else None

    def verify(self, headers: Mapping[str, str]) -> None:
        """Under ``cloudfront``, refuse (403 ``proxy_required``) a request without the origin-verify
        header CloudFront adds. ``headers``: lower-case names. No check in the other modes."""
        if not self.cloudfront:
            return
        sent = headers.get(ORIGIN_VERIFY_HEADER)
        expected = self.origin_verify_secret
        if expected is None:
            logger.error("TrustedProxy is cloudfront but no origin-verify secret is set: every request is refused")
        if not sent or expected is None or not hmac.compare_digest(sent.strip().encode(), expected.encode()):
            raise ClientError(
                403, "proxy_required", "requests must come through the deployment's CloudFront distribution"
            )

    def visitor(self, request: IngestRequest) -> Visitor:
        """The visitor as the anonymise stage sees it, worked out once per request: the country,
        the truncated address (what hits carry), and the full address and user agent."""
        headers = request.headers
        if self.cloudfront:
            full_ip = viewer_address(headers.get("cloudfront-viewer-address"))
            if full_ip is None:  # the connection's address is CloudFront's, never the visitor's
                logger.warning("no CloudFront-Viewer-Address: add it to the origin request policy")
        else:
            full_ip = client_ip(request.source_ip, headers.get("x-forwarded-for"), self.settings.proxy_hops)
        return Visitor(
            country=self._country(headers, full_ip),
            ip=truncate_ip(full_ip, self.settings.ip_v4_prefix_length, self.settings.ip_v6_prefix_length),
            full_ip=full_ip,
            user_agent=headers.get("user-agent"),
        )

    def _country(self, headers: Mapping[str, str], full_ip: str | None) -> str | None:
        """CloudFront's viewer country under ``cloudfront`` (whose requests :meth:`verify` checked;
        in the other modes anyone can send the header, so it is ignored), else the registries'.
        Used for the policy's region defaults and, as ``context.location.country``, the only geo a
        destination may get (never below country)."""
        if self.cloudfront:
            country = headers.get("cloudfront-viewer-country", "").strip().upper()
            if len(country) == 2 and country.isalpha() and country.isascii():
                return country
        return geo.country_of(full_ip) if full_ip else None
