"""The route stage: the consent policy (policy-as-code) and the engine that applies it.

After consent and anonymisation, :mod:`~fairtrack.policy.engine` evaluates a hit against the active
:class:`Policy`: which destinations it goes to and which attributes each may receive, in which
:mod:`~fairtrack.policy.forms` (hashed, origin only, coarse IP...). :mod:`~fairtrack.policy.explain`
describes what was decided, for people (the local stack"s debug view), and never decides itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fairtrack.lazy import lazy_exports

if TYPE_CHECKING:
    from fairtrack.policy.engine import NECESSARY, Decision, Policy, conform, evaluate, plan_for
    from fairtrack.policy.explain import explain_consent, signal_effects

__all__ = ["NECESSARY", "Decision", "Policy", "conform", "evaluate", "explain_consent", "plan_for", "signal_effects"]

__getattr__ = lazy_exports(
    __name__,
    {
        "engine": (
            "NECESSARY",
            "Decision",
            "Policy",
            "conform",
            "evaluate",
            "plan_for",
        ),
        "explain": (
            "explain_consent",
            "signal_effects",
        ),
    },
)
