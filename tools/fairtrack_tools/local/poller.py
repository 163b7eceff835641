"""Invokes a forwarder the way the Lambda SQS event source does.

Receives up to ``BatchSize`` messages (waiting at most ``MaximumBatchingWindowInSeconds`` to fill
a batch), builds a real SQS event, invokes the function, deletes the records it did not report in
``batchItemFailures`` and leaves the others on the queue: they come back after the visibility
timeout and, after ``maxReceiveCount`` receives, the queue's RedrivePolicy moves them to the DLQ.
A function error leaves the whole batch on the queue, as Lambda does.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

from fairtrack_tools.local.localcloud import SqsSource
from fairtrack_tools.local.runtime import FunctionError, FunctionPool
from fairtrack_tools.local.template import ACCOUNT, REGION


def sqs_event(records: list[dict[str, Any]], queue_arn: str) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes", {}),
                "messageAttributes": {
                    name: {
                        "stringValue": a.get("StringValue"),
                        "binaryValue": a.get("BinaryValue"),
                        "stringListValues": [],
                        "binaryListValues": [],
                        "dataType": a.get("DataType", "String"),
                    }
                    for name, a in m.get("MessageAttributes", {}).items()
                },
                "md5OfBody": m.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": REGION,
            }
            for m in records
        ]
    }


class SqsPoller:
    def __init__(self, source: SqsSource, pool: FunctionPool, sqs: Any, stop: threading.Event) -> None:
        self.source = source
        self.pool = pool
        self.sqs = sqs
        self.stop_event = stop
        name = source.queue_url.rsplit("/", 1)[-1]
        self.queue_arn = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}"
        self.thread = threading.Thread(target=self._run, daemon=True, name=f"poll-{source.function}")
        self.invocations = 0

    def start(self) -> SqsPoller:
        self.thread.start()
        return self

    def _receive(self) -> list[dict[str, Any]]:
        batch: list[dict[str, Any]] = []
        deadline = time.monotonic() + self.source.window_seconds
        while len(batch) < self.source.batch_size and not self.stop_event.is_set():
            resp = self.sqs.receive_message(
                QueueUrl=self.source.queue_url,
                MaxNumberOfMessages=min(10, self.source.batch_size - len(batch)),
                WaitTimeSeconds=1 if not batch else 0,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
            got = resp.get("Messages", [])
            batch.extend(got)
            if not got and (not batch or time.monotonic() >= deadline):
                break
            if batch and time.monotonic() >= deadline:
                break
        return batch

    def poll_once(self) -> int:
        messages = self._receive()
        if not messages:
            return 0
        self.invocations += 1
        try:
            result = self.pool.invoke(sqs_event(messages, self.queue_arn))
        except FunctionError as exc:
            sys.stderr.write(f"[{self.source.function}] function error {exc.error_type}; batch left on the queue\n")
            return len(messages)
        failed = {f.get("itemIdentifier") for f in (result or {}).get("batchItemFailures", [])}
        done = [m for m in messages if m["MessageId"] not in failed]
        for i in range(0, len(done), 10):
            self.sqs.delete_message_batch(
                QueueUrl=self.source.queue_url,
                Entries=[{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(done[i : i + 10])],
            )
        return len(messages)

    def _run(self) -> None:
        while not self.stop_event.is_set():
            try:
                self.poll_once()
            except Exception as exc:  # noqa: BLE001 - the poller keeps going, like the event source
                if self.stop_event.is_set():
                    return
                sys.stderr.write(f"[{self.source.function}] poller error {type(exc).__name__}\n")
                time.sleep(0.5)
