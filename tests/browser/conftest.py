"""Browser tests: the local stack in-process, its debug view (``/_dev/``) in headless Chromium.

Chromium is the system's (Debian: ``apt-get install chromium``), driven by Playwright
(``pip install playwright``); ``playwright install``, which downloads its own browsers, is never
needed. ``FAIRTRACK_CHROMIUM`` names another binary. Without a binary or without Playwright the
browser tests are skipped with the reason, unless ``FAIRTRACK_REQUIRE_BROWSER=1`` (CI), which
makes that a failure instead.
"""

from __future__ import annotations

import os
import shutil
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from browserkit import SITE_MEASUREMENT_ID, SITE_WRITE_KEY, VENDOR, Site, page_without_errors
from devstack_kit import running_dev_stack

from fairtrack.stores.policy_table import Source
from fairtrack_tools.local.stack import DevStack
from fairtrack_tools.ops import sources

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
    with running_dev_stack() as s:
        assert s.debug is not None
        yield s


@pytest.fixture
def clean(stack: DevStack) -> DevStack:
    """The stack with nothing captured and an empty debug view. Deliveries still in flight from an
    earlier test (a Meta batch the test did not wait for) are let finish first, so they cannot
    land in this test's captures."""
    assert stack.debug is not None
    stack.debug.flush()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        depths = stack.cloud.queue_depths()
        if all(d["visible"] + d["in_flight"] == 0 for q, d in depths.items() if not q.endswith("DeadLetterQueue")):
            break
        time.sleep(0.2)
    for path in ("/_dev/hits", "/_dev/captured"):
        req = urllib.request.Request(stack.api.base_url + path, method="DELETE")  # type: ignore[union-attr]
        urllib.request.urlopen(req, timeout=10).close()
    return stack


@pytest.fixture
def page(browser: Any, clean: DevStack) -> Iterator[Any]:
    assert clean.api is not None
    with page_without_errors(browser, clean.api.base_url + "/_dev/") as (_, opened):
        yield opened


@pytest.fixture(scope="module")
def site(stack: DevStack) -> Iterator[Site]:
    """The website, serving until the module's tests are done; its source is added to the stack."""
    for name, folder in VENDOR.items():
        if not folder.is_dir():
            pytest.fail(f"{name} is not installed in {folder}: run npm ci --prefix web (make test does)")
    s = Site().start()
    cloud = stack.cloud
    table = cloud.physical_id("PolicyTable")
    source = Source(
        source_id="site", name="Browser test site", origins=[s.origin], measurement_ids=[SITE_MEASUREMENT_ID]
    )
    sources.add_source(cloud.client("dynamodb"), table, source, SITE_WRITE_KEY)
    try:
        yield s
    finally:
        s.stop()
        sources.remove_source(cloud.client("dynamodb"), table, "site")
