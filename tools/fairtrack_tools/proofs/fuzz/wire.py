"""A whole request as API Gateway (HTTP API, payload 2.0) hands it to the function: the body on
the wire (base64, gzip and bombs), headers, query and request context, and the route.
"""

from __future__ import annotations

import base64
import gzip
import json
import zlib
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from hypothesis import strategies as st

from fairtrack_tools.proofs.fuzz.bodies import (
    EVENT_TYPES,
    batch_body,
    consent_body,
    encode_query,
    gtag_body,
    gtag_params,
    mutated_params,
    parsed_query,
    segment_event,
)
from fairtrack_tools.proofs.fuzz.values import (
    CANARY_IP,
    MAX_BODY_CHARS,
    MEASUREMENT_ID,
    ORIGIN,
    USER_AGENTS,
    WRITE_KEY,
    Obj,
    adversarial_text,
    canary_email,
    deep,
    depth_of,
    dumps,
    json_values,
    mutated,
    obj,
    texts,
)

# -- bodies on the wire ------------------------------------------------------------------------------


@cache
def gzip_bomb() -> bytes:
    return gzip.compress(b"\x00" * 20_000_000, compresslevel=9)  # ~20 KB inflating to 20 MB


@cache
def json_gzip_bomb() -> bytes:
    return gzip.compress(b'{"batch":[' + b'{"type":"track","event":"e","anonymousId":"a"},' * 20_000 + b"{}]}")


@dataclass(frozen=True)
class Wire:
    body: str | None
    is_base64: bool
    headers: dict[str, str]
    note: str


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@st.composite
def wire(draw: st.DrawFn, text: str, chaos: int) -> Wire:
    """``text`` (JSON or gtag lines) as API Gateway could deliver it: well (chaos 0), or not."""
    if chaos == 0:
        mode = draw(st.sampled_from(("text", "text", "base64", "gzip", "gzip-multi")))
    else:
        mode = draw(
            st.sampled_from(
                (
                    "text",
                    "text",
                    "text",
                    "base64",
                    "base64-junk",
                    "base64-unflagged",
                    "gzip",
                    "gzip",
                    "gzip-unlabelled",
                    "gzip-truncated",
                    "gzip-multi",
                    "gzip-trailing",
                    "gzip-bomb",
                    "gzip-json-bomb",
                    "zlib-as-gzip",
                    "gzip-as-text",
                    "bytes",
                    "absent",
                )
            )
        )
    encodings = st.sampled_from(("gzip", "GZIP", " gzip ", "gzip\t"))
    raw = text.encode("utf-8", "surrogatepass")
    if mode == "text":
        return Wire(text, False, {}, mode)
    if mode == "base64":
        return Wire(b64(raw), True, {}, mode)
    if mode == "base64-junk":
        junk = draw(
            st.sampled_from(("!!!!", "QUJD=", "QQ", "QUJD" * 3 + "=" * 5, "QU\x00JD", "\u00e9\u00e9\u00e9\u00e9"))
        )
        return Wire(b64(raw)[: draw(st.integers(0, 40))] + junk, True, {}, mode)
    if mode == "base64-unflagged":
        return Wire(b64(raw), False, {}, mode)
    if mode == "gzip":
        return Wire(b64(gzip.compress(raw)), True, {"content-encoding": draw(encodings)}, mode)
    if mode == "gzip-unlabelled":
        return Wire(b64(gzip.compress(raw)), True, {}, mode)
    if mode == "gzip-truncated":
        packed = gzip.compress(raw)
        return Wire(
            b64(packed[: draw(st.integers(0, max(0, len(packed) - 1)))]), True, {"content-encoding": "gzip"}, mode
        )
    if mode == "gzip-multi":
        half = len(raw) // 2
        packed = gzip.compress(raw[:half]) + gzip.compress(raw[half:])
        return Wire(b64(packed), True, {"content-encoding": "gzip"}, mode)
    if mode == "gzip-trailing":
        tail = draw(st.sampled_from((b"\x00", b"garbage", b"\x1f\x8b", b"\x1f\x8b\x08\x00")))
        return Wire(b64(gzip.compress(raw) + tail), True, {"content-encoding": "gzip"}, mode)
    if mode == "gzip-bomb":
        return Wire(b64(gzip_bomb()), True, {"content-encoding": "gzip"}, mode)
    if mode == "gzip-json-bomb":
        return Wire(b64(json_gzip_bomb()), True, {"content-encoding": "gzip"}, mode)
    if mode == "zlib-as-gzip":
        return Wire(b64(zlib.compress(raw)), True, {"content-encoding": "gzip"}, mode)
    if mode == "gzip-as-text":  # binary bytes carried as text, not flagged base64
        return Wire(gzip.compress(raw).decode("latin-1"), False, {"content-encoding": "gzip"}, mode)
    if mode == "bytes":  # bad encodings of the same text
        prefix = draw(
            st.sampled_from(
                (
                    b"",
                    b"\xef\xbb\xbf",
                    b"\xff\xfe",
                    b"\xfe\xff",
                    b"\x00",
                    b"\xc0\xaf",
                    b"\xed\xa0\x80",
                    b"\xf8\x88\x80\x80\x80",
                )
            )
        )
        how = draw(st.sampled_from(("prefix", "utf-16", "utf-32", "latin-1", "overlong", "nul", "cut")))
        if how == "utf-16":
            data = text.encode("utf-16", "surrogatepass")
        elif how == "utf-32":
            data = text.encode("utf-32", "surrogatepass")
        elif how == "latin-1":
            data = text.encode("latin-1", "replace")
        elif how == "overlong":
            data = raw.replace(b'"', b"\xc0\xa2", 1)
        elif how == "nul":
            data = raw.replace(b":", b"\x00:", 1)
        elif how == "cut":
            data = raw[: max(0, len(raw) - 1)]
        else:
            data = raw
        return Wire(b64(prefix + data), True, {}, f"{mode}-{how}")
    return Wire(draw(st.sampled_from((None, "", " "))), draw(st.booleans()), {}, mode)


# -- headers, query, request context ------------------------------------------------------------------


@st.composite
def authorization(draw: st.DrawFn, n: int, chaos: int) -> str | None:
    good = b64(f"{WRITE_KEY}:".encode())
    if chaos == 0:
        return draw(st.sampled_from((f"Basic {good}", f"Basic {good}", f"basic {good}")))
    variants = (
        None,
        f"Basic {good}",
        f"Basic {good}",
        f"Basic {good}",
        f"basic {good}",
        f"Basic {b64(WRITE_KEY.encode())}",  # no colon
        f"Basic {b64(f'{canary_email(n)}:pw'.encode())}",
        "Basic " + b64(b"\xff\xfe:\x00"),
        "Basic " + b64(f"{WRITE_KEY}\u00e9:".encode("latin-1")),
        "Basic !!!junk!!!",
        "Basic \u00e9\u00e9\u00e9",
        "Basic",
        "Basic ",
        f"Bearer {WRITE_KEY}",
        "Basic " + "QUFB" * 2500,
    )
    return draw(st.sampled_from(variants))


CONTENT_TYPES = (
    "application/json",
    "text/plain;charset=UTF-8",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "application/json; charset=utf-16",
    "",
    "\u00e9/\u00e9",
    "application/json" + ";" * 9000,
)
ORIGINS = (ORIGIN, "http://localhost:3000", "https://evil.example", "null", "", "http://{email}", "\u00e9" * 9)


@st.composite
def headers_for(draw: st.DrawFn, n: int, chaos: int, method: str, wired: Wire | None) -> dict[str, str]:
    headers: dict[str, str] = {
        "host": "abc123.execute-api.eu-west-1.amazonaws.com",
        "user-agent": draw(st.sampled_from(USER_AGENTS[:6] if chaos == 0 else USER_AGENTS)),
    }
    if wired is not None:
        headers.update(wired.headers)
    ctype = draw(st.sampled_from((None, *(CONTENT_TYPES[:2] if chaos == 0 else CONTENT_TYPES))))
    if ctype is not None:
        headers["content-type"] = ctype
    auth = draw(authorization(n, chaos))
    if auth is not None:
        headers["authorization"] = auth
    origins = ORIGINS[:2] if chaos == 0 else ORIGINS
    origin = draw(st.sampled_from((None, None, *origins)))
    if origin is not None or method == "OPTIONS":
        headers["origin"] = (origin or ORIGIN).format(email=canary_email(n))
    if draw(st.booleans()):
        headers["x-forwarded-for"] = draw(st.sampled_from(FORWARDED_FOR))
    if draw(st.integers(0, 3)) == 0:
        headers["cloudfront-viewer-country"] = draw(st.sampled_from(("DE", "xx", "\u00c4\u00c4", "", "D E")))
    if draw(st.integers(0, 3)) == 0:
        headers["cloudfront-viewer-address"] = draw(st.sampled_from(VIEWER_ADDRESSES))
    if method == "OPTIONS":
        headers["access-control-request-method"] = draw(st.sampled_from(("POST", "GET", "DELETE", "")))
        headers["access-control-request-headers"] = "authorization,content-type"
    if chaos == 0:
        return headers
    if draw(st.integers(0, 5)) == 0:  # odd encodings
        encodings = ("br", "deflate", "identity", "", "gzip, gzip", "x-gzip", "gzip\x00", "\uff47zip")
        headers["content-encoding"] = draw(st.sampled_from(encodings))
    odd = st.tuples(st.one_of(texts, adversarial_text(n, in_line=True)), adversarial_text(n, in_line=True))
    for name, value in draw(st.lists(odd, max_size=2 if chaos == 2 else 1)):
        headers[name] = value
    if draw(st.integers(0, 7)) == 0:  # names not lower-cased, as a direct invoke could send them
        headers = {k.upper() if k != "host" else k: v for k, v in headers.items()}
    return headers


FORWARDED_FOR = (
    CANARY_IP,
    f"{CANARY_IP}, 10.0.0.1",
    f" {CANARY_IP} ,",
    "2001:db8::77, 10.0.0.1",
    "[2001:db8::1]:443",
    f"{CANARY_IP}:8080",
    "unknown",
    ", , ,",
    "garbage, ,",
    "\u00e9" * 200,
    "1" * 9000,
    "::1",
)
VIEWER_ADDRESSES = (
    f"{CANARY_IP}:46532",
    "2001:db8::77:443",
    "[2001:db8::77]:443",
    CANARY_IP,
    ":",
    "garbage:12",
    "\u00e9" * 200,
)
SOURCE_IPS = (
    "203.0.113.77",
    CANARY_IP,
    "2001:db8::1",
    "::ffff:198.51.100.77",
    "fe80::1%eth0",
    "",
    "not-an-ip",
    "999.999.999.999",
    "198.051.100.077",
    "0",
    "::",
    "1.2.3.4.5",
    "\uff11.\uff12.\uff13.\uff14",
    "198.51.100.77\x00",
    "[::1]",
    "198.51.100.77:443",
    "a" * 1000,
)


def api_event(
    *,
    method: str,
    path: str,
    headers: dict[str, str],
    raw_query: str,
    query: dict[str, str] | None,
    wired: Wire | None,
    source_ip: str,
    request_id: str | None = "fuzz-request",
    time_epoch: int | None = 1795515302000,
) -> dict[str, Any]:
    """An HTTP API payload 2.0 event, as API Gateway builds them (optional keys left out when empty)."""
    route_key = "ANY /v1/{proxy+}" if path.startswith("/v1/") else "ANY /beacon/v1/{proxy+}"
    if path == "/g/collect":
        route_key = f"{method} /g/collect"
    context: dict[str, Any] = {
        "accountId": "123456789012",
        "apiId": "abc123",
        "domainName": "abc123.execute-api.eu-west-1.amazonaws.com",
        "domainPrefix": "abc123",
        "http": {
            "method": method,
            "path": path,
            "protocol": "HTTP/1.1",
            "sourceIp": source_ip,
            "userAgent": headers.get("user-agent", ""),
        },
        "routeKey": route_key,
        "stage": "$default",
        "time": "24/Nov/2026:10:15:02 +0000",
    }
    if request_id is not None:
        context["requestId"] = request_id
    if time_epoch is not None:
        context["timeEpoch"] = time_epoch
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": raw_query,
        "headers": headers,
        "requestContext": context,
        "isBase64Encoded": wired.is_base64 if wired else False,
    }
    if query:
        event["queryStringParameters"] = query
    if path.startswith(("/v1/", "/beacon/v1/")):
        event["pathParameters"] = {"proxy": path.split("/v1/", 1)[1]}
    if wired is not None and wired.body is not None:
        event["body"] = wired.body
    return event


# -- whole requests -------------------------------------------------------------------------------------

SEGMENT_ROUTES = ("track", "page", "screen", "identify", "group", "alias", "t", "p", "s", "i", "g", "a")
IMPLIED = dict(zip(SEGMENT_ROUTES, EVENT_TYPES * 2, strict=True))
BATCH_PATHS = ("/v1/batch", "/v1/b", "/beacon/v1/batch")
ODD_PATHS = (
    "/v1/",
    "/v1/unknown",
    "/v1/track/extra",
    "/v1/TRACK",
    "/v1/%74rack",
    "/v1/track%00",
    "/v1/..%2Fbatch",
    "/v1/" + "x" * 8000,
    "/v1/\u00e9",
    "/beacon/v1/track",
    "/beacon/v1/batch/",
    "/g/collect/",
    "/g/COLLECT",
)
FAMILIES = ("segment", "batch", "gtag", "consent", "preflight", "odd")
# how often each family is drawn, relative to the others
FAMILY_WEIGHTS = ("segment",) * 3 + ("batch",) * 2 + ("gtag",) * 3 + ("consent", "preflight", "odd")


@dataclass(frozen=True)
class FuzzRequest:
    family: str
    route: str  # "METHOD /path", for the figures
    note: str  # how the body travelled
    depth: int  # the deepest JSON nesting planted in it
    event: dict[str, Any] = field(repr=False)
    chaos: int = 0
    trusted_proxy: str = "none"  # the deployment's TrustedProxy (none, cloudfront, hops:N)

    def __repr__(self) -> str:  # what Hypothesis prints for a falsifying example: a replayable event
        return f"FuzzRequest({self.route!r}, note={self.note!r}, event={json.dumps(self.event)[:4000]})"


def _defect(draw: st.DrawFn, chaos: int) -> int:
    """The chaos level for one part of a request: at chaos 1, now and then one part gets a defect."""
    return 2 if chaos == 2 or (chaos == 1 and draw(st.integers(0, 9)) == 3) else 0


def _route_and_body(draw: st.DrawFn, family: str, n: int, chaos: int) -> tuple[str, str, Any, list[tuple[str, str]]]:
    """Method, path, JSON body (or None) and query parameters of a request of ``family``."""
    base = 0 if chaos == 1 else chaos  # chaos 1: a clean request first, then its defects
    body: Any = None
    pairs: list[tuple[str, str]] = []
    if family == "segment":
        route = draw(st.sampled_from(SEGMENT_ROUTES))
        method, path = "POST", f"/v1/{route}"
        one = segment_event(n, base, IMPLIED[route])
        body = draw(one if chaos < 2 else st.one_of(one, one, segment_event(n, chaos), json_values(n), deep()))
    elif family == "batch":
        method, path = "POST", draw(st.sampled_from(BATCH_PATHS))
        batch = batch_body(n, base)
        body = draw(batch if chaos < 2 else st.one_of(batch, batch, json_values(n), deep()))
    elif family == "consent":
        method, path = "POST", "/v1/consent"
        receipt = consent_body(n, base)
        body = draw(receipt if chaos < 2 else st.one_of(receipt, receipt, json_values(n), deep()))
    elif family == "gtag":
        method, path = draw(st.sampled_from(("GET", "POST"))), "/g/collect"
        pairs = draw(gtag_params(n, base))
        if chaos == 1 and (method == "GET" or draw(st.booleans())):
            pairs = draw(mutated_params(pairs, n))
    elif family == "preflight":
        method = "OPTIONS"
        path = draw(st.sampled_from((*[f"/v1/{r}" for r in SEGMENT_ROUTES], *BATCH_PATHS, "/v1/consent", "/g/collect")))
    else:
        method = draw(st.sampled_from(("GET", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "POST", "post", "TRACE")))
        path = draw(st.sampled_from((*ODD_PATHS, "/v1/track", "/v1/batch", "/beacon/v1/batch", "/g/collect")))
        body = draw(st.one_of(st.none(), segment_event(n, base), json_values(n)))
    if body is not None and family in ("segment", "batch", "consent"):
        if chaos == 1:
            body = draw(mutated(body, n))
        elif chaos == 2 and draw(st.integers(0, 5)) == 0:  # deep nesting inside an otherwise valid event
            spot = draw(st.sampled_from(("properties", "context", "traits", "batch")))
            inner = draw(deep())
            event = body if isinstance(body, Obj) else obj(type="track", event="e", anonymousId=f"a-{n}")
            kept = [(k, v) for k, v in event.pairs if k != spot]
            body = Obj((*kept, (spot, [inner] if spot == "batch" else inner)))
    return method, path, body, pairs


@st.composite
def requests(draw: st.DrawFn, families: tuple[str, ...] = FAMILIES) -> FuzzRequest:
    """One API Gateway event for a route of ``families``. ``chaos`` (drawn) sets how broken it is:
    0 well-formed with the dev key (it gets through to the queues); 1 well-formed but for one to
    three defects (in the body, a parameter, a header or the transport), which lets them reach the
    deep stages; 2 wild."""
    family = draw(st.sampled_from([f for f in FAMILY_WEIGHTS if f in families]))
    chaos = draw(st.sampled_from((0, 1, 1, 1, 2)))
    n = draw(st.integers(0, 999_999))
    method, path, body, pairs = _route_and_body(draw, family, n, chaos)
    wired: Wire | None = None
    depth = 0
    if body is not None:
        depth = depth_of(body)
        text = dumps(body, ascii_only=draw(st.booleans()))[:MAX_BODY_CHARS]
        wired = draw(wire(text, _defect(draw, chaos)))
    elif family == "gtag" and method == "POST":
        wired = draw(wire(draw(gtag_body(n, chaos)), _defect(draw, chaos)))
    if family != "gtag" and draw(st.integers(0, 2)) == 0:
        keys = (WRITE_KEY,) if _defect(draw, chaos) == 0 else (WRITE_KEY, canary_email(n), "", "x" * 8000)
        pairs = [("writeKey", draw(st.sampled_from(keys)))]
        if family == "preflight" and draw(st.booleans()):
            pairs = [("tid", draw(st.sampled_from((MEASUREMENT_ID, "G-UNKNOWN", canary_email(n)))))]
    styles = ("encoded",) if _defect(draw, chaos) == 0 else ("encoded", "encoded", "raw", "garbled")
    raw_query = encode_query(pairs, draw(st.sampled_from(styles)))
    query = parsed_query(raw_query)
    if chaos == 2 and draw(st.integers(0, 9)) == 0:  # only the raw query string
        query = None
    event = api_event(
        method=method,
        path=path,
        headers=draw(headers_for(n, _defect(draw, chaos), method.upper(), wired)),
        raw_query=raw_query,
        query=query,
        wired=wired,
        source_ip=draw(st.sampled_from(SOURCE_IPS[:4] if _defect(draw, chaos) == 0 else SOURCE_IPS)),
        request_id=draw(st.sampled_from(("fuzz-request", "fuzz-request", ""))),
        time_epoch=draw(st.sampled_from((1795515302000, 1795515302000, 0))),
    )
    if chaos == 2 and draw(st.integers(0, 4)) == 0:  # the optional parts API Gateway may add or leave out
        event.pop("pathParameters", None)
        event["cookies"] = draw(st.lists(adversarial_text(n, in_line=True), max_size=3))
    trusted = draw(st.sampled_from(("hops:1", "hops:2", "cloudfront"))) if draw(st.integers(0, 3)) == 0 else "none"
    note = wired.note if wired else "no body"
    return FuzzRequest(family, f"{method} {path[:40]}", note, depth, event, chaos, trusted)
