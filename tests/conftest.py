"""Shared test set-up: no real AWS, no network beyond loopback."""

from __future__ import annotations

import os

# Set before any boto3 client or Powertools provider exists (they read the environment once).
for _name, _value in {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "POWERTOOLS_SERVICE_NAME": "fairtrack",
    "POWERTOOLS_METRICS_NAMESPACE": "fairtrack-test",
}.items():
    os.environ[_name] = _value
os.environ.pop("AWS_ENDPOINT_URL", None)
os.environ.pop("AWS_PROFILE", None)
