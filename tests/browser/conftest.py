"""Browser tests: the local stack in-process, its debug view (``/_dev/``) in headless Chromium.

Chromium is the system's (Debian: ``apt-get install chromium``), driven by Playwright
(``pip install playwright``); ``playwright install``, which downloads its own browsers, is never
needed. ``FAIRTRACK_CHROMIUM`` names another binary. Without a binary or without Playwright the
browser tests are skipped with the reason, unless ``FAIRTRACK_REQUIRE_BROWSER=1`` (CI), which
makes that a failure instead.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from fairtrack.store import Source
from fairtrack_tools import sources
from fairtrack_tools.stack import DevStack

CANDIDATES = ("chromium", "chromium-browser", "chromium-headless-shell", "google-chrome", "google-chrome-stable")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "browser: drives headless Chromium (skipped when none is installed)")


def chromium_binary() -> str | None:
    named = os.environ.get("FAIRTRACK_CHROMIUM")
    if named:
        return named if os.access(named, os.X_OK) else None
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


def _unavailable(reason: str) -> None:
    if os.environ.get("FAIRTRACK_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason} (FAIRTRACK_REQUIRE_BROWSER=1)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    binary = chromium_binary()
    if binary is None:
        _unavailable("no Chromium binary found (apt-get install chromium, or set FAIRTRACK_CHROMIUM)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed (pip install playwright)")
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=binary, headless=True)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="module")
def stack() -> Iterator[DevStack]:
    s = DevStack(port=0, quiet=True).start()
    assert s.api is not None and s.debug is not None
    thread = threading.Thread(target=s.api.serve_forever, daemon=True)
    thread.start()
    try:
        yield s
    finally:
        s.api.httpd.shutdown()
        s.stop()


@pytest.fixture
def clean(stack: DevStack) -> DevStack:
    """The stack with nothing captured and an empty debug view."""
    assert stack.debug is not None
    stack.debug.flush()
    for path in ("/_dev/hits", "/_dev/captured"):
        req = urllib.request.Request(stack.api.base_url + path, method="DELETE")  # type: ignore[union-attr]
        urllib.request.urlopen(req, timeout=10).close()
    return stack


@pytest.fixture
def page(browser: Any, clean: DevStack) -> Iterator[Any]:
    assert clean.api is not None
    context = browser.new_context()
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda exc: errors.append(str(exc)))
    opened.goto(clean.api.base_url + "/_dev/")
    try:
        yield opened
    finally:
        context.close()
    assert errors == [], errors


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


class Site:
    """A static website on 127.0.0.1 (another port than the gateway: a cross-origin site, as in
    production), registered as the source ``site`` (write key ``site-write-key``, gtag tid
    ``G-SITE``, origin: its own). ``pages[path] = html`` publishes a page; ``/vendor/...`` serves the
    npm clients' browser builds. ``requests`` lists the paths the site served."""

    def __init__(self) -> None:
        self.pages: dict[str, str] = {}
        self.requests: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                path = urlsplit(self.path).path
                outer.requests.append(path)
                body, ctype = outer._find(path)
                if body is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

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


@pytest.fixture(scope="module")
def site(stack: DevStack) -> Iterator[Site]:
    """The website, serving until the module's tests are done; its source is added to the stack."""
    for name, folder in VENDOR.items():
        if not folder.is_dir():
            pytest.fail(f"{name} is not installed in {folder}: run npm ci --prefix web (make test does)")
    s = Site()
    s.thread.start()
    cloud = stack.cloud
    table = cloud.physical_id("PolicyTable")
    source = Source(
        source_id="site", name="Browser test site", origins=[s.origin], measurement_ids=[SITE_MEASUREMENT_ID]
    )
    sources.add_source(cloud.client("dynamodb"), table, source, SITE_WRITE_KEY)
    try:
        yield s
    finally:
        s.httpd.shutdown()
        s.httpd.server_close()
        sources.remove_source(cloud.client("dynamodb"), table, "site")


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


def pseudonym(stack: DevStack, kind: str, raw: str) -> str:
    """What the stack's ingest makes of an identifier (its pseudonym key, read from the local AWS)."""
    from fairtrack.pseudonym import Pseudonymiser, secret_key

    assert stack.debug is not None
    arn = stack.debug.settings.pseudonym_secret_arn
    key = stack.cloud.client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"]
    return Pseudonymiser(secret_key(key)).pseudonym(kind, raw)
