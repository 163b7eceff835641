"""Property-based tests of the gtag adapter end to end through ``Ingestor.gtag``.

For any request (query strings and bodies built from real parameter names with arbitrary values,
arbitrary bytes, percent-encoded garbage, huge values, any method and headers), the answer is an
accepted result or a :class:`~fairtrack.errors.ClientError` with a 4xx status: never another
exception (a 500). Refusals never echo a submitted value, and accepted + rejected == lines sent.
"""

from __future__ import annotations

import base64
import json
import logging
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root, for `bench`

from bench.fakes import DiscardingSender, MemoryPolicyStore, all_destinations_settings, memory_ingestor
from fairtrack.envelope import Envelope
from fairtrack.errors import ClientError
from fairtrack.ingest import IngestRequest, IngestResult
from fairtrack.observability import logger

TID = "G-PROP1"
CANARY = "zzcanaryzz"
STORE = MemoryPolicyStore("prop-gtag-key", "prop-gtag", measurement_ids=(TID,))
SENDER = DiscardingSender()
INGESTOR = memory_ingestor(all_destinations_settings(), STORE, SENDER)
PROPERTY = settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

KNOWN = [
    "v", "tid", "cid", "uid", "sid", "sct", "seg", "_p", "_s", "_et", "_fv", "_ss", "_uip", "en", "dl", "dr",
    "dt", "ul", "sr", "cu", "cn", "cs", "cm", "ck", "cc", "ci", "gcs", "gcd", "npa", "dma", "dma_cps",
    "gdpr", "gdpr_consent", "us_privacy", "uaa", "uab", "uafvl", "uamb", "uam", "uap", "uapv", "uaw",
    "ep.method", "epn.value", "up.plan", "upn.ltv", "pr1", "pr2", "pr10",
]  # fmt: skip
values = st.one_of(
    st.text(max_size=30),
    st.just(CANARY),
    st.sampled_from(["page_view", "2", "1", "0", "G111", "13r3r3r3r5", "1920x1080", "NaN", "1e400", "-0"]),
    st.builds(lambda n: "x" * n, st.integers(min_value=8000, max_value=9000)),
    st.text(alphabet="~|;idnmprqtk0v", max_size=40),  # item and client-hint syntax
)
param_sets = st.dictionaries(st.one_of(st.sampled_from(KNOWN), st.text(max_size=12)), values, max_size=25)


@pytest.fixture(autouse=True, scope="module")
def _quiet() -> Iterator[None]:
    std = logging.getLogger(logger.name)
    previous = std.level
    std.setLevel(logging.WARNING)
    yield
    std.setLevel(previous)


def request(method: str, query: str, body: str | None, headers: dict[str, str], b64: bool = False) -> IngestRequest:
    return IngestRequest(
        body=body,
        is_base64=b64,
        headers=headers,
        query={},
        source_ip="2001:db8::1",
        received_at=datetime(2026, 11, 24, 10, 0, tzinfo=UTC),
        request_id="prop-gtag",
        method=method,
        raw_query=query,
    )


def run(req: IngestRequest) -> IngestResult | ClientError:
    SENDER.reset_counts()
    try:
        result = INGESTOR.gtag(req)
    except ClientError as exc:
        assert 400 <= exc.status < 500, exc.body()
        assert SENDER.messages == 0
        assert CANARY not in json.dumps(exc.body())
        return exc
    for _url, body in SENDER.last:
        Envelope.model_validate_json(body)  # every queued message is a valid envelope
    assert CANARY not in json.dumps(result.rejected)
    return result


@PROPERTY
@given(shared=param_sets, lines=st.lists(param_sets, max_size=6), method=st.sampled_from(["GET", "POST"]))
def test_any_parameters_give_hits_or_a_4xx(shared: dict[str, str], lines: list[dict[str, str]], method: str) -> None:
    shared = {"tid": TID, **shared} if "tid" not in shared else shared
    body = "\n".join(urlencode(line) for line in lines) if method == "POST" else None
    outcome = run(request(method, urlencode(shared), body, {"user-agent": CANARY}))
    if isinstance(outcome, IngestResult) and method == "POST" and lines:
        nonblank = [line for line in lines if urlencode(line).strip()]
        assert outcome.accepted + len(outcome.rejected) == len(nonblank)


@PROPERTY
@given(raw=st.binary(max_size=300), query=st.text(max_size=80), b64=st.booleans())
def test_arbitrary_bytes_never_crash(raw: bytes, query: str, b64: bool) -> None:
    body = base64.b64encode(raw).decode() if b64 else raw.decode("latin-1")
    run(request("POST", f"tid={TID}&" + quote(query, safe="=&%"), body, {}, b64))


@PROPERTY
@given(
    garbage=st.text(alphabet="%0123456789abcdefABCDEF=&+.;~|\n\r", max_size=120),
    encoding=st.sampled_from(["", "gzip", "br", "deflate", "identity", "GZIP"]),
)
def test_percent_garbage_and_encodings(garbage: str, encoding: str) -> None:
    headers = {"content-encoding": encoding} if encoding else {}
    outcome = run(request("POST", f"v=2&tid={TID}&en=page_view", garbage, headers))
    if encoding in ("br", "deflate"):
        assert isinstance(outcome, ClientError) and outcome.status == 415


@settings(PROPERTY, max_examples=30)
@given(count=st.integers(min_value=2490, max_value=2510))
def test_line_count_limit(count: int) -> None:
    body = "\n".join(f"en=scroll&_s={i}" for i in range(count))
    outcome = run(request("POST", f"v=2&tid={TID}&gcs=G111", body, {}))
    if count > 2500:
        assert isinstance(outcome, ClientError) and outcome.status == 413
    else:
        assert isinstance(outcome, IngestResult) and outcome.accepted == count
