"""The route stage: the consent policy (policy-as-code) and the engine that applies it.

After consent and anonymisation, :mod:`~fairtrack.policy.engine` evaluates a hit against the active
:class:`Policy` (the document, :mod:`~fairtrack.policy.model`, compiled per destination and granted
purposes, :mod:`~fairtrack.policy.plan`): which destinations it goes to and which attributes each may
receive, in which :mod:`~fairtrack.policy.forms` (hashed, origin only, coarse IP...), each with a
:class:`Decision` (:mod:`~fairtrack.policy.decisions`). :mod:`~fairtrack.policy.explain` describes
what was decided, for people (the local stack"s debug view), and never decides itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fairtrack.lazy import lazy_exports

if TYPE_CHECKING:
    from fairtrack.policy.decisions import Decision
    from fairtrack.policy.engine import conform, evaluate
    from fairtrack.policy.explain import explain_consent, signal_effects
    from fairtrack.policy.model import NECESSARY, Policy
    from fairtrack.policy.plan import plan_for

__all__ = ["NECESSARY", "Decision", "Policy", "conform", "evaluate", "explain_consent", "plan_for", "signal_effects"]

__getattr__ = lazy_exports(
    __name__,
    {
        "model": ("NECESSARY", "Policy"),
        "decisions": ("Decision",),
        "plan": ("plan_for",),
        "engine": ("conform", "evaluate"),
        "explain": (
            "explain_consent",
            "signal_effects",
        ),
    },
)
