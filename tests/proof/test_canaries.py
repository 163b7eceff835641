"""Privacy canaries: planted personal data is found in clear nowhere, and every field a destination
received is traceable to a catalogued attribute and a purpose the hit's consent granted.

Hits carry e-mails, phone numbers, IP addresses, raw ids, names and ids in URL paths, distinct
per hit and per placement, under random consent states (Segment and gtag); the stack trusts
X-Forwarded-For here, so the planted addresses are the clients'. Then every queue message, DLQ,
captured request, lake and decision-log object, failed-events object, DynamoDB item, log and
metric line and API answer is searched. Placements that once leaked (utm values copied into the
campaign, page titles, a hit's own raw ids echoed in its URL) are tested on their own
(``KNOWN_LEAKS``).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from urllib.parse import quote

import pytest

from fairtrack_tools.proofs.canaries import KNOWN_LEAKS, CanaryWorkload
from fairtrack_tools.proofs.canary_report import FILLED_SURFACES, CanaryReport
from fairtrack_tools.proofs.catalogue import Catalogue, Trace
from fairtrack_tools.proofs.traffic import NECESSARY

pytestmark = pytest.mark.timeout(300)

# every surface a run must have searched, and found something on: the spec, kept apart from the
# tools' own list (FILLED_SURFACES, which the closed-world proof holds its runs to)
SURFACES = tuple(json.loads(Path(__file__).with_name("canary_surfaces.json").read_text()))


# -- the instruments themselves (no stack) ------------------------------------------------------


def test_the_tools_expect_data_on_every_surface_of_the_spec() -> None:
    assert sorted(FILLED_SURFACES) == sorted(SURFACES)


def test_the_search_finds_a_canary_in_every_clear_form_and_none_hashed_or_reduced() -> None:
    work = CanaryWorkload(3, seed=5)
    email = work.email("test", 0)
    phone = work.phone("test", 0, "+49 1575 {}")
    ipv4 = work.ipv4("ip", "test", 0)
    ipv6 = work.ipv6("ip", "test", 0)
    path_id = work.uuid("test", 0)
    national = phone.replace(" ", "").removeprefix("+49")
    clear = [
        json.dumps({"a": email}),
        "https://x.example/?u=" + quote(email),
        "https://x.example/?u=" + quote(quote(email)),
        f"call {phone.replace(' ', '-')}",
        f'{{"ph": "49{national}"}}',
        f"0{national}",
        f"from {ipv4}:443",
        f"[{ipv6}]",
        f"/o/{path_id.upper()}/x",
    ]
    for text in clear:
        assert list(work.find(text)), text
    hashed_or_reduced = [
        hashlib.sha256(email.encode()).hexdigest(),
        ipv4.rsplit(".", 1)[0] + ".0",
        ":".join(ipv6.split(":")[:3]) + "::",
        "p-" + hashlib.sha256(email.encode()).hexdigest()[:32],
        f"1{national}0",
    ]
    for text in hashed_or_reduced:
        assert not list(work.find(text)), text


def test_the_tracer_flags_fields_outside_the_policy() -> None:
    trace = Trace(Catalogue())
    analytics = frozenset({NECESSARY, "analytics"})
    necessary = frozenset({NECESSARY})
    trace.canonical("webhook", {"type": "track", "context": {"userAgent": "UA"}}, analytics, "a")
    trace.canonical("lake", {"type": "track", "anonymousId": "p-1"}, necessary, "b")
    trace.canonical("webhook", {"type": "track", "email": "x"}, analytics, "c")
    trace.ga4({"client_id": "p-1", "user_data": {"sha256_email_address": ["0" * 64]}, "events": []}, [(analytics, "d")])
    trace.meta({"event_name": "Purchase", "user_data": {"fbp": "fb.1.1.1", "anon_id": "x"}}, analytics, "e")
    trace.canonical("ga4", {"type": "page"}, necessary, "f")
    problems = {(d, wire, problem) for d, wire, problem in trace.problems}
    assert ("webhook", "context.userAgent", "not_allowed_for_destination") in problems
    assert ("lake", "anonymousId", "purpose_not_granted (analytics)") in problems
    assert ("webhook", "email", "not_catalogued") in problems
    assert ("ga4", "user_data.sha256_email_address", "purpose_not_granted (advertising)") in problems
    assert ("meta", "data[].user_data.anon_id", "not_catalogued") in problems
    assert ("meta", "data[].user_data.fbp", "purpose_not_granted (advertising)") in problems
    assert ("meta", "(event)", "destination requires advertising") in problems
    assert ("ga4", "(event)", "destination requires analytics") in problems
    assert ("meta", "data[].event_name", "purpose_not_granted (analytics)") not in problems  # analytics granted


# -- the run -------------------------------------------------------------------------------------


def _leaks(report: CanaryReport, placements: tuple[str, ...]) -> list[str]:
    return [
        f"{leak.planted.category} planted in {leak.planted.placement}: {leak.value!r} in {leak.surface}"
        for leak in report.leaks
        if leak.planted.placement in placements
    ]


def test_every_surface_was_searched(canary_report: CanaryReport) -> None:
    for surface in SURFACES:
        items, size = canary_report.surfaces[surface]
        assert items > 0 and size > 0, surface
    assert "failed-events store objects" in canary_report.surfaces
    assert "DLQ messages" in canary_report.surfaces


def test_no_canary_in_clear_anywhere(canary_report: CanaryReport) -> None:
    known = tuple(p for placements in KNOWN_LEAKS.values() for p in placements)
    found = canary_report.leaks_outside(known)
    assert not found, "\n".join(
        f"{x.planted.category} planted in {x.planted.placement}: {x.value!r} in {x.surface}: {x.where}"
        for x in found[:20]
    )


def test_every_forwarded_field_is_traceable_to_a_granted_purpose(canary_report: CanaryReport) -> None:
    trace = canary_report.trace
    assert not trace.problems, "\n".join(
        f"{d} {wire}: {problem} x{n} (e.g. {trace.examples[(d, wire, problem)]})"
        for (d, wire, problem), n in trace.problems.most_common(20)
    )
    failing = [c for c in canary_report.checks if not c.ok]
    assert not failing, "\n".join(f"{c.name}: {c.detail}" for c in failing)


def test_utm_values_copied_into_the_campaign_are_cleaned(canary_report: CanaryReport) -> None:
    assert _leaks(canary_report, KNOWN_LEAKS["campaign"]) == []


def test_page_titles_are_scanned_for_personal_data(canary_report: CanaryReport) -> None:
    assert _leaks(canary_report, KNOWN_LEAKS["page_title"]) == []


def test_a_hits_own_raw_ids_are_not_echoed_in_clear(canary_report: CanaryReport) -> None:
    assert _leaks(canary_report, KNOWN_LEAKS["echoed_id"]) == []
