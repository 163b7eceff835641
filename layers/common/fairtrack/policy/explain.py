"""Read-only explanations of what ingest decided, for people (the local stack's debug view).

Nothing here changes a hit, a decision or a policy. Every function is pure and answers in the
policy's own vocabulary (purposes, legal bases, signal kinds, decision reasons, field paths as
:class:`~fairtrack.policy.decisions.Decision` reports them), never with a value a client sent: a consent
category name, a TC string or a CMP id can itself be personal data, so none is repeated.

The purposes a hit was granted always come from :func:`fairtrack.consent.signals.resolve`, the call ingest
makes; :func:`signal_effects` only breaks that result down per signal, for reading.
"""

from __future__ import annotations

from typing import Any

from fairtrack.consent.signals import Consent, consent_mode_purposes, consent_mode_states, rudder_purposes, tcf_purposes
from fairtrack.hit import ConsentSignals
from fairtrack.policy.decisions import Decision
from fairtrack.policy.model import NECESSARY, Policy

__all__ = ["describe", "explain_consent", "field_rows", "signal_effects"]

# The signal kinds consent.resolve reads, as it names them in Consent.sources.
SEGMENT = "segment.categoryPreferences"
RUDDERSTACK = "rudderstack.consentManagement"
CONSENT_MODE = "google.consent_mode"
TCF = "iab.tcf"
REGION_DEFAULT = "region_default"

SIGNAL_LABELS: dict[str, str] = {
    SEGMENT: "Segment context.consent.categoryPreferences",
    RUDDERSTACK: "RudderStack context.consentManagement",
    CONSENT_MODE: "Google Consent Mode (gcs / gcd / npa)",
    TCF: "IAB TCF TC string (gdpr_consent)",
    REGION_DEFAULT: "the policy's default for the visitor's region",
}

# Signals a hit may carry that grant no purpose in fairtrack (recorded, not resolved).
OTHER_SIGNALS: dict[str, str] = {
    "gdpr": "gdpr (TCF applies flag)",
    "usPrivacy": "us_privacy (IAB CCPA string)",
    "dma": "dma",
    "dmaCps": "dma_cps",
}

REASONS: dict[str, str] = {
    "allowed": "its purpose is granted and the destination lists it",
    "not_catalogued": "not in the policy's catalogue: a field the catalogue does not name is never sent",
    "not_allowed_for_destination": "the destination's attribute list does not name it",
    "purpose_not_granted": "its purpose was not granted",
    "form_not_applicable": "the value does not fit the form the policy asks for, so it is dropped rather than sent",
    "format_mismatch": "the value does not fit its attribute's format (closed world), so it is dropped, never sent",
    "nothing_allowed": "no field of the hit may go to this destination",
    "destination_not_in_policy": "the active policy does not name this destination",
    "bot_traffic": "the user agent is a bot and the policy says defaults.bots: drop",
    "pii_quarantined": "personal data was found and the policy says defaults.pii: quarantine",
    "subject_suppressed": "the data subject was erased on request: their hits go nowhere",
    "duplicate_message_id": "an earlier, different hit of the same request has its messageId, which "
    "every destination deduplicates on: it goes nowhere, and is counted (duplicates in the answer)",
    "not_configured": "the deployment configured no queue for it (no measurement id, pixel id or webhook URL)",
}


def describe(reason: str) -> str:
    """A decision's reason in words (``purpose_not_granted:analytics`` -> needs analytics...)."""
    head, _, rest = reason.partition(":")
    if head == "purpose_not_granted" and rest:
        return f"needs {rest.replace(',', ' and ')}, which the hit's consent did not grant"
    return REASONS.get(reason, reason)


def field_rows(decisions: list[Decision]) -> list[dict[str, Any]]:
    """The field-level decisions (sent / reduced / dropped) as rows, each with its reason in words."""
    return [{**d.as_dict(), "explanation": describe(d.reason)} for d in decisions if d.field is not None]


def signals_present(signals: ConsentSignals) -> list[str]:
    """Which consent signal kinds a hit carried, whether or not they could be read."""
    kinds: list[str] = []
    if signals.categoryPreferences is not None:
        kinds.append(SEGMENT)
    if signals.consentManagement is not None:
        kinds.append(RUDDERSTACK)
    if signals.gcs is not None or signals.gcd is not None or signals.npa is not None:
        kinds.append(CONSENT_MODE)
    if signals.tcString is not None:
        kinds.append(TCF)
    return kinds


def _segment_effect(prefs: dict[str, Any], policy: Policy) -> tuple[set[str], set[str], int]:
    grants: set[str] = set()
    denies: set[str] = set()
    unmapped = 0
    mapping = policy.signals
    for category, value in prefs.items():
        name = str(category)
        purposes = mapping.segment_categories.get(name) or mapping.cmp_categories.get(name) or []
        if not purposes:
            unmapped += 1
        (grants if value is True else denies).update(purposes)
    return grants, denies, unmapped


def signal_effects(signals: ConsentSignals, policy: Policy, used: tuple[str, ...]) -> list[dict[str, Any]]:
    """Per signal kind the hit carried: whether resolution used it, and the purposes it granted
    and denied on its own (across signals a purpose is granted only when some signal grants it and
    none denies it). No signal's content is repeated, only purposes and Consent Mode type names."""
    out: list[dict[str, Any]] = []
    for kind in signals_present(signals):
        grants: set[str] = set()
        denies: set[str] = set()
        entry: dict[str, Any] = {"kind": kind, "label": SIGNAL_LABELS[kind], "used": kind in used}
        if kind == SEGMENT and signals.categoryPreferences is not None:
            grants, denies, unmapped = _segment_effect(signals.categoryPreferences, policy)
            if unmapped:
                entry["note"] = f"{unmapped} categor{'y' if unmapped == 1 else 'ies'} the policy does not map"
        elif kind == RUDDERSTACK and signals.consentManagement is not None:
            for purpose, grant in rudder_purposes(signals.consentManagement, policy).items():
                (grants if grant else denies).add(purpose)
        elif kind == CONSENT_MODE:
            states = consent_mode_states(signals)
            entry["states"] = states  # Consent Mode's own type names and granted/denied
            # a purpose only when every Consent Mode type mapped to it is granted (the resolver's rule)
            for purpose, grant in consent_mode_purposes(states, policy).items():
                (grants if grant else denies).add(purpose)
            if not states:
                entry["note"] = "no readable gcs/gcd/npa value: not a signal"
        elif kind == TCF and signals.tcString is not None:
            from fairtrack.consent import tcf

            try:
                tcf.decode(signals.tcString)
            except tcf.TCFError:
                entry["note"] = "the TC string could not be decoded: it grants nothing"
            for purpose, grant in tcf_purposes(signals.tcString, policy).items():
                (grants if grant else denies).add(purpose)
        entry["grants"] = sorted(grants)
        entry["denies"] = sorted(denies)
        out.append(entry)
    return out


def explain_consent(
    signals: ConsentSignals, granted: Consent, policy: Policy, country: str | None = None
) -> dict[str, Any]:
    """What :func:`fairtrack.consent.signals.resolve` gave a hit, and where it came from."""
    used = granted.sources
    region = next((s for s in used if s.startswith(REGION_DEFAULT + ":")), None)
    effects = signal_effects(signals, policy, used)
    if any(s in SIGNAL_LABELS and s != REGION_DEFAULT for s in used):
        basis = "signals"
        labels = ", ".join(SIGNAL_LABELS[s] for s in used if s in SIGNAL_LABELS)
        summary = f"from {labels}"
    elif region is not None:
        basis = REGION_DEFAULT
        summary = f"no consent signal: the policy's default for {region.partition(':')[2]} applies"
    else:
        basis = "none"
        summary = f"no usable consent signal: {NECESSARY} only (fails closed)"
    out: dict[str, Any] = {
        "granted": granted.purposes,
        "purposes": [
            {"name": name, "legal_basis": purpose.legal_basis, "granted": name in granted.granted}
            for name, purpose in policy.purposes.items()
        ],
        "basis": basis,
        "fails_closed": basis == "none",
        "summary": summary,
        "signals": effects,
        "other_signals": [label for name, label in OTHER_SIGNALS.items() if getattr(signals, name) is not None],
        "country": country,
    }
    if region is not None:
        out["region_default"] = region.partition(":")[2]
    return out
