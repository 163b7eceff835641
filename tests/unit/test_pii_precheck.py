"""Ingest skips the PII scan of properties when a quick search finds nothing that could be personal
data: that search must catch everything the scan would (a superset), or data would leak."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic_core import to_json

from fairtrack import pii
from fairtrack.ingest import _MAYBE_PII

planted = st.one_of(
    st.emails(),
    st.from_regex(r"\+[1-9][0-9]{1,2} [0-9]{3} [0-9]{7}", fullmatch=True),
    st.ip_addresses().map(str),
    st.sampled_from(["4111 1111 1111 1111", "GB82WEST12345698765432", "jane%2540example.com", "030 1234567"]),
)


@settings(max_examples=300, deadline=None)
@given(value=st.one_of(planted, st.text(max_size=60)), prefix=st.text(max_size=10))
def test_precheck_is_a_superset_of_the_scan(value: str, prefix: str) -> None:
    props = {"note": prefix + value}
    _, findings = pii.scan(props, "redact", path="properties")
    if findings:
        assert _MAYBE_PII.search(to_json(props)), props
