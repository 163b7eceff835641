"""The one place the layer makes boto3 clients: each is made on first use, from boto3's default
session, and can be handed in instead (tests, and the handlers that share one client).

- :func:`make_client` / :func:`make_resource`: a client (resource) from the default session; boto3 is
  imported on the first call, so importing a store costs nothing for tests and tools that never reach
  AWS. A new session would load botocore's endpoint, retry and service data files again.
- :class:`LazyClient`: the attribute of a store that holds its client (``s3 = LazyClient("s3")``):
  the client given to the store's constructor, else one made on first read and kept by the instance.
- :class:`SharedClient`: one client per service shared by several stores of one function (the lake
  forwarder writes to S3 from the lake destination, the decision log and the failed-events store);
  a boto3 client is thread-safe and all of them run under the same function role, so sharing one
  changes no permission and no call.
"""

from __future__ import annotations

import threading
from typing import Any, overload

__all__ = ["LazyClient", "SharedClient", "make_client", "make_resource"]


def make_client(service: str) -> Any:
    """A boto3 client for ``service`` from the default session."""
    import boto3

    make: Any = boto3.client  # typed per service name: this one is any service
    return make(service)


def make_resource(service: str) -> Any:
    """A boto3 resource for ``service`` from the default session."""
    import boto3

    make: Any = boto3.resource
    return make(service)


class LazyClient:
    """A store's client for ``service``: what was assigned to the attribute (its constructor's
    argument), or, when that was None, a client made by :func:`make_client` on first read and kept on
    the instance (in ``_<name>``). Reading it never reaches AWS; the first call on the client does."""

    def __init__(self, service: str) -> None:
        self.service = service
        self.slot = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.slot = f"_{name}"

    @overload
    def __get__(self, obj: None, objtype: type | None = None) -> LazyClient: ...
    @overload
    def __get__(self, obj: object, objtype: type | None = None) -> Any: ...
    def __get__(self, obj: object | None, objtype: type | None = None) -> Any:
        if obj is None:
            return self
        client = getattr(obj, self.slot, None)
        if client is None:
            client = make_client(self.service)
            setattr(obj, self.slot, client)
        return client

    def __set__(self, obj: object, value: Any) -> None:
        setattr(obj, self.slot, value)


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
                    self._client = make_client(self.service)
        return self._client

    def __getattr__(self, name: str) -> Any:
        # only for names this class does not define: the client's methods and attributes
        return getattr(self.client, name)
