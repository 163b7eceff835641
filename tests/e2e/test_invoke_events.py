"""``fairtrack invoke`` answers for every sample in events/ (so the samples cannot go stale)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from template_functions import FORWARDER_FUNCTIONS

from fairtrack_tools.local.validators import validate_ga4, validate_meta

ROOT = Path(__file__).resolve().parents[2]
FUNCTION_OF = {"ingest": "IngestFunction", "admin": "AdminFunction", **FORWARDER_FUNCTIONS}
SAMPLES = sorted(p for p in (ROOT / "events").rglob("*.json") if p.parent.name in ("ingest", "forwarder", "admin"))


def function_for(sample: Path) -> str:
    """ingest/ and admin/ samples name their function by folder; forwarder/ samples by file name."""
    folder = sample.parent.name
    return FUNCTION_OF[folder if folder in ("ingest", "admin") else sample.stem]


def test_every_function_in_the_template_has_a_sample() -> None:
    from fairtrack_tools.local.template import load, resources_of_type

    functions = set(resources_of_type(load(ROOT / "template.yaml"), "AWS::Serverless::Function"))
    assert functions == {function_for(s) for s in SAMPLES}


def fresh_copy(sample: Path, directory: Path) -> Path:
    """The sample with its events dated now: GA4 takes events up to 72 h old and Meta up to 7 days,
    so a sample dated on the day it was written would turn into a "too_old" drop later."""
    event = json.loads(sample.read_text())
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    for record in event["Records"]:
        body = json.loads(record["body"])
        for routed in body["events"]:
            routed["event"]["timestamp"] = routed["event"]["receivedAt"] = now
        record["body"] = json.dumps(body)
    copy = directory / sample.name
    copy.write_text(json.dumps(event))
    return copy


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_invoke_sample(sample: Path, tmp_path: Path) -> None:
    timed = sample.parent.name == "forwarder" and sample.stem in ("ga4", "meta")
    path = fresh_copy(sample, tmp_path) if timed else sample
    proc = subprocess.run(
        [sys.executable, "-m", "fairtrack_tools.ops.cli", "invoke", function_for(sample), str(path)],
        cwd=ROOT,
        capture_output=True,
        check=False,
        text=True,
        timeout=90,
        env={**os.environ, "PYTHONPATH": str(ROOT / "tools") + os.pathsep + str(ROOT / "layers/common")},
    )
    assert proc.returncode == 0, proc.stderr
    response = json.loads(proc.stdout)
    if sample.parent.name == "admin":  # an IAM-signed export of a subject the fresh stack holds nothing on
        assert response["statusCode"] == 200
        doc = json.loads(response["body"])
        assert doc["subject"]["kind"] == "anonymousId"
        assert doc["consent_receipts"] == doc["lake_records"] == doc["failed_events"] == []
    elif sample.parent.name == "ingest":
        if sample.stem.endswith(("-malformed", "-invalid")):
            expected = 400
        elif sample.stem.startswith(("gtag", "preflight")):
            expected = 204  # as Google answers gtag hits; a preflight has no body
        elif sample.stem == "consent":
            expected = 201  # a consent receipt was stored
        elif sample.stem == "snippet":
            expected = 200  # fairtrack.js, gzipped as the sample's browser accepts
        else:
            expected = 200
        assert response["statusCode"] == expected
        if expected == 204:
            assert not response["body"]
        elif sample.stem == "snippet":
            assert response["isBase64Encoded"] is True and response["headers"]["Content-Encoding"] == "gzip"
        elif expected == 201:
            assert re.fullmatch(r"[0-9a-f]{32}", json.loads(response["body"])["receiptId"])
        else:
            assert json.loads(response["body"])["success"] is (expected == 200)
    else:
        assert response == {"batchItemFailures": []}
    effects = json.loads(proc.stderr.split("side effects: ", 1)[1].split("\n}\n", 1)[0] + "\n}")
    if sample.name in ("track.json", "gtag-batch.json", "gtag-page-view.json"):  # all grant analytics
        assert effects["queues"]["WebhookQueue"]["visible"] == 1
        assert effects["queues"]["LakeQueue"]["visible"] == 1
    if sample.name == "consent.json":  # a receipt goes to the consent table only, never to a queue
        assert all(depth["visible"] == 0 for depth in effects["queues"].values())
    if sample.name == "preflight.json":
        assert response["headers"]["Access-Control-Allow-Origin"] == "http://127.0.0.1:3000"
    if sample.parent.name == "forwarder":
        (body,) = effects["captured"][sample.stem]
        if sample.stem == "ga4":  # what GA4's debug endpoint would say about it
            assert validate_ga4(body) == []
            assert [e["name"] for e in body["events"]] == ["purchase"]
        if sample.stem == "meta":  # what Meta's Graph API would say about it
            assert validate_meta(body) is None
            assert [e["event_name"] for e in body["data"]] == ["Purchase"]
