"""Which source a request speaks for, and whether the page that sent it may read the answer.

A source is named by its write key (Segment / RudderStack routes, consent receipts) or by its GA4
measurement id (gtag's ``tid``). A browser's ``Origin`` must be one the source allows; an allowed
page's answer, an error included, carries the CORS headers it needs to read it
(:mod:`fairtrack.api.cors`). Refusals are :class:`~fairtrack.errors.ClientError` that never echo the
key or id sent.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from fairtrack.api import cors
from fairtrack.api.body import write_key_of
from fairtrack.errors import ClientError

if TYPE_CHECKING:
    from fairtrack.ingest import IngestRequest
    from fairtrack.stores.policy_table import PolicyStore, Source

__all__ = ["SourceAccess"]

T = TypeVar("T")

# what names a source, and the reasons a request without it (401 missing_...) or with an unknown one
# (401 invalid_...) is refused with
_REFUSALS = {
    "write_key": ("a write key is required (Basic auth, body or ?writeKey=)", "unknown write key"),
    "measurement_id": ("a measurement id (tid) is required", "unknown measurement id"),
}


class SourceAccess:
    """The sources of the policy table (cached by the :class:`~fairtrack.stores.policy_table.PolicyStore`)."""

    def __init__(self, store: PolicyStore) -> None:
        self.store = store

    def by_write_key(self, request: IngestRequest, body: Any) -> Source:
        """The source whose write key the request carries (Basic auth, the body or ``?writeKey=``)."""
        return self._named("write_key", write_key_of(request, body), self.store.source_for_write_key)

    def by_measurement_id(self, measurement_id: str | None) -> Source:
        """The source a gtag request's measurement id (``tid``) names."""
        return self._named("measurement_id", measurement_id, self.store.source_for_measurement_id)

    @staticmethod
    def _named(what: str, value: str | None, find: Callable[[str], Source | None]) -> Source:
        missing, unknown = _REFUSALS[what]
        if not value:
            raise ClientError(401, f"missing_{what}", missing)
        source = find(value)
        if source is None:
            raise ClientError(401, f"invalid_{what}", unknown)
        return source

    @staticmethod
    def cors_headers(request: IngestRequest, source: Source) -> dict[str, str]:
        """Refuse a browser origin the source does not allow; the CORS headers for one it does."""
        origin = request.headers.get("origin")
        if origin is None:
            return {}
        if not source.allows_origin(origin):
            raise ClientError(403, "origin_not_allowed", "this source does not accept requests from this origin")
        return cors.response_headers(origin)

    def answer(self, request: IngestRequest, source: Source, work: Callable[[], T]) -> tuple[T, dict[str, str]]:
        """Run ``work`` once the request's source is known: the origin is checked first, and the
        answer (an error included) carries the CORS headers an allowed page needs to read it."""
        headers = self.cors_headers(request, source)
        try:
            return work(), headers
        except ClientError as exc:
            exc.headers.update(headers)
            raise

    def preflight(self, request: IngestRequest) -> dict[str, str] | None:
        """The headers answering a CORS preflight, or None to refuse it: the source named by
        ``?writeKey=`` or ``?tid=`` must allow the origin, else any source must."""
        origin = request.headers.get("origin")
        if not origin:
            return None
        named: Source | None = None
        if request.query.get("writeKey"):
            named = self.store.source_for_write_key(request.query["writeKey"])
        elif request.query.get("tid"):
            named = self.store.source_for_measurement_id(request.query["tid"])
        allowed = named.allows_origin(origin) if named is not None else self.store.origin_allowed(origin)
        return cors.preflight_headers(origin) if allowed else None
