"""One Logger and one Metrics object for every function.

Rules that keep personal data out: never log an event, a body, an IP, a user agent, a URL or an
id; log counts, codes, field paths from the catalogue and reasons. Metric dimensions are fixed
low-cardinality values (destination, reason), never ids or URLs.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics

logger = Logger(log_uncaught_exceptions=True)
metrics = Metrics()

CORRELATION_ATTRIBUTE = "correlation_id"

__all__ = ["CORRELATION_ATTRIBUTE", "logger", "metrics"]
