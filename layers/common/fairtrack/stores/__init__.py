"""The stores: every read and write to DynamoDB, S3 and SQS, through one client per service.

In the order a hit meets them: the policy table (:mod:`~fairtrack.stores.policy_table`: the active
policy, sources, suppressions) when ingest accepts it; the destination queues
(:mod:`~fairtrack.stores.queue`) when it is routed; on the forwarder"s side the delivery ledger
(:mod:`~fairtrack.stores.ledger`, GA4"s once-only claims), the decision log
(:mod:`~fairtrack.stores.decision_log`, counts never per visitor) and the failed-events store
(:mod:`~fairtrack.stores.failed_events`, for replay); and the data-subject rights over all of them
(:mod:`~fairtrack.stores.subjects`). :mod:`~fairtrack.stores.clients` makes the boto3 clients.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fairtrack.lazy import lazy_exports

if TYPE_CHECKING:
    from fairtrack.stores.clients import SharedClient
    from fairtrack.stores.decision_log import BatchDecisions, BucketDecisionLog, DecisionLog, merge_rows, read_rows
    from fairtrack.stores.failed_events import FailedStore
    from fairtrack.stores.ledger import Claim, Ledger
    from fairtrack.stores.policy_table import NoActivePolicy, PolicyStore, Source, is_suppressed
    from fairtrack.stores.queue import MAX_MESSAGE_BYTES, QueueSender, chunk_envelopes, envelope_from_body

__all__ = [
    "MAX_MESSAGE_BYTES",
    "BatchDecisions",
    "BucketDecisionLog",
    "Claim",
    "DecisionLog",
    "FailedStore",
    "Ledger",
    "NoActivePolicy",
    "PolicyStore",
    "QueueSender",
    "SharedClient",
    "Source",
    "chunk_envelopes",
    "envelope_from_body",
    "is_suppressed",
    "merge_rows",
    "read_rows",
]

__getattr__ = lazy_exports(
    __name__,
    {
        "clients": ("SharedClient",),
        "policy_table": (
            "NoActivePolicy",
            "PolicyStore",
            "Source",
            "is_suppressed",
        ),
        "queue": (
            "MAX_MESSAGE_BYTES",
            "QueueSender",
            "chunk_envelopes",
            "envelope_from_body",
        ),
        "ledger": (
            "Claim",
            "Ledger",
        ),
        "decision_log": (
            "BatchDecisions",
            "BucketDecisionLog",
            "DecisionLog",
            "merge_rows",
            "read_rows",
        ),
        "failed_events": ("FailedStore",),
    },
)
