"""Consent states, derived from the policy: every subset of its non-necessary purposes through
each signal family (Segment, RudderStack, Google Consent Mode, IAB TCF), none, and conflicts.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from fairtrack_tools.proofs.closed_world.places import (
    default_policy,
)
from fairtrack_tools.proofs.traffic import NECESSARY


@dataclass(frozen=True)
class State:
    label: str
    family: str
    intended: frozenset[str] | None  # purposes meant to be granted (None: a conflict, should deny)
    segment: dict[str, Any] | None = None  # merged into the event's context
    gtag: dict[str, str] | None = None  # added to the gtag parameters
    gtag_raw: str = ""  # appended to the raw query as is (a duplicated parameter)
    json_patch: tuple[str, str] | None = None  # (placeholder, raw JSON) in the body


_GCD_POSITIONS = {"ad_storage": 2, "analytics_storage": 4, "ad_user_data": 6, "ad_personalization": 8}
_B64URL = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_"


def _tc_string(consents: set[int]) -> str:
    """A minimal IAB TCF v2 core segment with these purpose consents."""
    bits = ""

    def put(value: int, width: int) -> None:
        nonlocal bits
        bits += format(value, f"0{width}b")

    put(2, 6)
    put(17_600_000_000, 36)
    put(17_600_000_000, 36)
    for value, width in ((300, 12), (1, 12), (1, 6), (4 * 64 + 13, 12), (150, 12), (5, 6), (1, 1), (0, 1), (0, 12)):
        put(value, width)
    bits += "".join("1" if n in consents else "0" for n in range(1, 25))
    bits += "0" * 24
    put(0, 1)
    put(3 * 64 + 4, 12)
    for value, width in ((0, 16), (0, 1), (0, 16), (0, 1), (0, 12)):
        put(value, width)
    bits += "0" * (-len(bits) % 8)
    return base64.urlsafe_b64encode(int(bits, 2).to_bytes(len(bits) // 8, "big")).decode().rstrip("=")


def consent_states(policy: Any = None) -> list[State]:
    """Every subset of the policy's non-necessary purposes through each signal family, no signal,
    and conflicting signals."""
    from fairtrack import consent as consent_stage

    policy = policy or default_policy()
    signals = policy.signals
    purposes = sorted(p for p in policy.purposes if p != NECESSARY)
    positions = {name: pos for pos, name in getattr(consent_stage, "_GCD_TYPES", {}).items()} or _GCD_POSITIONS

    def first(mapping: dict[Any, list[str]], purpose: str) -> Any:
        return next((k for k, v in mapping.items() if list(v) == [purpose]), None)

    states = [State("no signal", "none", frozenset())]
    for size in range(len(purposes) + 1):
        for chosen in _subsets(purposes, size):
            granted = frozenset(chosen)
            name = "+".join(chosen) or "nothing"
            prefs = {first(signals.segment_categories, p): p in granted for p in purposes}
            if None not in prefs:
                states.append(
                    State(
                        f"{name} via categoryPreferences",
                        "segment",
                        granted,
                        {"consent": {"categoryPreferences": prefs}},
                    )
                )
            cmp = {p: first(signals.cmp_categories, p) for p in purposes}
            if None not in cmp.values():
                managed = {
                    "provider": "oneTrust",
                    "allowedConsentIds": [cmp[p] for p in purposes if p in granted],
                    "deniedConsentIds": [cmp[p] for p in purposes if p not in granted],
                }
                states.append(
                    State(f"{name} via consentManagement", "rudderstack", granted, {"consentManagement": managed})
                )
            if signals.consent_mode:
                chars = ["1", "3", "", "3", "", "3", "", "3", "", "5"]
                for mode, mapped in signals.consent_mode.items():
                    on = all(p in granted for p in mapped)
                    index = (3 | 3 << 2) if on else (2 | 2 << 2)
                    if mode in positions:
                        chars[positions[mode]] = _B64URL[index]
                gcd = "".join(c or "l" for c in chars)
                states_of = {m: all(p in granted for p in v) for m, v in signals.consent_mode.items()}
                gcs = "G1" + "".join("1" if states_of.get(m) else "0" for m in ("ad_storage", "analytics_storage"))
                states.append(
                    State(
                        f"{name} via gcs+gcd",
                        "consent_mode",
                        granted,
                        {"consent": {"gcs": gcs, "gcd": gcd}},
                        {"gcs": gcs, "gcd": gcd},
                    )
                )
            if signals.tcf_purposes:
                numbers = {n for n, mapped in signals.tcf_purposes.items() if all(p in granted for p in mapped)}
                tc = _tc_string(numbers)
                states.append(
                    State(
                        f"{name} via TCF",
                        "tcf",
                        granted,
                        {"consent": {"tcString": tc, "gdpr": "1"}},
                        {"gdpr": "1", "gdpr_consent": tc},
                    )
                )
    cmp_any = next(iter(signals.cmp_categories), "C0002")
    cat_any = next(iter(signals.segment_categories), "analytics")
    states += [
        State(
            "conflict: a category both allowed and denied (consentManagement)",
            "conflict",
            None,
            {"consentManagement": {"allowedConsentIds": list(signals.cmp_categories), "deniedConsentIds": [cmp_any]}},
        ),
        State("conflict: gcs=G111 without gcd", "conflict", None, {"consent": {"gcs": "G111"}}, {"gcs": "G111"}),
        State("conflict: duplicated gcs (G100 then G111)", "conflict", None, None, {}, "gcs=G100&gcs=G111"),
        State(
            "conflict: duplicated key in categoryPreferences (false then true)",
            "conflict",
            None,
            {"consent": {"categoryPreferences": {"__dup__": 0}}},
            json_patch=('"__dup__":0', f'"{cat_any}":false,"{cat_any}":true'),
        ),
        State(
            "conflict: categoryPreferences grants, consentManagement denies",
            "conflict",
            None,
            {
                "consent": {"categoryPreferences": dict.fromkeys(signals.segment_categories, True)},
                "consentManagement": {"allowedConsentIds": [], "deniedConsentIds": list(signals.cmp_categories)},
            },
        ),
    ]
    return states


def _subsets(items: list[str], size: int) -> Iterator[tuple[str, ...]]:
    import itertools

    yield from itertools.combinations(items, size)
