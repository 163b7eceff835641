"""A request's body as ingest reads it: decoded (base64, gzip within bounds), parsed as JSON, and the
write key that names its source.

Everything here refuses with a :class:`~fairtrack.errors.ClientError` that never echoes what was
sent: a body over :data:`MAX_REQUEST_BYTES` (before or after inflating), a gzip bomb, an encoding
other than gzip, a body that is not JSON.
"""

from __future__ import annotations

import base64
import binascii
import re
import zlib
from typing import TYPE_CHECKING, Any

from pydantic_core import from_json

from fairtrack.errors import ClientError, FieldError

if TYPE_CHECKING:
    from fairtrack.ingest import IngestRequest

__all__ = ["MAX_REQUEST_BYTES", "decode_body", "parse_json", "write_key_of"]

MAX_REQUEST_BYTES = 500 * 1024
SUPPORTED_ENCODINGS = ("", "identity", "gzip")


def decode_body(request: IngestRequest) -> bytes:
    encoding = request.headers.get("content-encoding", "").strip().lower()
    if encoding not in SUPPORTED_ENCODINGS:
        raise ClientError(415, "unsupported_encoding", "Content-Encoding must be gzip or absent")
    raw_text = request.body or ""
    if request.is_base64:
        try:
            raw = base64.b64decode(raw_text, validate=False)
        except (binascii.Error, ValueError):
            raise ClientError(400, "invalid_body", "body is not valid base64") from None
    else:
        raw = raw_text.encode("utf-8", "surrogatepass")
    if len(raw) > MAX_REQUEST_BYTES and encoding != "gzip":
        raise ClientError(413, "too_large", f"request body larger than {MAX_REQUEST_BYTES // 1024} KB")
    if encoding == "gzip":
        raw = gunzip_bounded(raw, MAX_REQUEST_BYTES)
    return raw


def gunzip_bounded(data: bytes, limit: int) -> bytes:
    """Inflate a gzip body (every member, checked to its end) without ever holding more than ``limit``."""
    out = bytearray()
    while data:
        inflater = zlib.decompressobj(wbits=31)
        try:
            out += inflater.decompress(data, limit + 1 - len(out))
        except zlib.error:
            raise ClientError(400, "invalid_body", "body is not valid gzip") from None
        if len(out) > limit or inflater.unconsumed_tail:
            raise ClientError(413, "too_large", f"request body larger than {limit // 1024} KB")
        if not inflater.eof:
            raise ClientError(400, "invalid_body", "gzip body is truncated")
        data = inflater.unused_data
    return bytes(out)


# A backslash escape inside a JSON string: an escaped character (``\\``, ``\"``...), a surrogate
# pair, or a lone surrogate (group 1: a high one, its low half missing; group 2: a lone low one).
# Matching every escape from the left keeps the parity of backslashes (``\\ud83d`` is no escape).
_ESCAPES = re.compile(
    rb"\\(?:u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}"
    rb"|(u[dD][89abAB][0-9a-fA-F]{2})|(u[dD][c-fC-F][0-9a-fA-F]{2})|.)",
    re.DOTALL,
)


def _replacement(match: re.Match[bytes]) -> bytes:
    return b"\\ufffd" if match.lastindex else match[0]


def parse_json(raw: bytes) -> Any:
    if not raw.strip():
        raise ClientError(400, "invalid_json", "body is empty", [FieldError("body", "a JSON object is required")])
    try:
        # pydantic-core's parser (Rust): ~1.6x faster than json.loads. NaN/Infinity, which Python
        # clients write, are read like json.loads does; they leave as null (pydantic's JSON
        # serialisation).
        return from_json(raw)
    except (ValueError, RecursionError):
        pass
    # It refuses an unpaired surrogate escape ("\ud83d": half an emoji, cut by a client that
    # truncates UTF-16), which JSON's grammar allows and Python, JS and Go parsers read. Only a
    # body it refused is searched for them: each becomes U+FFFD, as a decoder replaces what is not
    # text, and the body is read again; any other fault is still invalid JSON.
    if b"\\" in raw:
        lenient = _ESCAPES.sub(_replacement, raw)
        if lenient != raw:
            try:
                return from_json(lenient)
            except (ValueError, RecursionError):
                pass
    raise ClientError(400, "invalid_json", "body is not valid JSON", [FieldError("body", "not valid JSON")])


def write_key_of(request: IngestRequest, body: Any) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth[:6].lower() == "basic ":
        try:
            user = base64.b64decode(auth[6:].strip(), validate=True).decode("utf-8").split(":", 1)[0]
        except (binascii.Error, ValueError):
            user = ""
        if user:
            return user
    if isinstance(body, dict) and isinstance(body.get("writeKey"), str) and body["writeKey"]:
        key: str = body["writeKey"]
        return key
    return request.query.get("writeKey") or None
