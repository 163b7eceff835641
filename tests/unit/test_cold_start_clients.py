"""What a cold start creates: one boto3 session's clients, one S3 client per forwarder, one SQS
client per ingest container; and what the handlers do while they initialise (no cyclic collection,
receipt models left for the first receipt) and once it is over (the heap frozen)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import boto3
import pytest

from fairtrack.forwarder import Forwarder, build_destination
from fairtrack.settings import ForwarderSettings
from fairtrack.stores.clients import SharedClient
from fairtrack.stores.policy_table import PolicyStore
from fairtrack.stores.queue import QueueSender

ROOT = Path(__file__).resolve().parents[2]


class FakeClient:
    def __init__(self, service: str) -> None:
        self.service = service
        self.thread = threading.current_thread()
        self.sent: list[str] = []

    def put_object(self, **kwargs: Any) -> dict[str, Any]:
        return {"Key": kwargs["Key"]}

    def send_message(self, **kwargs: Any) -> dict[str, Any]:
        self.sent.append(kwargs["QueueUrl"])
        return {}


@pytest.fixture
def created(monkeypatch: pytest.MonkeyPatch) -> list[FakeClient]:
    """Every client ``boto3.client`` creates, in order (none reaches AWS)."""
    made: list[FakeClient] = []

    def client(service: str, *args: Any, **kwargs: Any) -> FakeClient:
        made.append(FakeClient(service))
        return made[-1]

    monkeypatch.setattr(boto3, "client", client)
    return made


def test_shared_client_is_created_on_first_use_only_once(created: list[FakeClient]) -> None:
    """Given a SharedClient, when nothing uses it, then no client exists; when threads use it at
    once, then exactly one client is created and every call goes to it."""
    shared = SharedClient("s3")
    assert created == []

    barrier = threading.Barrier(8)

    def use() -> None:
        barrier.wait()
        shared.put_object(Bucket="b", Key="k")

    threads = [threading.Thread(target=use) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert [c.service for c in created] == ["s3"]
    assert shared.client is created[0]


def lake_settings(**extra: str) -> ForwarderSettings:
    return ForwarderSettings.model_validate(
        {
            "destination": "lake",
            "lake_bucket": "lake-bucket",
            "failed_bucket": "failed-bucket",
            "decision_log_bucket": "lake-bucket",
            **extra,
        }
    )


def test_the_lake_forwarder_writes_with_one_s3_client(created: list[FakeClient]) -> None:
    """Given the lake forwarder built as its handler builds it, when the lake, the decision log and
    the failed store each write, then one S3 client was created for the three."""
    settings = lake_settings()
    s3 = SharedClient("s3")
    forwarder = Forwarder(settings, build_destination(settings, lambda arn: None, s3=s3), s3=s3)
    assert forwarder.decision_log is not None
    assert forwarder.failed_store is not None

    destination: Any = forwarder.destination
    destination.s3.put_object(Bucket="lake-bucket", Key="a")
    forwarder.decision_log.s3.put_object(Bucket="lake-bucket", Key="b")
    forwarder.failed_store.s3.put_object(Bucket="failed-bucket", Key="c")

    assert [c.service for c in created] == ["s3"]


def test_a_forwarder_without_a_client_given_shares_one_between_its_own_writers(created: list[FakeClient]) -> None:
    """Given a Forwarder built without ``s3``, then its decision log and failed store share one client,
    created on first use."""
    settings = lake_settings()
    forwarder = Forwarder(settings, build_destination(settings, lambda arn: None))
    assert forwarder.decision_log is not None
    assert forwarder.failed_store is not None
    assert created == []

    forwarder.decision_log.s3.put_object(Bucket="lake-bucket", Key="b")
    forwarder.failed_store.s3.put_object(Bucket="failed-bucket", Key="c")

    assert [c.service for c in created] == ["s3"]


def test_the_policy_provider_uses_the_default_session(monkeypatch: pytest.MonkeyPatch) -> None:
    """Given a PolicyStore, when its provider is built, then its DynamoDB resource comes from boto3's
    default session (``boto3.resource``), not from a session of the provider's own."""
    tables: list[str] = []

    class Resource:
        def Table(self, name: str) -> str:  # boto3 spelling
            tables.append(name)
            return f"table:{name}"

    def no_new_session(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the provider must not create a boto3 session of its own")

    monkeypatch.setattr(boto3, "resource", lambda service, *a, **k: Resource() if service == "dynamodb" else None)
    monkeypatch.setattr(boto3.session, "Session", no_new_session)

    provider = PolicyStore("policy-table", 30).provider

    assert tables == ["policy-table"]
    assert provider.table == "table:policy-table"


def test_ingest_creates_its_sqs_client_once_before_sending_in_threads(created: list[FakeClient]) -> None:
    """Given several messages for a fresh sender, when sent (in worker threads), then one SQS client
    was created, on the calling thread, and every message went through it."""
    sender = QueueSender()
    messages = [(f"https://sqs.example/q{i}", "{}") for i in range(4)]

    errors = sender.send_all(messages, "cid")

    assert errors == [None] * 4
    assert [c.service for c in created] == ["sqs"]
    assert created[0].thread is threading.current_thread()
    assert sorted(created[0].sent) == sorted(url for url, _ in messages)


# Runs in a fresh interpreter: import one handler and report what the collector did meanwhile.
_IMPORT_PROBE = """
import gc, json, sys
import importlib.util
collections = []
spec = importlib.util.find_spec(sys.argv[1])
spec.loader.get_code(sys.argv[1])  # found and compiled before the callback: only the module body counts
gc.collect()
gc.callbacks.append(lambda phase, info: phase == "start" and collections.append(info["generation"]))
handler = __import__(sys.argv[1])
made = handler.s3._client if hasattr(handler, "s3") else handler.ingestor.sender._client
print(json.dumps({
    "client": type(made).__name__,
    "collections": collections,
    "enabled": gc.isenabled(),
    "frozen": gc.get_freeze_count(),
    "modules": sorted(m for m in sys.modules if m.startswith("fairtrack")),
}))
"""

_HANDLER_ENV = {
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_EC2_METADATA_DISABLED": "true",
    "POLICY_TABLE": "fairtrack-policy",
    "LAKE_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/fairtrack-lake",
    "DESTINATION": "lake",
    "LAKE_BUCKET": "fairtrack-lake",
    "DELIVERY_TABLE": "fairtrack-delivery",
}


def _import_in_fresh_interpreter(module: str) -> dict[str, Any]:
    folder = module.removesuffix("_handler")
    path = os.pathsep.join((str(ROOT / "functions" / folder), str(ROOT / "layers" / "common"), *sys.path))
    env = {"PATH": os.environ.get("PATH", ""), **_HANDLER_ENV, "PYTHONPATH": path}
    out = subprocess.run(
        [sys.executable, "-c", _IMPORT_PROBE, module], env=env, capture_output=True, text=True, timeout=120, check=True
    )
    result: dict[str, Any] = json.loads(out.stdout.splitlines()[-1])
    return result


@pytest.mark.parametrize("module", ["ingest_handler", "forwarder_handler"])
def test_handlers_pause_the_collector_while_they_initialise_then_freeze_and_resume(module: str) -> None:
    """Given a handler imported in a fresh interpreter (as a Lambda cold start does), then no cyclic
    collection ran while it initialised (it builds only what the container keeps), everything it
    built went to the permanent generation, and the collector is on again for the requests."""
    result = _import_in_fresh_interpreter(module)

    assert result["collections"] == []
    assert result["frozen"] > 10_000
    assert result["enabled"] is True
    assert result["client"] == ("S3" if module == "forwarder_handler" else "SQS")  # made then, not by a request


def test_ingest_loads_the_consent_receipt_models_on_the_first_receipt_only() -> None:
    """Given the ingest handler just imported, then the receipt models are not built yet: most
    containers only take hits (``POST /v1/consent`` builds them; the route is driven through the
    handler in tests/integration/test_consent_receipts.py)."""
    result = _import_in_fresh_interpreter("ingest_handler")

    assert "fairtrack.ingest" in result["modules"]
    assert "fairtrack.consent.receipts" not in result["modules"]
