"""Consent signals to purposes. Fails closed: no signal means ``necessary`` only.

Signals read so far: Segment's ``context.consent.categoryPreferences`` and Google Consent Mode
(gtag ``gcs``, ``gcd``, ``npa``); TCF and RudderStack signals join here. A purpose mapped from
several categories or consent types is granted only when at least one of them is granted and none
is explicitly denied.
"""

from __future__ import annotations

from dataclasses import dataclass

from fairtrack.hit import ConsentSignals
from fairtrack.policy import NECESSARY, Policy


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


def resolve(signals: ConsentSignals, policy: Policy) -> Consent:
    """The purposes granted by a hit's signals under ``policy``. Memoised per policy version on
    the signals' content: the hits of a page or a batch nearly always carry the same consent."""
    prefs = signals.categoryPreferences
    key = (
        # what resolution reads of a preference: granted only when it is JSON true
        tuple((category, value is True) for category, value in prefs.items()) if prefs is not None else None,
        signals.gcs,
        signals.gcd,
        signals.npa,
        repr(signals.consentManagement) if signals.consentManagement else None,
    )
    cached = policy.consent_cache.get(key)
    if cached is None:
        if len(policy.consent_cache) >= _CACHE_LIMIT:
            policy.consent_cache.clear()
        cached = policy.consent_cache[key] = _resolve(signals, policy)
    return cached


def _resolve(signals: ConsentSignals, policy: Policy) -> Consent:
    granted: set[str] = set()
    denied: set[str] = set()
    sources: list[str] = []
    prefs = signals.categoryPreferences
    if prefs is not None:
        sources.append("segment.categoryPreferences")
        for category, value in prefs.items():
            for purpose in policy.signals.segment_categories.get(str(category), ()):
                (granted if value is True else denied).add(purpose)
    modes = consent_mode_states(signals)
    if modes:
        sources.append("google.consent_mode")
        for name, state in modes.items():
            for purpose in policy.signals.consent_mode.get(name, ()):
                (granted if state == GRANTED else denied).add(purpose)
    return Consent(frozenset((granted - denied) | {NECESSARY}), tuple(sources))
