"""``fairtrack smoke``: after a deploy, check the stack end to end with one synthetic hit.

Adds a temporary source (random id and write key, as ``fairtrack source add`` does), sends one hit
(no personal data; consent to every purpose the active policy's ``segment_categories`` signal
names) to the stack's ingest API, waits until a record of it is in the lake and, when the stack has
a webhook, until the webhook forwarder's delivery is in the decision log (or its failed event is in
the failed-events store), then removes the source and its lake records. Exit 0 with one line per
check, or 1 naming what failed. The write key is never printed.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import json
import secrets
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from fairtrack.stores import decision_log
from fairtrack.stores.failed_events import PREFIX as FAILED_PREFIX
from fairtrack.stores.policy_table import Source
from fairtrack_tools.ops import policy_ops, sources
from fairtrack_tools.ops.stackref import is_local, stack_outputs, stack_parent

DEFAULT_TIMEOUT = 180.0
POLL_SECONDS = 2.0


@dataclass
class Check:
    name: str
    ok: bool
    detail: str

    def line(self) -> str:
        return f"{self.name}: {'ok' if self.ok else 'FAILED'}, {self.detail}"


@dataclass(frozen=True)
class Target:
    """Where the checks look: the stack's outputs and a client factory that reaches its AWS."""

    ingest_url: str
    outputs: dict[str, str]
    client: Callable[[str], Any]
    webhook: bool


def add_parser(sub: Any) -> argparse.ArgumentParser:
    smoke: argparse.ArgumentParser = sub.add_parser(
        "smoke",
        parents=[stack_parent()],
        help="after a deploy: send one synthetic hit through a temporary source and wait for the lake and webhook",
    )
    smoke.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help=f"how long to wait for each destination (default {DEFAULT_TIMEOUT:.0f})",
    )
    smoke.set_defaults(func=run)
    return smoke


def target(args: argparse.Namespace) -> Target:
    outputs, client = stack_outputs(args)
    if is_local(args):
        # the local stack runs its webhook forwarder against its capture server
        return Target(args.local.rstrip("/"), outputs, client, webhook=True)
    stack = client("cloudformation").describe_stacks(StackName=args.stack)["Stacks"][0]
    parameters = {p["ParameterKey"]: p.get("ParameterValue", "") for p in stack.get("Parameters", [])}
    return Target(outputs["ApiUrl"].rstrip("/"), outputs, client, webhook=bool(parameters.get("WebhookUrl")))


def consent_preferences(ddb: Any, table: str) -> dict[str, bool]:
    """Every Segment category the active policy maps to a purpose, granted: so every destination
    the policy routes to should get the hit."""
    version = policy_ops.active_version(ddb, table)
    doc = policy_ops.get_policy_document(ddb, table, version) if version is not None else None
    categories = ((doc or {}).get("signals") or {}).get("segment_categories") or {}
    return {str(name): True for name in categories} or {"analytics": True, "advertising": True}


def synthetic_hit(run_id: str, preferences: dict[str, bool]) -> dict[str, Any]:
    """A track call with nothing personal in it: made-up ids, no IP, page, traits or user agent."""
    return {
        "type": "track",
        "event": "fairtrack smoke test",
        "messageId": f"smoke-{run_id}",
        "anonymousId": f"smoke-{run_id}",
        "properties": {"smoke_run": run_id},
        "context": {"consent": {"categoryPreferences": preferences}, "library": {"name": "fairtrack-smoke"}},
    }


def send(url: str, write_key: str, hit: dict[str, Any]) -> tuple[int, str]:
    auth = base64.b64encode(f"{write_key}:".encode()).decode()
    request = urllib.request.Request(
        f"{url}/v1/track",
        data=json.dumps(hit).encode(),
        method="POST",
        headers={"content-type": "application/json", "authorization": f"Basic {auth}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=15) as resp:
            return resp.status, resp.read(500).decode(errors="replace")
    except urllib.error.HTTPError as err:
        return err.code, err.read(500).decode(errors="replace")


def _days(since: datetime) -> list[str]:
    """The UTC days from ``since`` to now (a run that crosses midnight looks in both)."""
    today = datetime.now(UTC).date()
    day, out = since.date(), []
    while day <= today:
        out.append(day.isoformat())
        day += timedelta(days=1)
    return out


def _keys(s3: Any, bucket: str, prefix: str, since: datetime | None = None) -> list[str]:
    keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            if since is None or obj["LastModified"] >= since:
                keys.append(str(obj["Key"]))
    return keys


def lake_keys(s3: Any, bucket: str, source_id: str, since: datetime) -> list[str]:
    """The lake objects of the temporary source (its own partition: nothing else writes there)."""
    return [k for day in _days(since) for k in _keys(s3, bucket, f"lake/dt={day}/source={source_id}/")]


def lake_has_record(s3: Any, bucket: str, keys: list[str], message_id: str) -> bool:
    for key in keys:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        for line in gzip.decompress(body).decode().splitlines():
            record = json.loads(line) if line.strip() else {}
            if (record.get("event") or {}).get("messageId") == message_id:
                return True
    return False


Rows = list[dict[str, Any]]


def decision_rows(s3: Any, bucket: str, since: datetime, cache: dict[str, Rows]) -> Rows:
    """The decision-log rows written since ``since`` (every destination's): the one place that knows
    where the log is stored. Objects under ``decisions/`` of the bucket, by day (the delivery
    stream's ``decisions/YYYY/MM/DD/HH/`` and the earlier ``decisions/dt=YYYY-MM-DD/``), each read
    once (``cache``) with :func:`fairtrack.stores.decision_log.read_rows`."""
    window = since - timedelta(seconds=60)  # clock skew between this machine and S3
    for day in _days(since):
        for prefix in (f"{day.replace('-', '/')}/", f"dt={day}/"):
            for key in _keys(s3, bucket, f"{decision_log.PREFIX}/{prefix}", window):
                if key not in cache:
                    cache[key] = decision_log.read_rows(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    return [row for rows in cache.values() for row in rows]


def failed_event(s3: Any, bucket: str, destination: str, source_id: str, since: datetime) -> dict[str, Any] | None:
    """The failed-events object holding the temporary source's event, if the destination refused it."""
    for day in _days(since):
        for key in _keys(s3, bucket, f"{FAILED_PREFIX}/{destination}/dt={day}/", since - timedelta(seconds=60)):
            doc: dict[str, Any] = json.loads(gzip.decompress(s3.get_object(Bucket=bucket, Key=key)["Body"].read()))
            if any((e.get("envelope") or {}).get("source_id") == source_id for e in doc.get("envelopes", [])):
                return doc
    return None


def queue_state(sqs: Any, outputs: dict[str, str], prefix: str) -> str:
    """'the lake forwarder's queue holds 1 message (0 in flight), its DLQ 0', as far as readable."""
    try:
        counts = []
        for output in (f"{prefix}QueueUrl", f"{prefix}DeadLetterQueueUrl"):
            attrs = sqs.get_queue_attributes(
                QueueUrl=outputs[output],
                AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
            )["Attributes"]
            counts.append(
                (int(attrs["ApproximateNumberOfMessages"]), int(attrs["ApproximateNumberOfMessagesNotVisible"]))
            )
    except Exception as exc:  # noqa: BLE001 - a diagnosis, not the check itself
        return f"its queue could not be read ({type(exc).__name__})"
    (visible, in_flight), (dead, _) = counts
    plural = "" if visible == 1 else "s"
    forwarder = f"the {prefix.lower()} forwarder's queue"
    return f"{forwarder} holds {visible} message{plural} ({in_flight} in flight), its DLQ {dead}"


def wait_for_lake(t: Target, source_id: str, message_id: str, since: datetime, timeout: float) -> Check:
    s3, bucket = t.client("s3"), t.outputs["LakeBucketName"]
    started = time.monotonic()
    read: set[str] = set()  # objects already searched: a lake object is written once, never appended to
    while True:
        keys = [k for k in lake_keys(s3, bucket, source_id, since) if k not in read]
        read.update(keys)
        if keys and lake_has_record(s3, bucket, keys, message_id):
            return Check("lake", True, f"record in s3://{bucket}/ after {time.monotonic() - started:.0f} s")
        failed = failed_event(s3, t.outputs["FailedEventsBucketName"], "lake", source_id, since)
        if failed is not None:
            return Check("lake", False, f"the lake forwarder failed the event for good: {failed.get('reason')}")
        if time.monotonic() - started > timeout:
            state = queue_state(t.client("sqs"), t.outputs, "Lake")
            return Check("lake", False, f"no record within {timeout:.0f} s; {state}")
        time.sleep(POLL_SECONDS)


def wait_for_webhook(t: Target, source_id: str, since: datetime, timeout: float) -> Check:
    s3 = t.client("s3")
    started = time.monotonic()
    cache: dict[str, Rows] = {}
    while True:
        rows = [
            r
            for r in decision_rows(s3, t.outputs["LakeBucketName"], since, cache)
            if r["destination"] == "webhook" and r["source"] == source_id and r["field"] is None
        ]
        if any(r["action"] == "sent" for r in rows):
            return Check("webhook", True, f"delivery in the decision log after {time.monotonic() - started:.0f} s")
        failed = failed_event(s3, t.outputs["FailedEventsBucketName"], "webhook", source_id, since)
        if failed is not None:
            status = f" (HTTP {failed['status']})" if failed.get("status") else ""
            return Check("webhook", False, f"the webhook refused the event: {failed.get('reason')}{status}")
        if rows:
            what = ", ".join(sorted({f"{r['action']} ({r['reason']})" for r in rows}))
            return Check("webhook", False, f"the decision log says {what}")
        if time.monotonic() - started > timeout:
            state = queue_state(t.client("sqs"), t.outputs, "Webhook")
            return Check("webhook", False, f"no delivery recorded within {timeout:.0f} s; {state}")
        time.sleep(POLL_SECONDS)


def remove_lake_records(t: Target, source_id: str, since: datetime) -> int:
    s3, bucket = t.client("s3"), t.outputs["LakeBucketName"]
    keys = lake_keys(s3, bucket, source_id, since)
    for key in keys:
        s3.delete_object(Bucket=bucket, Key=key)
    return len(keys)


def smoke(t: Target, timeout: float) -> list[Check]:
    ddb, table = t.client("dynamodb"), t.outputs["PolicyTableName"]
    run_id = secrets.token_hex(8)
    source = Source(source_id=f"smoke-{run_id}", name="fairtrack smoke (temporary)", origins=[])
    since = datetime.now(UTC)
    write_key = sources.add_source(ddb, table, source)
    checks: list[Check] = []
    try:
        hit = synthetic_hit(run_id, consent_preferences(ddb, table))
        status, answer = send(t.ingest_url, write_key, hit)
        accepted = 200 <= status < 300
        checks.append(Check("ingest", accepted, f"HTTP {status}" + ("" if accepted else f": {answer[:200]}")))
        if accepted:
            lake = wait_for_lake(t, source.source_id, hit["messageId"], since, timeout)
            checks.append(lake)
            if t.webhook:
                checks.append(wait_for_webhook(t, source.source_id, since, timeout))
            else:
                checks.append(Check("webhook", True, "not configured (no WebhookUrl): skipped"))
    finally:
        sources.remove_source(ddb, table, source.source_id)
        try:
            removed = remove_lake_records(t, source.source_id, since)
        except Exception as exc:  # noqa: BLE001 - the synthetic records then stay, under their own source
            checks.append(Check("cleanup", True, f"source removed; its lake records stay ({type(exc).__name__})"))
        else:
            checks.append(Check("cleanup", True, f"source removed, {removed} lake object(s) of it deleted"))
    return checks


def run(args: argparse.Namespace) -> int:
    t = target(args)
    print(f"smoke: {'local stack ' + t.ingest_url if is_local(args) else 'stack ' + args.stack}", file=sys.stderr)
    checks = smoke(t, args.timeout)
    for check in checks:
        print(check.line())
    failed = [c.name for c in checks if not c.ok]
    if failed:
        print(f"smoke: FAILED ({', '.join(failed)})")
        return 1
    print("smoke: ok")
    return 0
