"""The failed-events store: events a destination refused for good, with its answer, for replay.

Snowplow keeps every payload it could not process as a typed failed event; fairtrack does the same
for permanent destination errors (4xx other than 408/429, Meta 100/190, GA4 validation messages
in debug mode). They are not retried by SQS (retrying a bad request cannot succeed); they wait
here until someone fixes the cause and runs ``fairtrack replay <destination> --from failed``.

One gzip JSON object per refused request, in the ``FailedEventsBucket``:

    failed/<destination>/dt=YYYY-MM-DD/<UTC time>-<uuid>.json.gz
    {"v": 1, "destination": "meta", "failedAt": "...Z", "reason": "meta_code_100",
     "status": 400, "answer": "<the destination's answer, first 2 KB>",
     "envelopes": [{"message_id": "...", "envelope": {<queue message with only the failed events>}}]}

The envelopes hold what the queue held (already anonymised at ingest and filtered by the policy),
so replaying one is the same as the original delivery: the forwarder checks the policy active at
replay time again. The bucket's lifecycle rule deletes objects after the retention the template
sets; nothing here is logged, since the answer may quote a submitted value.
"""

from __future__ import annotations

import gzip
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from fairtrack.envelope import Envelope
from fairtrack.stores.clients import LazyClient
from fairtrack.timestamps import iso

__all__ = ["PREFIX", "FailedStore"]

PREFIX = "failed"


class FailedStore:
    def __init__(self, bucket: str, destination: str, s3: Any = None) -> None:
        self.bucket = bucket
        self.destination = destination
        self._s3 = s3

    s3 = LazyClient("s3")

    def put(self, envelopes: list[tuple[str, Envelope]], reason: str, status: int | None, answer: str) -> str:
        """Store one refused request's events; raises when the store cannot be written (the caller
        then leaves the messages for redelivery: a failure is never dropped)."""
        now = datetime.now(UTC)
        key = f"{PREFIX}/{self.destination}/dt={now:%Y-%m-%d}/{now:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex}.json.gz"
        doc = {
            "v": 1,
            "destination": self.destination,
            "failedAt": iso(now),
            "reason": reason,
            "status": status,
            "answer": answer,
            "envelopes": [{"message_id": mid, "envelope": env.model_dump(mode="json")} for mid, env in envelopes],
        }
        self.s3.put_object(
            Bucket=self.bucket,
            Key=key,
            ContentType="application/json",
            ContentEncoding="gzip",
            Body=gzip.compress(json.dumps(doc, separators=(",", ":")).encode()),
        )
        return key

    def list_keys(self) -> Iterator[str]:
        paginator = self.s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=f"{PREFIX}/{self.destination}/"):
            for obj in page.get("Contents", []):
                yield str(obj["Key"])

    def read(self, key: str) -> dict[str, Any]:
        body = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        doc: dict[str, Any] = json.loads(gzip.decompress(body))
        return doc

    def delete(self, key: str) -> None:
        self.s3.delete_object(Bucket=self.bucket, Key=key)
