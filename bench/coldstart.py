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

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from bench.core import Options, Row
from bench.fakes import REPO

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
elif kind == "ingest":
    import ingest_handler
    ingest_handler.ingestor.sender.client  # the SQS client a first request creates
else:
    import forwarder_handler
    destination = forwarder_handler.forwarder.destination
    if hasattr(destination, "s3"):
        destination.s3  # the lake's S3 client; HTTP destinations built their urllib3 pool at import
c1, w1 = time.process_time_ns(), time.perf_counter_ns()
files = {name: getattr(sys.modules.get(name), "__file__", None) for name in ("fairtrack", "pydantic", "boto3")}
print(json.dumps({"cpu": c1 - c0, "wall": w1 - w0, "modules": len(sys.modules), "files": files}))
"""


@dataclass(frozen=True)
class Subject:
    key: str  # the row key's middle part
    label: str
    kind: str  # "ingest" or "forwarder"
    env: dict[str, str]


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


def build_tree(root: Path, *, bytecode: bool) -> tuple[Path, Path, int]:
    """Copy handlers and layer under ``root``; returns (fn dir, layer dir, distributions copied)."""
    fn, layer = root / "fn", root / "layer"
    fn.mkdir(parents=True)
    for name in ("ingest", "forwarder"):
        shutil.copyfile(REPO / "functions" / name / f"{name}_handler.py", fn / f"{name}_handler.py")
    shutil.copytree(LAYER / "fairtrack", layer / "fairtrack", ignore=_ignore_bytecode)
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


def probe(kind: str, cwd: Path, env: dict[str, str]) -> dict[str, object]:
    """One fresh interpreter: CPU and wall time of the subject's import, in nanoseconds."""
    done = subprocess.run(  # noqa: S603 (our own interpreter, our own code)
        [sys.executable, "-S", "-c", _PROBE, kind],
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
def trees() -> Iterator[dict[bool, tuple[Path, Path, int]]]:
    with tempfile.TemporaryDirectory(prefix="fairtrack-coldstart-") as tmp:
        yield {
            bytecode: build_tree(Path(tmp) / ("pyc" if bytecode else "src"), bytecode=bytecode) for bytecode in MODES
        }


def _check_isolated(result: dict[str, object], layer: Path) -> None:
    """The handler must have imported fairtrack and pydantic from the copy, not the repository."""
    files = result.get("files")
    assert isinstance(files, dict)
    for name in ("fairtrack", "pydantic"):
        if files.get(name) and not str(files[name]).startswith(str(layer)):
            raise RuntimeError(f"cold-start probe imported {name} from {files[name]}, not from the copy {layer}")


def rows(options: Options) -> list[Row]:
    """Baseline and subjects alternate, one fresh interpreter each, for each mode; ``--quick``
    runs one round with the probes side by side (not a measurement)."""
    interpreters = 1 if options.quick else max(3, min(options.rounds, 5))
    subs = subjects()
    runs: dict[tuple[str, bool], list[dict[str, object]]] = {}
    with trees() as built:
        tasks = [
            (key, mode, kind, built[mode], env)
            for _ in range(interpreters)
            for mode in MODES
            for key, kind, env in [("baseline", "baseline", {}), *((s.key, s.kind, s.env) for s in subs)]
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
            out.append(
                Row(
                    key=f"coldstart.{s.key}.{'bytecode' if mode else 'source'}",
                    figure=f"cold import, {s.label}, {'with' if mode else 'without'} bytecode",
                    value=value,
                    unit="ms",
                    baseline=base,
                    baseline_label="(import boto3 + SQS client)",
                    ratio=r,
                    target=f"<= {RATIO_TARGET:g}x",
                    passed=r <= RATIO_TARGET,
                    note=(
                        f"CPU in a fresh interpreter, median of {len(ratios)}; wall "
                        f"{median(s.key, mode, 'wall') / 1e6:.0f} vs {median('baseline', mode, 'wall') / 1e6:.0f} ms; "
                        f"{int(str(runs[(s.key, mode)][0]['modules']))} modules; fairtrack + {distributions} layer "
                        f"distributions {'compiled (unchecked-hash)' if mode else 'without __pycache__'}; "
                        f"Python {sys.version_info[0]}.{sys.version_info[1]} here, Lambda runs 3.13"
                    ),
                )
            )
    return out
