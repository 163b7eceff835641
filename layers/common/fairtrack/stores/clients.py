"""One boto3 client per service and function, shared by the parts of the function that call it.

The lake forwarder writes to S3 from three places: the lake destination, the decision log and the
failed-event store. Each used to create its own client on first use, so a cold start created (and
configured) two or three S3 clients where one does: a boto3 client is thread-safe, and all three
run under the same function role, so sharing one changes no permission and no call.
"""

from __future__ import annotations

import threading
from typing import Any


class SharedClient:
    """A boto3 client for ``service`` from the default session, created on first use and then
    shared; attribute access goes to the client (``shared.put_object(...)``). Nothing here creates
    it at import: the forwarder handler uses it while it initialises, since every batch needs it."""

    def __init__(self, service: str) -> None:
        self.service = service
        self._client: Any = None
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    import boto3

                    make: Any = boto3.client  # typed per service name: this one is any service
                    self._client = make(self.service)
        return self._client

    def __getattr__(self, name: str) -> Any:
        # only for names this class does not define: the client's methods and attributes
        return getattr(self.client, name)
