"""What a cold start creates: one boto3 session's clients, one S3 client per forwarder, one SQS
client per ingest container, and the handlers' ``gc.freeze()`` once their initialisation is over."""

from __future__ import annotations

import ast
import threading
from pathlib import Path
from typing import Any

import boto3
import pytest

from fairtrack.clients import SharedClient
from fairtrack.forwarder import Forwarder, build_destination
from fairtrack.queue import QueueSender
from fairtrack.settings import ForwarderSettings
from fairtrack.store import PolicyStore

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


@pytest.mark.parametrize("handler", ["functions/ingest/ingest_handler.py", "functions/forwarder/forwarder_handler.py"])
def test_handlers_freeze_the_heap_as_their_last_statement(handler: str) -> None:
    """Given a handler module, then its initialisation ends with ``gc.freeze()``: everything it built
    moves to the permanent generation, so later full collections do not scan it."""
    tree = ast.parse((ROOT / handler).read_text())
    last = tree.body[-1]

    assert isinstance(last, ast.Expr)
    assert ast.unparse(last) == "gc.freeze()"
