"""Consent signals to purposes. Fails closed: no signal means ``necessary`` only.

The spine reads Segment's ``context.consent.categoryPreferences``; Google Consent Mode, TCF and
RudderStack signals join here. A purpose mapped from several categories is granted only when at
least one of them is granted and none is explicitly denied.
"""

from __future__ import annotations

from dataclasses import dataclass

from fairtrack.hit import ConsentSignals
from fairtrack.policy import NECESSARY, Policy


@dataclass(frozen=True, slots=True)
class Consent:
    granted: frozenset[str]
    sources: tuple[str, ...]


def resolve(signals: ConsentSignals, policy: Policy) -> Consent:
    granted: set[str] = set()
    denied: set[str] = set()
    sources: list[str] = []
    prefs = signals.categoryPreferences
    if prefs is not None:
        sources.append("segment.categoryPreferences")
        for category, value in prefs.items():
            for purpose in policy.signals.segment_categories.get(str(category), ()):
                (granted if value is True else denied).add(purpose)
    return Consent(frozenset((granted - denied) | {NECESSARY}), tuple(sources))
