"""The local HTTP API: real HTTP in, API Gateway HTTP API payload 2.0 events to the function out.

Routes come from the template's ``HttpApi`` events (``ANY /v1/{proxy+}``...), matched with API
Gateway's precedence (most specific route first, exact method before ``ANY``); anything else gets
API Gateway's own 404. ``/_dev/`` paths are the local stack's developer endpoints.

Routes with the ``AWS_IAM`` authorizer (the admin routes): a request without a SigV4
``Authorization`` header gets API Gateway's 403 ``{"message":"Forbidden"}``; a signed one reaches
the function with ``requestContext.authorizer.iam`` naming the local caller, by default a session
of the local stack's operator role (:data:`fairtrack_tools.local.localcloud.LOCAL_OPERATOR_SESSION`).
The signature itself is not verified: the local API listens on loopback only.
"""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from fairtrack_tools.local.localcloud import LOCAL_OPERATOR_SESSION, HttpRoute
from fairtrack_tools.local.loopback import LoopbackServer, QuietHandler
from fairtrack_tools.local.runtime import FunctionError
from fairtrack_tools.local.template import ACCOUNT

TEXT_TYPES = (
    "text/",
    "application/json",
    "application/x-www-form-urlencoded",
    "application/xml",
    "application/javascript",
)


@dataclass(frozen=True)
class RawBody:
    """A ``/_dev/`` answer that is not JSON (a page): sent as is, with its own headers."""

    headers: dict[str, str]
    body: bytes


DevHandler = Callable[[str, dict[str, str]], tuple[int, Any]]
SIGV4 = "AWS4-HMAC-SHA256 "
NOT_RELAYED = ("content-length", "connection", "transfer-encoding")  # the server sets its own


def iam_identity(caller_arn: str) -> dict[str, Any]:
    """``requestContext.authorizer.iam`` as API Gateway fills it for a caller ARN (payload 2.0)."""
    account = caller_arn.split(":")[4] if caller_arn.count(":") >= 5 else ACCOUNT
    session = caller_arn.rsplit("/", 1)[-1]
    return {
        "accessKey": "ASIALOCALLOCALLOCAL0",
        "accountId": account,
        "callerId": f"AROALOCALLOCALLOCAL0:{session}",
        "cognitoIdentity": None,
        "principalOrgId": None,
        "userArn": caller_arn,
        "userId": f"AROALOCALLOCALLOCAL0:{session}",
    }


def _pattern(path: str) -> re.Pattern[str]:
    out = ""
    for part in path.strip("/").split("/"):
        if part.startswith("{") and part.endswith("+}"):
            out += f"/(?P<{part[1:-2]}>.+)"
        elif part.startswith("{") and part.endswith("}"):
            out += f"/(?P<{part[1:-1]}>[^/]+)"
        else:
            out += "/" + re.escape(part)
    return re.compile("^" + (out or "/") + "$")


def match_route(routes: list[HttpRoute], method: str, path: str) -> tuple[HttpRoute, dict[str, str]] | None:
    best: tuple[tuple[int, int, int], HttpRoute, dict[str, str]] | None = None
    for route in routes:
        if route.method not in (method, "ANY"):
            continue
        m = _pattern(route.path).match(path)
        if not m:
            continue
        literal = sum(1 for p in route.path.split("/") if p and not p.startswith("{"))
        greedy = 0 if "+}" in route.path else 1
        rank = (greedy, literal, 1 if route.method == method else 0)
        if best is None or rank > best[0]:
            best = (rank, route, m.groupdict())
    return (best[1], best[2]) if best else None


def build_event(
    route: HttpRoute,
    *,
    params: dict[str, str],
    method: str,
    raw_path: str,
    query: str,
    headers: dict[str, str],
    body: bytes,
    source_ip: str,
    host: str,
    iam_caller: str | None = None,
) -> dict[str, Any]:
    """The payload 2.0 event; ``iam_caller``: the caller ARN an ``AWS_IAM`` route authenticated."""
    ctype = headers.get("content-type", "").lower()
    encoded = bool(headers.get("content-encoding")) or (bool(body) and not ctype.startswith(TEXT_TYPES))
    if not encoded:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            encoded = True
    now = datetime.now(UTC)
    request_id = uuid.uuid4().hex[:16]
    query_params: dict[str, str] = {}
    for k, v in parse_qsl(query, keep_blank_values=True):
        query_params[k] = f"{query_params[k]},{v}" if k in query_params else v
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route.route_key,
        "rawPath": raw_path,
        "rawQueryString": query,
        "headers": {k: v for k, v in headers.items() if k != "cookie"},
        "requestContext": {
            "accountId": ACCOUNT,
            "apiId": "local",
            "domainName": host,
            "domainPrefix": host.split(".", maxsplit=1)[0],
            "http": {
                "method": method,
                "path": raw_path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": request_id,
            "routeKey": route.route_key,
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(time.time() * 1000),
        },
        "isBase64Encoded": encoded,
    }
    if iam_caller is not None:
        event["requestContext"]["authorizer"] = {"iam": iam_identity(iam_caller)}
    if "cookie" in headers:
        event["cookies"] = [c.strip() for c in headers["cookie"].split(";") if c.strip()]
    if query_params:
        event["queryStringParameters"] = query_params
    if params:
        event["pathParameters"] = params
    if body:
        event["body"] = base64.b64encode(body).decode() if encoded else text
    return event


class ApiServer(LoopbackServer):
    """The local HTTP API: routes to functions (API Gateway payload 2.0), ``/_dev/`` to ``dev``."""

    def __init__(
        self,
        routes: list[HttpRoute],
        invoke: Callable[[str, dict[str, Any]], Any],
        dev: DevHandler,
        host: str = "127.0.0.1",
        port: int = 3000,
        *,
        iam_caller: str = LOCAL_OPERATOR_SESSION,
    ) -> None:
        outer = self
        self.iam_caller = iam_caller  # who a SigV4-signed request to an AWS_IAM route is
        self.routes = routes
        self.invoke = invoke
        self.dev = dev

        class Handler(QuietHandler):
            server_version = "fairtrack-local"

            def _handle(self) -> None:
                parts = urlsplit(self.path)
                body = self.read_body()
                if parts.path.startswith("/_dev/"):
                    status, payload = outer.dev(self.command, {"path": parts.path, "query": parts.query})
                    if isinstance(payload, RawBody):
                        self._send(status, payload.headers, payload.body)
                    else:
                        self._send(status, {"content-type": "application/json"}, json.dumps(payload).encode())
                    return
                found = match_route(outer.routes, self.command, parts.path)
                if found is None:
                    self._send(404, {"content-type": "application/json"}, b'{"message":"Not Found"}')
                    return
                route, params = found
                headers: dict[str, str] = {}
                for k, v in self.headers.items():
                    headers[k.lower()] = f"{headers[k.lower()]},{v}" if k.lower() in headers else v
                if route.iam_auth and not headers.get("authorization", "").startswith(SIGV4):
                    self._send(403, {"content-type": "application/json"}, b'{"message":"Forbidden"}')
                    return
                event = build_event(
                    route,
                    params=params,
                    method=self.command,
                    raw_path=parts.path,
                    query=parts.query,
                    headers=headers,
                    body=body,
                    source_ip=self.client_address[0],
                    host=self.headers.get("Host", "127.0.0.1"),
                    iam_caller=outer.iam_caller if route.iam_auth else None,
                )
                try:
                    result = outer.invoke(route.function, event)
                except FunctionError:
                    self._send(500, {"content-type": "application/json"}, b'{"message":"Internal Server Error"}')
                    return
                self._send_result(result)

            def _send_result(self, result: Any) -> None:
                if not isinstance(result, dict) or "statusCode" not in result:
                    result = {
                        "statusCode": 200,
                        "body": json.dumps(result),
                        "headers": {"content-type": "application/json"},
                    }
                raw = result.get("body") or ""
                data = base64.b64decode(raw) if result.get("isBase64Encoded") else str(raw).encode()
                headers = {k.lower(): str(v) for k, v in (result.get("headers") or {}).items()}
                for k, values in (result.get("multiValueHeaders") or {}).items():
                    headers[k.lower()] = ", ".join(map(str, values))
                self._send(int(result["statusCode"]), headers, data, result.get("cookies") or [])

            def _send(
                self, status: int, headers: dict[str, str], data: bytes, cookies: list[str] | None = None
            ) -> None:
                sent = [(k, v) for k, v in headers.items() if k not in NOT_RELAYED]
                self.answer(status, data, None, [*sent, *(("Set-Cookie", c) for c in cookies or [])])

            do_GET = do_POST = do_PUT = do_DELETE = do_OPTIONS = do_PATCH = do_HEAD = _handle

        super().__init__(Handler, name="api", host=host, port=port, poll_interval=0.2)
