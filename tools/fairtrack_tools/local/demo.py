"""The demo site of the local stack, ``/_dev/demo/``: a small shop with a consent banner.

It loads ``/fairtrack.js`` from the stack exactly as a website loads it from a deployed gateway
(``<script async src=".../fairtrack.js" data-write-key="...">``, the dev source's write key), so a
newcomer sees the whole flow in a browser: the page view waiting for the banner, the banner's answer
sent as a consent receipt, events reaching (or not reaching) the lake, the webhook, GA4 and Meta,
and what the snippet stored on the device. Every path under ``/_dev/demo/`` is the same page (its
links are single-page-app navigations, so a reload of ``/_dev/demo/shoes`` must work).

The page's Content-Security-Policy admits the stack's own scripts and the page's inline scripts by
hash, and ``connect-src 'self'``: the demo cannot reach anything but the stack.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from fairtrack_tools.local.apiserver import RawBody
from fairtrack_tools.local.debugview import inline_hashes

PAGE_PATH = Path(__file__).with_name("demo_page.html")
PREFIX = "/_dev/demo"


def is_demo(path: str) -> bool:
    return path == PREFIX or path.startswith(PREFIX + "/")


@cache
def page() -> RawBody:
    html = PAGE_PATH.read_text(encoding="utf-8")
    csp = (
        f"default-src 'none'; script-src 'self' {inline_hashes(html, 'script')}; "
        f"style-src {inline_hashes(html, 'style')}; "
        "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
    headers = {
        "content-type": "text/html; charset=utf-8",
        "cache-control": "no-store",
        "content-security-policy": csp,
        "x-content-type-options": "nosniff",
        "referrer-policy": "strict-origin-when-cross-origin",
    }
    return RawBody(headers, html.encode("utf-8"))


def handle(method: str, path: str) -> tuple[int, RawBody] | None:
    """The demo's answer to a ``/_dev/`` request, or None when the path is not the demo's."""
    if not is_demo(path):
        return None
    if method not in ("GET", "HEAD"):
        return 405, RawBody({"content-type": "text/plain; charset=utf-8", "allow": "GET, HEAD"}, b"GET only\n")
    if path == PREFIX:
        return 308, RawBody({"location": PREFIX + "/"}, b"")
    return 200, page()
