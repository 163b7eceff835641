"""fairtrack's tools, by who uses them; none is shipped in the Lambda layer.

- :mod:`fairtrack_tools.local`: the local stack a developer runs (``fairtrack dev``): the embedded
  AWS, the HTTP API, the function workers, the capture servers and the debug view.
- :mod:`fairtrack_tools.ops`: the operator CLI (``fairtrack``): sources, policies, consent receipts,
  subject rights, replay, audit and smoke checks against a deployed (or the local) stack.
- :mod:`fairtrack_tools.proofs`: the proofs run in CI and at length: load under faults, privacy
  canaries, the closed-world canaries and the ingest fuzzer.

The runtime package ``fairtrack`` never imports these.
"""
