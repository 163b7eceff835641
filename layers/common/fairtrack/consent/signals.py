"""Consent signals to purposes. Fails closed: no signal means ``necessary`` only, and every
conflict denies.

Signals, each mapped to purposes by the policy's ``signals`` section, all decoded here (never by a
third-party service): Segment's ``context.consent.categoryPreferences`` (its categories, or CMP
category ids/names), RudderStack's ``context.consentManagement`` (CMP category ids, ``and``/``or``),
Google Consent Mode (gtag ``gcs``, ``gcd``, ``npa``) and IAB TCF v2.2/v2.3 TC strings. With no
signal at all, the policy's default for the visitor's region applies, if it has one.

The rules, each failing closed on a conflict:

- **Across signals** a purpose is granted only when at least one signal grants it and none denies
  it (a denial anywhere wins).
- **Segment** ``categoryPreferences``: a category grants its purposes when its value is JSON
  ``true``; any other value denies them. Two categories mapped to one purpose that disagree deny it.
- **RudderStack** ``consentManagement``: a category id listed in ``deniedConsentIds`` is denied even
  when ``allowedConsentIds`` lists it too. ``and`` (the default): a purpose is granted when every
  category of its mapping that the hit speaks of is allowed; ``or``: when any of them is allowed
  (and not also denied).
- **Google Consent Mode**: ``gcd`` (v2) states each of ``ad_storage``, ``analytics_storage``,
  ``ad_user_data`` and ``ad_personalization``; ``gcs`` (v1) fills in ``ad_storage`` and
  ``analytics_storage`` where ``gcd`` leaves them unset; ``npa=1`` denies ``ad_personalization``. A
  purpose that ``signals.consent_mode`` maps from several types is granted by Consent Mode only
  when *every* one of them is explicitly granted; one denied denies it; one unset withholds it (Consent
  Mode neither grants nor denies it). With the default policy (``analytics_storage`` ->
  analytics; ``ad_storage``, ``ad_user_data``, ``ad_personalization`` -> advertising):
  ``gcs=G111`` alone grants analytics only (advertising needs ``ad_user_data`` and
  ``ad_personalization`` granted explicitly, which only ``gcd`` can say); a ``gcd`` with all four
  granted grants both; ``gcs=G1x1`` grants analytics.
- **IAB TCF**: a purpose is granted when every TCF purpose mapped to it has consent (or, for a
  legitimate-interest purpose, legitimate interest) and the policy's vendor, if any, has either.
- **Duplicated signals** (``ConsentSignals.conflicts``): a signal the client sent twice with
  different values (a gtag parameter repeated in the query or a body line, or given in both with
  different values; a JSON key repeated inside ``context.consent``, ``categoryPreferences`` or
  ``consentManagement``, or ``consent``/``consentManagement`` themselves repeated) denies every
  purpose that signal could grant: ``categoryPreferences`` its Segment and CMP categories'
  purposes, ``consent`` (the whole Segment object) those and every Consent Mode and TCF purpose,
  ``consentManagement`` the CMP categories' purposes, ``gcs``/``gcd`` every Consent Mode purpose,
  ``npa`` the purposes of ``ad_personalization``, ``tcString``/``gdpr`` every TCF purpose. A
  conflict is a signal: the region default never applies to a hit that carries one. Resolution
  names it in ``Consent.sources`` as ``conflict:<signal>``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from fairtrack.hit import ConsentSignals
from fairtrack.memo import keep
from fairtrack.policy.model import NECESSARY, Policy

__all__ = [
    "DENIED",
    "GRANTED",
    "Consent",
    "consent_mode_purposes",
    "consent_mode_states",
    "resolve",
    "rudder_purposes",
    "tcf_purposes",
]


@dataclass(frozen=True, slots=True)
class Consent:
    granted: frozenset[str]
    sources: tuple[str, ...]

    @property
    def purposes(self) -> list[str]:
        """The granted purposes, sorted: what an envelope records with each event."""
        return sorted(self.granted)


GRANTED, DENIED = "granted", "denied"
_B64URL = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_"
_GCD_TYPES = {2: "ad_storage", 4: "analytics_storage", 6: "ad_user_data", 8: "ad_personalization"}
_GCD_STATE = {2: DENIED, 3: GRANTED}  # 1: not set


def consent_mode_states(signals: ConsentSignals) -> dict[str, str]:
    """Consent Mode types to ``granted``/``denied`` from ``gcd`` (v2), then ``gcs`` (v1) for types
    ``gcd`` leaves unset, then ``npa=1`` (ad personalisation denied). Unset types are absent."""
    states: dict[str, str] = {}
    gcd = signals.gcd or ""
    if len(gcd) < 9 or any(c not in _B64URL for c in gcd):
        gcd = ""  # not a gcd string: ignore it whole rather than guess
    for position, name in _GCD_TYPES.items():
        index = _B64URL.find(gcd[position]) if len(gcd) > position else -1
        if index < 0:
            continue
        update, default = _GCD_STATE.get(index & 3), _GCD_STATE.get((index >> 2) & 3)
        state = update or default  # an update wins where set
        if state:
            states[name] = state
    gcs = signals.gcs or ""
    if len(gcs) == 4 and gcs.startswith("G1"):
        for char, name in ((gcs[2], "ad_storage"), (gcs[3], "analytics_storage")):
            if char in "01":
                states.setdefault(name, GRANTED if char == "1" else DENIED)
    if signals.npa == "1":
        states["ad_personalization"] = DENIED
    return states


_CACHE_LIMIT = 4096


def resolve(signals: ConsentSignals, policy: Policy, country: str | None = None) -> Consent:
    """The purposes granted by a hit's signals under ``policy`` (``country``: the visitor's, for the
    policy's region defaults, which apply only when the hit carries no signal at all). Memoised per
    policy version on the signals' content: the hits of a page or a batch nearly always carry the
    same consent."""
    prefs = signals.categoryPreferences
    key = (
        signals.conflicts,
        # what resolution reads of a preference: granted only when it is JSON true
        tuple((category, value is True) for category, value in prefs.items()) if prefs is not None else None,
        signals.gcs,
        signals.gcd,
        signals.npa,
        signals.tcString,
        signals.gdpr,
        repr(signals.consentManagement) if signals.consentManagement is not None else None,
        country,
    )
    cached: Consent | None = policy.consent_cache.get(key)
    if cached is None:
        cached = keep(policy.consent_cache, key, _resolve(signals, policy, country), _CACHE_LIMIT)
    return cached


def _resolve(signals: ConsentSignals, policy: Policy, country: str | None) -> Consent:
    granted: set[str] = set()
    denied: set[str] = set()
    sources: list[str] = []

    def apply(purposes: Iterable[str], grant: bool) -> None:
        (granted if grant else denied).update(purposes)

    mapping = policy.signals
    prefs = signals.categoryPreferences
    if prefs is not None:
        sources.append("segment.categoryPreferences")
        for category, value in prefs.items():
            name = str(category)
            purposes = mapping.segment_categories.get(name) or mapping.cmp_categories.get(name) or []
            apply(purposes, value is True)
    managed = signals.consentManagement
    if managed is not None:
        sources.append("rudderstack.consentManagement")
        for purpose, grant in rudder_purposes(managed, policy).items():
            apply([purpose], grant)
    modes = consent_mode_states(signals)
    if modes:
        sources.append("google.consent_mode")
        for purpose, grant in consent_mode_purposes(modes, policy).items():
            apply([purpose], grant)
    if signals.tcString is not None:
        sources.append("iab.tcf")
        for purpose, grant in tcf_purposes(signals.tcString, policy).items():
            apply([purpose], grant)
    for name in signals.conflicts or ():
        sources.append(f"conflict:{name}")
        denied.update(conflict_denies(name, policy))
    if not sources and country is not None:
        regional = policy.defaults.by_country.get(country.upper())
        if regional is not None:
            sources.append(f"region_default:{country.upper()}")
            granted.update(regional)
    return Consent(frozenset((granted - denied) | {NECESSARY}), tuple(sources))


def consent_mode_purposes(states: dict[str, str], policy: Policy) -> dict[str, bool]:
    """Consent Mode type states (:func:`consent_mode_states`) to purposes through the policy's
    ``signals.consent_mode``: a purpose is granted (``True``) when every type mapped to it is
    explicitly granted, denied (``False``) when any is denied, and absent (withheld: Consent Mode
    says nothing of it) when none is denied but one is unset."""
    by_purpose: dict[str, list[str]] = {}
    for name, purposes in policy.signals.consent_mode.items():
        for purpose in purposes:
            by_purpose.setdefault(purpose, []).append(name)
    out: dict[str, bool] = {}
    for purpose, names in by_purpose.items():
        seen = [states.get(name) for name in names]
        if DENIED in seen:
            out[purpose] = False
        elif all(state == GRANTED for state in seen):
            out[purpose] = True
    return out


def conflict_denies(name: str, policy: Policy) -> set[str]:
    """The purposes a signal sent twice with different values denies: every purpose it could grant
    (see the module's rules). ``name`` is a :class:`~fairtrack.hit.ConsentSignals` field, or
    ``consent`` for Segment's whole ``context.consent`` object; signals that grant nothing here
    (``dma``, ``dmaCps``, ``usPrivacy``) deny nothing."""
    mapping = policy.signals

    def values(table: dict[Any, list[str]]) -> set[str]:
        return {purpose for purposes in table.values() for purpose in purposes}

    if name == "categoryPreferences":
        return values(mapping.segment_categories) | values(mapping.cmp_categories)
    if name == "consent":
        return (
            values(mapping.segment_categories)
            | values(mapping.cmp_categories)
            | values(mapping.consent_mode)
            | values(mapping.tcf_purposes)
        )
    if name == "consentManagement":
        return values(mapping.cmp_categories)
    if name in ("gcs", "gcd"):
        return values(mapping.consent_mode)
    if name == "npa":
        return set(mapping.consent_mode.get("ad_personalization", ()))
    if name in ("tcString", "gdpr"):
        return values(mapping.tcf_purposes)
    return set()


def _ids(value: Any) -> list[Any]:
    """A CMP's list of category ids; anything else (a number, a string, an object) is no list."""
    return value if isinstance(value, list) else []


def rudder_purposes(managed: dict[str, Any], policy: Policy) -> dict[str, bool]:
    """RudderStack ``context.consentManagement`` to purposes through the policy's CMP categories.

    ``or``: a purpose is granted when any category mapped to it is allowed. ``and`` (the default,
    the stricter): when every mapped category that this CMP speaks of (allowed or denied in the
    hit) is allowed. Categories of other CMPs the policy also maps do not count against it. An id
    in both lists counts as denied only.
    """
    denied = {str(i) for i in _ids(managed.get("deniedConsentIds")) if isinstance(i, (str, int))}
    # an id listed as both allowed and denied is denied: a signal that says both fails closed
    allowed = {str(i) for i in _ids(managed.get("allowedConsentIds")) if isinstance(i, (str, int))} - denied
    strategy = managed.get("resolutionStrategy")
    either = isinstance(strategy, str) and strategy.lower() == "or"
    by_purpose: dict[str, set[str]] = {}
    for category, purposes in policy.signals.cmp_categories.items():
        for purpose in purposes:
            by_purpose.setdefault(purpose, set()).add(category)
    out: dict[str, bool] = {}
    for purpose, categories in by_purpose.items():
        spoken = categories & (allowed | denied)
        if not spoken:
            continue
        out[purpose] = bool(spoken & allowed) if either else spoken <= allowed
    return out


def tcf_purposes(tc_string: str, policy: Policy) -> dict[str, bool]:
    """A TC string to purposes through the policy's TCF mapping. A string that cannot be decoded is
    no signal for TCF (the hit still counts as having sent one, so region defaults do not apply)."""
    mapping = policy.signals.tcf_purposes
    if not mapping:
        return {}
    from fairtrack.consent import tcf  # imported on first TC string: most hits carry none (cold start)

    try:
        tc = tcf.decode(tc_string)
    except tcf.TCFError:
        return {}
    vendor = policy.signals.tcf_vendor_id
    vendor_ok = vendor is None or tc.vendor_consent(vendor) or tc.vendor_legitimate_interest(vendor)
    by_purpose: dict[str, list[int]] = {}
    for number, purposes in mapping.items():
        for purpose in purposes:
            by_purpose.setdefault(purpose, []).append(number)
    out: dict[str, bool] = {}
    for purpose, numbers in by_purpose.items():
        interest = policy.purposes[purpose].legal_basis == "legitimate_interest"
        out[purpose] = vendor_ok and all(
            tc.purpose_consent(n) or (interest and tc.purpose_legitimate_interest(n)) for n in numbers
        )
    return out
