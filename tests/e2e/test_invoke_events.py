"""``fairtrack invoke`` answers for every sample in events/ (so the samples cannot go stale)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FUNCTION_OF = {
    "ingest": "IngestFunction",
    "webhook": "WebhookForwarderFunction",
    "lake": "LakeForwarderFunction",
    "ga4": "Ga4ForwarderFunction",
    "meta": "MetaForwarderFunction",
}
SAMPLES = sorted(p for p in (ROOT / "events").rglob("*.json") if p.parent.name in ("ingest", "forwarder"))


def function_for(sample: Path) -> str:
    return FUNCTION_OF["ingest" if sample.parent.name == "ingest" else sample.stem]


def test_every_function_in_the_template_has_a_sample() -> None:
    from fairtrack_tools.template import load, resources_of_type

    functions = set(resources_of_type(load(ROOT / "template.yaml"), "AWS::Serverless::Function"))
    assert functions == {function_for(s) for s in SAMPLES}


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_invoke_sample(sample: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "fairtrack_tools.cli", "invoke", function_for(sample), str(sample)],
        cwd=ROOT,
        capture_output=True,
        check=False,
        text=True,
        timeout=90,
        env={**os.environ, "PYTHONPATH": str(ROOT / "tools") + os.pathsep + str(ROOT / "layers/common")},
    )
    assert proc.returncode == 0, proc.stderr
    response = json.loads(proc.stdout)
    if sample.parent.name == "ingest":
        if sample.stem.endswith(("-malformed", "-invalid")):
            expected = 400
        elif sample.stem.startswith(("gtag", "preflight")):
            expected = 204  # as Google answers gtag hits; a preflight has no body
        else:
            expected = 200
        assert response["statusCode"] == expected
        if expected == 204:
            assert not response["body"]
        else:
            assert json.loads(response["body"])["success"] is (expected == 200)
    else:
        assert response == {"batchItemFailures": []}
    effects = json.loads(proc.stderr.split("side effects: ", 1)[1].split("\n}\n", 1)[0] + "\n}")
    if sample.name in ("track.json", "gtag-batch.json", "gtag-page-view.json"):  # all grant analytics
        assert effects["queues"]["WebhookQueue"]["visible"] == 1
        assert effects["queues"]["LakeQueue"]["visible"] == 1
    if sample.name == "preflight.json":
        assert response["headers"]["Access-Control-Allow-Origin"] == "http://127.0.0.1:3000"
    if sample.parent.name == "forwarder" and sample.stem in ("webhook", "lake"):
        assert len(effects["captured"][sample.stem]) == 1
