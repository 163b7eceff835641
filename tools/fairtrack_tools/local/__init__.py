"""The local stack: the deployed gateway's AWS resources and functions, on one machine.

``fairtrack dev`` (:class:`~fairtrack_tools.local.stack.DevStack`) reads ``template.yaml``
(:mod:`~fairtrack_tools.local.template`), creates its tables, queues, buckets and secrets in an
embedded moto (:mod:`~fairtrack_tools.local.localcloud`), runs each function in worker
subprocesses (:mod:`~fairtrack_tools.local.runtime`), serves the HTTP API
(:mod:`~fairtrack_tools.local.apiserver`), polls the queues into the forwarders
(:mod:`~fairtrack_tools.local.poller`), stands in for GA4, Meta and the webhook
(:mod:`~fairtrack_tools.local.capture`, judged by :mod:`~fairtrack_tools.local.validators`), and
shows each hit's way through ingest (:mod:`~fairtrack_tools.local.debugview`). Every server is a
:class:`~fairtrack_tools.local.loopback.LoopbackServer`.
"""
