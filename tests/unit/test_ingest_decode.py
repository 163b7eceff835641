"""Request decoding at ingest: body transport, JSON and the write key (fairtrack/api/body.py)."""

from __future__ import annotations

import base64
import gzip
import json
import zlib
from datetime import UTC, datetime
from functools import partial
from typing import Any

import pytest
from unit_ingest import ingest_request

from fairtrack.api import body as request_body
from fairtrack.api.body import MAX_REQUEST_BYTES, decode_body, parse_json, write_key_of
from fairtrack.errors import ClientError

EVENT = {"type": "track", "event": "Viewed", "anonymousId": "a-1"}
EVENT_BYTES = json.dumps(EVENT).encode()


# a request as API Gateway hands it over (the time is any fixed one)
request = partial(ingest_request, received_at=datetime(2024, 5, 1, 12, 0, tzinfo=UTC))


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def basic(userpass: str) -> dict[str, str]:
    return {"authorization": "Basic " + b64(userpass.encode())}


def client_error(call: Any, *args: Any) -> ClientError:
    with pytest.raises(ClientError) as info:
        call(*args)
    return info.value


# -- decode_body ----------------------------------------------------------------------------------


def test_plain_text_body_is_utf8_bytes() -> None:
    """Given a text/plain JSON body (sendBeacon) with non-ASCII text, then it decodes to its UTF-8 bytes."""
    text = json.dumps({**EVENT, "properties": {"city": "Zürich"}}, ensure_ascii=False)

    assert decode_body(request(text)) == text.encode("utf-8")


def test_base64_body_is_decoded() -> None:
    """Given API Gateway's base64 flag, then the body is base64-decoded."""
    assert decode_body(request(b64(EVENT_BYTES), is_base64=True)) == EVENT_BYTES


def test_gzip_base64_body_is_inflated() -> None:
    """Given a gzip body (base64 over the API), then it is inflated back to the JSON."""
    body = request(b64(gzip.compress(EVENT_BYTES)), is_base64=True, headers={"content-encoding": "gzip"})

    assert decode_body(body) == EVENT_BYTES


def test_content_encoding_is_case_insensitive() -> None:
    """Given ``Content-Encoding: GZIP``, then the body is still inflated."""
    body = request(b64(gzip.compress(EVENT_BYTES)), is_base64=True, headers={"content-encoding": "GZIP"})

    assert decode_body(body) == EVENT_BYTES


def test_invalid_gzip_is_400() -> None:
    """Given a body that claims gzip but is not, then the request is refused with 400."""
    body = request(b64(EVENT_BYTES), is_base64=True, headers={"content-encoding": "gzip"})

    err = client_error(decode_body, body)

    assert err.status == 400
    assert err.code == "invalid_body"


def test_truncated_gzip_is_400() -> None:
    """Given a gzip stream cut before its end, then the request is refused as invalid gzip."""
    data = gzip.compress(json.dumps({**EVENT, "padding": " " * 2000}).encode())
    body = request(b64(data[: len(data) // 2]), is_base64=True, headers={"content-encoding": "gzip"})

    err = client_error(decode_body, body)

    assert (err.status, err.code) == (400, "invalid_body")


class _CountingZlib:
    """Stands in for the zlib module inside ingest and counts how many bytes are inflated."""

    error = zlib.error

    def __init__(self) -> None:
        self.inflated = 0

    def decompressobj(self, *args: Any, **kwargs: Any) -> Any:
        inner = zlib.decompressobj(*args, **kwargs)
        outer = self

        class Counting:
            def decompress(self, data: bytes, max_length: int = 0) -> bytes:
                out = inner.decompress(data, max_length)
                outer.inflated += len(out)
                return out

            def __getattr__(self, name: str) -> Any:
                return getattr(inner, name)

        return Counting()


def test_gzip_bomb_is_413_without_inflating_it_all(monkeypatch: pytest.MonkeyPatch) -> None:
    """Given 10 MB of zeros gzipped to a few KB, then it is refused with 413 after inflating at most the limit."""
    bomb = gzip.compress(b"\0" * (10 * 1024 * 1024), compresslevel=9)
    assert len(bomb) < MAX_REQUEST_BYTES  # small on the wire: the size check before inflating cannot catch it
    counting = _CountingZlib()
    monkeypatch.setattr(request_body, "zlib", counting)

    err = client_error(decode_body, request(b64(bomb), is_base64=True, headers={"content-encoding": "gzip"}))

    assert err.status == 413
    assert err.code == "too_large"
    assert 0 < counting.inflated <= MAX_REQUEST_BYTES + 1


def test_gzip_just_under_the_limit_is_accepted() -> None:
    """Given a gzip body that inflates to exactly the limit, then it is accepted whole."""
    payload = b"[" + b" " * (MAX_REQUEST_BYTES - 2) + b"]"

    out = decode_body(request(b64(gzip.compress(payload)), is_base64=True, headers={"content-encoding": "gzip"}))

    assert out == payload


def test_oversize_plain_body_is_413() -> None:
    """Given a plain body one byte over 500 KB, then it is refused with 413."""
    err = client_error(decode_body, request("x" * (MAX_REQUEST_BYTES + 1)))

    assert (err.status, err.code) == (413, "too_large")


def test_body_at_the_limit_is_accepted() -> None:
    """Given a plain body of exactly 500 KB, then it passes the size check."""
    assert len(decode_body(request("x" * MAX_REQUEST_BYTES))) == MAX_REQUEST_BYTES


def test_oversize_limit_counts_bytes_not_characters() -> None:
    """Given 200 K three-byte characters (600 KB of UTF-8), then the body is too large."""
    assert client_error(decode_body, request("€" * 200_000)).status == 413


def test_oversize_base64_body_is_413() -> None:
    """Given a base64 body that decodes to more than 500 KB, then it is refused with 413."""
    err = client_error(decode_body, request(b64(b"x" * (MAX_REQUEST_BYTES + 10)), is_base64=True))

    assert err.status == 413


def test_invalid_base64_is_400() -> None:
    """Given a body flagged base64 whose padding is wrong, then it is refused with 400."""
    assert client_error(decode_body, request("abc", is_base64=True)).status == 400


@pytest.mark.parametrize("body", [None, "", "   ", "\n\t"])
def test_empty_body_is_400(body: str | None) -> None:
    """Given no body (or only whitespace), then parsing refuses it with 400 and a path."""
    err = client_error(parse_json, decode_body(request(body)))

    assert (err.status, err.code) == (400, "invalid_json")
    assert [e.path for e in err.errors] == ["body"]


# -- parse_json -----------------------------------------------------------------------------------


def test_valid_json_is_parsed() -> None:
    """Given JSON bytes, then the object comes back."""
    assert parse_json(EVENT_BYTES) == EVENT


@pytest.mark.parametrize(
    "raw",
    [b"{", b'{"a":}', b"not json", b'{"email": jane.doe@example.com}', b"\xff\xfe\x00garbage", b"[" * 100_000],
    ids=["unclosed", "missing_value", "text", "bare_email", "bad_encoding", "too_deep"],
)
def test_invalid_json_is_400_with_path_body(raw: bytes) -> None:
    """Given bytes that are not JSON (or nest so deep the parser gives up), then 400 with path ``body``."""
    err = client_error(parse_json, raw)

    assert (err.status, err.code) == (400, "invalid_json")
    assert [e.path for e in err.errors] == ["body"]
    assert "jane" not in json.dumps(err.body())  # the submitted text is never echoed


# -- write_key_of ---------------------------------------------------------------------------------


def test_write_key_from_basic_auth_username() -> None:
    """Given ``Authorization: Basic base64(key:)`` (Segment SDKs), then the key is the username."""
    assert write_key_of(request(headers=basic("wk_basic:")), EVENT) == "wk_basic"


def test_write_key_from_basic_auth_without_colon() -> None:
    """Given a Basic credential with no colon at all, then the whole value is the key."""
    assert write_key_of(request(headers=basic("wk_basic")), EVENT) == "wk_basic"


def test_basic_scheme_is_case_insensitive() -> None:
    """Given ``authorization: basic ...`` in lower case, then the key is read."""
    headers = {"authorization": "basic " + b64(b"wk_lower:")}

    assert write_key_of(request(headers=headers), EVENT) == "wk_lower"


def test_write_key_from_body() -> None:
    """Given no Authorization header, then ``writeKey`` in the body is used."""
    assert write_key_of(request(), {**EVENT, "writeKey": "wk_body"}) == "wk_body"


def test_write_key_from_query() -> None:
    """Given neither header nor body key, then ``?writeKey=`` is used."""
    assert write_key_of(request(query={"writeKey": "wk_query"}), EVENT) == "wk_query"


def test_basic_auth_wins_over_body_and_query() -> None:
    """Given a key in all three places, then Basic auth wins."""
    req = request(headers=basic("wk_basic:"), query={"writeKey": "wk_query"})

    assert write_key_of(req, {**EVENT, "writeKey": "wk_body"}) == "wk_basic"


@pytest.mark.parametrize(
    "authorization",
    ["Basic !!!not-base64!!!", "Basic " + b64(b"\xff\xfe:"), "Basic " + b64(b":password-only"), "Basic ", "Bearer abc"],
    ids=["not_base64", "not_utf8", "empty_username", "empty", "other_scheme"],
)
def test_malformed_basic_header_falls_back_to_body(authorization: str) -> None:
    """Given an unusable Authorization header, then the body's writeKey is used instead (no exception)."""
    req = request(headers={"authorization": authorization})

    assert write_key_of(req, {**EVENT, "writeKey": "wk_body"}) == "wk_body"


@pytest.mark.parametrize("body", [None, [EVENT], {"writeKey": ""}, {"writeKey": 123}, {"writeKey": None}])
def test_no_usable_key_gives_none(body: Any) -> None:
    """Given no header, a body without a string key and no query key, then there is no key."""
    assert write_key_of(request(), body) is None
    assert write_key_of(request(query={"writeKey": ""}), body) is None
