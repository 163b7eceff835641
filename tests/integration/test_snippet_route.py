"""``GET /fairtrack.js``: the ingest function serves the committed snippet, cacheable and gzipped."""

from __future__ import annotations

import base64
import copy
import gzip
import json
from pathlib import Path
from typing import Any

from awshelpers import queue_messages

from fairtrack.api import snippet
from fairtrack_tools.local.localcloud import LocalCloud

ROOT = Path(__file__).resolve().parents[2]


def request(**headers: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((ROOT / "events" / "ingest" / "snippet.json").read_text())
    event = copy.deepcopy(event)
    event["headers"] = {k: v for k, v in event["headers"].items() if k != "accept-encoding"} | headers
    return event


def test_snippet_is_the_committed_asset_with_cache_headers(ingest: Any, cloud: LocalCloud) -> None:
    response = ingest(request())

    assert response["statusCode"] == 200
    assert response["isBase64Encoded"] is False
    assert response["body"] == snippet.ASSET.read_text(encoding="utf-8")
    headers = response["headers"]
    assert headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert headers["Cache-Control"] == "public, max-age=3600"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["ETag"].startswith('"') and len(headers["ETag"]) == 34
    # serving the script is not a hit: nothing is queued anywhere
    for queue in ("LakeQueue", "WebhookQueue"):
        assert queue_messages(cloud, queue) == []


def test_snippet_is_gzipped_when_the_browser_accepts_it(ingest: Any) -> None:
    response = ingest(request(**{"accept-encoding": "gzip, deflate, br"}))

    assert response["statusCode"] == 200
    assert response["headers"]["Content-Encoding"] == "gzip"
    assert response["isBase64Encoded"] is True
    assert gzip.decompress(base64.b64decode(response["body"])) == snippet.ASSET.read_bytes()


def test_a_revalidation_with_the_current_etag_is_304_without_a_body(ingest: Any) -> None:
    etag = ingest(request())["headers"]["ETag"]

    for sent in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        response = ingest(request(**{"if-none-match": sent}))
        assert response["statusCode"] == 304, sent
        assert not response["body"]
        assert response["headers"]["ETag"] == etag
    assert ingest(request(**{"if-none-match": '"stale"'}))["statusCode"] == 200
