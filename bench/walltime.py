"""Wall time of the invocations a hit causes, on the local stack: what Lambda bills as duration.

The CPU figures leave out waiting: ingest waits for its SQS sends, a forwarder for DynamoDB, S3,
the decision log and the destination's HTTP answer. Here the same functions run as the local
stack runs them (:mod:`fairtrack_tools.local.runtime`: one worker subprocess per function, the
template's environment and code, the common layer), against the local stack's AWS (moto on a
free loopback port, :func:`bench.coldstart.local_cloud`) and its capture servers standing in for
GA4, Meta and the webhook, also on loopback. Each worker times its handler (wall and CPU of the
process, every thread) and the pool keeps the record (:meth:`FunctionPool.recent`).

Two phases, each hit with analytics and advertising granted so that all four destinations get
it (as the cost model assumes), every hit with its own ``messageId``:

- *single*: ``POST /v1/track`` requests of one hit (HTTP API events as the local API builds
  them), a forwarder batch's worth (the template's batch size) at a time, each time followed by
  every destination's queue drained, each batch one forwarder invocation (queues kept short, as
  forwarders keep them in steady traffic: moto's ``SendMessage`` slows with every message a
  queue holds);
- *batched*: ``POST /v1/batch`` requests of 50 hits, sent and drained the same way.

Only full batches count; a warm-up round of requests, its queues drained, comes first (the first
request of a container reads the policy and makes clients).
An invocation that fails (ingest not 200, a forwarder with batch item failures) stops the bench:
a failed request is cheap and wrong.

What the figures are not: moto answers over loopback in well under a millisecond of network, but
with its own Python work (in this process, competing for the same cores), so an AWS call can be
faster or slower here than in-region; a capture server answers at once, where GA4 or Meta answer in
tens to hundreds of milliseconds. The cost model prints what each 10 ms of waiting adds.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

from bench import coldstart, events, forwarder
from bench.core import Options, Row
from bench.ingest import BATCH_HITS
from fairtrack.hit import iso
from fairtrack.settings import DESTINATIONS, Destination
from fairtrack_tools.local.apiserver import build_event, match_route
from fairtrack_tools.local.localcloud import LocalCloud, SqsSource
from fairtrack_tools.local.poller import sqs_event
from fairtrack_tools.local.runtime import FunctionPool, Invocation
from fairtrack_tools.local.template import ACCOUNT, REGION

SHAPES = ("single", "batched")
INGEST_FUNCTION = "IngestFunction"
QUICK_RECORDS = 5  # records per forwarder batch in --quick (the template's batch size otherwise)


@dataclass(frozen=True)
class Plan:
    """How many requests each phase sends and how many records a forwarder batch holds."""

    records: int  # per forwarder batch
    single_warmup: int
    single_requests: int
    batch_requests: int

    @staticmethod
    def for_options(options: Options, batch_size: int) -> Plan:
        if options.quick:  # a smoke run: one small forwarder batch per destination and phase
            return Plan(
                records=QUICK_RECORDS, single_warmup=2, single_requests=QUICK_RECORDS, batch_requests=QUICK_RECORDS
            )
        return Plan(
            records=batch_size, single_warmup=batch_size, single_requests=8 * batch_size, batch_requests=4 * batch_size
        )


@dataclass(frozen=True)
class Durations:
    """Wall and CPU time of a set of invocations of one function, in milliseconds."""

    wall_ms: tuple[float, ...]
    cpu_ms: tuple[float, ...]
    events: int = 0  # events per invocation (a forwarder batch); 0 for ingest

    @staticmethod
    def of(invocations: list[Invocation], events: int = 0) -> Durations:
        if not invocations:
            raise RuntimeError("no invocation was recorded")
        return Durations(tuple(i.wall_ms for i in invocations), tuple(i.cpu_ms for i in invocations), events)

    @property
    def median_wall(self) -> float:
        return statistics.median(self.wall_ms)

    @property
    def p90_wall(self) -> float:
        return _p90(self.wall_ms)

    @property
    def median_cpu(self) -> float:
        return statistics.median(self.cpu_ms)

    @property
    def median_wait(self) -> float:
        """Median of each invocation's wall time less its CPU: the waiting in it."""
        return statistics.median(max(0.0, w - c) for w, c in zip(self.wall_ms, self.cpu_ms, strict=True))


def _p90(values: tuple[float, ...]) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=10, method="inclusive")[-1]


@dataclass(frozen=True)
class WallTimes:
    ingest: dict[str, Durations]  # by shape
    forwarders: dict[str, dict[Destination, Durations]]  # by shape, then destination
    records: int  # per forwarder batch measured (the template's batch size, but in --quick)
    moto_sends_ms: float  # median wall of 4 parallel SendMessage from a bare boto3 client to this moto


def _hits(first: int, n: int) -> list[dict[str, Any]]:
    return [forwarder.consenting_hit(i) for i in range(first, first + n)]


class Rig:
    """The functions a hit passes through, as local-stack workers over one local cloud."""

    def __init__(self, cloud: LocalCloud, stack: ExitStack) -> None:
        self.cloud = cloud
        specs = cloud.functions()
        self.sources: dict[Destination, SqsSource] = {}
        for source in cloud.sqs_sources():
            destination = specs[source.function].environment.get("DESTINATION")
            if destination in DESTINATIONS:
                self.sources[destination] = source
        if set(self.sources) != set(DESTINATIONS):
            raise RuntimeError(f"template.yaml: a forwarder per destination expected, found {sorted(self.sources)}")
        self.template_batch_size = {s.batch_size for s in self.sources.values()}.pop()
        self.batch_size = self.template_batch_size  # records per forwarder batch; a plan may lower it
        names = [INGEST_FUNCTION, *(s.function for s in self.sources.values())]
        # every worker imports its handler at once, in parallel: the first invocation waits for it
        self.pools = {name: FunctionPool(specs[name], cloud.aws_env, size=1, quiet=True) for name in names}
        for pool in self.pools.values():
            stack.callback(pool.stop)
        self.sqs = cloud.client("sqs")
        self.routes = cloud.http_routes()
        self.next_hit = 0

    def _ingest(self, path: str, body: str) -> None:
        found = match_route(self.routes, "POST", path)
        if found is None:
            raise RuntimeError(f"template.yaml has no route for POST {path}")
        route, params = found
        event = build_event(
            route,
            params=params,
            method="POST",
            raw_path=path,
            query="",
            headers=events.request(body).headers,
            body=body.encode(),
            source_ip=events.SOURCE_IP,
            host="127.0.0.1",
        )
        answer = self.pools[INGEST_FUNCTION].invoke(event)
        if not (isinstance(answer, dict) and answer.get("statusCode") == 200 and '"success":true' in answer["body"]):
            raise RuntimeError(f"ingest answered {str(answer)[:300]}")

    def send(self, shape: str, requests: int) -> None:
        for _ in range(requests):
            if shape == "single":
                hit = _hits(self.next_hit, 1)[0]
                self._ingest(f"/v1/{hit['type']}", json.dumps(hit))  # every fifth hit is a page call
                self.next_hit += 1
            else:
                body = {"batch": _hits(self.next_hit, BATCH_HITS), "sentAt": iso(events.RECEIVED_AT)}
                self._ingest("/v1/batch", json.dumps(body))
                self.next_hit += BATCH_HITS

    def moto_sends(self, rounds: int) -> float:
        """Median wall time, in ms, of as many parallel ``SendMessage`` calls as ingest makes,
        from a bare boto3 client in this process to the same moto: what moto's own answer takes,
        to read the ingest figure's waiting by."""
        n = len(DESTINATIONS)
        times: list[float] = []
        with ThreadPoolExecutor(max_workers=n) as pool:
            for r in range(rounds + 1):
                # empty queues each round, like the drained queues ingest sends to here
                url = self.sqs.create_queue(QueueName=f"fairtrack-bench-probe-{r}")["QueueUrl"]
                start = time.perf_counter()
                bodies = [(url, f"probe {i}") for i in range(n)]
                list(pool.map(lambda m: self.sqs.send_message(QueueUrl=m[0], MessageBody=m[1]), bodies))
                times.append((time.perf_counter() - start) * 1000)
        return statistics.median(times[1:])  # the first makes the connections

    def _receive(self, queue_url: str) -> list[dict[str, Any]]:
        """Up to one batch of messages, or fewer when the queue has no more."""
        batch: list[dict[str, Any]] = []
        while len(batch) < self.batch_size:
            got = self.sqs.receive_message(
                QueueUrl=queue_url,
                MaxNumberOfMessages=min(10, self.batch_size - len(batch)),
                WaitTimeSeconds=0,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            if not got:
                break
            batch.extend(got)
        return batch

    def drain(self, destination: Destination) -> list[tuple[int, Invocation]]:
        """Every message of the destination's queue through its forwarder, a batch per invocation;
        the full batches' invocations with their event counts."""
        source = self.sources[destination]
        pool = self.pools[source.function]
        arn = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{source.queue_url.rsplit('/', 1)[-1]}"
        out: list[tuple[int, Invocation]] = []
        while messages := self._receive(source.queue_url):
            answer = pool.invoke(sqs_event(messages, arn))
            if not isinstance(answer, dict) or answer.get("batchItemFailures"):
                raise RuntimeError(f"{destination} forwarder answered {str(answer)[:300]}")
            for i in range(0, len(messages), 10):
                self.sqs.delete_message_batch(
                    QueueUrl=source.queue_url,
                    Entries=[
                        {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(messages[i : i + 10])
                    ],
                )
            if len(messages) == self.batch_size:
                events_in = sum(len(json.loads(m["Body"]).get("events", [])) for m in messages)
                out.append((events_in, pool.recent()[-1]))
        return out


@contextmanager
def rig() -> Iterator[Rig]:
    with ExitStack() as stack:
        cloud = stack.enter_context(coldstart.local_cloud())
        yield Rig(cloud, stack)


def _forwarded(found: list[tuple[int, Invocation]]) -> Durations:
    counts = {n for n, _ in found}
    return Durations.of([i for _, i in found], events=max(counts) if counts else 0)


def measure(options: Options) -> WallTimes:
    with rig() as r:
        plan = Plan.for_options(options, r.template_batch_size)
        r.batch_size = plan.records
        ingest_pool = r.pools[INGEST_FUNCTION]
        ingest: dict[str, Durations] = {}
        forwarders: dict[str, dict[Destination, Durations]] = {}

        r.send("single", plan.single_warmup)
        for d in DESTINATIONS:  # the forwarders' first invocations, and empty queues
            r.drain(d)
        for shape, requests in (("single", plan.single_requests), ("batched", plan.batch_requests)):
            ingest_pool.forget()
            found: dict[Destination, list[tuple[int, Invocation]]] = {d: [] for d in DESTINATIONS}
            # a forwarder batch's worth of requests, then every queue drained, as forwarders keep up
            # in steady traffic: moto's SendMessage slows with every message a queue holds (from
            # about 23 ms for ingest's 4 parallel sends into near-empty queues to 66 ms at 500 held)
            for start in range(0, requests, plan.records):
                r.send(shape, min(plan.records, requests - start))
                for d in DESTINATIONS:
                    found[d] += r.drain(d)
            ingest[shape] = Durations.of(ingest_pool.recent())
            forwarders[shape] = {d: _forwarded(found[d]) for d in DESTINATIONS}

        captured = r.cloud.captures.snapshot()
        silent = [name for name in ("ga4", "meta", "webhook") if not captured.get(name)]
        if silent:
            raise RuntimeError(f"the capture servers got nothing for {silent}: the figures would not be deliveries")
        return WallTimes(ingest, forwarders, plan.records, r.moto_sends(5 if options.quick else 50))


# Filled by :func:`rows`; bench.cost reads it (and measures itself when it is empty).
LAST: list[WallTimes] = []


def latest(options: Options) -> WallTimes:
    if not LAST:
        LAST.append(measure(options))
    return LAST[-1]


def _row(key: str, figure: str, d: Durations, note: str) -> Row:
    return Row(
        key=key,
        figure=figure,
        value=d.median_wall,
        unit="ms",
        baseline=d.median_cpu,
        baseline_label="(CPU in it)",
        ratio=d.median_wall / d.median_cpu if d.median_cpu else None,
        target="informational",
        passed=None,
        note=(
            f"median of {len(d.wall_ms)}, p90 {d.p90_wall:.1f} ms, waiting (wall - CPU) {d.median_wait:.1f} ms; {note}"
        ),
    )


def rows(options: Options) -> list[Row]:
    LAST.clear()
    w = latest(options)
    labels = {"single": "single hits", "batched": f"{BATCH_HITS}-hit batches"}
    out = [
        _row(
            f"walltime.ingest.{shape}",
            f"ingest wall time per request, {labels[shape]}",
            w.ingest[shape],
            f"HTTP API event to the ingest worker, {len(DESTINATIONS)} SQS sends in parallel to moto on loopback "
            f"(the same sends from a bare boto3 client: {w.moto_sends_ms:.1f} ms, moto's own answer)",
        )
        for shape in SHAPES
    ]
    for shape in SHAPES:
        for d in DESTINATIONS:
            f = w.forwarders[shape][d]
            out.append(
                _row(
                    f"walltime.forwarder.{d}.{shape}",
                    f"forwarder wall time per batch, {d}, {labels[shape]}",
                    f,
                    f"{w.records} records, {f.events} events per batch; AWS is moto, "
                    f"{'the lake bucket' if d == 'lake' else 'the destination a capture server'} on loopback",
                )
            )
    return out
