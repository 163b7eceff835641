"""User-agent reduction: a handful of low-cardinality fields instead of the full ``User-Agent``.

:func:`reduce` turns a user agent (and, when the client sent them, its User-Agent Client Hints)
into::

    {"browser": "Chrome", "browserMajor": "131", "os": "Mac OS X", "osMajor": "15",
     "deviceClass": "desktop", "bot": False}

``browser``/``os`` are ua-parser family names (``Chrome``, ``Mobile Safari``, ``Mac OS X``,
``Windows``, ``iOS``, ``Android``...; client-hint values are mapped onto the same names), the
majors are digits only, ``deviceClass`` is one of :data:`DEVICE_CLASSES`. Device models, minor
versions and build numbers are never returned, and neither is the user agent itself: a family that
ua-parser captured from the string (generic crawler rules do that) is kept only when it looks like
a product name (at most 40 characters, no long digit or hex run), so an id or e-mail address
smuggled into a user agent does not come out the other side. Nothing here logs.

Client hints (the ``userAgentData`` shape of Segment and of fairtrack's gtag adapter: ``brands``
or ``fullVersionList`` ``[{brand, version}]``, ``mobile``, ``platform``, ``platformVersion``) win
over the user agent where they say more: the browser brand and major (GREASE brands such as
``"Not_A Brand"`` are ignored, a specific brand beats ``Chromium``, and where the brand agrees
with the user agent ua-parser's finer family stays: ``Chrome Mobile``, not ``Chrome``), the OS and
its real major (Chrome freezes ``Windows NT 10.0``, ``Mac OS X 10_15_7`` and ``Android 10; K`` in
the user agent; ``platformVersion`` says Windows 11, macOS 15, Android 14), and phone vs tablet.
They are client input like the rest: a user agent judged a bot keeps its own reading whatever the
hints say, and a value outside the expected shape is ignored.

``bot`` is true for:

- crawlers: ua-parser's device family ``Spider`` (its crawler rules), plus a short list of
  well-known crawler tokens (Googlebot, bingbot, GPTBot, ...);
- automation: headless browsers (``HeadlessChrome``, also as a client-hint brand, PhantomJS,
  Puppeteer, Playwright, Selenium, Lighthouse) and HTTP libraries (curl, Wget, python-requests,
  Go-http-client, ...), which are not a person's browser either;
- implausible user agents: empty, shorter than :data:`MIN_LENGTH`, longer than
  :data:`MAX_LENGTH` (not even parsed), with control characters, or without a single
  ``product/version`` token.

A bot's ``deviceClass`` is ``bot``. ``reduce(None)`` is None (a server-side event has no user
agent: that is not a bot), unless client hints came without a user agent.

Resolver: ua-parser 1.x's ``regex`` resolver, from its native accelerator ``ua-parser-rs`` (the
``ua-parser[regex]`` extra, pinned in the layer's requirements): Rust regex sets over ua-parser's
rules, many times cheaper than the pure-Python ``basic`` resolver, which tries the rules one by one
with ``re`` (docs/ingest.md, "Libraries", has the figures and the wheels). Where ``ua-parser-rs``
cannot be imported, the basic resolver is used, with the same rules and results, only slower
(:func:`resolver_name` says which). The rules come from ``ua-parser-builtins`` (a dependency of
ua-parser, released monthly).

Cost: ``import fairtrack.anonymise.useragent`` imports nothing of ua-parser. The first parse
imports it and compiles the rules, the dearest step of a cold start (``python -m bench`` measures
it). Functions that never parse (the forwarders) never pay for it; a handler that wants it paid
during init calls :func:`warm`. Parses are cached per user-agent string
(:func:`functools.lru_cache`, :data:`CACHE_SIZE` entries) since the same few user agents repeat;
the cache lives in the process only, and user agents that are empty or over :data:`MAX_LENGTH`
never enter it.
"""

from __future__ import annotations

import re
import threading
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, TypedDict

if TYPE_CHECKING:
    from ua_parser import Resolver

__all__ = [
    "CACHE_SIZE",
    "DEVICE_CLASSES",
    "KEYS",
    "MAX_LENGTH",
    "MIN_LENGTH",
    "DeviceClass",
    "UserAgentSummary",
    "cache_counts",
    "reduce",
    "resolver_name",
    "warm",
]

DeviceClass = Literal["desktop", "mobile", "tablet", "tv", "console", "bot", "unknown"]
DEVICE_CLASSES: tuple[DeviceClass, ...] = ("desktop", "mobile", "tablet", "tv", "console", "bot", "unknown")
KEYS = ("browser", "browserMajor", "os", "osMajor", "deviceClass", "bot")

MIN_LENGTH = 12  # no browser's user agent is shorter ("Mozilla/5.0" alone is 11)
MAX_LENGTH = 512  # real ones stay well under 300 characters
CACHE_SIZE = 4096  # distinct user agents kept parsed (each entry: the string and a small tuple)


class UserAgentSummary(TypedDict):
    browser: str | None
    browserMajor: str | None
    os: str | None
    osMajor: str | None
    deviceClass: DeviceClass
    bot: bool


class _Parsed(NamedTuple):
    browser: str | None
    browser_major: str | None
    os: str | None
    os_major: str | None
    device_class: DeviceClass
    bot: bool


_UNKNOWN = _Parsed(None, None, None, None, "unknown", False)
_IMPLAUSIBLE = _Parsed(None, None, None, None, "bot", True)

# Well-known crawler and automation tokens, looked for in the lower-cased user agent. ua-parser's
# Spider rules already catch most crawlers; this list is the safety net for the big ones and adds
# headless browsers and HTTP libraries, which ua-parser reports as browsers. Substring tests: a
# case-insensitive ``re`` alternation of the same tokens costs several times the whole Rust parse.
_BOT_TOKENS = (
    # crawlers
    "googlebot",
    "google-inspectiontool",
    "adsbot-google",
    "mediapartners-google",
    "storebot-google",
    "bingbot",
    "bingpreview",
    "slurp",
    "duckduckbot",
    "baiduspider",
    "yandexbot",
    "applebot",
    "facebookexternalhit",
    "meta-externalagent",
    "twitterbot",
    "linkedinbot",
    "pinterestbot",
    "ahrefsbot",
    "semrushbot",
    "mj12bot",
    "petalbot",
    "gptbot",
    "chatgpt-user",
    "oai-searchbot",
    "claudebot",
    "claude-web",
    "perplexitybot",
    "ccbot",
    "bytespider",
    "amazonbot",
    # headless and automated browsers
    "headlesschrome",
    "phantomjs",
    "puppeteer",
    "playwright",
    "selenium",
    "webdriver",
    "lighthouse",
    # HTTP libraries and tools
    "curl/",
    "wget/",
    "python-requests",
    "python-urllib",
    "python-httpx",
    "aiohttp",
    "go-http-client",
    "java/",
    "apache-httpclient",
    "node-fetch",
    "axios/",
    "undici",
    "libwww-perl",
    "scrapy",
    "postmanruntime",
)
_PRODUCT_TOKEN = re.compile(r"[A-Za-z][^\s/;()]*/[0-9]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# What a family name may look like to be returned: a product name, not an id or an address.
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9 ._/()+-]{0,39}")
_LONG_RUN = re.compile(r"[0-9]{6}|[0-9a-fA-F]{12}")
_MAJOR = re.compile(r"[0-9]{1,6}")

# Device-class tokens, in the lower-cased user agent.
_CONSOLE = ("playstation", "xbox", "nintendo")
_TV = (
    "smart-tv",
    "smarttv",
    "hbbtv",
    "crkey",
    "bravia",
    "googletv",
    "android tv",
    "androidtv",
    "roku",
    "web0s",
    "webos.tv",
    "appletv",
    " tv safari",
)
_FIRE_TV = re.compile(r"\baft[a-z]")  # Amazon Fire TV models: AFTMM, AFTB, AFTS...
_TABLET = ("tablet", "ipad", "kindle", "silk/", "playbook")
_MOBILE = ("mobi", "iphone", "ipod", "windows phone", "blackberry", "bb10", "kaios", "opera mini")
_MOBILE_OS = frozenset({"iOS", "Android", "Windows Phone", "KaiOS", "BlackBerry OS", "Firefox OS", "Symbian OS"})
_DESKTOP_OS = frozenset(
    {
        "Windows",
        "Mac OS X",
        "Linux",
        "Ubuntu",
        "Debian",
        "Fedora",
        "Red Hat",
        "SUSE",
        "openSUSE",
        "Mint",
        "Arch Linux",
        "Gentoo",
        "Chrome OS",
        "FreeBSD",
        "OpenBSD",
        "NetBSD",
        "Solaris",
    }
)

# Client hints: brand and platform names onto ua-parser's family names, so that a dimension has
# one name whichever source it came from.
_BRANDS = {
    "Google Chrome": "Chrome",
    "Microsoft Edge": "Edge",
    "Opera": "Opera",
    "Opera GX": "Opera",
    "Brave": "Brave",
    "Samsung Internet": "Samsung Internet",
    "YaBrowser": "Yandex Browser",
    "Yandex": "Yandex Browser",
    "Vivaldi": "Vivaldi",
    "Android WebView": "Chrome Mobile WebView",
    "HeadlessChrome": "HeadlessChrome",
    "Chromium": "Chromium",
}
_GENERIC_BRANDS = frozenset({"Chromium"})  # a specific brand beside it wins
_PLATFORMS = {
    "Windows": "Windows",
    "macOS": "Mac OS X",
    "Linux": "Linux",
    "Android": "Android",
    "Chrome OS": "Chrome OS",
    "Chromium OS": "Chrome OS",
    "ChromeOS": "Chrome OS",
    "iOS": "iOS",
}

_lock = threading.Lock()
_resolver: Resolver | None = None
_resolver_name = ""


def _load() -> Resolver:
    """Import ua-parser and compile its rules, once per process (the first parse pays for it)."""
    global _resolver, _resolver_name
    if _resolver is not None:
        return _resolver
    with _lock:
        if _resolver is None:
            try:
                from ua_parser import load_lazy_builtins
                from ua_parser.regex import Resolver as RegexResolver  # needs ua-parser-rs

                _resolver, _resolver_name = RegexResolver(load_lazy_builtins()), "regex (ua-parser-rs)"
            except ImportError:  # no accelerator for this platform: same rules, matched with re
                from ua_parser import BasicResolver, load_builtins

                _resolver, _resolver_name = BasicResolver(load_builtins()), "basic (re)"
        return _resolver


def warm() -> None:
    """Import ua-parser and compile its rules now (e.g. during a Lambda's init) rather than on the
    first parse."""
    _load()


def resolver_name() -> str:
    """Which ua-parser resolver parses: ``regex (ua-parser-rs)`` or ``basic (re)``."""
    _load()
    return _resolver_name


def _name(value: str | None) -> str | None:
    if not value or value == "Other" or _NAME.fullmatch(value) is None or _LONG_RUN.search(value):
        return None
    return value


def _major(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    head = value.split(".", 1)[0].strip()
    return head if _MAJOR.fullmatch(head) else None


def _device_class(low: str, os: str | None, device: str | None, brand: str | None) -> DeviceClass:
    """``low``: the lower-cased user agent; the rest as ua-parser found them."""
    device = device or ""
    if any(t in low for t in _CONSOLE) or any(t in device.lower() for t in _CONSOLE):
        return "console"
    if any(t in low for t in _TV) or _FIRE_TV.search(low) or "TV" in device:
        return "tv"
    if (
        any(t in low for t in _TABLET)
        or device in ("iPad", "Kindle", "Generic Tablet")
        or brand == "Generic_Android_Tablet"
        or (os == "Android" and brand == "Generic_Android" and "mobile" not in low)
    ):
        return "tablet"
    if os in _MOBILE_OS or device in ("iPhone", "iPod", "Generic Smartphone") or any(t in low for t in _MOBILE):
        return "mobile"
    if os in _DESKTOP_OS or device == "Mac":
        return "desktop"
    return "unknown"


def _implausible(ua: str) -> bool:
    return len(ua) < MIN_LENGTH or _CONTROL.search(ua) is not None or _PRODUCT_TOKEN.search(ua) is None


@lru_cache(maxsize=CACHE_SIZE)
def _parse(ua: str) -> _Parsed:
    """The user agent alone, parsed and reduced (cached: the same strings repeat)."""
    from ua_parser import Domain

    try:
        result = _load()(ua, Domain.ALL)
    except UnicodeError:  # lone surrogates (from JSON escapes): no HTTP header carries them
        return _IMPLAUSIBLE
    agent, os_, device = result.user_agent, result.os, result.device
    browser = _name(agent.family) if agent else None
    os_family = _name(os_.family) if os_ else None
    device_family = device.family if device else None
    low = ua.lower()
    bot = device_family == "Spider" or any(t in low for t in _BOT_TOKENS) or _implausible(ua)
    return _Parsed(
        browser=browser,
        browser_major=_major(agent.major) if agent and browser else None,
        os=os_family,
        os_major=_major(os_.major) if os_ and os_family else None,
        device_class="bot" if bot else _device_class(low, os_family, device_family, device.brand if device else None),
        bot=bot,
    )


def cache_counts() -> tuple[int, int]:
    """The parse cache's hits and misses since the container started (the bench's hit rate)."""
    info = _parse.cache_info()
    return info.hits, info.misses


def _parsed(ua: str) -> _Parsed:
    if not ua.strip() or len(ua) > MAX_LENGTH:
        return _IMPLAUSIBLE  # not worth a parse, nor a cache entry
    return _parse(ua)


def _brand(hints: dict[str, Any]) -> tuple[str, str | None] | None:
    """The browser named by the hints' brands: a specific brand before a generic one, GREASE and
    malformed entries skipped."""
    best: tuple[str, str | None] | None = None
    for key in ("fullVersionList", "brands"):  # the full list carries the same brands, with versions
        entries = hints.get(key)
        if not isinstance(entries, list):
            continue
        for entry in entries:
            if not isinstance(entry, dict):
                continue
            brand = entry.get("brand")
            if not isinstance(brand, str) or _is_grease(brand):
                continue
            # only a brand this table knows: a client hint is client input, and a brand of its own
            # choosing ("jane.doe", an id) would otherwise travel as the browser's name
            name = _BRANDS.get(brand)
            if name is None:
                continue
            if best is None or (best[0] in _GENERIC_BRANDS and brand not in _GENERIC_BRANDS):
                best = (name, _major(entry.get("version")))
        if best is not None:
            return best
    return None


def _headless(hints: dict[str, Any]) -> bool:
    """Whether any brand list names HeadlessChrome (the full list may still say Google Chrome)."""
    for key in ("fullVersionList", "brands"):
        entries = hints.get(key)
        if isinstance(entries, list) and any(
            isinstance(entry, dict) and entry.get("brand") == "HeadlessChrome" for entry in entries
        ):
            return True
    return False


def _is_grease(brand: str) -> bool:
    """Chromium's GREASE brands: "Not" A "Brand" with arbitrary punctuation between."""
    letters = "".join(c for c in brand.lower() if c.isalpha())
    return letters == "notabrand" or (letters.startswith("not") and letters.endswith("brand") and len(letters) <= 12)


def _os_major(platform: str, version: object) -> str | None:
    """The OS major from ``platformVersion`` (None when absent, empty or ``0``, as Linux sends)."""
    major = _major(version)
    if major is None:
        return None
    if platform != "Windows":
        return None if major == "0" else major
    # Windows' platformVersion is the Windows.Foundation.UniversalApiContract version: 13 and above
    # is Windows 11, 1 to 12 Windows 10, 0.x Windows 7/8/8.1 (majors 7 and 8).
    number = int(major)
    if number >= 13:
        return "11"
    if number >= 1:
        return "10"
    minor = _major(version.split(".")[1]) if isinstance(version, str) and "." in version else None
    return {"1": "7", "2": "8", "3": "8"}.get(minor or "")


def _with_hints(parsed: _Parsed, hints: dict[str, Any]) -> _Parsed:
    if parsed.bot:
        return parsed  # a bot's own user agent says more about it than the hints it sends
    browser, browser_major = parsed.browser, parsed.browser_major
    bot = _headless(hints)
    brand = _brand(hints)
    if brand is not None:
        name, major = brand
        if browser is not None and (name in _GENERIC_BRANDS or browser == name or browser.startswith(name + " ")):
            # the hints agree with the user agent (or only say "Chromium"): keep ua-parser's more
            # precise family ("Chrome Mobile"), take the hints' major
            browser_major = major or browser_major
        else:
            browser, browser_major = name, major
    os, os_major = parsed.os, parsed.os_major
    platform = hints.get("platform")
    if isinstance(platform, str) and platform in _PLATFORMS:
        os = _PLATFORMS[platform]
        os_major = _os_major(platform, hints.get("platformVersion")) or (os_major if os == parsed.os else None)
    device_class = parsed.device_class
    mobile = hints.get("mobile")
    if bot:
        device_class = "bot"
    elif device_class not in ("tv", "console") and isinstance(mobile, bool):
        if mobile:
            device_class = "mobile"
        elif device_class == "mobile":  # Chrome says mobile=false on Android tablets
            device_class = "tablet" if os == "Android" else "desktop"
        elif device_class == "unknown" and os in _DESKTOP_OS:
            device_class = "desktop"
    return _Parsed(browser, browser_major, os, os_major, device_class, bot)


def reduce(user_agent: str | None, hints: dict[str, Any] | None = None) -> UserAgentSummary | None:
    """The reduced user agent (the keys of :data:`KEYS`), client hints preferred where given; None
    when there is neither a user agent nor hints. Never raises on client input."""
    if user_agent is None:
        if not isinstance(hints, dict) or not hints:
            return None
        parsed = _UNKNOWN
    else:
        parsed = _parsed(user_agent)
    if isinstance(hints, dict) and hints:
        parsed = _with_hints(parsed, hints)
    return {
        "browser": parsed.browser,
        "browserMajor": parsed.browser_major,
        "os": parsed.os,
        "osMajor": parsed.os_major,
        "deviceClass": parsed.device_class,
        "bot": parsed.bot,
    }
