"""The policy table is read per cache interval, never per hit: DynamoDB calls counted in moto."""

from __future__ import annotations

import copy
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from botocore.client import BaseClient

from fairtrack_tools.local.localcloud import LocalCloud

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def dynamodb_calls(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Every DynamoDB call any client makes, by operation (the count happens before moto answers)."""
    calls: Counter[str] = Counter()
    original = BaseClient._make_api_call

    def counting(self: BaseClient, operation_name: str, api_params: dict[str, Any]) -> Any:
        if self.meta.service_model.service_name == "dynamodb":
            calls[operation_name] += 1
        return original(self, operation_name, api_params)

    monkeypatch.setattr(BaseClient, "_make_api_call", counting)
    return calls


def test_ingest_reads_the_policy_table_per_cache_interval_not_per_hit(
    load_handler: Any, context: Any, cloud: LocalCloud, dynamodb_calls: Counter[str]
) -> None:
    module = load_handler("IngestFunction")
    # the deployed default interval (the local stack's 2 s could pass during the loop on a slow machine)
    module.ingestor.store.cache_seconds = 30
    base: dict[str, Any] = json.loads((ROOT / "events" / "ingest" / "track.json").read_text())
    example = json.loads(base["body"])
    batch = copy.deepcopy(base)
    batch["rawPath"] = batch["requestContext"]["http"]["path"] = "/v1/batch"
    batch["body"] = json.dumps({"batch": [{**example, "messageId": f"m-{i}"} for i in range(50)]})
    dynamodb_calls.clear()

    for _ in range(20):  # 1,000 hits in batches
        assert module.handler(batch, context)["statusCode"] == 200
    for _ in range(100):  # and 100 single hits
        assert module.handler(base, context)["statusCode"] == 200

    # the write key's source, the active pointer, the active version, the former single-item
    # suppression list and the one visitor's suppress#<pseudonym> item: read once each, then cached
    assert dynamodb_calls["GetItem"] <= 5
    assert sum(dynamodb_calls.values()) == dynamodb_calls["GetItem"]


def test_a_new_active_version_is_picked_up_after_the_cache_interval(
    load_handler: Any, context: Any, cloud: LocalCloud, dynamodb_calls: Counter[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    module = load_handler("IngestFunction")
    base: dict[str, Any] = json.loads((ROOT / "events" / "ingest" / "track.json").read_text())
    assert module.handler(base, context)["statusCode"] == 200
    reads = dynamodb_calls["GetItem"]
    assert module.handler(base, context)["statusCode"] == 200
    assert dynamodb_calls["GetItem"] == reads  # within the interval: no read

    # when the interval has passed (the provider's clock moved on), the pointer is read again
    import datetime as real_datetime

    from aws_lambda_powertools.utilities.parameters import base as parameters_base

    later = real_datetime.datetime.now() + real_datetime.timedelta(hours=1)

    class Clock(real_datetime.datetime):
        @classmethod
        def now(cls, tz: Any = None) -> Any:
            return later

    monkeypatch.setattr(parameters_base, "datetime", Clock)
    assert module.handler(base, context)["statusCode"] == 200
    assert dynamodb_calls["GetItem"] > reads
