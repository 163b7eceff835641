"""Closed-world privacy canaries (issue 17): personal data planted in every place the models and
adapters accept, found nowhere.

The places are derived from the code (``fairtrack_tools.proofs.closed_world.places``), so a field or
parameter added later is planted without editing this test. The long form is
``python -m fairtrack_tools.proofs.closed_world --hits 5000``; ``PROOF_CLOSED_WORLD_HITS`` changes the
size here.
"""

from __future__ import annotations

import base64
import json
from urllib.parse import quote

import pytest

from fairtrack.protocols.segment import SegmentEvent
from fairtrack_tools.proofs import closed_world as cw
from fairtrack_tools.proofs.closed_world import places

# -- the instruments (no stack) -----------------------------------------------------------------


def test_the_search_finds_each_kind_in_every_encoded_form() -> None:
    reg = cw.Registry(3)
    for kind in cw.KINDS:
        value = cw.make_value(reg, kind, f"test {kind}", 0).text
        forms = {
            "json": json.dumps({"a": value}),
            "json ascii": json.dumps({"a": value}, ensure_ascii=True),
            "percent once": "https://x.example/?q=" + quote(value, safe=""),
            "percent three times": "?q=" + quote(quote(quote(value, safe=""), safe=""), safe=""),
            "query plus": "q=" + quote(value, safe="").replace("%20", "+"),
            "inside base64": base64.b64encode(("note: " + value).encode()).decode(),
            "as a key": json.dumps({value: 1}),
        }
        for name, text in forms.items():
            found = [f.plant for f in cw.search(reg, text)]
            assert any(p.place == f"test {kind}" and p.kind == kind for p in found), (kind, name, text)


def test_the_search_finds_decoded_forms_and_embedded_addresses() -> None:
    reg = cw.Registry(4)
    email = cw.make_value(reg, "email", "e", 0).text
    marker = email.split("@")[0]
    v4 = reg.ipv4("ipv4", "v4", 0)
    sixtofour = reg.embedded_v6("ipv6_6to4", "6to4", 0)
    teredo = reg.embedded_v6("ipv6_teredo", "teredo", 0)
    jwt = cw.jwt(email)
    texts = {
        "html entity": email.replace("@", "&#64;"),
        "full-width": email.replace("@", "\uff20"),
        "jwt": f"Bearer {jwt}",
        "base64 without padding": cw.b64(email, url=True, pad=False),
        "url path segment": f"/u/{v4}/x",
        "6to4 cut to /48": ":".join(sixtofour.split(":")[:3]) + "::",
        "teredo": teredo,
        "percent-encoded each char": "".join(f"%{ord(c):02X}" for c in marker),
    }
    for name, text in texts.items():
        assert cw.search(reg, text), name


def test_the_search_stays_quiet_on_hashed_and_reduced_forms() -> None:
    import hashlib

    reg = cw.Registry(5)
    email = cw.make_value(reg, "email", "e", 0).text
    v4 = reg.ipv4("ipv4", "v4", 0)
    reduced = ".".join(v4.split(".")[:3]) + ".0"
    assert cw.search(reg, hashlib.sha256(email.encode()).hexdigest() + " " + reduced) == []


def test_places_are_derived_from_the_model_not_listed() -> None:
    from pydantic import ConfigDict

    class Grown(SegmentEvent):
        model_config = ConfigDict(extra="ignore")
        loyaltyCard: str | None = None
        shipping: dict[str, str] = {}

    derived = {p.name for p in places.segment_places(Grown)}
    assert "segment loyaltyCard" in derived
    assert {f"segment shipping.{t}" for t in places.OPEN_TOKENS} <= derived
    assert "segment loyaltyCard" not in {p.name for p in places.segment_places()}


def test_gtag_parameters_are_found_by_running_the_adapter() -> None:
    def adapter(params: dict[str, str]) -> object:  # an adapter that grew a parameter and a family
        out = places._gtag_run(params)
        if isinstance(out, dict):
            out["extra"] = {
                "new": params.get("zz_new"),
                **{k: v for k, v in params.items() if k.partition(".")[0] == "xp"},
            }
        return out

    found = {p.name for p in places.gtag_places(adapter)}
    assert {"gtag zz_new", "gtag xp.<name>", "gtag xp.<personal key>"} <= found
    assert {"gtag cid", "gtag dl", "gtag ep.<name>", "gtag up.<name>", "gtag pr1~nm"} <= found


def test_the_consent_states_cover_every_subset_through_every_family() -> None:
    states = cw.consent_states()
    labels = {s.label for s in states}
    policy = places.default_policy()
    purposes = [p for p in policy.purposes if p != "necessary"]
    assert len([s for s in states if s.intended is not None and s.family != "none"]) == 4 * 2 ** len(purposes)
    assert "no signal" in labels
    assert sum(1 for s in states if s.intended is None) >= 4


# -- the run (one stack) ------------------------------------------------------------------------


@pytest.mark.timeout(300)
def test_coverage_is_complete_and_large(closed_world_report: cw.Report) -> None:
    assert len(closed_world_report.places) >= 100
    assert closed_world_report.coverage == 1.0, sorted(
        {p.name for p in closed_world_report.places} - closed_world_report.planted_places
    )


def test_at_least_15_kinds_planted(closed_world_report: cw.Report) -> None:
    assert len(closed_world_report.plants_sent) >= 15


def test_the_run_checks_hold(closed_world_report: cw.Report) -> None:
    failed = [f"{c.name}: {c.detail}" for c in closed_world_report.checks if not c.ok]
    assert not failed


def test_no_planted_value_leaks_anywhere(closed_world_report: cw.Report) -> None:
    rows = closed_world_report.leak_rows()
    summary = "\n".join(f"{k} / {p} / {s}: {n}" for k, p, s, n, _ in rows[:40])
    assert not closed_world_report.leaks, f"{len(closed_world_report.leaks)} leaks, e.g.:\n{summary}"
