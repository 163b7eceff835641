"""``GET /fairtrack.js``: the website snippet, served by the ingest function itself.

The file is ``assets/fairtrack.js``, built from ``web/src`` by ``npm --prefix web run build`` and
committed (``sam build`` runs no npm; the build check in ``make test`` fails when the committed file
is not what the sources build to). Decisions written down:

- served from the gateway's own origin, so the one line a site adds names one host for the script
  and its hits, and the script sends hits to the origin it was loaded from unless told otherwise;
- ``Cache-Control: public, max-age=3600`` and a strong ``ETag`` (a hash of the file): a browser or a
  CDN revalidates hourly and gets a 304 without a body; the URL is not versioned, so a new release
  reaches every site within the hour;
- gzip when the browser accepts it (Powertools' ``compress``), which is what the size budget in
  ``web/scripts/build.mjs`` counts;
- ``Cross-Origin-Resource-Policy: cross-origin`` so sites with COEP may load it, and ``nosniff``.
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path
from typing import Any

from aws_lambda_powertools.event_handler import Response

__all__ = ["ASSET", "response"]

ASSET = Path(__file__).parent.parent / "assets" / "fairtrack.js"
CACHE_CONTROL = "public, max-age=3600"
CONTENT_TYPE = "text/javascript; charset=utf-8"


@cache
def source() -> tuple[str, str]:
    """The snippet's text and its strong ETag; read once per container, on first request."""
    data = ASSET.read_bytes()
    return data.decode("utf-8"), '"' + hashlib.sha256(data).hexdigest()[:32] + '"'


def not_modified(if_none_match: str | None, etag: str) -> bool:
    """Whether a conditional request's ``If-None-Match`` names ``etag`` (or ``*``); weak forms match too."""
    if not if_none_match:
        return False
    tags = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
    return "*" in tags or etag in tags


def response(if_none_match: str | None) -> Response[Any]:
    """The answer to ``GET /fairtrack.js``: the snippet, or 304 when the browser holds this version."""
    body, etag = source()
    headers = {
        "Cache-Control": CACHE_CONTROL,
        "ETag": etag,
        "Vary": "Accept-Encoding",
        "X-Content-Type-Options": "nosniff",
        "Cross-Origin-Resource-Policy": "cross-origin",
    }
    if not_modified(if_none_match, etag):
        return Response(status_code=304, body=None, headers=headers)
    return Response(status_code=200, content_type=CONTENT_TYPE, body=body, headers=headers)
