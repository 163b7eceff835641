"""``fairtrack replay <destination> --from dlq|failed``: send held-back records again after a fix.

- ``--from dlq``: messages that kept failing (retryable errors, ``maxReceiveCount`` receives) are
  moved from the destination's dead-letter queue back to its queue, body and attributes unchanged,
  and deleted from the DLQ only once the queue has them.
- ``--from failed``: requests the destination refused for good are read from the failed-events
  store; each envelope goes back on the queue, and the object is deleted. For GA4 (the one
  destination with a delivery ledger) the ledger claim of each body queued is deleted first: the
  same body replayed twice (a replay that failed again) is then not taken for a copy and skipped.
  A DLQ message keeps its claim, which names the events an earlier receive already sent.

Either way the forwarder then delivers as usual, against the policy active *now*. With ``--wait``
the command watches the queue drain and reports how many of the replayed events failed again
(new objects in the failed-events store, messages back in the DLQ).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from fairtrack.destinations.guarantees import keeps_ledger
from fairtrack.stores.failed_events import FailedStore
from fairtrack.stores.ledger import Ledger

T = TypeVar("T")
Progress = Callable[[Iterable[T]], Iterator[T]]


def _plain(items: Iterable[T]) -> Iterator[T]:
    yield from items


@dataclass
class ReplayResult:
    destination: str
    source: str
    messages: int = 0
    events: int = 0
    not_moved: int = 0
    failed_again: int | None = None  # events of this replay refused again (in the store now)
    back_in_dlq: int | None = None
    drained: bool | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def succeeded(self) -> bool:
        """Everything was queued again and, when watched, nothing came back failed or dead-lettered
        and the queue drained."""
        return not self.not_moved and not self.failed_again and not self.back_in_dlq and self.drained is not False

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None and v != []}


@dataclass(frozen=True)
class Resources:
    """Where a destination's queue, DLQ, ledger and failed store are (stack outputs)."""

    queue_url: str
    dlq_url: str
    delivery_table: str
    failed_bucket: str


def _dlq_messages(sqs: Any, dlq_url: str) -> Iterator[dict[str, Any]]:
    empty = 0
    while empty < 2:  # SQS may answer empty while messages exist: ask again before stopping
        batch = sqs.receive_message(
            QueueUrl=dlq_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=1,
            VisibilityTimeout=60,
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        empty = empty + 1 if not batch else 0
        yield from batch


def _events_in(body: str) -> int:
    try:
        return len(json.loads(body).get("events") or [])
    except (ValueError, AttributeError):
        return 0


def from_dlq(sqs: Any, where: Resources, destination: str, progress: Progress[Any] = _plain) -> ReplayResult:
    result = ReplayResult(destination, "dlq")
    for message in progress(_dlq_messages(sqs, where.dlq_url)):
        attrs = {
            name: {k: v for k, v in attr.items() if k in ("DataType", "StringValue", "BinaryValue")}
            for name, attr in (message.get("MessageAttributes") or {}).items()
        }
        try:
            sqs.send_message(QueueUrl=where.queue_url, MessageBody=message["Body"], MessageAttributes=attrs)
        except Exception:  # noqa: BLE001 - left in the DLQ (visible again after 60 s), counted
            result.not_moved += 1
            continue
        sqs.delete_message(QueueUrl=where.dlq_url, ReceiptHandle=message["ReceiptHandle"])
        result.messages += 1
        result.events += _events_in(message["Body"])
    return result


def from_failed(
    sqs: Any,
    store: FailedStore,
    ledger: Ledger,
    where: Resources,
    *,
    destination: str,
    progress: Progress[Any] = _plain,
) -> ReplayResult:
    result = ReplayResult(destination, "failed")
    for key in progress(list(store.list_keys())):
        doc = store.read(key)
        entries = doc.get("envelopes") or []
        bodies = [json.dumps(entry["envelope"]) for entry in entries]
        if keeps_ledger(destination):
            ledger.forget(ledger.key(body) for body in bodies)
        moved = 0
        for entry, body in zip(entries, bodies, strict=True):
            try:
                sqs.send_message(QueueUrl=where.queue_url, MessageBody=body)
            except Exception:  # noqa: BLE001 - the object stays in the store for the next replay
                result.not_moved += 1
                continue
            moved += 1
            result.messages += 1
            result.events += len(entry["envelope"].get("events", []))
        if moved == len(entries):
            store.delete(key)
        else:
            result.notes.append("some envelopes could not be queued: their object is kept (a replay may resend)")
    return result


def progress_bar(label: str, quiet: bool = False) -> Progress[Any]:
    """A tqdm progress bar on stderr (counts records as they are moved), or nothing when quiet."""
    if quiet:
        return _plain

    def bar(items: Iterable[T]) -> Iterator[T]:
        from tqdm import tqdm

        yield from tqdm(items, desc=label, unit="record", file=sys.stderr)

    return bar


def depth(sqs: Any, url: str) -> int:
    attrs = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])


def wait_for_outcome(
    sqs: Any,
    store: FailedStore,
    where: Resources,
    result: ReplayResult,
    *,
    timeout: float,
    before: set[str],
    dlq_before: int = 0,
) -> ReplayResult:
    """Watch the queue drain, then count what failed again (new failed objects, DLQ depth)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and depth(sqs, where.queue_url) > 0:
        time.sleep(1)
    result.drained = depth(sqs, where.queue_url) == 0
    result.failed_again = sum(
        len(entry["envelope"].get("events", []))
        for key in store.list_keys()
        if key not in before
        for entry in store.read(key).get("envelopes", [])
    )
    # messages already in the DLQ before this replay (from --from failed) are not this replay's
    result.back_in_dlq = max(0, depth(sqs, where.dlq_url) - dlq_before)
    if not result.drained:
        result.notes.append("the queue had not drained when --wait ran out: retries may still be in flight")
    return result
