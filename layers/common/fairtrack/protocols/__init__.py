"""Protocol adapters: translate an inbound wire format into canonical hits. They never decide privacy.

:mod:`~fairtrack.protocols.intake` is the entry point ingest calls, one function per wire format:
Segment / RudderStack events and batches (:mod:`~fairtrack.protocols.segment`, consent keys given
twice in :mod:`~fairtrack.protocols.segment_consent`) and gtag.js's ``/g/collect``
(:mod:`~fairtrack.protocols.gtag`).
"""
