"""Ingest skips the PII scan of properties when a quick search finds nothing that could be personal
data: that search must catch everything the scan would (a superset), or data would leak."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic_core import to_json

from fairtrack.anonymise import pii
from fairtrack.anonymise.stage import _MAYBE_PII, _may_hold_pii

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


def _spelled(name: str, style: int) -> str:
    """A known field name as sites spell it: camelCase, snake_case, kebab-case, upper case."""
    if style == 0:
        return name
    words = [w for w in name.replace("-", "_").split("_") if w]
    if style == 1:
        return "_".join(w.lower() for w in words)
    if style == 2:
        return "-".join(w.lower() for w in words)
    return name.upper()


@settings(max_examples=400, deadline=None)
@given(
    name=st.sampled_from(sorted(pii.KNOWN_PII_FIELDS)),
    style=st.integers(0, 3),
    prefix=st.sampled_from(["", "billing", "customer_", "shipping-"]),
    value=st.one_of(st.text(min_size=1, max_size=20), st.integers(), st.booleans()),
    nested=st.booleans(),
)
def test_precheck_catches_every_field_named_as_personal(
    name: str, style: int, prefix: str, value: object, nested: bool
) -> None:
    key = prefix + _spelled(name, style)
    props: dict[str, object] = {"order": {key: value}} if nested else {key: value}
    _, findings = pii.scan(props, "redact", path="properties", by_name=pii.is_personal_property)
    if findings:
        assert _may_hold_pii(props), props
