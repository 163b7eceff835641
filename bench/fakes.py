"""In-memory stand-ins for the two things ingest talks to: the policy table and the queues.

Shared by the bench and the unit tests (``tests/unit`` imports this module; nothing here imports
the tests). No stand-in ever creates a boto3 client, so nothing here can call AWS.

- :class:`MemoryPolicyStore` is the real :class:`fairtrack.stores.policy_table.PolicyStore` (pointer lookup,
  version cache, negative cache of unknown keys, Powertools' ``max_age`` cache) over a dict that
  stands in for DynamoDB: only ``GetItem`` is replaced. It counts calls to the store and reads of
  the table separately.
- :class:`DiscardingSender` is a :class:`fairtrack.stores.queue.QueueSender` whose ``send_all`` keeps
  the count of messages (one message is one ``SendMessage`` call) and throws the bodies away.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import yaml
from aws_lambda_powertools.utilities.parameters import DynamoDBProvider

from fairtrack.anonymise.pseudonym import DailySalts, Pseudonymiser
from fairtrack.ingest import Ingestor
from fairtrack.observability import logger, metrics
from fairtrack.policy import Policy
from fairtrack.settings import DESTINATIONS, IngestSettings
from fairtrack.stores.policy_table import (
    ACTIVE_POLICY_ID,
    PolicyStore,
    Source,
    measurement_id_item,
    policy_version_id,
    write_key_id,
)
from fairtrack.stores.queue import QueueSender

REPO = Path(__file__).resolve().parent.parent
DEFAULT_POLICY = REPO / "policies" / "default.yaml"
POLICY_VERSION = 1
ORIGIN = "https://shop.example.com"  # the browser origin the in-memory source allows


def load_policy_doc(path: Path = DEFAULT_POLICY) -> dict[str, Any]:
    """A policy file as the table stores it (``fairtrack seed`` pushes the YAML document as JSON)."""
    doc = yaml.safe_load(path.read_text())
    if not isinstance(doc, dict):
        raise ValueError(f"{path}: not a policy document")
    Policy.model_validate(doc)  # fail here, not in the middle of a measurement
    return doc


class MemoryTable:
    """The part of a boto3 DynamoDB ``Table`` that ``DynamoDBProvider.get`` uses: ``get_item``."""

    def __init__(self, items: dict[str, str]) -> None:
        self.items = items  # id -> the JSON string in the ``value`` attribute
        self.reads = 0

    def get_item(self, **kwargs: Any) -> dict[str, Any]:
        self.reads += 1
        item_id = kwargs["Key"]["id"]
        if item_id not in self.items:
            return {}  # what DynamoDB answers for a missing item: no "Item" key
        return {"Item": {"id": item_id, "value": self.items[item_id]}}


class _MemoryResource:
    """Just enough of a boto3 DynamoDB service resource for ``DynamoDBProvider(boto3_client=...)``."""

    def __init__(self, table: MemoryTable) -> None:
        self._table = table

    def Table(self, name: str) -> MemoryTable:  # boto3 spelling
        return self._table


class MemoryPolicyStore(PolicyStore):
    """The real policy store over an in-memory table holding one active policy and one source."""

    def __init__(
        self,
        write_key: str,
        source_id: str,
        *,
        policy_doc: dict[str, Any] | None = None,
        origins: tuple[str, ...] = (ORIGIN,),
        measurement_ids: tuple[str, ...] = (),
        cache_seconds: int = 30,
    ) -> None:
        super().__init__("memory-policy-table", cache_seconds)
        doc = policy_doc if policy_doc is not None else load_policy_doc()
        source = Source(
            source_id=source_id, name=source_id, origins=list(origins), measurement_ids=list(measurement_ids)
        )
        self.table = MemoryTable(
            {
                ACTIVE_POLICY_ID: json.dumps({"version": POLICY_VERSION}),
                policy_version_id(POLICY_VERSION): json.dumps(doc),
                write_key_id(write_key): source.model_dump_json(),
                **{measurement_id_item(m): source.model_dump_json() for m in source.measurement_ids},
            }
        )
        resource = cast(Any, _MemoryResource(self.table))
        self._memory_provider = DynamoDBProvider(table_name=self.table_name, boto3_client=resource)
        self.calls: Counter[str] = Counter()

    @property
    def provider(self) -> DynamoDBProvider:
        return self._memory_provider

    def active_policy(self) -> Policy:
        self.calls["active_policy"] += 1
        return super().active_policy()

    def source_for_write_key(self, write_key: str) -> Source | None:
        self.calls["source_for_write_key"] += 1
        return super().source_for_write_key(write_key)

    def clear_cache(self) -> None:
        super().clear_cache()
        self._memory_provider.clear_cache()  # type: ignore[no-untyped-call]

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())

    def reset_counts(self) -> None:
        self.calls.clear()
        self.table.reads = 0


class DiscardingSender(QueueSender):
    """Counts what ingest would send to SQS and discards it. Keeps only the last request's messages."""

    def __init__(self) -> None:
        super().__init__()
        self.requests = 0  # calls to send_all that had something to send
        self.messages = 0  # SendMessage calls a real sender would have made
        self.last: list[tuple[str, str]] = []  # (queue_url, body) of the last send_all

    @property
    def client(self) -> Any:
        raise RuntimeError("DiscardingSender never talks to AWS")

    def send_all(self, messages: list[tuple[str, str]], correlation_id: str) -> list[BaseException | None]:
        self.last = list(messages)
        if messages:
            self.requests += 1
        self.messages += len(messages)
        return [None] * len(messages)

    def reset_counts(self) -> None:
        self.requests = 0
        self.messages = 0
        self.last = []


def queue_url(destination: str) -> str:
    return f"https://sqs.eu-central-1.amazonaws.com/123456789012/fairtrack-{destination}"


def all_destinations_settings(**overrides: Any) -> IngestSettings:
    """Ingest settings with a (fake) queue for every destination: GA4, Meta, webhook and lake."""
    values: dict[str, Any] = {f"{d}_queue_url": queue_url(d) for d in DESTINATIONS}
    values.update(overrides)
    return IngestSettings.model_validate(values)


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Send the functions' log lines and Powertools' automatic EMF flushes to /dev/null.

    They are still formatted (that CPU is part of a real request), just not written to the
    terminal. Metric values added meanwhile are cleared on the way out so that nothing leaks
    into whatever runs next in the same process.
    """
    handlers = [h for h in logging.getLogger(logger.name).handlers if isinstance(h, logging.StreamHandler)]
    with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
        previous = [h.stream for h in handlers]
        for handler in handlers:
            handler.setStream(devnull)
        try:
            yield
        finally:
            for handler, stream in zip(handlers, previous, strict=True):
                handler.setStream(stream)
            metrics.clear_metrics()


class MemorySalts(DailySalts):
    """Today's salt without a table: the real salt logic over an in-memory stand-in for DynamoDB."""

    def __init__(self) -> None:
        super().__init__("memory-policy-table", lambda: self._table)
        self._table = _SaltTable()


class _SaltTable:
    class exceptions:
        class ConditionalCheckFailedException(Exception):
            pass

    def __init__(self) -> None:
        self.items: dict[str, dict[str, Any]] = {}

    def get_item(self, **kwargs: Any) -> dict[str, Any]:
        item = self.items.get(kwargs["Key"]["id"]["S"])
        return {"Item": item} if item else {}

    def put_item(self, **kwargs: Any) -> None:
        item_id = kwargs["Item"]["id"]["S"]
        if item_id in self.items:
            raise self.exceptions.ConditionalCheckFailedException()
        self.items[item_id] = kwargs["Item"]

    def delete_item(self, **kwargs: Any) -> None:
        self.items.pop(kwargs["Key"]["id"]["S"], None)


BENCH_KEY = b"bench-pseudonym-key-0123456789abcdef"


def memory_ingestor(settings: IngestSettings, store: PolicyStore, sender: QueueSender) -> Ingestor:
    """An Ingestor that never reaches AWS: in-memory policy store, sender, salts and a fixed key."""
    return Ingestor(settings, store, sender, pseudonymiser=Pseudonymiser(BENCH_KEY), salts=MemorySalts())


class MemoryFirehose:
    """Stands in for a boto3 Firehose client: ``put_record_batch`` accepts every record; calls are
    counted and each record kept only as its size (for the decision log's billed 5 KB units)."""

    def __init__(self) -> None:
        self.calls = 0
        self.record_sizes: list[int] = []

    def put_record_batch(self, **kwargs: Any) -> dict[str, Any]:
        self.calls += 1
        records = kwargs["Records"]
        self.record_sizes.extend(len(r["Data"]) for r in records)
        return {
            "FailedPutCount": 0,
            "Encrypted": True,
            "RequestResponses": [{"RecordId": f"bench-{self.calls}-{i}"} for i in range(len(records))],
        }
