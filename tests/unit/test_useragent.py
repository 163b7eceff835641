"""User-agent reduction (useragent.py): real user agents, client hints, bots, hostile input."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fairtrack.anonymise import useragent
from fairtrack.anonymise.useragent import DEVICE_CLASSES, KEYS, MAX_LENGTH, reduce

CHROME_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)
CHROME_MAC = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
FIREFOX_WINDOWS = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"
FIREFOX_LINUX = "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
SAFARI_MAC = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.1 Safari/605.1.15"
)
IPHONE_SAFARI = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.1 Mobile/15E148 Safari/604.1"
)
ANDROID_CHROME = (
    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36"
)
ANDROID_CHROME_TABLET = (
    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)
IPAD_SAFARI = (
    "Mozilla/5.0 (iPad; CPU OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.6 Mobile/15E148 Safari/604.1"
)
SAMSUNG_TV = (
    "Mozilla/5.0 (SMART-TV; LINUX; Tizen 6.0) AppleWebKit/537.36 (KHTML, like Gecko) 76.0.3809.146/6.0 TV Safari/537.36"
)
PLAYSTATION = "Mozilla/5.0 (PlayStation; PlayStation 5/2.26) AppleWebKit/605.1.15 (KHTML, like Gecko)"
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
GOOGLEBOT_SMARTPHONE = (
    "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.6778.69 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
)
BINGBOT = (
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm) "
    "Chrome/116.0.1938.76 Safari/537.36"
)
HEADLESS_CHROME = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36"
)
PHANTOMJS = "Mozilla/5.0 (Unknown; Linux x86_64) AppleWebKit/538.1 (KHTML, like Gecko) PhantomJS/2.1.1 Safari/538.1"
CURL = "curl/8.5.0"
PYTHON_REQUESTS = "python-requests/2.32.3"
JUNK_2000 = ("Mozilla/5.0 (" + "A" * 1000 + "; " + "z9" * 600)[:2000]


def summary(
    browser: str | None,
    browser_major: str | None,
    os: str | None,
    os_major: str | None,
    device_class: str,
    bot: bool,
) -> dict[str, Any]:
    return {
        "browser": browser,
        "browserMajor": browser_major,
        "os": os,
        "osMajor": os_major,
        "deviceClass": device_class,
        "bot": bot,
    }


@pytest.mark.parametrize(
    ("user_agent", "expected"),
    [
        (CHROME_WINDOWS, summary("Chrome", "131", "Windows", "10", "desktop", False)),
        (CHROME_MAC, summary("Chrome", "131", "Mac OS X", "10", "desktop", False)),
        (FIREFOX_WINDOWS, summary("Firefox", "133", "Windows", "10", "desktop", False)),
        (FIREFOX_LINUX, summary("Firefox", "133", "Ubuntu", None, "desktop", False)),
        (SAFARI_MAC, summary("Safari", "18", "Mac OS X", "10", "desktop", False)),
        (IPHONE_SAFARI, summary("Mobile Safari", "18", "iOS", "18", "mobile", False)),
        (ANDROID_CHROME, summary("Chrome Mobile", "131", "Android", "10", "mobile", False)),
        (ANDROID_CHROME_TABLET, summary("Chrome", "131", "Android", "10", "tablet", False)),
        (IPAD_SAFARI, summary("Mobile Safari", "17", "iOS", "17", "tablet", False)),
        (SAMSUNG_TV, summary("Safari", None, "Tizen", "6", "tv", False)),
    ],
)
def test_browsers_are_reduced_to_family_major_and_class(user_agent: str, expected: dict[str, Any]) -> None:
    """Given a real browser's user agent, then browser/OS families, their majors and the device class come out."""
    assert reduce(user_agent) == expected


def test_consoles_are_their_own_class() -> None:
    """Given a PlayStation's user agent, then it is a console, not a desktop or a bot."""
    result = reduce(PLAYSTATION)

    assert result is not None
    assert (result["deviceClass"], result["bot"]) == ("console", False)


@pytest.mark.parametrize(
    ("user_agent", "browser"),
    [
        (GOOGLEBOT, "Googlebot"),
        (GOOGLEBOT_SMARTPHONE, "Googlebot"),
        (BINGBOT, "bingbot"),
    ],
)
def test_crawlers_are_bots(user_agent: str, browser: str) -> None:
    """Given a well-known crawler (even one that embeds a phone's Chrome user agent), then it is a bot."""
    result = reduce(user_agent)

    assert result is not None
    assert result["bot"] is True
    assert result["deviceClass"] == "bot"
    assert result["browser"] == browser


@pytest.mark.parametrize(
    ("user_agent", "browser"),
    [
        (HEADLESS_CHROME, "HeadlessChrome"),
        (PHANTOMJS, "PhantomJS"),
        (CURL, "curl"),
        (PYTHON_REQUESTS, "Python Requests"),
        ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Playwright/1.49", None),
    ],
)
def test_headless_browsers_and_http_libraries_are_bots(user_agent: str, browser: str | None) -> None:
    """Given a headless browser or an HTTP library, then it is a bot (no person's browser)."""
    result = reduce(user_agent)

    assert result is not None
    assert (result["bot"], result["deviceClass"]) == (True, "bot")
    if browser is not None:
        assert result["browser"] == browser


@pytest.mark.parametrize(
    "user_agent",
    [
        "",
        "   ",
        "Mozilla/5.0",  # too short
        "x" * 40,  # no product/version token
        "Mozilla/5.0 (Windows NT 10.0)\x00 Chrome/131.0",  # control character
        "Mozilla/5.0 \ud800 Chrome/131.0 Safari/537.36",  # lone surrogate (a JSON escape)
        JUNK_2000,
        CHROME_WINDOWS + " " + "Z" * (MAX_LENGTH - len(CHROME_WINDOWS)),  # one over the limit
    ],
)
def test_empty_and_implausible_user_agents_are_bots(user_agent: str) -> None:
    """Given an empty, too short, tokenless, control-character or over-long user agent, then it is a bot."""
    result = reduce(user_agent)

    assert result is not None
    assert (result["bot"], result["deviceClass"]) == (True, "bot")


def test_overlong_user_agent_is_not_parsed_nor_cached() -> None:
    """Given a 2,000-character user agent, then nothing is parsed from it and it takes no cache entry."""
    before = useragent._parse.cache_info().currsize

    result = reduce(JUNK_2000)

    assert result == summary(None, None, None, None, "bot", True)
    assert useragent._parse.cache_info().currsize == before


def test_none_without_hints_is_none() -> None:
    """Given no user agent at all (a server-side event), then there is nothing to reduce: not a bot."""
    assert reduce(None) is None
    assert reduce(None, {}) is None


CHROME_HINTS: dict[str, Any] = {
    "brands": [
        {"brand": "Not_A Brand", "version": "8"},
        {"brand": "Chromium", "version": "131"},
        {"brand": "Google Chrome", "version": "131"},
    ],
    "fullVersionList": [
        {"brand": "Not_A Brand", "version": "8.0.0.0"},
        {"brand": "Chromium", "version": "131.0.6778.86"},
        {"brand": "Google Chrome", "version": "131.0.6778.86"},
    ],
    "mobile": False,
    "platform": "Windows",
    "platformVersion": "15.0.0",
}


def test_client_hints_win_over_the_frozen_user_agent() -> None:
    """Given Chrome's frozen "Windows NT 10.0" and hints saying platformVersion 15, then it is Windows 11."""
    assert reduce(CHROME_WINDOWS, CHROME_HINTS) == summary("Chrome", "131", "Windows", "11", "desktop", False)


def test_client_hints_give_the_real_macos_and_android_majors() -> None:
    """Given the frozen "Mac OS X 10_15_7" and "Android 10; K", then the hints' platformVersion gives the real major."""
    mac = {**CHROME_HINTS, "platform": "macOS", "platformVersion": "15.1.0"}
    android = {**CHROME_HINTS, "platform": "Android", "platformVersion": "14.0.0", "mobile": True}

    assert reduce(CHROME_MAC, mac) == summary("Chrome", "131", "Mac OS X", "15", "desktop", False)
    assert reduce(ANDROID_CHROME, android) == summary("Chrome Mobile", "131", "Android", "14", "mobile", False)


def test_client_hints_brand_beats_the_user_agent_family() -> None:
    """Given Brave (whose user agent claims plain Chrome), then the hints' brand names the browser."""
    brave = {"brands": [{"brand": "Brave", "version": "131"}, {"brand": "Chromium", "version": "131"}]}

    result = reduce(CHROME_WINDOWS, brave)

    assert result is not None
    assert (result["browser"], result["browserMajor"]) == ("Brave", "131")


def test_client_hints_mobile_false_on_android_is_a_tablet() -> None:
    """Given an Android phone-looking user agent but mobile=false in the hints, then it is a tablet."""
    hints = {**CHROME_HINTS, "platform": "Android", "platformVersion": "14.0.0", "mobile": False}

    result = reduce(ANDROID_CHROME, hints)

    assert result is not None
    assert result["deviceClass"] == "tablet"


@pytest.mark.parametrize(
    "grease",
    ["Not_A Brand", "Not A(Brand", "Not/A)Brand", ";Not A Brand", "Not)A;Brand", "Not.A/Brand", "Not?A_Brand"],
)
def test_grease_brands_are_ignored(grease: str) -> None:
    """Given a GREASE brand listed first, then it never becomes the browser."""
    hints = {"brands": [{"brand": grease, "version": "99"}, {"brand": "Microsoft Edge", "version": "131"}]}

    result = reduce(CHROME_WINDOWS, hints)

    assert result is not None
    assert (result["browser"], result["browserMajor"]) == ("Edge", "131")
    only_grease = reduce(CHROME_WINDOWS, {"brands": [{"brand": grease, "version": "99"}]})
    assert only_grease is not None
    assert only_grease["browser"] == "Chrome"


def test_hints_cannot_clear_the_bot_flag_and_headless_brand_sets_it() -> None:
    """Given a crawler's user agent with ordinary hints, its own reading stands; a HeadlessChrome brand makes a bot."""
    bot = reduce(GOOGLEBOT, CHROME_HINTS)
    headless = reduce(CHROME_WINDOWS, {**CHROME_HINTS, "brands": [{"brand": "HeadlessChrome", "version": "131"}]})

    assert bot is not None
    assert headless is not None
    assert (bot["bot"], bot["deviceClass"], bot["browser"], bot["os"]) == (True, "bot", "Googlebot", None)
    assert (headless["bot"], headless["deviceClass"]) == (True, "bot")


def test_hints_without_a_user_agent() -> None:
    """Given hints but no user agent, then the hints alone describe the browser."""
    hints = {"brands": [{"brand": "Chromium", "version": "131"}], "mobile": False, "platform": "Linux"}

    assert reduce(None, hints) == summary("Chromium", "131", "Linux", None, "desktop", False)


@pytest.mark.parametrize(
    "hints",
    [
        {"brands": "Chrome"},
        {"brands": [None, 3, {"brand": None}, {"brand": 7, "version": []}]},
        {"fullVersionList": [{"brand": "Google Chrome", "version": {"x": 1}}], "mobile": "yes"},
        {"platform": ["Windows"], "platformVersion": 15},
        {"platform": "Windows", "platformVersion": "not a version"},
    ],
)
def test_malformed_hints_are_ignored_not_fatal(hints: dict[str, Any]) -> None:
    """Given hints of the wrong shape, then the user agent's reading stands and nothing raises."""
    result = reduce(CHROME_WINDOWS, hints)

    assert result is not None
    assert result["browser"] == "Chrome"
    assert result["deviceClass"] == "desktop"


@pytest.mark.parametrize(
    "user_agent",
    [
        "Mozilla/5.0 (compatible; jane.doe-example-com-crawler/1.0; +mailto:jane.doe@example.com)",
        "Mozilla/5.0 (compatible; AcmeToken_8f3a9c2b71d04e5f9a6b bot/1.0)",
        "Mozilla/5.0 (compatible; user1234567-bot/1.0)",
    ],
)
def test_identifiers_captured_by_generic_rules_are_not_returned(user_agent: str) -> None:
    """Given a crawler name that carries an id or an address, then no returned value holds it."""
    result = reduce(user_agent)

    assert result is not None
    assert result["bot"] is True
    text = json.dumps(result)
    for fragment in ("jane", "8f3a9c2b", "1234567"):
        assert fragment not in text


@pytest.mark.parametrize(
    "user_agent",
    [CHROME_WINDOWS, IPHONE_SAFARI, SAMSUNG_TV, GOOGLEBOT, HEADLESS_CHROME, CURL, PYTHON_REQUESTS, JUNK_2000],
)
def test_output_never_contains_the_user_agent(user_agent: str) -> None:
    """Given any user agent (with hints or not), then the output is a few short values, never the string."""
    for hints in (None, CHROME_HINTS):
        result = reduce(user_agent, hints)
        assert result is not None
        text = json.dumps(result)
        assert user_agent not in text
        assert all(len(v) <= 40 for v in result.values() if isinstance(v, str))


def test_parses_are_cached_per_user_agent() -> None:
    """Given the same user agent twice, then the second reduction is a cache hit (and a fresh dict)."""
    ua = CHROME_MAC + " cache-probe/1"
    first = reduce(ua)
    hits = useragent._parse.cache_info().hits

    second = reduce(ua)

    assert useragent._parse.cache_info().hits == hits + 1
    assert first == second
    assert first is not second  # callers may change their copy


def test_the_native_resolver_is_used() -> None:
    """Given the pinned ``ua-parser[regex]``, then the ua-parser-rs resolver parses (not the slow fallback)."""
    assert useragent.resolver_name() == "regex (ua-parser-rs)"


HINT_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
HINTS = st.none() | st.dictionaries(
    st.sampled_from(["brands", "fullVersionList", "mobile", "platform", "platformVersion", "model"]),
    HINT_VALUES
    | st.lists(st.fixed_dictionaries({"brand": st.text(max_size=30), "version": st.text(max_size=15)}), max_size=4),
    max_size=5,
)


@settings(max_examples=300, deadline=None)
@given(user_agent=st.none() | st.text(max_size=700), hints=HINTS)
def test_any_text_gives_the_documented_keys(user_agent: str | None, hints: dict[str, Any] | None) -> None:
    """Given any text (or None) and any hints, then a dict with exactly the documented keys comes back, or
    None for no user agent and no hints; nothing raises."""
    result = reduce(user_agent, hints)

    if user_agent is None and not hints:
        assert result is None
        return
    assert result is not None
    assert tuple(result) == KEYS
    assert result["deviceClass"] in DEVICE_CLASSES
    assert isinstance(result["bot"], bool)
    assert (result["deviceClass"] == "bot") == result["bot"]
    for value in (result["browser"], result["browserMajor"], result["os"], result["osMajor"]):
        assert value is None or (isinstance(value, str) and 0 < len(value) <= 40)
    for major in (result["browserMajor"], result["osMajor"]):
        assert major is None or major.isdigit()
    if user_agent is not None and len(user_agent) > 40:
        assert user_agent not in json.dumps(result)


@settings(max_examples=200, deadline=None)
@given(user_agent=st.from_regex(r"Mozilla/5\.0 \([ -~]{0,60}\) [ -~]{0,120}", fullmatch=True))
def test_browser_shaped_text_never_raises(user_agent: str) -> None:
    """Given text shaped like a browser's user agent, then it is reduced without an exception."""
    result = reduce(user_agent)

    assert result is not None
    assert set(result) == set(KEYS)
