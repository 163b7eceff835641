"""Proof runs against the whole local stack: nothing lost under faults, nothing personal leaks.

``python -m fairtrack_tools.proofs load --hits 100000`` and ``python -m fairtrack_tools.proofs
canaries --hits 100000`` are the long forms; ``tests/proof`` runs the same code with a few thousand
hits. Both print their tables and exit non-zero on any violation. Everything stays on loopback and
is bounded in count (``--hits``) and time (``--drain-timeout``).

The stack is :class:`~fairtrack_tools.local.stack.DevStack` (what ``fairtrack dev`` runs), started
in this process with three additions made from the outside, without changing it:

- **a fault-injecting proxy** (:class:`~fairtrack_tools.proofs.faults.FaultProxy`) in front of the
  capture server: the stack is started with ``WebhookUrl``, ``Ga4Endpoint`` and ``MetaGraphUrl``
  pointing at it. A share of the requests (``--fault-rate``, 30% for ``load``) never reaches the
  capture server: the proxy answers 500, 503 or 429, holds the request past the forwarders'
  timeout, resets the connection, or refuses it for good (GA4 403, webhook 410, Meta Graph error
  190). Every fault happens *before* the destination saw the request, so an exactly-once outcome is
  provable: a fault after delivery (answer lost) would make any at-least-once system send twice.
  The proxy talks to the capture server with one connection per request (``Connection: close``),
  and answers with ``TCP_NODELAY``: the capture server writes an answer in two sends, which on a
  kept-alive connection waits for the client's delayed ACK (Nagle's algorithm): ~44 ms per request,
  against ~2 ms through this proxy.
- **worker logs**: each function worker's stderr (where the worker puts the handler's stdout: the
  Powertools JSON log lines and the EMF metric lines) goes to a file per worker, read at the end;
  the stack's own stderr (pollers) is teed. Forwarder timeouts are cut to 2.5 s
  (``DESTINATION_TIMEOUT_SECONDS``/``WEBHOOK_TIMEOUT_SECONDS``, inherited by the workers) so a
  timeout costs seconds, not tens of seconds, while a relayed request (8 of a batch in flight at
  once, on a loaded machine) still gets its answer in time, and visibility timeouts to
  ``--visibility`` seconds (2) so SQS redelivers within seconds (after 5 receives the DLQ keeps a
  message). The decision log
  (the template's Firehose stream into the lake bucket) is switched on when the layer has it.
- **an AWS tap** (:class:`~fairtrack_tools.proofs.stack.AwsTap`): the ingest workers reach the
  embedded AWS through a recording loopback proxy, so every message ingest queued can be searched,
  however many (reading them back from moto is not an option: its ReceiveMessage walks the whole
  queue on every call).

Load and faults (:func:`~fairtrack_tools.proofs.load_report.run_load`)
----------------------------------
N Segment hits (single requests and batches of 2-48, typed and short routes, beacon, gzip, write
key in the header, body or query; track/page/screen/identify/group/alias; 1% invalid events in
batches) under eight consent states, sent through the real ingest API. For each destination:

- **accepted** is what ingest queued to it, counted from what was sent and the policy
  (``policies/default.yaml``): every valid hit goes to the lake (it needs only ``necessary``), hits
  granting ``analytics`` to GA4 and the webhook, hits granting ``advertising`` to Meta. It is
  checked against the sum of ``queued`` in ingest's ``hits routed`` log lines.
- **delivered**: unique event ids the capture server accepted (Meta ``event_id``, webhook and lake
  ``messageId``, GA4 the ``proof_id`` parameter every hit carries in its properties), lake records.
- **dropped** by the destination's rules, with the reason, predicted for each hit by the rules the
  mappers document (GA4: ``unsupported_type`` for identify and alias (a group is ``join_group``),
  ``missing_client_id`` without an anonymousId, ``reserved_event_name``, ``invalid_event_name``;
  Meta: ``unsupported_type``, ``missing_event_source_url`` without a page URL,
  ``missing_client_user_agent``, ``no_customer_information`` without analytics consent (the IP and
  the pseudonymous ids need it), ``missing_purchase_value``), checked against the decision log's
  settled counts when it is on.
- **failed**: events in the failed-events store (listed with boto3 at the ``/_dev/aws`` endpoint),
  with the reason; **in DLQ**: events of dead-lettered messages not settled otherwise.
- **lost** = accepted minus all of the above (must be 0); **unexpected**: delivered though it
  should not have been (consent, or a predicted drop).
- **duplicates**, per destination's guarantee
  (:data:`~fairtrack.destinations.guarantees.GUARANTEES`, the table in docs/destinations.md): *raw*, every copy of
  an event beyond the first, and *after dedup*, the copies left once deduplicated by the
  destination's idempotency key (:func:`~fairtrack_tools.proofs.evidence.dedup_keys`: Meta
  ``event_name`` + ``event_id``, the webhook's ``Idempotency-Key`` header, the lake's
  ``event.messageId``; GA4 has none). Exactly once (GA4, its ledger) must show 0 raw duplicates; at
  least once must show 0 after dedup, its raw copies printed.

Cross-checks: the forwarders' ``batch forwarded`` lines (events delivered = every copy delivered,
failed = the failed store, retried requests = the retryable faults the proxy injected, duplicates
skipped = re-sends the GA4 ledger stopped), the failed-store objects = permanent faults injected.

Privacy canaries (:func:`~fairtrack_tools.proofs.canary_report.run_canaries`)
---------------------------------------
Hits (Segment and gtag, random consent states) carrying personal data that is distinct per hit *and
per placement*, so a value found names the place it was planted: e-mails (URL path, query and
``utm_term``, referrer, properties by name, in free text, nested, in a list and as a *key*, traits,
``context.traits``, page title, ``context.campaign``, gtag ``dl dr dt ck ep.* up.*``), phone
numbers, IPv4/IPv6 addresses (properties, free text, URL path, the client-sent ``context.ip`` and
gtag ``_uip``, and ``X-Forwarded-For``, whose last entry the canary stack trusts,
``TrustedProxy=hops:1``, so it is the client address), raw ids (``anonymousId``, ``userId``,
``groupId``, ``previousId``, gtag ``cid``/``uid``, ``context.device.id``; all ``cnry<kind><8
chars>``), first and last names, and ids in URL paths in the forms the URL cleaner claims (UUIDs,
24-hex tokens); invalid events and a refused request carry some too. Then every surface is
searched: each queue message (as ingest sent it, through the tap), DLQs and what is left on the
queues, every captured request (body, query, headers), every lake and decision-log object, the
failed-events store, every DynamoDB item, every line the workers and the stack printed (logs and
EMF metrics), every answer of the ingest API. A canary may appear hashed (SHA-256, keyed
pseudonyms) or reduced (``/24``), never in clear (e-mails and ids by their marker, also
URL-decoded; IPs, UUIDs and tokens by pattern; phone numbers by their digits in any of their
forms).

Then every field each destination received is traced to the catalogue
(:mod:`~fairtrack_tools.proofs.catalogue`: ``GA4_FIELDS``, ``META_FIELDS``; webhook and lake events
are canonical hits, traced by their path's longest catalogued prefix): the destination must list
the attribute, and its purpose must be one the hit's consent granted (``requires`` too), with the
purpose's legal basis. Fields that carry no hit data (``consent``, ``action_source``, the envelope)
are traced to ``necessary``. Placements that leak today are listed in
:data:`~fairtrack_tools.proofs.canaries.KNOWN_LEAKS` (utm values copied into ``context.campaign``,
page titles, a hit's own short user id echoed in its URL path): the report shows them like any
other leak and ``tests/proof`` tests each on its own, as a strict xfail.

The closed-world canaries (:mod:`fairtrack_tools.proofs.closed_world`) plant personal data in every
place the code accepts a value; the fuzzer (:mod:`fairtrack_tools.proofs.fuzz`) throws adversarial
requests at the ingest handler in process.
"""
