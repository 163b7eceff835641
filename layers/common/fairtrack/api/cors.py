"""CORS per source, answered by the ingest function rather than by API Gateway.

Why here: API Gateway HTTP API's CORS configuration is one static list of origins for the whole
API, and when it is set the gateway answers preflights itself without invoking the function. Each
fairtrack source (a website) has its own allowed origins, and adding a website must not need a
redeploy, so the function answers preflights and checks origins from the sources in the policy
table (cached like the policy).

- Preflight (``OPTIONS``): a browser sends no write key with it (analytics.js puts the key in the
  ``Authorization`` header, the very header that triggers the preflight). When the URL names the
  source (``?writeKey=`` or gtag ``tid``), that source's origins decide; otherwise the origin must
  be allowed by some source (the ``origin#`` index). Refused preflights get 403 and no CORS headers.
- Actual requests: after the write key identifies the source, a request carrying an ``Origin``
  the source does not allow is refused with 403 (browsers also send ``text/plain`` and beacon
  requests without a preflight, so this check is the real gate). A source without origins is
  server-side only. Requests without ``Origin`` (backends, SDKs) are not browser requests.
- No answer carries ``Access-Control-Allow-Credentials``: fairtrack sets and reads no cookie and
  takes no browser-held credential (the write key travels in the body, the query or an
  ``Authorization`` header the page writes itself, which needs no credentialed request), so an
  answer never invites a credentialed request. fairtrack.js sends with ``credentials: 'omit'``;
  beacons (``text/plain``) and gtag's ``no-cors`` sends are not read by the page at all.
"""

from __future__ import annotations

__all__ = ["preflight_headers", "response_headers"]

ALLOWED_METHODS = "GET, POST, OPTIONS"
# analytics.js: Authorization + Content-Type; RudderStack JS: AnonymousId; gzip senders: Content-Encoding
ALLOWED_HEADERS = "Authorization, Content-Type, Content-Encoding, AnonymousId"
MAX_AGE_SECONDS = 600


def response_headers(origin: str | None) -> dict[str, str]:
    """Headers that let the page at an allowed ``origin`` read the answer."""
    if not origin:
        return {}
    return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}


def preflight_headers(origin: str) -> dict[str, str]:
    return {
        **response_headers(origin),
        "Access-Control-Allow-Methods": ALLOWED_METHODS,
        "Access-Control-Allow-Headers": ALLOWED_HEADERS,
        "Access-Control-Max-Age": str(MAX_AGE_SECONDS),
    }
