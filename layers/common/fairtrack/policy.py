"""The consent policy (policy-as-code) and the engine that applies it.

One pure function, :func:`evaluate`, decides what a destination may receive. Ingest uses it to
route (a destination that may get nothing gets no message) and every forwarder runs it again on
what it dequeues (the active policy may have changed since). Every field is either sent or
dropped with a :class:`Decision` saying which purpose and legal basis allowed or stopped it.

Attribute paths are dotted paths into the canonical hit (``context.page.path``). A catalogued path
covers its whole subtree (``properties`` covers every property). Anything not catalogued is
never sent: the catalogue is an allowlist, not a blocklist.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from fairtrack.errors import SAFE_KEY
from fairtrack.forms import REDUCTIONS, TRANSFORMS, Form

NECESSARY = "necessary"

LegalBasis = Literal["consent", "legitimate_interest", "contract", "legal_obligation", "vital_interests", "public_task"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Purpose(_Strict):
    legal_basis: LegalBasis
    description: str = ""


class Signals(_Strict):
    segment_categories: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Segment context.consent.categoryPreferences category -> purposes it grants",
    )
    consent_mode: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Google Consent Mode type (gcs/gcd: ad_storage, analytics_storage, ad_user_data, "
        "ad_personalization) -> purposes it grants",
    )
    cmp_categories: dict[str, list[str]] = Field(
        default_factory=dict,
        description="CMP category id or name (OneTrust C0002, 'Performance Cookies') -> purposes it grants; "
        "read from RudderStack consentManagement and from Segment categoryPreferences",
    )
    tcf_purposes: dict[int, list[str]] = Field(
        default_factory=dict,
        description="IAB TCF purpose number -> purposes; a purpose is granted when every TCF purpose mapped "
        "to it has consent (or, for a legitimate_interest purpose, legitimate-interest transparency)",
    )
    tcf_vendor_id: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="When set, a TC string grants nothing unless this vendor (the deployment's own GVL id) "
        "has consent or legitimate interest in it too",
    )

    @field_validator("tcf_purposes")
    @classmethod
    def _tcf_numbers(cls, value: dict[int, list[str]]) -> dict[int, list[str]]:
        for number in value:
            if not 1 <= number <= 24:
                raise ValueError(f"TCF purpose {number} is not a purpose number (1-24)")
        return value


# Full-form transforms (the purpose is granted) and reduced forms (it is not, but the destination
# lists the attribute): implemented in fairtrack.forms.
Transform = Literal["none", "sha256_normalised"]
Reduction = Literal["drop", "url_origin", "ip_coarse"]


class Attribute(_Strict):
    purpose: str
    description: str = ""
    transform: Transform = Field(default="none", description="applied when the purpose is granted")
    reduced: Reduction = Field(default="drop", description="what goes when the purpose is not granted")


class Requirement(_Strict):
    all: list[str] = Field(default_factory=list)
    any: list[str] = Field(default_factory=list)

    def missing(self, granted: frozenset[str]) -> list[str]:
        missing = [p for p in self.all if p not in granted]
        if self.any and not any(p in granted for p in self.any):
            missing.append("any of " + "|".join(self.any))
        return missing


class DestinationPolicy(_Strict):
    requires: Requirement
    attributes: list[str]
    limited_data_use: bool | list[str] = Field(
        default=False,
        description="Meta only: flag events for Limited Data Use (US state privacy laws): true for every "
        "event, or a list of country codes and region groups; an event whose country is unknown is flagged",
    )


COUNTRY = re.compile(r"^[A-Z]{2}$")


class Defaults(_Strict):
    retention_days: int = Field(default=30, ge=1, le=3650, description="lake and failed-event retention")
    consent_retention_days: int = Field(default=395, ge=1, le=3650, description="consent receipts (13 months)")
    bots: Literal["mark", "drop"] = Field(
        default="mark",
        description="hits whose user agent is a crawler, a headless browser or implausible: 'mark' sends "
        "them with context.agent.bot true (destinations that list context.agent see it), 'drop' sends "
        "them nowhere (each counted, with the reason)",
    )
    pii: Literal["redact", "drop", "quarantine"] = Field(
        default="redact",
        description="personal data found in properties and traits (e-mails, phone numbers, IBANs, card "
        "numbers, IP addresses, known personal fields such as email or firstName): 'redact' replaces the "
        "value with a marker, 'drop' removes the field, 'quarantine' sends the hit nowhere (counted, with "
        "the reason pii_quarantined)",
    )
    region_groups: dict[str, list[str]] = Field(
        default_factory=dict, description="a name for a list of ISO 3166 country codes, e.g. EEA"
    )
    regions: dict[str, list[str]] = Field(
        default_factory=dict,
        description="country code or region group -> purposes granted to a hit from there that carries no "
        "consent signal at all (a signal, even a denial, always wins)",
    )

    @model_validator(mode="after")
    def _regions_known(self) -> Defaults:
        for name, countries in self.region_groups.items():
            bad = [c for c in countries if not COUNTRY.match(c)]
            if bad:
                raise ValueError(f"region_groups.{name}: not ISO 3166 alpha-2 codes: {', '.join(bad)}")
        for region in self.regions:
            if not COUNTRY.match(region) and region not in self.region_groups:
                raise ValueError(f"regions.{region}: neither a country code nor a region group")
        return self

    @cached_property
    def by_country(self) -> dict[str, frozenset[str]]:
        """Country -> default purposes; a country's own entry wins over its group's."""
        out: dict[str, frozenset[str]] = {}
        for region, purposes in self.regions.items():
            if region in self.region_groups:
                for country in self.region_groups[region]:
                    out.setdefault(country, frozenset(purposes))
        for region, purposes in self.regions.items():
            if COUNTRY.match(region):
                out[region] = frozenset(purposes)
        return out


class Policy(_Strict):
    """A validated policy document. ``version`` is given by the store when the document is pushed."""

    version: int = 0
    description: str = ""
    purposes: dict[str, Purpose]
    signals: Signals = Signals()
    attributes: dict[str, Attribute]
    destinations: dict[Literal["ga4", "meta", "webhook", "lake"], DestinationPolicy]
    defaults: Defaults = Defaults()

    @cached_property
    def parent_paths(self) -> frozenset[str]:
        """Every proper prefix of a catalogued path (``context``, ``context.page``): where to descend.
        Computed once per policy version, not per hit."""
        return frozenset(
            ".".join(parts[:i]) for parts in (p.split(".") for p in self.attributes) for i in range(1, len(parts))
        )

    @cached_property
    def plans(self) -> dict[tuple[str, frozenset[str]], Plan | Decision]:
        """Compiled evaluation plans per (destination, granted purposes), filled on first use."""
        return {}

    @cached_property
    def consent_cache(self) -> dict[Any, Any]:
        """Resolved consent per distinct set of signals (see fairtrack.consent.resolve)."""
        return {}

    def limited_data_use(self, destination: str) -> bool | frozenset[str]:
        """True (every event), False (none), or the countries whose events are flagged."""
        dest = self.destinations.get(destination)  # type: ignore[call-overload]
        if dest is None or isinstance(dest.limited_data_use, bool):
            return bool(dest and dest.limited_data_use)
        countries: set[str] = set()
        for region in dest.limited_data_use:
            countries.update(self.defaults.region_groups.get(region, [region]))
        return frozenset(countries)

    @model_validator(mode="after")
    def _references_resolve(self) -> Policy:
        """Every purpose and attribute a part names exists; all problems are reported at once."""
        problems: list[str] = []
        if NECESSARY not in self.purposes:
            problems.append(f"purposes: must define '{NECESSARY}'")

        def known(where: str, purposes: list[str]) -> None:
            problems.extend(f"{where}: unknown purpose '{p}'" for p in purposes if p not in self.purposes)

        for path, attr in self.attributes.items():
            known(f"attributes.{path}.purpose", [attr.purpose])
        for field in ("segment_categories", "consent_mode", "cmp_categories", "tcf_purposes"):
            for key, purposes in getattr(self.signals, field).items():
                known(f"signals.{field}.{key}", purposes)
        for region, purposes in self.defaults.regions.items():
            known(f"defaults.regions.{region}", purposes)
        for name, dest in self.destinations.items():
            known(f"destinations.{name}.requires", [*dest.requires.all, *dest.requires.any])
            problems.extend(
                f"destinations.{name}.attributes: '{path}' is not in the catalogue"
                for path in dest.attributes
                if path not in self.attributes
            )
            if isinstance(dest.limited_data_use, list):
                problems.extend(
                    f"destinations.{name}.limited_data_use: '{region}' is neither a country code nor a region group"
                    for region in dest.limited_data_use
                    if not COUNTRY.match(region) and region not in self.defaults.region_groups
                )
        if problems:
            raise ValueError("; ".join(problems))
        return self


Action = Literal["sent", "reduced", "dropped", "skipped"]


@dataclass(frozen=True, slots=True)
class Decision:
    """One explainable outcome: a destination skipped, or a field sent or dropped, and why."""

    destination: str
    action: Action
    reason: str
    field: str | None = None
    purpose: str | None = None
    legal_basis: str | None = None
    policy_version: int = 0
    form: str | None = None  # the transform or reduced form applied

    def as_dict(self) -> dict[str, Any]:
        return {
            k: v
            for k, v in (
                ("destination", self.destination),
                ("action", self.action),
                ("reason", self.reason),
                ("field", self.field),
                ("purpose", self.purpose),
                ("legal_basis", self.legal_basis),
                ("policy_version", self.policy_version),
                ("form", self.form),
            )
            if v is not None
        }


def _reported(prefix: str, key: str) -> str:
    """A path safe to record: client-chosen keys can hold personal data (an e-mail as a key)."""
    shown = key if SAFE_KEY.match(key) else "<key>"
    return f"{prefix}.{shown}" if prefix else shown


# A compiled plan: for each key at one level of the hit, what to do with it. Built once per policy
# version, destination and set of granted purposes (there are few such sets), so that evaluating a
# hit is a dict lookup per key with the decisions made in advance, not a catalogue scan.
_SEND, _DROP, _DESCEND, _SEND_DESCEND, _FORM = 0, 1, 2, 3, 4
# key -> (what to do, the decision made in advance, the plan one level down, the form to apply)
PlanEntry = tuple[int, "Decision | None", "Plan | None", "Form | None"]
Plan = dict[str, PlanEntry]


def _compile(policy: Policy, destination: str, granted: frozenset[str]) -> Plan:
    dest = policy.destinations[destination]  # type: ignore[index]
    allowed = set(dest.attributes)
    v = policy.version

    def decision(path: str) -> tuple[int, Decision, Form | None]:
        attr = policy.attributes[path]
        basis = policy.purposes[attr.purpose].legal_basis
        if path not in allowed:
            made = Decision(destination, "dropped", "not_allowed_for_destination", path, attr.purpose, basis, v)
            return _DROP, made, None
        if attr.purpose not in granted:
            reducer = REDUCTIONS[attr.reduced]
            if reducer is None:
                return (
                    _DROP,
                    Decision(destination, "dropped", "purpose_not_granted", path, attr.purpose, basis, v),
                    None,
                )
            made = Decision(destination, "reduced", "purpose_not_granted", path, attr.purpose, basis, v, attr.reduced)
            return _FORM, made, reducer
        transform = TRANSFORMS[attr.transform]
        if transform is not None:
            made = Decision(destination, "sent", "allowed", path, attr.purpose, basis, v, attr.transform)
            return _FORM, made, transform
        return _SEND, Decision(destination, "sent", "allowed", path, attr.purpose, basis, v), None

    def level(prefix: str) -> Plan:
        plan: Plan = {}
        names = {
            path[len(prefix) :].split(".", 1)[0]
            for path in [*policy.attributes, *policy.parent_paths]
            if path.startswith(prefix)
        }
        for name in names:
            path = prefix + name
            has_children = path in policy.parent_paths
            if path in policy.attributes:
                kind, made, form = decision(path)
                if kind == _SEND and has_children:
                    plan[name] = (_SEND_DESCEND, made, level(path + "."), None)
                elif kind == _DROP and has_children and any(a.startswith(path + ".") for a in allowed):
                    # the object may not go, but the destination lists some of its catalogued
                    # fields (traits.email without traits): those are judged on their own
                    plan[name] = (_DESCEND, made, level(path + "."), None)
                else:
                    plan[name] = (kind, made, None, form)
            elif has_children:
                plan[name] = (_DESCEND, None, level(path + "."), None)
        return plan

    return level("")


def plan_for(policy: Policy, destination: str, granted: frozenset[str]) -> Plan | Decision:
    """The compiled plan for a destination and granted purposes, or the decision skipping that
    destination for every such hit; cached per policy version."""
    cached = policy.plans.get((destination, granted))
    if cached is None:
        cached = policy.plans[(destination, granted)] = _plan_for(policy, destination, granted)
    return cached


def _plan_for(policy: Policy, destination: str, granted: frozenset[str]) -> Plan | Decision:
    v = policy.version
    dest = policy.destinations.get(destination)  # type: ignore[call-overload]
    if dest is None:
        return Decision(destination, "skipped", "destination_not_in_policy", policy_version=v)
    missing = dest.requires.missing(granted)
    if missing:
        return Decision(destination, "skipped", "purpose_not_granted:" + ",".join(missing), policy_version=v)
    return _compile(policy, destination, granted)


class _Evaluation:
    """One hit against one compiled plan: the minimal payload and, when recording, the decisions."""

    __slots__ = ("decisions", "destination", "version")

    def __init__(self, destination: str, version: int, record: bool) -> None:
        self.destination = destination
        self.version = version
        self.decisions: list[Decision] | None = [] if record else None

    def not_catalogued(self, prefix: str, key: str) -> None:
        if self.decisions is not None:
            reported = _reported(prefix, key)
            self.decisions.append(
                Decision(self.destination, "dropped", "not_catalogued", reported, policy_version=self.version)
            )

    def prune(self, obj: dict[str, Any], plan: Plan, prefix: str) -> dict[str, Any]:
        """``obj`` is part of a catalogued object being sent whole: only its own catalogued keys
        (usually few, usually absent) are judged, so this visits the plan, not every property."""
        present = [key for key in plan if key in obj]
        if not present:
            return obj
        out = dict(obj)
        for key in present:
            kind, made, children, _ = plan[key]
            if kind == _DROP:
                del out[key]
            elif kind == _FORM:
                made = self.formed(out, key, out[key], plan[key], prefix)
            elif children is not None and isinstance(out[key], dict):
                out[key] = self.prune(out[key], children, f"{prefix}.{key}")
            if self.decisions is not None and made is not None:
                self.decisions.append(made)
        return out

    def formed(self, out: dict[str, Any], key: str, value: Any, entry: PlanEntry, prefix: str) -> Decision:
        """Put ``key`` in its transformed or reduced form into ``out``; a value the form does not
        fit is dropped, never sent as is."""
        _, made, _, form = entry
        assert made is not None and form is not None
        shaped = form(value)
        if shaped is None:
            out.pop(key, None)
            path = f"{prefix}.{key}" if prefix else key
            return Decision(
                self.destination, "dropped", "form_not_applicable", path, made.purpose, made.legal_basis, self.version
            )
        out[key] = shaped
        return made

    def walk(self, obj: dict[str, Any], plan: Plan, prefix: str) -> tuple[dict[str, Any], bool]:
        """Allowlist mode: every key of ``obj`` must be catalogued to go."""
        out: dict[str, Any] = {}
        sent = False
        decisions = self.decisions
        for key, value in obj.items():
            entry = plan.get(key)  # plan keys hold no dot: "page.path" as one key never matches
            if entry is None:
                self.not_catalogued(prefix, key)
                continue
            kind, made, children, _ = entry
            if kind == _DROP:
                if decisions is not None:
                    decisions.append(made)  # type: ignore[arg-type]
                continue
            if kind == _FORM:
                made = self.formed(out, key, value, entry, prefix)
                sent = sent or made.action != "dropped"
                if decisions is not None:
                    decisions.append(made)
                continue
            if kind == _DESCEND:
                if made is not None and decisions is not None:
                    decisions.append(made)  # the object itself does not go
                if not isinstance(value, dict):
                    if made is None:
                        self.not_catalogued(prefix, key)
                    continue
                inner, inner_sent = self.walk(value, children, f"{prefix}.{key}" if prefix else key)  # type: ignore[arg-type]
                if inner:
                    out[key] = inner
                sent = sent or inner_sent
                continue
            if kind == _SEND_DESCEND and isinstance(value, dict):
                value = self.prune(value, children, f"{prefix}.{key}" if prefix else key)  # type: ignore[arg-type]  # noqa: PLW2901
            out[key] = value
            sent = True
            if decisions is not None:
                decisions.append(made)  # type: ignore[arg-type]
        return out, sent


def _select(obj: dict[str, Any], plan: Plan) -> dict[str, Any]:
    """``_Evaluation.walk`` without decision records (ingest routes this way, once per hit and
    receiving destination): the same payload, with the usual key (catalogued and sent as it is)
    tested first, and no decision or path built for anything. Something was sent exactly when
    the result is not empty: every key it gets holds a sent value or a non-empty object."""
    out: dict[str, Any] = {}
    for key, value in obj.items():
        entry = plan.get(key)
        if entry is None:  # not catalogued
            continue
        kind = entry[0]
        if kind == _SEND:
            out[key] = value
        elif kind == _DESCEND:
            if isinstance(value, dict):
                inner = _select(value, entry[2])  # type: ignore[arg-type]
                if inner:
                    out[key] = inner
        elif kind == _FORM:
            shaped = entry[3](value)  # type: ignore[misc]
            if shaped is not None:
                out[key] = shaped
        elif kind == _SEND_DESCEND:  # sent whole, but for its own catalogued keys
            out[key] = _UNRECORDED.prune(value, entry[2], key) if isinstance(value, dict) else value  # type: ignore[arg-type]
        # _DROP: not for this destination
    return out


_UNRECORDED = _Evaluation("", 0, record=False)  # prune's no-record use: it keeps no state of its own


def evaluate(
    payload: dict[str, Any], granted: frozenset[str], destination: str, policy: Policy, *, record: bool = True
) -> tuple[dict[str, Any] | None, list[Decision]]:
    """The minimal payload ``destination`` may receive, and a decision for every field.

    Returns ``(None, decisions)`` when the destination gets nothing at all. A catalogued object is
    sent whole except for its own catalogued children, which are judged on their own (so the policy
    can hold back ``properties.url`` while sending ``properties``). With ``record=False`` only the
    destination-level decisions are returned (ingest routes with it; the forwarder, which makes the
    final cut, records every field).
    """
    compiled = plan_for(policy, destination, granted)
    if isinstance(compiled, Decision):  # skipped whole: the same decision for every such hit
        return None, [compiled]
    if not record:
        result = _select(payload, compiled)
        if not result:
            return None, [Decision(destination, "skipped", "nothing_allowed", policy_version=policy.version)]
        return result, []
    run = _Evaluation(destination, policy.version, record)
    result, sent = run.walk(payload, compiled, "")
    decisions = run.decisions or []
    if not sent:
        skipped = Decision(destination, "skipped", "nothing_allowed", policy_version=policy.version)
        return None, [*decisions, skipped]
    return result, decisions
