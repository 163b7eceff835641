"""Cold-start figures: importing a handler in a fresh interpreter, against ``import boto3`` plus an
SQS client measured in the same run.

A Lambda cold start imports the handler module before the first event; every function here needs
boto3 and one client anyway, so the floor is ``import boto3; boto3.client("sqs")`` and the figure
is how many times that the handler costs. Each subject runs in a fresh interpreter (a subprocess,
``python -S`` so that the development install's ``.pth`` hooks play no part), timed inside the
child with ``time.process_time`` around the import: CPU, not wall time (the wall time is in the
notes). The figure is the median of the per-interpreter ratios, baseline and subjects alternating.

What is imported is a copy of what Lambda gets, made in a temporary directory for the run:

- ``fn/``: the handler file (``functions/<name>/<name>_handler.py``), as ``CodeUri`` ships it;
- ``layer/``: ``fairtrack`` and the distributions ``layers/common/requirements.txt`` pins, with
  their dependencies (resolved from the installed metadata), as the common layer ships them.
  boto3 and botocore are not in it: the Lambda runtime provides them (with bytecode), so they
  come from the virtual environment in both modes, as does the baseline.

Two modes, each its own copy: **with bytecode** compiles the copy with ``python -m compileall
--invalidation-mode unchecked-hash`` (bytecode that survives packaging); **without bytecode** has
no ``__pycache__`` at all, so every module of the copy is compiled at import. Both run with
``PYTHONDONTWRITEBYTECODE=1`` (Lambda's file system is read-only: a cold start cannot leave
bytecode for the next). ``.aws-sam/build`` is not used: it holds arm64 wheels for Python 3.13.

The children get an environment like the function's (queue URLs, destination settings, region,
dummy credentials in environment variables as Lambda provides them, instance metadata off), so
creating a client neither reads credential files nor reaches the network; the webhook URL is a
discard port on localhost and nothing is sent at import.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from bench import events
from bench.core import Options, Row
from bench.fakes import ORIGIN, REPO
from bench.forwarder import RECORDS_PER_BATCH, envelope_bodies, sqs_event
from bench.ingest import BATCH_HITS
from fairtrack.stores.policy_table import Source
from fairtrack_tools.local.localcloud import LocalCloud
from fairtrack_tools.ops.sources import add_source

RATIO_TARGET = 1.6  # a handler's cold import, at most this many times import boto3 + an SQS client
LAYER = REPO / "layers" / "common"
RUNTIME_PROVIDED = frozenset({"boto3", "botocore", "s3transfer"})  # in the Lambda runtime, not the layer
FORWARDER_DESTINATIONS = ("ga4", "meta", "webhook", "lake")  # configured in every forwarder's environment
MODES = (True, False)  # with bytecode, without

# Runs in a fresh interpreter: one subject, timed around its import (and the clients it needs).
_PROBE = """
import json, sys, time
kind = sys.argv[1]
c0, w0 = time.process_time_ns(), time.perf_counter_ns()
if kind == "baseline":
    import boto3
    boto3.client("sqs")
elif kind == "baseline_paused":  # the same, with the collector paused as the handlers pause it
    import gc
    gc.disable()
    import boto3
    boto3.client("sqs")
    gc.enable()
elif kind == "floor":  # what ingest is built on, initialised as ingest_handler does, without fairtrack
    import gc
    gc.disable()
    import boto3
    from aws_lambda_powertools import Logger, Metrics
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
    from aws_lambda_powertools.utilities.parameters import DynamoDBProvider
    from pydantic import BaseModel

    class Event(BaseModel):
        type: str

    APIGatewayHttpResolver(), Logger(), Metrics()
    gc.freeze()
    gc.enable()
    boto3.client("sqs")
elif kind == "ingest":
    import ingest_handler
    ingest_handler.ingestor.sender.client  # its SQS client (the handler makes it while it initialises)
else:
    import forwarder_handler
    destination = forwarder_handler.forwarder.destination
    if hasattr(destination, "s3"):
        destination.s3.meta  # the S3 client (the handler makes it while it initialises); HTTP destinations: their pool
c1, w1 = time.process_time_ns(), time.perf_counter_ns()
files = {name: getattr(sys.modules.get(name), "__file__", None) for name in ("fairtrack", "pydantic", "boto3")}
print(json.dumps({"cpu": c1 - c0, "wall": w1 - w0, "modules": len(sys.modules), "files": files}))
"""


# Runs in a fresh interpreter: import plus the first event, against the moto server of the run. The
# event is read from a file before the clock starts (the Lambda runtime hands it over parsed).
_FIRST = """
import json, sys, time
kind, event_file = sys.argv[1], sys.argv[2]
with open(event_file) as f:
    event = json.load(f)


class Context:  # what Powertools reads from the Lambda context
    function_name = "fairtrack-bench"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:fairtrack-bench"
    aws_request_id = "bench-cold-start"
    log_group_name = "/aws/lambda/fairtrack-bench"
    log_stream_name = "bench"

    def get_remaining_time_in_millis(self):  # the forwarders' timeout in the template
        return 30_000


c0, w0 = time.process_time_ns(), time.perf_counter_ns()
if kind == "baseline":
    import boto3
    boto3.client("sqs").send_message(QueueUrl=event["QueueUrl"], MessageBody=event["MessageBody"])
    answer = None
elif kind == "ingest":
    import ingest_handler
    answer = ingest_handler.handler(event, Context())
else:
    import forwarder_handler
    answer = forwarder_handler.handler(event, Context())
c1, w1 = time.process_time_ns(), time.perf_counter_ns()
files = {name: getattr(sys.modules.get(name), "__file__", None) for name in ("fairtrack", "pydantic", "boto3")}
out = {"cpu": c1 - c0, "wall": w1 - w0, "modules": len(sys.modules), "files": files, "answer": answer}
print(json.dumps(out))
"""


@dataclass(frozen=True)
class Subject:
    key: str  # the row key's middle part
    label: str
    kind: str  # "ingest", "forwarder" or "floor"
    env: dict[str, str]
    informational: bool = False  # no target: shown to read the others by


def _queue(destination: str) -> str:
    return f"https://sqs.us-east-1.amazonaws.com/123456789012/fairtrack-{destination}"


def _secret(name: str) -> str:
    return f"arn:aws:secretsmanager:us-east-1:123456789012:secret:fairtrack-{name}-AbCdEf"


INGEST_ENV = {
    **{f"{d.upper()}_QUEUE_URL": _queue(d) for d in FORWARDER_DESTINATIONS},
    "CONSENT_TABLE": "fairtrack-consent",
    "PSEUDONYM_SECRET_ARN": _secret("pseudonym"),
}
FORWARDER_ENV = {
    "DELIVERY_TABLE": "fairtrack-delivery",
    "FAILED_BUCKET": "fairtrack-failed",
    "GA4_MEASUREMENT_ID": "G-BENCH00001",
    "GA4_API_SECRET_ARN": _secret("ga4"),
    "META_PIXEL_ID": "1234567890",
    "META_ACCESS_TOKEN_ARN": _secret("meta"),
    "WEBHOOK_URL": "http://127.0.0.1:9/hook",  # the discard port: nothing is sent at import anyway
    "WEBHOOK_SECRET_ARN": _secret("webhook"),
    "LAKE_BUCKET": "fairtrack-lake",
}
# As the template's Globals give every function, plus what the Lambda runtime sets.
FUNCTION_ENV = {
    "POWERTOOLS_SERVICE_NAME": "fairtrack",
    "POWERTOOLS_METRICS_NAMESPACE": "fairtrack",
    "POWERTOOLS_LOG_LEVEL": "INFO",
    "POWERTOOLS_LOGGER_LOG_EVENT": "false",
    "POLICY_TABLE": "fairtrack-policy",
    "POLICY_CACHE_SECONDS": "30",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "AKIABENCHNOTAKEY0000",  # not a credential: nothing is ever signed or sent
    "AWS_SECRET_ACCESS_KEY": "bench-not-a-secret",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}


def subjects() -> list[Subject]:
    return [
        Subject("ingest", "ingest handler + SQS client", "ingest", INGEST_ENV),
        Subject(
            "floor_ingest",
            "ingest's libraries alone (Powertools resolver, logger, metrics, parameters; pydantic, one model) + SQS",
            "floor",
            INGEST_ENV,
            informational=True,
        ),
        Subject(
            "forwarder_ga4", "forwarder (ga4) + urllib3 pool", "forwarder", {**FORWARDER_ENV, "DESTINATION": "ga4"}
        ),
        Subject(
            "forwarder_lake", "forwarder (lake) + S3 client", "forwarder", {**FORWARDER_ENV, "DESTINATION": "lake"}
        ),
    ]


def layer_distributions() -> list[importlib.metadata.Distribution]:
    """The installed distributions the common layer ships: ``requirements.txt`` and what those
    require (markers and extras evaluated), without what the Lambda runtime provides."""
    pending: list[tuple[Requirement, str]] = []
    for line in (LAYER / "requirements.txt").read_text().splitlines():
        text = line.split("#", 1)[0].strip()
        if text:
            req = Requirement(text)
            pending += [(req, extra) for extra in (req.extras or {""})]
    found: dict[str, importlib.metadata.Distribution] = {}
    done: set[tuple[str, str]] = set()
    while pending:
        req, extra = pending.pop()
        name = canonicalize_name(req.name)
        if name in RUNTIME_PROVIDED or (name, extra) in done:
            continue
        done.add((name, extra))
        dist = found.setdefault(name, importlib.metadata.distribution(req.name))
        for spec in dist.requires or []:
            sub = Requirement(spec)
            if sub.marker is None or sub.marker.evaluate({"extra": extra}):
                pending += [(sub, e) for e in (sub.extras or {""})]
    return sorted(found.values(), key=lambda d: canonicalize_name(d.metadata["Name"]))


def _ignore_bytecode(_dir: str, names: list[str]) -> list[str]:
    return [n for n in names if n == "__pycache__" or n.endswith((".pyc", ".pyo"))]


def build_tree(root: Path, *, bytecode: bool, repo: Path = REPO) -> tuple[Path, Path, int]:
    """Copy handlers and layer of ``repo`` under ``root``; returns (fn dir, layer dir, distributions
    copied). ``repo`` is this checkout unless a comparison script passes another tree."""
    fn, layer = root / "fn", root / "layer"
    fn.mkdir(parents=True)
    for name in ("ingest", "forwarder"):
        shutil.copyfile(repo / "functions" / name / f"{name}_handler.py", fn / f"{name}_handler.py")
    shutil.copytree(repo / "layers" / "common" / "fairtrack", layer / "fairtrack", ignore=_ignore_bytecode)
    dists = layer_distributions()
    for dist in dists:
        for file in dist.files or []:
            parts = Path(file).parts
            if not parts or parts[0] == ".." or "__pycache__" in parts or file.suffix in (".pyc", ".pyo"):
                continue
            source = Path(str(dist.locate_file(file)))
            if source.is_file():
                target = layer / file
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, target)
    if bytecode:
        subprocess.run(  # noqa: S603 (our own interpreter on our own copy)
            [sys.executable, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash", str(root)],
            check=True,
            capture_output=True,
            timeout=300,
        )
    return fn, layer, len(dists)


def _child_env(fn: Path, layer: Path, subject_env: dict[str, str]) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")}
    site = sysconfig.get_paths()["purelib"]  # boto3 and botocore, as the runtime provides them
    return {
        **keep,
        **FUNCTION_ENV,
        **subject_env,
        "PYTHONPATH": os.pathsep.join((str(fn), str(layer), site)),
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONHASHSEED": "0",
    }


def probe(kind: str, cwd: Path, env: dict[str, str], *, event_file: Path | None = None) -> dict[str, object]:
    """One fresh interpreter: CPU and wall time of the subject's import (with ``event_file``: its
    import and first event), in nanoseconds."""
    args = [_PROBE, kind] if event_file is None else [_FIRST, kind, str(event_file)]
    done = subprocess.run(  # noqa: S603 (our own interpreter, our own code)
        [sys.executable, "-S", "-c", *args],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=120,
    )
    if done.returncode != 0:
        raise RuntimeError(f"cold-start probe {kind!r} failed:\n{done.stderr[-2000:]}")
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@contextmanager
def trees(repo: Path = REPO) -> Iterator[dict[bool, tuple[Path, Path, int]]]:
    with tempfile.TemporaryDirectory(prefix="fairtrack-coldstart-") as tmp:
        yield {
            bytecode: build_tree(Path(tmp) / ("pyc" if bytecode else "src"), bytecode=bytecode, repo=repo)
            for bytecode in MODES
        }


def _check_isolated(result: dict[str, object], layer: Path) -> None:
    """The handler must have imported fairtrack and pydantic from the copy, not the repository."""
    files = result.get("files")
    assert isinstance(files, dict)
    for name in ("fairtrack", "pydantic"):
        if files.get(name) and not str(files[name]).startswith(str(layer)):
            raise RuntimeError(f"cold-start probe imported {name} from {files[name]}, not from the copy {layer}")


def _interpreters(options: Options) -> int:
    return 1 if options.quick else max(3, min(options.rounds, 5))


def rows(options: Options) -> list[Row]:
    """The cold imports (both modes), then the cold starts with a first request (with bytecode),
    over the same copy of handlers and layer."""
    with trees() as built:
        return import_rows(options, built) + first_request_rows(options, built[True])


def import_rows(options: Options, built: dict[bool, tuple[Path, Path, int]]) -> list[Row]:
    """Baseline and subjects alternate, one fresh interpreter each, for each mode; ``--quick``
    runs one round with the probes side by side (not a measurement)."""
    interpreters = _interpreters(options)
    subs = subjects()
    runs: dict[tuple[str, bool], list[dict[str, object]]] = {}
    tasks = [
        (key, mode, kind, built[mode], env)
        for _ in range(interpreters)
        for mode in MODES
        for key, kind, env in [
            ("baseline", "baseline", {}),
            ("baseline_paused", "baseline_paused", {}),
            *((s.key, s.kind, s.env) for s in subs),
        ]
    ]

    def run(task: tuple[str, bool, str, tuple[Path, Path, int], dict[str, str]]) -> dict[str, object]:
        _, _, kind, (fn, layer, _), env = task
        result = probe(kind, fn.parent, _child_env(fn, layer, env))
        _check_isolated(result, layer)
        return result

    if options.quick:
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
            results = list(pool.map(run, tasks))
    else:
        results = [run(task) for task in tasks]
    distributions = built[True][2]
    for (key, mode, *_), result in zip(tasks, results, strict=True):
        runs.setdefault((key, mode), []).append(result)

    def median(key: str, mode: bool, field: str) -> float:
        return statistics.median(float(str(r[field])) for r in runs[(key, mode)])

    out: list[Row] = []
    for mode in MODES:
        for s in subs:
            # per-interpreter ratios, each against the baseline interpreter of the same round
            ratios = [
                float(str(r["cpu"])) / float(str(b["cpu"]))
                for r, b in zip(runs[(s.key, mode)], runs[("baseline", mode)], strict=True)
            ]
            value, base = median(s.key, mode, "cpu") / 1e6, median("baseline", mode, "cpu") / 1e6
            r = statistics.median(ratios)
            paused = statistics.median(
                float(str(p["cpu"])) / float(str(b["cpu"]))
                for p, b in zip(runs[(s.key, mode)], runs[("baseline_paused", mode)], strict=True)
            )
            out.append(
                Row(
                    key=f"coldstart.{s.key}.{'bytecode' if mode else 'source'}",
                    figure=f"cold import, {s.label}, {'with' if mode else 'without'} bytecode",
                    value=value,
                    unit="ms",
                    baseline=base,
                    baseline_label="(import boto3 + SQS client)",
                    ratio=r,
                    target="informational" if s.informational else f"<= {RATIO_TARGET:g}x",
                    passed=None if s.informational else r <= RATIO_TARGET,
                    note=(
                        f"CPU in a fresh interpreter, median of {len(ratios)}; wall "
                        f"{median(s.key, mode, 'wall') / 1e6:.0f} vs {median('baseline', mode, 'wall') / 1e6:.0f} ms; "
                        f"against the baseline with the collector paused too, as the handlers pause it while they "
                        f"initialise: {median('baseline_paused', mode, 'cpu') / 1e6:.0f} ms, {paused:.2f}x; "
                        f"{int(str(runs[(s.key, mode)][0]['modules']))} modules; fairtrack + {distributions} layer "
                        f"distributions {'compiled (unchecked-hash)' if mode else 'without __pycache__'}; "
                        f"Python {sys.version_info[0]}.{sys.version_info[1]} here, Lambda runs 3.13"
                    ),
                )
            )
    return out


# -- cold start = import + first request ------------------------------------------------------------


@dataclass(frozen=True)
class FirstRequest:
    key: str  # the row key's last part
    label: str
    kind: str  # "baseline", "ingest" or "forwarder"
    function: str  # the template's logical id, whose environment the child gets ("" for the baseline)


FIRST_REQUESTS = (
    FirstRequest("ingest", f"ingest, import + first /v1/batch ({BATCH_HITS} hits)", "ingest", "IngestFunction"),
    FirstRequest(
        "forwarder_lake",
        f"forwarder (lake), import + first SQS batch ({RECORDS_PER_BATCH} records)",
        "forwarder",
        "LakeForwarderFunction",
    ),
)


@contextmanager
def local_cloud() -> Iterator[LocalCloud]:
    """The local stack's AWS (``fairtrack_tools.local.localcloud``: moto on a free loopback port, every
    table, queue, bucket and secret of ``template.yaml``, the default policy active, the dev
    source), plus the bench's source (write key and origin of :mod:`bench.events`)."""
    cloud = LocalCloud().start()
    try:
        source = Source(source_id=events.SOURCE_ID, name="bench", origins=[ORIGIN])
        add_source(cloud.client("dynamodb"), cloud.physical_id("PolicyTable"), source, events.WRITE_KEY)
        yield cloud
    finally:
        cloud.stop()


def ingest_event() -> dict[str, Any]:
    """``events/ingest/batch.json`` (an HTTP API event) carrying the bench's 50-hit analytics.js
    batch, sent from the source's origin with its write key."""
    event: dict[str, Any] = json.loads((REPO / "events" / "ingest" / "batch.json").read_text())
    request = events.request(events.batch_body(BATCH_HITS))
    event["headers"] = {**event["headers"], **request.headers}
    event["body"] = request.body
    event["isBase64Encoded"] = False
    event["requestContext"]["timeEpoch"] = int(request.received_at.timestamp() * 1000)
    return event


def _check_answer(request: FirstRequest, result: dict[str, object]) -> None:
    """A cold start that failed its request would be cheap and wrong: refuse the figure."""
    answer = result.get("answer")
    if request.kind == "ingest":
        ok = isinstance(answer, dict) and answer.get("statusCode") == 200 and '"success":true' in str(answer["body"])
    elif request.kind == "forwarder":
        ok = isinstance(answer, dict) and answer.get("batchItemFailures") == []
    else:
        ok = True
    if not ok:
        raise RuntimeError(f"cold-start probe {request.key!r} answered {str(answer)[:500]}")


def first_request_rows(options: Options, tree: tuple[Path, Path, int]) -> list[Row]:
    """Import and first event in a fresh interpreter, against ``import boto3``, an SQS client and
    one ``SendMessage`` of a lake envelope, every call to the moto server of the run (loopback);
    baseline and subjects alternate, one interpreter each. Informational: no target."""
    fn, layer, _ = tree
    baseline = FirstRequest("baseline", "import boto3 + SQS client + 1 SendMessage", "baseline", "")
    lake_bodies = envelope_bodies()["lake"]
    with local_cloud() as cloud, tempfile.TemporaryDirectory(prefix="fairtrack-firstrequest-") as tmp:
        functions = cloud.functions()
        aws = {**cloud.aws_env, "AWS_EC2_METADATA_DISABLED": "true"}
        lake_queue = functions["IngestFunction"].environment["LAKE_QUEUE_URL"]
        files = {
            "baseline": Path(tmp) / "baseline.json",
            "ingest": Path(tmp) / "ingest.json",
            "forwarder_lake": Path(tmp) / "lake.json",
        }
        files["baseline"].write_text(json.dumps({"QueueUrl": lake_queue, "MessageBody": lake_bodies[0]}))
        files["ingest"].write_text(json.dumps(ingest_event()))
        files["forwarder_lake"].write_text(json.dumps(sqs_event("lake", lake_bodies)))

        def run(request: FirstRequest) -> dict[str, object]:
            env = {**(functions[request.function].environment if request.function else {}), **aws}
            result = probe(request.kind, fn.parent, _child_env(fn, layer, env), event_file=files[request.key])
            _check_isolated(result, layer)
            _check_answer(request, result)
            return result

        tasks = [r for _ in range(_interpreters(options)) for r in (baseline, *FIRST_REQUESTS)]
        if options.quick:  # a smoke run: one interpreter each, in parallel (timed runs go one at a time)
            with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
                results = list(pool.map(run, tasks))
        else:
            results = [run(task) for task in tasks]
    runs: dict[str, list[dict[str, object]]] = {}
    for request, result in zip(tasks, results, strict=True):
        runs.setdefault(request.key, []).append(result)

    def median(key: str, field: str) -> float:
        return statistics.median(float(str(r[field])) for r in runs[key])

    out: list[Row] = []
    for request in FIRST_REQUESTS:
        ratios = [
            float(str(r["cpu"])) / float(str(b["cpu"]))
            for r, b in zip(runs[request.key], runs["baseline"], strict=True)
        ]
        out.append(
            Row(
                key=f"coldstart.first_request.{request.key}",
                figure=f"cold start, {request.label}",
                value=median(request.key, "cpu") / 1e6,
                unit="ms",
                baseline=median("baseline", "cpu") / 1e6,
                baseline_label=f"({baseline.label})",
                ratio=statistics.median(ratios),
                target="informational",
                passed=None,
                note=(
                    f"CPU in a fresh interpreter, with bytecode, median of {len(ratios)}; wall "
                    f"{median(request.key, 'wall') / 1e6:.0f} vs {median('baseline', 'wall') / 1e6:.0f} ms; "
                    f"{int(str(runs[request.key][0]['modules']))} modules after the request; AWS is moto on "
                    "loopback (its CPU is the bench's, not the child's); "
                    f"Python {sys.version_info[0]}.{sys.version_info[1]} here, Lambda runs 3.13"
                ),
            )
        )
    return out
