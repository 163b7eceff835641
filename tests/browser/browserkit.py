"""Helpers of the browser tests: the cross-origin test website, and what the stack received.

A module of its own (not conftest) so that test modules import it by a name no other test folder
uses."""

from __future__ import annotations

import contextlib
import json
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from fairtrack_tools.local.loopback import LoopbackServer, QuietHandler
from fairtrack_tools.local.stack import DevStack

# -- a website on another origin, for the snippet and the clients websites run --------------------

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "web"
SITE_WRITE_KEY = "site-write-key"
SITE_MEASUREMENT_ID = "G-SITE"
# the browser clients' builds, from web/node_modules (npm ci --prefix web): /vendor/<name>/<file>
VENDOR = {
    "analytics-next": WEB / "node_modules" / "@segment" / "analytics-next" / "dist" / "umd",
    "rudderstack": WEB / "node_modules" / "@rudderstack" / "analytics-js" / "dist" / "npm" / "modern" / "bundled",
}
TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".map": "application/json"}


class Site(LoopbackServer):
    """A static website on 127.0.0.1 (another port than the gateway: a cross-origin site, as in
    production), registered as the source ``site`` (write key ``site-write-key``, gtag tid
    ``G-SITE``, origin: its own). ``pages[path] = html`` publishes a page; ``/vendor/...`` serves the
    npm clients' browser builds. ``requests`` lists the paths the site served."""

    def __init__(self) -> None:
        self.pages: dict[str, str] = {}
        outer = self

        class Handler(QuietHandler):
            protocol_version = "HTTP/1.0"

            def do_GET(self) -> None:
                path = urlsplit(self.path).path
                outer.record(path)
                body, ctype = outer._find(path)
                if body is None:
                    self.answer(404, content_type=None)
                else:
                    self.answer(200, body, ctype, [("Cache-Control", "no-store")])

        super().__init__(Handler, name="site", poll_interval=0.2)

    @property
    def requests(self) -> list[str]:
        return self.recorded

    @property
    def origin(self) -> str:
        return self.base_url

    def _find(self, path: str) -> tuple[bytes | None, str]:
        if path in self.pages:
            return self.pages[path].encode(), TYPES[".html"]
        parts = path.strip("/").split("/")
        if len(parts) >= 3 and parts[0] == "vendor" and parts[1] in VENDOR:
            base = VENDOR[parts[1]].resolve()
            file = (base / "/".join(parts[2:])).resolve()
            if file.is_relative_to(base) and file.is_file():
                return file.read_bytes(), TYPES.get(file.suffix, "application/octet-stream")
        return None, ""


def captured(stack: DevStack, destination: str | None = None) -> Any:
    """What the stack's capture servers received (all, or one destination's list)."""
    assert stack.api is not None
    with urllib.request.urlopen(stack.api.base_url + "/_dev/captured", timeout=10) as answer:
        found = json.loads(answer.read())
    return found if destination is None else found.get(destination, [])


def wait_for(predicate: Callable[[], Any], timeout: float = 15.0, what: str = "") -> Any:
    """Poll until ``predicate`` returns something truthy, and return it; fail the test on timeout
    (the forwarders deliver asynchronously, through the pollers)."""
    deadline = time.monotonic() + timeout
    while True:
        found = predicate()
        if found:
            return found
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what or predicate}")
        time.sleep(0.1)


@contextlib.contextmanager
def page_without_errors(browser: Any, url: str) -> Iterator[tuple[Any, Any]]:
    """A fresh browser context and a page in it opened at ``url``: ``(context, page)``. The context is
    closed afterwards, and an error the page's scripts threw meanwhile fails the test."""
    context = browser.new_context()
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(url)
    try:
        yield context, page
    finally:
        context.close()
    assert errors == [], errors


def pseudonym(stack: DevStack, kind: str, raw: str) -> str:
    """What the stack's ingest makes of an identifier (its pseudonym key, read from the local AWS)."""
    from fairtrack.anonymise.pseudonym import Pseudonymiser, secret_key

    assert stack.debug is not None
    arn = stack.debug.settings.pseudonym_secret_arn
    key = stack.cloud.client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"]
    return Pseudonymiser(secret_key(key)).pseudonym(kind, raw)


def device_storage(context: Any, page: Any) -> dict[str, Any]:
    """What the page's origin keeps on the device: cookies, and the names in localStorage,
    sessionStorage and IndexedDB."""
    return {
        "cookies": context.cookies(),
        "local": page.evaluate("Object.keys(localStorage)"),
        "session": page.evaluate("Object.keys(sessionStorage)"),
        "idb": page.evaluate("indexedDB.databases().then(d => d.map(x => x.name))"),
    }


NOTHING_STORED: dict[str, Any] = {"cookies": [], "local": [], "session": [], "idb": []}
