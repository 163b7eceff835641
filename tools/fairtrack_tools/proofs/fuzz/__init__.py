"""Fuzzing the ingest handler: adversarial API Gateway (HTTP API, payload 2.0) events for every route.

The real ingest function is loaded in-process the way Lambda would load it (template.yaml's
environment, resources created under moto's ``mock_aws`` by :class:`LocalCloud`, seeded with the dev
source: write key ``dev-write-key``, measurement id ``G-DEV``), and every generated request must:

- return (never raise) a dict with an integer ``statusCode`` below 500;
- answer an empty body or valid JSON;
- never echo a planted secret (``canary-<n>@example.com``, ``198.51.100.77``) in its body or headers,
  nor write one to the function's logs or metrics.

The queues are held to what real SQS accepts (moto does not check message characters): a message
SQS would refuse with ``InvalidMessageContents`` is refused here too, so the handler's answer is the
one a deployment would give.

The requests come from Hypothesis strategies (:func:`requests`): valid-ish and random JSON (deep
nesting up to 5000 levels, huge strings and arrays, out-of-range numbers, NaN/Infinity, duplicate
keys, unpaired surrogates, invalid and overlong UTF-8, BOMs, NUL), base64 bodies with mismatched
``isBase64Encoded``, gzip (valid, truncated, bombs, multi-member) with and without
``Content-Encoding``, odd content types, garbled and huge headers, Authorization variants, query
strings with write keys and gtag parameters (consent ones with garbage TC strings), multi-line
``/g/collect`` bodies, missing optional request fields, garbage source addresses and huge batches;
one request in four as a deployment behind a proxy (``TrustedProxy`` ``hops:1``, ``hops:2`` or
``cloudfront``) answers it.

``tests/fuzz`` runs a short, derandomised pass in CI. The long run::

    python -m fairtrack_tools.proofs.fuzz --seconds 600            # Hypothesis, random seeds
    python -m fairtrack_tools.proofs.fuzz --seconds 600 --atheris  # coverage-guided (libFuzzer via atheris)

prints the figures (requests, statuses, routes, deepest nesting, exceptions, 5xx, leaks, time) and
exits 1 on any failure, 0 otherwise; the events that failed are written as JSON to ``--artifacts``.
"""

from __future__ import annotations

from fairtrack_tools.proofs.fuzz.bodies import parsed_query
from fairtrack_tools.proofs.fuzz.harness import Harness, Outcome, problems, running
from fairtrack_tools.proofs.fuzz.longrun import KNOWN_BUGS, failure_signature, known_bug
from fairtrack_tools.proofs.fuzz.values import CANARY_IP, dumps, nested, obj
from fairtrack_tools.proofs.fuzz.wire import FuzzRequest, Wire, api_event, gzip_bomb, json_gzip_bomb, requests

__all__ = [
    "CANARY_IP",
    "KNOWN_BUGS",
    "FuzzRequest",
    "Harness",
    "Outcome",
    "Wire",
    "api_event",
    "dumps",
    "failure_signature",
    "gzip_bomb",
    "json_gzip_bomb",
    "known_bug",
    "nested",
    "obj",
    "parsed_query",
    "problems",
    "requests",
    "running",
]
