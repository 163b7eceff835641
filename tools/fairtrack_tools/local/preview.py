"""The debug view's preview: the hit run again through ingest with read-only collaborators.

:class:`Preview` runs the real :class:`~fairtrack.ingest.Ingestor` with a policy table, salts and
queue that are local and read only (:class:`LocalPolicyStore`, :class:`ReadOnlySalts`,
:class:`CapturingSender`) and keeps the :class:`~fairtrack.ingest.RoutedHit` it reports per hit;
:func:`hit_entry` turns one into what the view shows, reduced to what ingest queues and the
policy's vocabulary.
"""

from __future__ import annotations

import base64
import json
from collections import deque
from typing import Any

from pydantic_core import to_json

from fairtrack.anonymise.pseudonym import DailySalts, Pseudonymiser, salt_id
from fairtrack.anonymise.stage import IDENTIFIERS
from fairtrack.api.routes import BATCH_ROUTES, TYPED_ROUTES
from fairtrack.consent import signals as consent
from fairtrack.ingest import Ingestor, RoutedHit
from fairtrack.policy import evaluate, explain
from fairtrack.settings import DESTINATIONS, Destination, IngestSettings
from fairtrack.stores.policy_table import PolicyStore
from fairtrack.stores.queue import QueueSender

WITHHELD_USER_AGENT = "[full user agent: withheld from the debug view]"


# -- the preview's collaborators: read-only, in memory ---------------------------------------------
class CapturingSender(QueueSender):
    """Keeps what ingest would queue; never talks to SQS."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[tuple[str, str]] = []

    @property
    def client(self) -> Any:
        raise RuntimeError("the debug view's preview never queues")

    def send_all(self, messages: list[tuple[str, str]], correlation_id: str) -> list[BaseException | None]:
        self.messages.extend(messages)
        return [None] * len(messages)


class ReadOnlySalts(DailySalts):
    """Today's salt as the real ingest made it; the preview never makes or deletes one (no salt:
    the preview's hit goes without a cookieless id, as ingest's would if its salt store failed)."""

    def _load_or_create(self, day: Any) -> bytes:
        item = (
            self._client()
            .get_item(TableName=self.table_name, Key={"id": {"S": salt_id(day)}}, ConsistentRead=True)
            .get("Item")
        )
        if item is None:
            raise LookupError("no salt for today: the preview does not make one")
        return bytes.fromhex(json.loads(item["value"]["S"])["salt"])


class LocalPolicyStore(PolicyStore):
    """The real policy store, reading the local stack's table through the embedded AWS."""

    def __init__(self, table_name: str, cache_seconds: int, session: Any, endpoint_url: str | None) -> None:
        super().__init__(table_name, cache_seconds)
        from aws_lambda_powertools.utilities.parameters import DynamoDBProvider

        self._provider = DynamoDBProvider(table_name=table_name, endpoint_url=endpoint_url, boto3_session=session)


class Preview:
    """The real :class:`~fairtrack.ingest.Ingestor`, observed: per hit, the anonymised payload it
    cut each destination's share from and the decisions it made (:class:`RoutedHit`). Records no
    metrics and logs no "hits routed" line (the real function does that)."""

    def __init__(
        self,
        settings: IngestSettings,
        store: PolicyStore,
        sender: QueueSender,
        *,
        pseudonymiser: Pseudonymiser | None,
        salts: DailySalts,
    ) -> None:
        self.traces: list[RoutedHit] = []
        self.ingestor = Ingestor(
            settings,
            store,
            sender,
            pseudonymiser=pseudonymiser,
            salts=salts,
            observer=self.traces.append,
            report=lambda _result, _source: None,
        )

    def forget(self) -> None:
        """Drop what the request left behind: the traces (raw hits) and what the per-container memos
        keep of raw input (ids, URLs, user agents)."""
        self.traces.clear()
        self.ingestor.anonymiser.forget()
        for policy in self.ingestor.store.loaded_policies():
            policy.consent_cache.clear()  # keyed on the signals as sent


# -- turning a trace into an entry --------------------------------------------------------------------
def _plain(value: Any) -> Any:
    """A deep, JSON-ready copy (non-finite numbers as null, as the queue encodes them)."""
    return json.loads(to_json(value, inf_nan_mode="null"))


def _withhold(payload: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = _plain(payload)
    context = out.get("context")
    if isinstance(context, dict) and "userAgent" in context:
        context["userAgent"] = WITHHELD_USER_AGENT
    return out


def _union(parts: list[tuple[dict[str, Any], set[str]]]) -> dict[str, Any]:
    """Every field some destination gets, in its fullest queued form: a field one destination gets
    reduced (``url_origin``...) and another in full shows in full."""
    out: dict[str, Any] = {}

    def merge(into: dict[str, Any], src: dict[str, Any], prefix: str, reduced: set[str], fill: bool) -> None:
        # first pass (fill=False): every field sent in full; second (fill=True): reduced forms where
        # no destination got the field in full
        for key, value in src.items():
            path = f"{prefix}.{key}" if prefix else key
            if path in reduced:
                if fill and key not in into:
                    into[key] = value
                continue
            if isinstance(value, dict):
                child = into.setdefault(key, {})
                if isinstance(child, dict):
                    merge(child, value, path, reduced, fill)
            elif not fill and key not in into:
                into[key] = value

    for payload, reduced in parts:
        merge(out, payload, "", reduced, False)
    for payload, reduced in parts:
        merge(out, payload, "", reduced, True)
    return _prune_empty(out)


def _prune_empty(obj: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in obj.items():
        if isinstance(value, dict):
            value = _prune_empty(value)  # noqa: PLW2901
            if not value:
                continue
        out[key] = value
    return out


def _ordered(obj: dict[str, Any], like: dict[str, Any]) -> dict[str, Any]:
    """``obj``'s keys in the order the hit had them."""
    out: dict[str, Any] = {}
    for key in [*(k for k in like if k in obj), *(k for k in obj if k not in like)]:
        value = obj[key]
        ref = like.get(key)
        out[key] = _ordered(value, ref) if isinstance(value, dict) and isinstance(ref, dict) else value
    return out


def route_name(method: str, path: str) -> str:
    """The route as the page shows it: a path segment the API does not know is not repeated."""
    parts = path.strip("/").split("/")
    if len(parts) == 2 and parts[0] == "v1" and (parts[1] in TYPED_ROUTES or parts[1] in BATCH_ROUTES):
        return f"{method} {path}"
    if path in ("/beacon/v1/batch", "/g/collect"):
        return f"{method} {path}"
    return f"{method} {'/v1/<unknown>' if parts[0] == 'v1' else '<other route>'}"


def answer_of(response: Any) -> tuple[int, dict[str, Any] | None]:
    """The status and the safe part of the answer (ingest's errors name fields and reasons only)."""
    if not isinstance(response, dict):
        return 0, None
    status = int(response.get("statusCode") or 0)
    raw = response.get("body") or ""
    try:
        body = json.loads(base64.b64decode(raw) if response.get("isBase64Encoded") else raw) if raw else None
    except ValueError:
        return status, None
    if not isinstance(body, dict):
        return status, None
    out: dict[str, Any] = {}
    if isinstance(body.get("success"), bool):
        out["success"] = body["success"]
    if body.get("success") is False and "code" in body:  # ingest's error: code, message, fields at the top
        out["error"] = {
            "code": str(body.get("code", "")),
            "message": str(body.get("message", "")),
            "fields": [
                {"path": str(f.get("path", "")), "reason": str(f.get("reason", ""))}
                for f in body.get("fields") or []
                if isinstance(f, dict)
            ][:50],
        }
    if isinstance(body.get("rejected"), list):
        out["rejected"] = len(body["rejected"])
    return status, out


def _notes(trace: RoutedHit, stored: dict[str, Any] | None, settings: IngestSettings) -> list[str]:
    """What anonymisation did to the hit, in words, without a value that was not queued."""
    notes: list[str] = []
    visitor = trace.visitor
    if visitor is not None and visitor.ip:
        bits = settings.ip_v6_prefix_length if ":" in visitor.ip else settings.ip_v4_prefix_length
        notes.append(f"address truncated to /{bits} ({visitor.ip}); the full address is stored nowhere")
    if visitor is not None:
        where = "trusted CloudFront header or registry data" if settings.proxy_mode == "cloudfront" else "registry data"
        notes.append(
            f"country {visitor.country} ({where}), worked out before truncation"
            if visitor.country
            else "country unknown (no registry allocation for the address)"
        )
    payload = trace.payload or {}
    for key in IDENTIFIERS:
        if getattr(trace.hit, key) is not None:
            if key in payload and stored is not None and key in stored:
                notes.append(f"{key}: keyed pseudonym (the raw id never leaves ingest)")
            elif key in payload:
                notes.append(f"{key}: pseudonymised, then withheld from every destination by the policy")
            elif trace.payload is not None:
                notes.append(f"{key}: dropped (no pseudonym key configured)")
    context = payload.get("context") or {}
    if "agent" in context:
        notes.append("user agent reduced to context.agent (browser, OS, device class, bot flag)")
    if "userAgent" in context:
        notes.append("the full user agent goes only where the policy lists context.userAgent; never shown here")
    page = context.get("page") or {}
    if "url" in page:
        notes.append("page URL cleaned: only utm_* parameters, no fragment, personal data and tokens replaced")
    if "referrer" in page:
        notes.append("referrer cut to its origin")
    if context.get("clickIds"):
        names = ", ".join(sorted(context["clickIds"]))
        notes.append(f"ad click ids set apart in context.clickIds ({names}): advertising purpose only")
    if trace.pii_findings:
        notes.append(
            f"{trace.pii_findings} personal-data finding(s) in properties/traits handled "
            f"as defaults.pii says ({trace.policy.defaults.pii})"
        )
    if "visitorId" in payload:
        notes.append("visitorId: cookieless id for today (no analytics consent), not linkable across days")
    if "userData" in payload:
        notes.append(f"user-provided data normalised and SHA-256 hashed for {', '.join(sorted(payload['userData']))}")
    elif trace.hit.userData is not None and trace.payload is not None:
        notes.append("user-provided data left behind: no purpose granted that may receive it")
    if trace.payload is None:
        notes.append("stopped before anonymisation: no destination may receive anything of it")
    if stored is None and trace.payload is not None:
        notes.append("nothing of this hit was queued")
    return notes


def hit_entry(
    base: dict[str, Any],
    index: int,
    trace: RoutedHit,
    queued: dict[str, deque[tuple[list[str], dict[str, Any]]]],
    *,
    configured: list[Destination],
    settings: IngestSettings,
) -> dict[str, Any]:
    """The view's entry for one hit of a previewed request: what ingest made of it, and per
    destination what was queued (``queued``: what the preview's ingest sent, in order) or why not."""
    policy, hit = trace.policy, trace.hit
    country = trace.visitor.country if trace.visitor else None
    granted = consent.resolve(hit.consent, policy, country)  # the call ingest made (memoised)
    destinations: dict[str, dict[str, Any]] = {}
    parts: list[tuple[dict[str, Any], set[str]]] = []
    mismatch = False
    for dest in DESTINATIONS:
        if dest not in configured:
            destinations[dest] = {
                "status": "not_configured",
                "reason": "not_configured",
                "explanation": explain.describe("not_configured"),
            }
            continue
        skip = next((d for d in trace.decisions if d.destination == dest and d.action == "skipped"), None)
        if trace.payload is None or (skip is not None and skip.reason != "nothing_allowed"):
            reason = skip.reason if skip is not None else "nothing_allowed"
            destinations[dest] = {"status": "skipped", "reason": reason, "explanation": explain.describe(reason)}
            continue
        minimal, decisions = evaluate(trace.payload, granted.granted, dest, policy, record=True)
        rows = [
            {k: v for k, v in row.items() if k not in ("destination", "policy_version")}
            for row in explain.field_rows(decisions)
        ]
        if minimal is None:
            destinations[dest] = {
                "status": "skipped",
                "reason": "nothing_allowed",
                "explanation": explain.describe("nothing_allowed"),
                "fields": rows,
            }
            continue
        purposes, sent = granted.purposes, minimal
        pending = queued.get(dest)
        if pending:
            purposes, sent = pending.popleft()
            mismatch = mismatch or sent != _plain(minimal)
        else:
            mismatch = True
        reduced = {r["field"] for r in rows if r["action"] == "reduced"}
        parts.append((sent, reduced))
        destinations[dest] = {
            "status": "queued",
            "purposes": purposes,
            "payload": _withhold(sent),
            "fields": rows,
        }
    stored = _ordered(_withhold(_union(parts)), trace.payload or {}) if parts else None
    visitor = trace.visitor
    agent = ((trace.payload or {}).get("context") or {}).get("agent")
    entry: dict[str, Any] = {
        **base,
        "index": index,
        "source": trace.source_id,
        "policy_version": policy.version,
        "type": hit.type,
        "outcome": _outcome(trace, destinations),
        "visitor": {
            "ip": visitor.ip if visitor else None,
            "country": visitor.country if visitor else None,
            "agent": _plain(agent) if agent else None,
        },
        "consent": explain.explain_consent(hit.consent, granted, policy, country),
        "anonymisation": _notes(trace, stored, settings),
        "stored": stored,
        "destinations": destinations,
    }
    if stored is not None:
        # labels for the list, only as queued (an event name goes nowhere without analytics)
        for key in ("messageId", "event", "name"):
            if isinstance(stored.get(key), str):
                entry[key] = stored[key]
    if mismatch:
        entry["preview_mismatch"] = True
    return entry


def _outcome(trace: RoutedHit, destinations: dict[str, dict[str, Any]]) -> str:
    reasons = {d.reason for d in trace.decisions if d.action == "skipped"}
    for reason in ("subject_suppressed", "bot_traffic", "pii_quarantined", "duplicate_message_id"):
        if reason in reasons:
            return reason
    return "queued" if any(d["status"] == "queued" for d in destinations.values()) else "queued_nowhere"
