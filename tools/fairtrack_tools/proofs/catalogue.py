"""Every field a destination received, traced to the policy's catalogue and the consent of its hit."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fairtrack_tools.ops import policy_ops
from fairtrack_tools.proofs.report import text_table
from fairtrack_tools.proofs.traffic import NECESSARY, POLICY_FILE

# Pseudo-attributes: fields that carry no data of the hit (traced to `necessary`).
DERIVED = "@derived"  # a constant or a default the mapper sets (action_source, engagement_time_msec 1)
CONSENT_STATE = "@consent"  # the consent the hit granted, as the destination's own fields
ENVELOPE = "@envelope"  # the gateway's delivery metadata (source id, policy version, sent at)
POLICY_RULE = "@policy"  # data_processing_options from the policy's limited_data_use

# GA4 Measurement Protocol fields -> the catalogue attributes they are made from (any of)
# (ga4_mapping.py). Parameters not listed here are properties (`properties`).
GA4_FIELDS: dict[str, tuple[str, ...]] = {
    "client_id": ("anonymousId",),
    "user_id": ("userId",),
    "consent": (CONSENT_STATE,),
    "user_properties": ("context.traits",),
    "user_data": ("userData.ga4",),
    "events[].name": ("type", "event"),  # page_view/screen_view: type; any other name: event
    "events[].timestamp_micros": ("timestamp", "receivedAt"),
    "events[].params.page_location": ("context.page.url",),
    "events[].params.page_referrer": ("context.page.referrer",),
    "events[].params.page_title": ("context.page.title", "properties"),
    "events[].params.page_path": ("context.page.path", "properties"),
    "events[].params.screen_name": ("name",),
    "events[].params.group_id": ("groupId",),
    "events[].params.session_id": ("context.session",),
    "events[].params.engagement_time_msec": ("context.session", DERIVED),
    "events[].params.campaign": ("context.campaign",),
    "events[].params.source": ("context.campaign",),
    "events[].params.medium": ("context.campaign",),
    "events[].params.term": ("context.campaign",),
    "events[].params.content": ("context.campaign",),
    "events[].params.campaign_id": ("context.campaign",),
    "events[].params.<property>": ("properties",),
}
# Meta Conversions API fields (meta_mapping.py)
META_FIELDS: dict[str, tuple[str, ...]] = {
    "data[].event_name": ("type", "event"),  # PageView: type; any other name: event
    "data[].event_time": ("timestamp",),
    "data[].event_id": ("properties.event_id", "messageId"),
    "data[].action_source": (DERIVED,),
    "data[].event_source_url": ("context.page.url",),
    "data[].user_data.<hashed>": ("userData.meta",),
    "data[].user_data.external_id": ("userId", "anonymousId"),
    "data[].user_data.client_ip_address": ("context.ip",),
    "data[].user_data.client_user_agent": ("context.userAgent",),
    "data[].user_data.fbc": ("context.fbc", "context.clickIds"),  # the cookie, else built from fbclid
    "data[].app_data": ("context.os.name", "context.os.version"),
    "data[].user_data.fbp": ("context.fbp",),
    "data[].custom_data": ("properties",),
    "data[].data_processing_options": (POLICY_RULE,),
    "data[].data_processing_options_country": (POLICY_RULE,),
    "data[].data_processing_options_state": (POLICY_RULE,),
    "test_event_code": (DERIVED,),
}
META_HASHED = frozenset({"em", "ph", "fn", "ln", "ge", "db", "ct", "st", "zp", "country"})


def _purpose_list(value: Any) -> tuple[str, ...]:
    """A catalogue ``purpose``: one name, or a list of names any one of which allows."""
    return (str(value),) if isinstance(value, str) else tuple(str(p) for p in value)


class Catalogue:
    """The policy's catalogue and destination lists, read from ``policies/default.yaml``."""

    def __init__(self, path: Path = POLICY_FILE) -> None:
        doc = policy_ops.load_policy_file(path)
        self.legal = {name: str(p["legal_basis"]) for name, p in doc["purposes"].items()}
        # attribute -> (the purposes any one of which allows it, its reduced form); a destination
        # of its own purposes (``purpose_for``) in ``by_destination``
        self.attributes = {
            name: (_purpose_list(a["purpose"]), str(a.get("reduced", "drop"))) for name, a in doc["attributes"].items()
        }
        self.by_destination = {
            (destination, name): _purpose_list(purposes)
            for name, a in doc["attributes"].items()
            for destination, purposes in (a.get("purpose_for") or {}).items()
        }
        self.allowed = {name: frozenset(d["attributes"]) for name, d in doc["destinations"].items()}
        self.objects = frozenset(name for name, a in doc["attributes"].items() if a.get("format") == "object")
        self.requires = {
            name: (frozenset(d["requires"].get("all", [])), frozenset(d["requires"].get("any", [])))
            for name, d in doc["destinations"].items()
        }

    def attribute_of(self, path: str) -> str | None:
        parts = path.split(".")
        for end in range(len(parts), 0, -1):
            candidate = ".".join(parts[:end])
            if candidate in self.attributes:
                return candidate
        return None

    def listed(self, destination: str, attribute: str) -> bool:
        """The destination lists the attribute, or an object attribute holding it (an object
        listed brings its catalogued children)."""
        allowed = self.allowed.get(destination, frozenset())
        parent = attribute
        while parent:
            if parent in allowed and (parent == attribute or parent in self.objects):
                return True
            parent = parent.rpartition(".")[0]
        return False

    def purposes(self, attribute: str, destination: str | None = None) -> tuple[str, ...]:
        """The purposes any one of which allows ``attribute`` at ``destination``."""
        if attribute.startswith("@"):
            return (NECESSARY,)
        own = self.by_destination.get((destination, attribute)) if destination else None
        return own or self.attributes[attribute][0]

    def purpose(self, attribute: str, destination: str | None = None) -> str:
        """The purposes as the table shows them: ``analytics|advertising`` for any of them."""
        return "|".join(self.purposes(attribute, destination))

    def legal_basis(self, attribute: str, destination: str | None = None) -> str:
        return "|".join(dict.fromkeys(self.legal[p] for p in self.purposes(attribute, destination)))

    def judge(
        self, destination: str, candidates: Iterable[str | None], granted: frozenset[str]
    ) -> tuple[str, str | None]:
        """(the attribute that allows the field, None) or (the first candidate, why none does)."""
        problem, first = "not_catalogued", ""
        for candidate in candidates:
            if candidate is None:
                continue
            first = first or candidate
            if candidate.startswith("@"):
                return candidate, None
            if candidate not in self.attributes:
                problem = "not_catalogued"
                continue
            if not self.listed(destination, candidate):
                problem = "not_allowed_for_destination"
                continue
            purposes, reduced = self.purposes(candidate, destination), self.attributes[candidate][1]
            if granted.isdisjoint(purposes) and reduced == "drop":
                problem = f"purpose_not_granted ({'|'.join(purposes)})"
                continue
            return candidate, None
        return first or "?", problem

    def requirement_missing(self, destination: str, granted: frozenset[str]) -> str | None:
        every, some = self.requires.get(destination, (frozenset(), frozenset()))
        missing = sorted(every - granted)
        if some and not (some & granted):
            missing.append("any of " + "|".join(sorted(some)))
        return ", ".join(missing) or None


def _leaves(value: Any, prefix: str = "") -> Iterator[str]:
    """Dotted paths of the leaves of a JSON value (list items share their list's path)."""
    if isinstance(value, dict) and value:
        for key, inner in value.items():
            yield from _leaves(inner, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(value, list) and value:
        for inner in value:
            yield from _leaves(inner, prefix)
    else:
        yield prefix


@dataclass
class Trace:
    """Every forwarded field, traced: (destination, wire field, attribute) -> count; and problems."""

    catalogue: Catalogue
    fields: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    problems: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    examples: dict[tuple[str, str, str], str] = field(default_factory=dict)
    events: Counter[str] = field(default_factory=Counter)

    def field(
        self, destination: str, wire: str, candidates: Iterable[str | None], granted: frozenset[str], ref: str
    ) -> None:
        attribute, problem = self.catalogue.judge(destination, candidates, granted)
        if problem is None:
            self.fields[(destination, wire, attribute)] += 1
        else:
            key = (destination, wire, problem)
            self.problems[key] += 1
            self.examples.setdefault(key, ref)

    def problem(self, destination: str, wire: str, problem: str, ref: str) -> None:
        key = (destination, wire, problem)
        self.problems[key] += 1
        self.examples.setdefault(key, ref)

    def event(self, destination: str, granted: frozenset[str], ref: str) -> None:
        self.events[destination] += 1
        missing = self.catalogue.requirement_missing(destination, granted)
        if missing:
            self.problem(destination, "(event)", f"destination requires {missing}", ref)

    def canonical(self, destination: str, event: dict[str, Any], granted: frozenset[str], ref: str) -> None:
        """A canonical hit (webhook batch item, lake record event): each path by its longest
        catalogued prefix (counted once per event)."""
        self.event(destination, granted, ref)
        for label in {self.catalogue.attribute_of(path) or path for path in _leaves(event)}:
            self.field(destination, label, [self.catalogue.attribute_of(label)], granted, ref)

    def ga4(self, body: dict[str, Any], hits: list[tuple[frozenset[str], str]]) -> None:
        """One GA4 request: request-level fields against every event's hit."""
        for key, value in body.items():
            if key == "events":
                continue
            # one label per field received: consent.ad_user_data, user_data.sha256_email_address...
            labels = {"user_properties.<name>"} if key == "user_properties" else set(_leaves(value, key))
            for label in labels:
                for granted, ref in hits:
                    self.field("ga4", label, GA4_FIELDS.get(key, ()), granted, ref)
        for (granted, ref), event in zip(hits, body.get("events") or [], strict=False):
            self.event("ga4", granted, ref)
            fields: dict[str, tuple[str, ...]] = {}  # each counted once per event
            for key in event:
                if key == "params":
                    for param in event["params"]:
                        wire = f"events[].params.{param}"
                        wire = wire if wire in GA4_FIELDS else "events[].params.<property>"
                        fields[wire] = GA4_FIELDS[wire]
                elif key == "name":  # page_view/screen_view say the hit's type; other names are `event`
                    fields["events[].name"] = ("type" if event["name"] in ("page_view", "screen_view") else "event",)
                else:
                    fields[f"events[].{key}"] = GA4_FIELDS.get(f"events[].{key}", ())
            for wire, candidates in fields.items():
                self.field("ga4", wire, candidates, granted, ref)

    def meta(self, event: dict[str, Any], granted: frozenset[str], ref: str) -> None:
        self.event("meta", granted, ref)
        fields: dict[str, tuple[str, ...]] = {}  # each counted once per event
        for key, value in event.items():
            if key == "user_data" and isinstance(value, dict):
                for user_key in value:
                    wire = "data[].user_data." + ("<hashed>" if user_key in META_HASHED else user_key)
                    fields[wire] = META_FIELDS.get(wire, ())
            elif key == "event_name":  # PageView says the hit's type; other names are `event`
                fields["data[].event_name"] = ("type" if value == "PageView" else "event",)
            else:
                fields[f"data[].{key}"] = META_FIELDS.get(f"data[].{key}", ())
        for wire, candidates in fields.items():
            self.field("meta", wire, candidates, granted, ref)

    def render(self) -> list[str]:
        head = ("destination", "field received", "catalogue attribute", "purpose", "legal basis", "events")
        rows = [
            (
                d,
                wire,
                attribute if not attribute.startswith("@") else f"{attribute} (no hit data)",
                self.catalogue.purpose(attribute, d),
                self.catalogue.legal_basis(attribute, d),
                str(n),
            )
            for (d, wire, attribute), n in sorted(self.fields.items())
        ]
        return text_table(head, rows)
