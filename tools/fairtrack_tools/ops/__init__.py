"""The operator CLI, ``fairtrack`` (:mod:`~fairtrack_tools.ops.cli`), and what its commands do.

Sources and write keys (:mod:`~fairtrack_tools.ops.sources`), policies (push, activate, roll back:
:mod:`~fairtrack_tools.ops.policy_ops`; validate, diff, explain: :mod:`~fairtrack_tools.ops.policy_cli`),
consent receipts, data-subject requests, replay of failed deliveries, the decision-log audit and
the smoke check. Each command finds its stack's resources through CloudFormation outputs, or
through ``/_dev/aws`` of a local stack (:mod:`~fairtrack_tools.ops.stackref`).
"""
