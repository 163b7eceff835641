"""fairtrack benchmarks: ``python -m bench`` prints figures measured against a baseline of the same run.

Machines are noisy, so every timing is reported as a ratio to a floor measured in the same
process a moment earlier (``json.loads`` + ``json.dumps`` of the same hits); counts (AWS calls,
policy-store reads) are compared with what the design promises. Nothing here calls AWS.

Not part of the Lambda layer: the bench imports ``fairtrack`` like the tests do.
"""

from __future__ import annotations

import os

# Powertools reads these once, when ``fairtrack.observability`` creates its Logger and Metrics:
# set them before anything imports fairtrack. The metrics namespace is required for the EMF flush
# Powertools does by itself every 100 values; without it a long run would fail inside ingest.
for _name, _value in {
    "POWERTOOLS_SERVICE_NAME": "fairtrack",
    "POWERTOOLS_METRICS_NAMESPACE": "fairtrack-bench",
}.items():
    os.environ.setdefault(_name, _value)
