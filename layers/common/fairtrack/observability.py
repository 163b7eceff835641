"""One Logger and one Metrics object for every function.

Rules that keep personal data out: never log an event, a body, an IP, a user agent, a URL or an
id; log counts, codes, field paths from the catalogue and reasons. Metric dimensions are fixed
low-cardinality values (destination, reason), never ids or URLs.
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric

logger = Logger(log_uncaught_exceptions=True)
metrics = Metrics()

CORRELATION_ATTRIBUTE = "correlation_id"

__all__ = ["CORRELATION_ATTRIBUTE", "count_by_reason", "logger", "metrics"]


def count_by_reason(name: str, counts: Mapping[str, int], destination: str) -> None:
    """Emit metric ``name`` once per reason in ``counts``, with the dimensions ``destination`` and
    ``reason`` (a single metric each: the batch's own metrics carry no reason)."""
    for reason, count in counts.items():
        with single_metric(
            name=name,
            unit=MetricUnit.Count,
            value=count,
            namespace=metrics.namespace,
            default_dimensions={**metrics.default_dimensions, "destination": destination},
        ) as metric:
            metric.add_dimension(name="reason", value=reason)
