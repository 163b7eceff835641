"""Proofs against the whole local stack: nothing lost under faults, nothing personal leaks.

See :mod:`fairtrack_tools.proofs.proof` (load and canaries), :mod:`fairtrack_tools.proofs.closed_world`
and :mod:`fairtrack_tools.proofs.fuzz`; ``tests/proof`` and ``tests/fuzz`` run short forms.
"""
