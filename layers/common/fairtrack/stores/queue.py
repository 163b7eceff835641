"""Writes envelopes to the destination queues: one SendMessage per destination, in parallel.

AWS calls dominate the ingest cost (each costs far more CPU than validating a hit), so a request
costs exactly one call per destination that receives anything; envelopes are only split when they
would pass the SQS message size. A request whose envelopes could not all be queued is refused (503),
so the client retries it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from pydantic_core import to_json

from fairtrack.errors import ClientError
from fairtrack.observability import CORRELATION_ATTRIBUTE, logger
from fairtrack.settings import Destination
from fairtrack.stores.clients import LazyClient

if TYPE_CHECKING:
    from fairtrack.envelope import Envelope

__all__ = ["MAX_MESSAGE_BYTES", "QueueSender", "Routed", "chunk_envelopes", "enqueue", "envelope_from_body"]

MAX_MESSAGE_BYTES = 240 * 1024  # under the classic 256 KiB SQS limit, with room for attributes


Routed = tuple[list[str], dict[str, Any]]  # (purposes, policy-filtered event): one RoutedEvent


# U+FFFE and U+FFFF are valid JSON but outside the characters SQS accepts; written as escapes they
# mean the same to any JSON reader (they can only occur inside strings: JSON's own syntax is ASCII)
_SQS_UNSAFE = ((b"\xef\xbf\xbe", b"\\ufffe"), (b"\xef\xbf\xbf", b"\\uffff"))


def _sqs_safe(body: bytes) -> str:
    if b"\xef" not in body:  # both start with this byte: one memchr instead of two substring searches
        return body.decode()
    for raw, escaped in _SQS_UNSAFE:
        if raw in body:
            body = body.replace(raw, escaped)
    return body.decode()


def chunk_envelopes(
    destination: Destination,
    source_id: str,
    policy_version: int,
    events: Sequence[Routed],
    decisions: Sequence[dict[str, Any]] = (),
) -> list[str]:
    """Serialise ``events`` into as few message bodies (:class:`~fairtrack.envelope.Envelope` JSON)
    as fit under the size limit. Encoded by pydantic-core (Rust), non-finite numbers as null.
    ``decisions`` (decision-log rows) go into the first body, which exists even without events."""
    bodies: list[str] = []
    head: dict[str, Any] = {
        "v": 1,
        "destination": destination,
        "source_id": source_id,
        "policy_version": policy_version,
    }
    if not events and not decisions:
        return bodies
    head_first = {**head, "decisions": list(decisions)} if decisions else head
    # The usual case, one body for everything: a single encode (the same bytes as joining the events
    # encoded one by one); only a body over the limit is encoded again event by event, to split it.
    whole = to_json(
        {**head_first, "events": [{"purposes": purposes, "event": event} for purposes, event in events]},
        inf_nan_mode="null",
    )
    if len(whole) < MAX_MESSAGE_BYTES:  # the limit as the loop below applies it
        return [_sqs_safe(whole)]
    plain = to_json(head)[:-1] + b',"events":['
    prefix = to_json({**head, "decisions": list(decisions)})[:-1] + b',"events":[' if decisions else plain
    current: list[bytes] = []
    size = len(prefix) + 2
    for purposes, event in events:
        encoded = to_json({"purposes": purposes, "event": event}, inf_nan_mode="null")
        length = len(encoded)  # UTF-8 bytes, what SQS counts
        if current and size + length + 1 > MAX_MESSAGE_BYTES:
            bodies.append(_sqs_safe(prefix + b",".join(current) + b"]}"))
            current, prefix = [], plain
            size = len(prefix) + 2
        current.append(encoded)
        size += length + 1
    if current or (decisions and not bodies):
        bodies.append(_sqs_safe(prefix + b",".join(current) + b"]}"))
    return bodies


class QueueSender:
    def __init__(self) -> None:
        self._client: Any = None
        self._pool: ThreadPoolExecutor | None = None

    client = LazyClient("sqs")

    def send_all(self, messages: list[tuple[str, str]], correlation_id: str) -> list[BaseException | None]:
        """Send ``(queue_url, body)`` pairs; return per message None or the error that stopped it."""
        if not messages:
            return []
        if len(messages) == 1:
            return [self._send_one(*messages[0], correlation_id)]
        self.client  # noqa: B018 - created here, once: not by each worker thread racing for it
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="sqs")
        futures = [self._pool.submit(self._send_one, url, body, correlation_id) for url, body in messages]
        return [f.result() for f in futures]

    def _send_one(self, queue_url: str, body: str, correlation_id: str) -> BaseException | None:
        try:
            self.client.send_message(
                QueueUrl=queue_url,
                MessageBody=body,
                MessageAttributes={CORRELATION_ATTRIBUTE: {"DataType": "String", "StringValue": correlation_id}},
            )
        except Exception as exc:  # noqa: BLE001 - reported per destination by the caller
            return exc
        return None


def enqueue(
    sender: QueueSender,
    per_destination: Mapping[Destination, list[Routed]],
    queue_url: Callable[[Destination], str],
    correlation_id: str,
    *,
    source_id: str,
    policy_version: int,
    lake_rows: Sequence[dict[str, Any]] = (),
) -> None:
    """Each destination's events as envelopes to its queue, sent by ``sender`` (``lake_rows``,
    decision-log rows, ride with the lake's); a 503 ``ClientError`` when any could not be queued."""
    messages = [
        (dest, body)
        for dest, events in per_destination.items()
        for body in chunk_envelopes(dest, source_id, policy_version, events, lake_rows if dest == "lake" else ())
    ]
    errors = sender.send_all([(queue_url(dest), body) for dest, body in messages], correlation_id)
    failed = sorted({dest for (dest, _), err in zip(messages, errors, strict=True) if err is not None})
    if failed:
        logger.error(
            "queueing failed",
            extra={
                "destinations": failed,
                "error_types": sorted({type(e).__name__ for e in errors if e is not None}),
            },
        )
        raise ClientError(503, "queue_unavailable", "events could not be queued; retry later")


def envelope_from_body(body: str) -> Envelope:
    from fairtrack.envelope import Envelope  # the forwarders' model: ingest only writes envelopes

    return Envelope.model_validate_json(body)
