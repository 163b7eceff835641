"""The consent policy (policy-as-code) and the engine that applies it.

One pure function, :func:`evaluate`, decides what a destination may receive. Ingest uses it to
route (a destination that may get nothing gets no message) and every forwarder runs it again on
what it dequeues (the active policy may have changed since). Every field is either sent or
dropped with a :class:`Decision` saying which purpose and legal basis allowed or stopped it.

Attribute paths are dotted paths into the canonical hit (``context.page.path``). Anything not
catalogued is never sent: the catalogue is an allowlist, not a blocklist.

An attribute may serve more than one purpose: ``purpose: [analytics, advertising]`` allows it when
any one of them is granted, and ``purpose_for: {meta: [analytics, advertising]}`` says so for one
destination only (the others keep ``purpose``). A decision records the purpose that allowed the
field (the first of the list that is granted) or, when none is, the first of the list.

Closed world, at the level of values: every attribute declares a **format**
(:mod:`fairtrack.anonymise.formats`), and a value goes only when its format admits it; otherwise it
is dropped with the decision ``format_mismatch``. An ``object`` attribute (``context.campaign``)
carries only its catalogued children, each with a format of its own, and a destination that lists
the object receives those children; a ``map`` attribute (``properties``, ``traits``) is free-form:
its keys must fit the ``key`` format and its values ``text``, numbers, booleans or lists and objects
of them, and its catalogued children (``properties.url``) are judged on their own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from fairtrack.anonymise import formats
from fairtrack.policy.forms import REDUCTIONS, TRANSFORMS, Form

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
# lists the attribute): implemented in fairtrack.policy.forms.
Transform = Literal["none", "sha256_normalised"]
Reduction = Literal["drop", "url_origin", "ip_coarse"]


DestinationName = Literal["ga4", "meta", "webhook", "lake"]
Purposes = str | list[str]


class Attribute(_Strict):
    purpose: Purposes = Field(
        description="the purpose that allows the attribute; a list: any one of them granted allows it (the "
        "first granted one is recorded), e.g. [analytics, advertising]"
    )
    purpose_for: dict[DestinationName, Purposes] = Field(
        default_factory=dict,
        description="per destination: the purpose (or any-of list) that allows the attribute there instead of "
        "`purpose`, e.g. {meta: [analytics, advertising]} lets Meta have it under advertising alone",
    )
    format: str = Field(description="the only values that may leave: one of fairtrack.anonymise.formats.FORMATS")
    description: str = ""
    values: list[str] | None = Field(default=None, description="format enum: the values admitted")
    max_length: int | None = Field(default=None, ge=1, le=65536, description="a tighter bound than the format's")
    transform: Transform = Field(default="none", description="applied when the purpose is granted")
    reduced: Reduction = Field(default="drop", description="what goes when the purpose is not granted")

    @model_validator(mode="after")
    def _purposes_named(self) -> Attribute:
        for where, purposes in [
            ("purpose", self.purpose),
            *((f"purpose_for.{d}", p) for d, p in self.purpose_for.items()),
        ]:
            if isinstance(purposes, list) and (not purposes or len(set(purposes)) != len(purposes)):
                raise ValueError(f"{where}: a list of purposes must name at least one purpose, each once")
        return self

    def purposes(self, destination: str | None = None) -> tuple[str, ...]:
        """The purposes any one of which allows this attribute at ``destination`` (its own
        ``purpose_for`` entry, else ``purpose``), in the policy's order."""
        chosen = self.purpose_for.get(destination, self.purpose) if destination else self.purpose  # type: ignore[call-overload]
        return (chosen,) if isinstance(chosen, str) else tuple(chosen)

    @cached_property
    def primary(self) -> str:
        """The first purpose ``purpose`` names: the one recorded where no destination is concerned."""
        return self.purposes()[0]

    @cached_property
    def every_purpose(self) -> frozenset[str]:
        """Every purpose that allows this attribute at some destination."""
        found = set(self.purposes())
        for destination in self.purpose_for:
            found.update(self.purposes(destination))
        return frozenset(found)

    def allowed_by(self, granted: frozenset[str], destination: str | None = None) -> str | None:
        """The first of the attribute's purposes at ``destination`` that ``granted`` holds, if any."""
        return next((p for p in self.purposes(destination) if p in granted), None)

    @model_validator(mode="after")
    def _format_known(self) -> Attribute:
        if self.format not in formats.FORMATS:
            raise ValueError(f"format '{self.format}' is not one of: {', '.join(sorted(formats.FORMATS))}")
        self.check  # noqa: B018 - the format's parameters are validated by building its check
        return self

    @cached_property
    def check(self) -> formats.Check:
        """The predicate admitting this attribute's values (built once per policy version)."""
        return formats.checker(
            self.format,
            values=frozenset(self.values) if self.values is not None else None,
            max_length=self.max_length,
        )


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
    destinations: dict[DestinationName, DestinationPolicy]
    defaults: Defaults = Defaults()

    @cached_property
    def parent_paths(self) -> frozenset[str]:
        """Every proper prefix of a catalogued path (``context``, ``context.page``): where to descend.
        Computed once per policy version, not per hit."""
        return frozenset(
            ".".join(parts[:i]) for parts in (p.split(".") for p in self.attributes) for i in range(1, len(parts))
        )

    @cached_property
    def catalogue_plan(self) -> Plan:
        """The catalogue's own plan: what :func:`conform` holds every hit to before routing."""
        return _compile(self, None, frozenset(self.purposes))

    @cached_property
    def plans(self) -> dict[tuple[str, frozenset[str]], Plan | Decision]:
        """Compiled evaluation plans per (destination, granted purposes), filled on first use."""
        return {}

    @cached_property
    def consent_cache(self) -> dict[Any, Any]:
        """Resolved consent per distinct set of signals (see fairtrack.consent.signals.resolve)."""
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
            known(f"attributes.{path}.purpose", list(attr.purposes()))
            for destination in attr.purpose_for:
                known(f"attributes.{path}.purpose_for.{destination}", list(attr.purposes(destination)))
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


# the Segment/RudderStack event fields that are not the canonical hit's (protocols.segment)
_PROTOCOL_NAMES = ("integrations", "originalTimestamp", "sentAt", "writeKey", "channel", "version", "_metadata")


def _model_names() -> frozenset[str]:
    """Field names of fairtrack's own models: the only keys a recorded path may name. A key the
    client chose (a property's name) can hold personal data and is shown as ``<key>``."""
    from fairtrack import hit  # the models the catalogue's paths run through

    names: set[str] = set(hit.Hit.model_fields) | set(_PROTOCOL_NAMES)
    for part in (hit.Context, hit.Page, hit.Campaign, hit.Library, hit.Session):
        names.update(part.__annotations__)
    return frozenset(names)


_MODEL_NAMES = _model_names()


def _reported(prefix: str, key: str, catalogued: frozenset[str] = frozenset()) -> str:
    """A path safe to record: a key is named only when the catalogue or fairtrack's models name it."""
    path = f"{prefix}.{key}" if prefix else key
    if path in catalogued or key in _MODEL_NAMES:
        return path
    return f"{prefix}.<key>" if prefix else "<key>"


# A compiled plan: for each key at one level of the hit, what to do with it. Built once per policy
# version, destination and set of granted purposes (there are few such sets), so that evaluating a
# hit is a dict lookup per key with the decisions made in advance, not a catalogue scan.
# _SEND: a value sent as it is once its format admits it; _FORM: a value put in a transformed or
# reduced form once its format admits it; _DROP: not for this destination; _DESCEND: not sent
# itself, but catalogued children of it may be; _OBJECT: an object attribute sent with its
# catalogued children only; _MAP: a free-form attribute (properties), its catalogued children
# judged on their own and every other entry filtered by the map format; _WHOLE: an _OBJECT whose
# catalogued children all go as they are, so that a conformed one (only catalogued children, each
# admitted) is sent whole by the unrecorded route.
_SEND, _DROP, _DESCEND, _OBJECT, _FORM, _MAP, _WHOLE = 0, 1, 2, 3, 4, 5, 6
_AS_IS, _INTO = frozenset({_SEND, _WHOLE}), frozenset({_DESCEND, _OBJECT})  # the unrecorded route's cases
# key -> (what to do, the decision made in advance, the plan one level down, the form, the check)
PlanEntry = tuple[int, "Decision | None", "Plan | None", "Form | None", "formats.Check | None"]
Plan = dict[str, PlanEntry]


def _compile(policy: Policy, destination: str | None, granted: frozenset[str]) -> Plan:
    """The plan of ``destination`` under ``granted``; ``destination=None`` compiles the catalogue's
    own plan (every attribute listed, every purpose granted, no forms): what ingest conforms a hit
    to before any destination is considered."""
    everything = destination is None
    allowed = set(policy.attributes) if everything else set(policy.destinations[destination].attributes)  # type: ignore[index]
    name = destination or "catalogue"
    v = policy.version

    def listed(path: str) -> bool:
        if path in allowed:
            return True
        parts = path.split(".")
        for i in range(len(parts) - 1, 0, -1):  # an object attribute listed brings its catalogued children
            parent = ".".join(parts[:i])
            attr = policy.attributes.get(parent)
            if attr is not None and attr.format == "object":
                return listed(parent)
        return False

    def decision(path: str) -> tuple[int, Decision, Form | None]:
        attr = policy.attributes[path]
        # the purpose recorded: the first of the attribute's purposes at this destination that is
        # granted (the one that allowed it), else the first of them (the one it is withheld under)
        allowed_by = attr.primary if everything else attr.allowed_by(granted, destination)
        purpose = allowed_by or attr.purposes(destination)[0]
        basis = policy.purposes[purpose].legal_basis
        if not listed(path):
            made = Decision(name, "dropped", "not_allowed_for_destination", path, purpose, basis, v)
            return _DROP, made, None
        if allowed_by is None:
            reducer = REDUCTIONS[attr.reduced]
            if reducer is None:
                return _DROP, Decision(name, "dropped", "purpose_not_granted", path, purpose, basis, v), None
            made = Decision(name, "reduced", "purpose_not_granted", path, purpose, basis, v, attr.reduced)
            return _FORM, made, reducer
        transform = None if everything else TRANSFORMS[attr.transform]
        if transform is not None:
            made = Decision(name, "sent", "allowed", path, purpose, basis, v, attr.transform)
            return _FORM, made, _checked(transform, attr.check)
        return _SEND, Decision(name, "sent", "allowed", path, purpose, basis, v), None

    def level(prefix: str) -> Plan:
        plan: Plan = {}
        names = {
            path[len(prefix) :].split(".", 1)[0]
            for path in [*policy.attributes, *policy.parent_paths]
            if path.startswith(prefix)
        }
        for key in names:
            path = prefix + key
            has_children = path in policy.parent_paths
            attr = policy.attributes.get(path)
            if attr is not None:
                kind, made, form = decision(path)
                if kind == _SEND and attr.format in ("object", "map"):
                    children = level(path + ".") if has_children else {}
                    if attr.format == "map":  # fit_map is its check, entry by entry
                        plan[key] = (_MAP, made, children, None, None)
                    else:
                        whole = all(e[0] == _SEND for e in children.values())
                        plan[key] = (_WHOLE if whole else _OBJECT, made, children, None, attr.check)
                elif kind == _DROP and has_children and any(a.startswith(path + ".") for a in allowed):
                    # the object may not go, but the destination lists some of its catalogued
                    # fields (traits.email without traits): those are judged on their own
                    plan[key] = (_DESCEND, made, level(path + "."), None, None)
                else:
                    # an attribute with a full-form transform declares the format of what the
                    # transform makes (a hash): checked on the way out (``_checked``), and by
                    # nothing before, since the value never leaves untransformed
                    transformed = attr.transform != "none" and (everything or made.form == attr.transform)
                    plan[key] = (kind, made, None, form, None if transformed else attr.check)
            elif has_children:
                plan[key] = (_DESCEND, None, level(path + "."), None, None)
        return plan

    return level("")


def _checked(transform: Form, check: formats.Check) -> Form:
    """``transform``, whose result must fit the attribute's format to go (None otherwise)."""

    def form(value: Any) -> Any:
        shaped = transform(value)
        return shaped if shaped is not None and check(shaped) else None

    return form


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


MAX_MAP_DEPTH = 8
_KEY = formats.checker("key")
_TEXT = formats.checker("text")
_NUMBER = formats.checker("number")


def fit_map(obj: dict[str, Any], depth: int = 0) -> tuple[dict[str, Any], int]:
    """The entries of a free-form object (``properties``, ``traits``) that the ``map`` format
    admits, and how many were left out: keys must fit ``key``; values are null, booleans, finite
    numbers, ``text``, or lists and objects of these, at most :data:`MAX_MAP_DEPTH` deep."""
    out: dict[str, Any] = {}
    dropped = 0
    for key, value in obj.items():
        if not _KEY(key):
            dropped += 1
            continue
        kind = type(value)
        if kind is str:  # the usual entry, without a call more
            if _TEXT(value):
                out[key] = value
            else:
                dropped += 1
            continue
        kept, n = _fit_value(value, depth + 1)
        dropped += n
        if kept is not _MISSING:
            out[key] = kept
    return out, dropped


_MISSING: Any = object()
_NUMBERS = (int, float)


def _fit_value(value: Any, depth: int) -> tuple[Any, int]:
    if value is None or value is True or value is False:
        return value, 0
    if isinstance(value, str):
        return (value, 0) if _TEXT(value) else (_MISSING, 1)
    if isinstance(value, _NUMBERS):
        return (value, 0) if _NUMBER(value) else (_MISSING, 1)
    if depth >= MAX_MAP_DEPTH:
        return _MISSING, 1
    if isinstance(value, dict):
        return fit_map(value, depth)
    if isinstance(value, list):
        out: list[Any] = []
        dropped = 0
        for item in value:
            kept, n = _fit_value(item, depth + 1)
            dropped += n
            if kept is not _MISSING:
                out.append(kept)
        return out, dropped
    return _MISSING, 1


class _Evaluation:
    """One hit against one compiled plan: the minimal payload and, when recording, the decisions."""

    __slots__ = ("catalogued", "decisions", "destination", "mismatches", "version")

    def __init__(self, destination: str, version: int, record: bool, catalogued: frozenset[str] = frozenset()) -> None:
        self.destination = destination
        self.version = version
        self.catalogued = catalogued
        self.decisions: list[Decision] | None = [] if record else None
        self.mismatches: list[str] = []  # paths of values their format did not admit

    def not_catalogued(self, prefix: str, key: str) -> None:
        if self.decisions is not None:
            reported = _reported(prefix, key, self.catalogued)
            self.decisions.append(
                Decision(self.destination, "dropped", "not_catalogued", reported, policy_version=self.version)
            )

    def mismatch(self, path: str, made: Decision | None) -> Decision:
        self.mismatches.append(path)
        return Decision(
            self.destination,
            "dropped",
            "format_mismatch",
            path,
            made.purpose if made else None,
            made.legal_basis if made else None,
            self.version,
        )

    def fitted_map(self, value: dict[str, Any], children: Plan, path: str, made: Decision | None) -> dict[str, Any]:
        """A free-form object: its catalogued children judged on their own, the rest filtered."""
        own = {k: v for k, v in value.items() if k not in children}
        out, dropped = fit_map(own)
        if dropped and self.decisions is not None:
            self.decisions.append(self.mismatch(f"{path}.<entries: {dropped}>", made))
        elif dropped:
            self.mismatches.append(path)
        present = {k: value[k] for k in children if k in value}
        if present:
            inner, _ = self.walk(present, children, path)
            out.update(inner)
        return out

    def sendable(
        self, out: dict[str, Any], key: str, value: Any, entry: PlanEntry, path: str
    ) -> tuple[Decision | None, bool]:
        """Put a value its destination may have into ``out``, once its format admits it, in the
        form the plan asks for; the decision made, and whether anything went."""
        kind, made, children, form, check = entry
        if check is not None and not check(value):
            return self.mismatch(path, made), False
        if kind == _FORM:
            shaped = form(value)  # type: ignore[misc]
            if shaped is None:
                return Decision(
                    self.destination,
                    "dropped",
                    "form_not_applicable",
                    path,
                    made.purpose if made else None,
                    made.legal_basis if made else None,
                    self.version,
                ), False
            out[key] = shaped
            return made, True
        if kind in (_OBJECT, _WHOLE):
            inner, inner_sent = self.walk(value, children, path)  # type: ignore[arg-type]
            if inner:
                out[key] = inner
            return made, inner_sent
        if kind == _MAP:
            if not isinstance(value, dict):
                return self.mismatch(path, made), False
            fitted = self.fitted_map(value, children, path, made)  # type: ignore[arg-type]
            if fitted:
                out[key] = fitted
            return made, bool(fitted)
        out[key] = value
        return made, True

    def walk(self, obj: dict[str, Any], plan: Plan, prefix: str) -> tuple[dict[str, Any], bool]:
        """Allowlist mode: every key of ``obj`` must be catalogued to go, its value admitted by its
        format."""
        out: dict[str, Any] = {}
        sent = False
        decisions = self.decisions
        for key, value in obj.items():
            entry = plan.get(key)  # plan keys hold no dot: "page.path" as one key never matches
            if entry is None:
                self.not_catalogued(prefix, key)
                continue
            if value is None:  # absent: a null is no value, sent or refused
                continue
            kind, made, children, _, _ = entry
            path = f"{prefix}.{key}" if prefix else key
            if kind == _DROP:
                if decisions is not None:
                    decisions.append(made)  # type: ignore[arg-type]
                continue
            if kind == _DESCEND:
                if made is not None and decisions is not None:
                    decisions.append(made)  # the object itself does not go
                if not isinstance(value, dict):
                    if made is None:
                        self.not_catalogued(prefix, key)
                    continue
                inner, inner_sent = self.walk(value, children, path)  # type: ignore[arg-type]
                if inner:
                    out[key] = inner
                sent = sent or inner_sent
                continue
            made, went = self.sendable(out, key, value, entry, path)
            sent = sent or went
            if decisions is not None:
                decisions.append(made)  # type: ignore[arg-type]
        return out, sent


def _select(obj: dict[str, Any], plan: Plan) -> dict[str, Any]:
    """``_Evaluation.walk`` without decision records or format checks, for ingest, which routes
    this way once per hit and receiving destination after :func:`conform` has checked every
    value's format once (the forwarder's recorded walk checks them again). Something was sent
    exactly when the result is not empty."""
    out: dict[str, Any] = {}
    for key, value in obj.items():
        entry = plan.get(key)
        if entry is None:  # not catalogued
            continue
        kind = entry[0]
        if kind in _AS_IS:
            out[key] = value
        elif kind in _INTO:
            if isinstance(value, dict):
                inner = _select(value, entry[2])  # type: ignore[arg-type]
                if inner:
                    out[key] = inner
        elif kind == _FORM:
            shaped = entry[3](value)  # type: ignore[misc]
            if shaped is not None:
                out[key] = shaped
        elif kind == _MAP and isinstance(value, dict):
            children: Plan = entry[2]  # type: ignore[assignment]
            if children and not children.keys().isdisjoint(value):
                inner = {k: v for k, v in value.items() if k not in children}
                inner.update(_select({k: value[k] for k in children if k in value}, children))
                value = inner  # noqa: PLW2901
            if value:
                out[key] = value
        # _DROP: not for this destination
    return out


def conform(payload: dict[str, Any], policy: Policy) -> tuple[dict[str, Any], list[str]]:
    """``payload`` reduced to what the catalogue admits (the last step of the anonymise stage,
    before routing): uncatalogued keys leave, objects keep only their catalogued children, and every
    value that its attribute's format does not admit is dropped. Returns the conformed payload and
    the paths of the values dropped for their format (``format_mismatch``)."""
    mismatches: list[str] = []
    return _conform(payload, policy.catalogue_plan, "", mismatches), mismatches


def _conform_map(value: dict[str, Any], children: Plan, path: str, mismatches: list[str]) -> dict[str, Any]:
    """A free-form object in one pass: its catalogued children judged by their own formats, every
    other entry by the map format's (see :func:`fit_map`)."""
    out: dict[str, Any] = {}
    dropped = 0
    for key, item in value.items():
        if key in children:
            if item is not None:
                out.update(_conform({key: item}, children, path + ".", mismatches))
            continue
        if not _KEY(key):
            dropped += 1
        elif type(item) is str:
            if _TEXT(item):
                out[key] = item
            else:
                dropped += 1
        else:
            kept, n = _fit_value(item, 1)
            dropped += n
            if kept is not _MISSING:
                out[key] = kept
    if dropped:
        mismatches.append(path)
    return out


def _conform(obj: dict[str, Any], plan: Plan, prefix: str, mismatches: list[str]) -> dict[str, Any]:
    """The catalogue plan's walk, lean: no decisions, a path built only for a mismatch."""
    out: dict[str, Any] = {}
    for key, value in obj.items():
        entry = plan.get(key)
        if entry is None or value is None:  # not catalogued, or absent (a null is no value)
            continue
        kind, _, children, _, check = entry
        if kind == _SEND:
            if check is None or check(value):  # None: a value that only ever leaves transformed
                out[key] = value
            else:
                mismatches.append(f"{prefix}{key}")
        elif kind == _MAP:
            if not isinstance(value, dict):
                mismatches.append(f"{prefix}{key}")
                continue
            fitted = _conform_map(value, children, f"{prefix}{key}", mismatches)  # type: ignore[arg-type]
            if fitted:
                out[key] = fitted
        elif kind == _DESCEND or check is None or check(value):
            if isinstance(value, dict):
                inner = _conform(value, children, f"{prefix}{key}.", mismatches)  # type: ignore[arg-type]
                if inner:
                    out[key] = inner
        else:
            mismatches.append(f"{prefix}{key}")
    return out


def evaluate(
    payload: dict[str, Any], granted: frozenset[str], destination: str, policy: Policy, *, record: bool = True
) -> tuple[dict[str, Any] | None, list[Decision]]:
    """The minimal payload ``destination`` may receive, and a decision for every field.

    Returns ``(None, decisions)`` when the destination gets nothing at all. A catalogued object is
    sent with its catalogued children only; a free-form attribute (``properties``) with the entries
    its format admits, its own catalogued children judged on their own (so the policy can hold
    back ``properties.url`` while sending ``properties``). With ``record=False`` only the
    destination-level decisions are returned and formats are not checked again (ingest routes with
    it after :func:`conform`; the forwarder, which makes the final cut, records every field and
    checks every format).
    """
    compiled = plan_for(policy, destination, granted)
    if isinstance(compiled, Decision):  # skipped whole: the same decision for every such hit
        return None, [compiled]
    if not record:
        result = _select(payload, compiled)
        if not result:
            return None, [Decision(destination, "skipped", "nothing_allowed", policy_version=policy.version)]
        return result, []
    run = _Evaluation(destination, policy.version, record, frozenset(policy.attributes))
    result, sent = run.walk(payload, compiled, "")
    decisions = run.decisions or []
    if not sent:
        skipped = Decision(destination, "skipped", "nothing_allowed", policy_version=policy.version)
        return None, [*decisions, skipped]
    return result, decisions
