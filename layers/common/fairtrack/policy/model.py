"""The consent policy (policy-as-code): the validated document, its purposes and its catalogue.

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
from functools import cached_property
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from fairtrack.anonymise import formats
from fairtrack.policy.decisions import Decision
from fairtrack.policy.plan import Plan, _compile

__all__ = ["NECESSARY", "Attribute", "Defaults", "DestinationPolicy", "Policy", "Purpose", "Requirement", "Signals"]

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
