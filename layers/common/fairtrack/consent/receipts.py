"""Consent receipts: ``POST /v1/consent`` records one consent decision as evidence.

The website snippet or a CMP callback sends the visitor's id and the consent signal in the shapes
hits carry them; fairtrack resolves it against the active policy (the same
:func:`fairtrack.consent.signals.resolve` that routes hits) and stores a receipt. Decisions written down:

- **Request** (JSON, the Segment routes' auth, CORS and size limits; one receipt is one event, so
  32 KB): ``anonymousId`` (required: the visitor id the site's analytics uses), optional ``userId``,
  and at least one signal: ``consent.categoryPreferences`` (Segment; values ``true``/``false``, a
  receipt is evidence and an ambiguous value is refused), ``consentManagement`` (RudderStack:
  ``provider``, ``allowedConsentIds``, ``deniedConsentIds``, ``resolutionStrategy``), ``gcs``/``gcd``/
  ``npa`` (Google Consent Mode) and ``tcString`` (IAB TCF); optional ``timestamp`` (when the visitor
  decided, as the client saw it). Other top-level keys (``writeKey``, ``context``...) are ignored and
  not kept; so are unknown keys inside ``consentManagement``. Bad input: 400 with field paths and
  reasons, never the values nor a key the client chose (a category is named by its position,
  ``consent.categoryPreferences.<key #2>``: :mod:`fairtrack.errors`). A field, or a key inside
  ``consent``/``categoryPreferences``/``consentManagement``, given twice with different values (which
  a JSON parser would settle by keeping the last) is refused too: a receipt is evidence.
- **Subject**: the keyed pseudonyms of ``anonymousId`` and ``userId`` made exactly as ingest makes
  them for hits (same key, same kind, same whitespace handling), so a receipt's subject is the
  ``anonymousId``/``userId`` a lake record holds. Without a pseudonym key no receipt is taken (503):
  a raw id is never stored.
- **Receipt** (``pk=receipt#<id>``, ``sk=receipt``): id (random, uuid4 hex), source, subject,
  purposes granted and denied as resolved under the active policy (denied: the policy's purposes
  not granted), the signal sources resolution read, the raw signal as sent (JSON), the policy
  version, the received time, the client's timestamp, and the **full IP address and full user
  agent** as evidence. This is the only place in fairtrack a full IP address is stored.
- **Pointers** (``pk=subject#<pseudonym>``, ``sk=receipt#<received, ISO 8601>#<id>``), one per
  subject pseudonym, hold the receipt id and times, never the IP or user agent: a data-subject
  request lists a subject's receipts with one Query per pseudonym, oldest first.
- Receipt and pointers are written in one transaction of Puts (``attribute_not_exists``: a receipt
  is never overwritten), all with ``expires_at`` = received + ``defaults.consent_retention_days``
  (the table's TTL). The function may only put items under ``receipt#`` and ``subject#``.
- Logs and metrics hold counts and reason codes only: no id, address or user agent.
"""

from __future__ import annotations

import ipaddress
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    ValidationError,
)
from pydantic_core import PydanticSerializationError, to_json

from fairtrack.anonymise.pseudonym import Pseudonymiser
from fairtrack.anonymise.stage import Visitor
from fairtrack.api.body import decode_body, parse_json
from fairtrack.consent import signals as consent
from fairtrack.errors import ClientError, FieldError, field_errors
from fairtrack.hit import ConsentSignals
from fairtrack.ingest import Ingestor, IngestRequest
from fairtrack.observability import logger, metrics
from fairtrack.policy.model import Policy
from fairtrack.protocols.segment_consent import duplicate_fields
from fairtrack.stores.clients import LazyClient
from fairtrack.stores.policy_table import NoActivePolicy, Source
from fairtrack.timestamps import iso

__all__ = [
    "ANONYMOUS_ID_REQUIRED",
    "GIVEN_TWICE",
    "RECEIPT_TOO_LARGE",
    "SIGNAL_REQUIRED",
    "ConsentReceipts",
    "ConsentRequest",
    "Receipt",
    "ReceiptResult",
    "ReceiptStore",
    "RudderConsent",
    "SegmentConsent",
    "make_receipt",
    "parse_request",
]

RECEIPT_PREFIX = "receipt#"
SUBJECT_PREFIX = "subject#"
RECEIPT_SK = "receipt"
MAX_RECEIPT_BYTES = 32 * 1024
RECEIPT_TOO_LARGE = f"consent receipt larger than {MAX_RECEIPT_BYTES // 1024} KB"
SIGNAL_REQUIRED = (
    "a consent signal is required: consent.categoryPreferences, consentManagement, gcs, gcd, npa or tcString"
)
ANONYMOUS_ID_REQUIRED = "required: the visitor id the site's analytics uses"
GIVEN_TWICE = "given twice with different values"
SUBJECT_KINDS = ("anonymousId", "userId")  # the identifiers a receipt is about, pseudonymised like ingest does
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)


def receipt_key(receipt_id: str) -> dict[str, dict[str, str]]:
    return {"pk": {"S": RECEIPT_PREFIX + receipt_id}, "sk": {"S": RECEIPT_SK}}


def subject_key(pseudonym: str) -> str:
    return SUBJECT_PREFIX + pseudonym


# -- the request -----------------------------------------------------------------------------------


def _utc_in_range(value: datetime) -> datetime:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    if not EARLIEST <= value <= LATEST:
        raise ValueError("must be between 1970 and 2200")
    return value


Id = Annotated[str, Field(min_length=1, max_length=200)]
Category = Annotated[str, Field(min_length=1, max_length=128)]
ConsentId = Annotated[str, Field(min_length=1, max_length=128)] | StrictInt


class SegmentConsent(BaseModel):
    """Segment's ``consent`` object (on a hit: ``context.consent``)."""

    model_config = ConfigDict(extra="ignore")

    categoryPreferences: Annotated[dict[Category, StrictBool], Field(max_length=200)]


class RudderConsent(BaseModel):
    """RudderStack's ``consentManagement`` (on a hit: ``context.consentManagement``)."""

    model_config = ConfigDict(extra="ignore")

    provider: Annotated[str, Field(max_length=64)] | None = None
    allowedConsentIds: Annotated[list[ConsentId], Field(max_length=500)] | None = None
    deniedConsentIds: Annotated[list[ConsentId], Field(max_length=500)] | None = None
    resolutionStrategy: Annotated[str, Field(pattern=r"^(?i:and|or)$")] | None = None


class ConsentRequest(BaseModel):
    """The body of ``POST /v1/consent``. Ids are read as ingest reads a Segment event's (numbers as
    text, surrounding whitespace removed), so their pseudonyms match the hits'."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True, coerce_numbers_to_str=True)

    anonymousId: Id
    userId: Id | None = None
    consent: SegmentConsent | None = None
    consentManagement: RudderConsent | None = None
    gcs: Annotated[str, Field(pattern=r"^G1[01-]{2}$")] | None = None
    gcd: Annotated[str, Field(pattern=r"^[0-9A-Za-z_-]{9,64}$")] | None = None
    npa: Annotated[str, Field(pattern=r"^[01]$")] | None = None
    tcString: Annotated[str, Field(min_length=1, max_length=16384, pattern=r"^[A-Za-z0-9_.-]+$")] | None = None
    timestamp: Annotated[datetime, AfterValidator(_utc_in_range)] | None = None

    def signals(self) -> ConsentSignals:
        """The signals as the consent stage reads them on a hit."""
        return ConsentSignals(
            categoryPreferences=self.consent.categoryPreferences if self.consent is not None else None,
            consentManagement=self.consentManagement.model_dump(exclude_unset=True)
            if self.consentManagement is not None
            else None,
            gcs=self.gcs,
            gcd=self.gcd,
            npa=self.npa,
            tcString=self.tcString,
        )

    def evidence(self) -> dict[str, Any]:
        """The signal in the shape it was sent (the fields fairtrack reads), for the receipt."""
        out: dict[str, Any] = {}
        if self.consent is not None:
            out["consent"] = {"categoryPreferences": self.consent.categoryPreferences}
        if self.consentManagement is not None:
            out["consentManagement"] = self.consentManagement.model_dump(exclude_unset=True)
        for key in ("gcs", "gcd", "npa", "tcString"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out

    def subjects(self) -> dict[str, str]:
        """The raw identifiers, by kind (never stored: only their pseudonyms are)."""
        return {kind: value for kind in SUBJECT_KINDS if (value := getattr(self, kind)) is not None}


def parse_request(raw: Any, text: bytes | None = None) -> ConsentRequest | list[FieldError]:
    """Validate a consent body (``text``: its JSON, to find keys given twice); on failure, its field
    errors (paths and reasons, never values nor client keys)."""
    if not isinstance(raw, dict):
        return [FieldError("body", "must be a JSON object")]
    try:
        size = len(to_json(raw))
    except PydanticSerializationError:
        return [FieldError("body", "holds invalid Unicode (an unpaired surrogate escape)")]
    if size > MAX_RECEIPT_BYTES:
        return [FieldError("body", RECEIPT_TOO_LARGE)]
    errors: list[FieldError] = []
    if text is not None:
        repeated = duplicate_fields(text.decode("utf-8", "replace"), tuple(ConsentRequest.model_fields))
        errors += [FieldError(path, GIVEN_TWICE) for path in repeated]
    anonymous_id = raw.get("anonymousId")
    if anonymous_id is None or (isinstance(anonymous_id, str) and not anonymous_id.strip()):
        errors.append(FieldError("anonymousId", ANONYMOUS_ID_REQUIRED))
    data = dict(raw)
    user_id = data.get("userId")
    if isinstance(user_id, str) and not user_id.strip():
        data["userId"] = None  # as on a hit: RudderStack JS sends userId "" until identify
    try:
        parsed = ConsentRequest.model_validate(data)
    except ValidationError as exc:
        found = field_errors(exc, model=ConsentRequest, data=data)
        errors += [e for e in found if e.path not in {m.path for m in errors}]
        return errors
    if errors:
        return errors
    if not parsed.evidence():
        return [FieldError("body", SIGNAL_REQUIRED)]
    return parsed


# -- the receipt -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Receipt:
    receipt_id: str
    source_id: str
    subject: dict[str, str]  # kind -> keyed pseudonym
    granted: list[str]
    denied: list[str]
    signals: list[str]  # the signal sources resolution read (consent.Consent.sources)
    evidence: dict[str, Any]  # the raw signal as sent
    policy_version: int
    received_at: datetime
    expires_at: int  # epoch seconds (the table's TTL)
    timestamp: datetime | None = None  # the client's time of the decision
    ip: str | None = None  # full address: evidence, stored only in the receipt item
    user_agent: str | None = None

    @property
    def pointer_sk(self) -> str:
        return f"{RECEIPT_PREFIX}{iso(self.received_at)}#{self.receipt_id}"

    def item(self) -> dict[str, Any]:
        """The receipt item (DynamoDB attribute values)."""
        item: dict[str, Any] = {
            **receipt_key(self.receipt_id),
            "receipt_id": {"S": self.receipt_id},
            "source_id": {"S": self.source_id},
            "subject": {"M": {kind: {"S": value} for kind, value in self.subject.items()}},
            "purposes_granted": {"L": [{"S": p} for p in self.granted]},
            "purposes_denied": {"L": [{"S": p} for p in self.denied]},
            "signals": {"L": [{"S": s} for s in self.signals]},
            "evidence": {"S": json.dumps(self.evidence, separators=(",", ":"), sort_keys=True)},
            "policy_version": {"N": str(self.policy_version)},
            "received_at": {"S": iso(self.received_at)},
            "expires_at": {"N": str(self.expires_at)},
        }
        if self.timestamp is not None:
            item["timestamp"] = {"S": iso(self.timestamp)}
        if self.ip is not None:
            item["ip"] = {"S": self.ip}
        if self.user_agent is not None:
            item["user_agent"] = {"S": self.user_agent}
        return item

    def pointers(self) -> list[dict[str, Any]]:
        """One item per subject pseudonym: where to find the receipt; no address, no user agent."""
        return [
            {
                "pk": {"S": subject_key(pseudonym)},
                "sk": {"S": self.pointer_sk},
                "receipt_id": {"S": self.receipt_id},
                "identifier": {"S": kind},
                "received_at": {"S": iso(self.received_at)},
                "expires_at": {"N": str(self.expires_at)},
            }
            for kind, pseudonym in self.subject.items()
        ]

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> Receipt:
        def text(name: str) -> str | None:
            value = item.get(name)
            return str(value["S"]) if value is not None else None

        def texts(name: str) -> list[str]:
            return [str(v["S"]) for v in item.get(name, {}).get("L", [])]

        timestamp = text("timestamp")
        return cls(
            receipt_id=str(item["receipt_id"]["S"]),
            source_id=str(item["source_id"]["S"]),
            subject={kind: str(v["S"]) for kind, v in item.get("subject", {}).get("M", {}).items()},
            granted=texts("purposes_granted"),
            denied=texts("purposes_denied"),
            signals=texts("signals"),
            evidence=json.loads(item["evidence"]["S"]),
            policy_version=int(item["policy_version"]["N"]),
            received_at=datetime.fromisoformat(str(item["received_at"]["S"])),
            expires_at=int(item["expires_at"]["N"]),
            timestamp=datetime.fromisoformat(timestamp) if timestamp else None,
            ip=text("ip"),
            user_agent=text("user_agent"),
        )

    def as_json(self) -> dict[str, Any]:
        """The receipt as an operator reads it (``fairtrack consent show``)."""
        out: dict[str, Any] = {
            "receiptId": self.receipt_id,
            "sourceId": self.source_id,
            "subject": self.subject,
            "purposes": {"granted": self.granted, "denied": self.denied},
            "signals": self.signals,
            "evidence": self.evidence,
            "policyVersion": self.policy_version,
            "receivedAt": iso(self.received_at),
            "timestamp": iso(self.timestamp) if self.timestamp is not None else None,
            "ip": self.ip,
            "userAgent": self.user_agent,
            "expiresAt": datetime.fromtimestamp(self.expires_at, UTC).isoformat().replace("+00:00", "Z"),
        }
        return out


def make_receipt(
    request: ConsentRequest,
    *,
    policy: Policy,
    source_id: str,
    visitor: Visitor,
    received_at: datetime,
    pseudonymiser: Pseudonymiser,
    receipt_id: str | None = None,
) -> Receipt:
    """The receipt of a validated request under ``policy``: purposes resolved as for a hit."""
    resolved = consent.resolve(request.signals(), policy, visitor.country)
    granted = sorted(resolved.granted)
    denied = sorted(set(policy.purposes) - resolved.granted)
    expires = received_at + timedelta(days=policy.defaults.consent_retention_days)
    return Receipt(
        receipt_id=receipt_id or uuid.uuid4().hex,
        source_id=source_id,
        subject={kind: pseudonymiser.pseudonym(kind, value) for kind, value in request.subjects().items()},
        granted=granted,
        denied=denied,
        signals=list(resolved.sources),
        evidence=request.evidence(),
        policy_version=policy.version,
        received_at=received_at,
        expires_at=int(expires.timestamp()),
        timestamp=request.timestamp,
        ip=_valid_ip(visitor.full_ip),
        user_agent=_storable(visitor.user_agent),
    )


def _valid_ip(value: str | None) -> str | None:
    """The connection's address as evidence, only when it is one (a forwarded header can hold anything)."""
    if not value:
        return None
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None


def _storable(value: str | None, limit: int = 1024) -> str | None:
    """Header text as DynamoDB can store it: unpaired surrogates replaced, length bounded."""
    if value is None:
        return None
    return value.encode("utf-8", "replace").decode("utf-8")[:limit]


# -- storage ---------------------------------------------------------------------------------------


class ReceiptStore:
    """The consent table: receipts and their subject pointers, written together, never replaced."""

    def __init__(self, table_name: str, client: Callable[[], Any]) -> None:
        self.table_name = table_name
        self._client = client

    def put(self, receipt: Receipt) -> None:
        items = [receipt.item(), *receipt.pointers()]
        self._client().transact_write_items(
            TransactItems=[
                {
                    "Put": {
                        "TableName": self.table_name,
                        "Item": item,
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                }
                for item in items
            ]
        )

    def get(self, receipt_id: str) -> Receipt | None:
        item = (
            self._client()
            .get_item(TableName=self.table_name, Key=receipt_key(receipt_id), ConsistentRead=True)
            .get("Item")
        )
        return Receipt.from_item(item) if item is not None else None


# -- the route -------------------------------------------------------------------------------------


@dataclass
class ReceiptResult:
    receipt_id: str
    headers: dict[str, str] = field(default_factory=dict)  # CORS for an allowed origin

    def body(self) -> dict[str, Any]:
        return {"receiptId": self.receipt_id}


class ConsentReceipts:
    """``POST /v1/consent``, one instance per warm function, sharing the ingestor's source and policy
    caches and its pseudonym key."""

    dynamodb = LazyClient("dynamodb")  # the consent table, made on the first receipt

    def __init__(
        self,
        ingestor: Ingestor,
        store: ReceiptStore | None = None,
        *,
        new_id: Callable[[], str] | None = None,
    ) -> None:
        self.ingestor = ingestor
        self._store = store
        self._new_id = new_id or (lambda: uuid.uuid4().hex)

    @property
    def store(self) -> ReceiptStore | None:
        table = self.ingestor.settings.consent_table  # CONSENT_TABLE, set by template.yaml
        if self._store is None and table:
            self._store = ReceiptStore(table, lambda: self.dynamodb)
        return self._store

    def record(self, request: IngestRequest) -> ReceiptResult:
        """Authenticate (write key), check the origin, validate, resolve and store one receipt. An
        answer to an allowed origin, an error included, carries its CORS headers."""
        text = decode_body(request)
        body = parse_json(text)
        source = self.ingestor.access.by_write_key(request, body)
        receipt_id, headers = self.ingestor.access.answer(
            request, source, lambda: self._record(request, body, source, text)
        )
        return ReceiptResult(receipt_id, headers)

    def _record(self, request: IngestRequest, body: Any, source: Source, text: bytes | None = None) -> str:
        parsed = parse_request(body, text)
        if isinstance(parsed, list):
            status = 413 if all(e.reason == RECEIPT_TOO_LARGE for e in parsed) else 400
            raise ClientError(status, "invalid_consent", "the consent receipt is not valid", parsed)
        store = self.store
        pseudonymiser = self.ingestor.pseudonymiser
        if store is None or pseudonymiser is None:
            logger.error(
                "consent receipts unavailable",
                extra={"consent_table": store is not None, "pseudonym_key": pseudonymiser is not None},
            )
            raise ClientError(503, "receipts_unavailable", "the gateway cannot take consent receipts now")
        try:
            policy = self.ingestor.store.active_policy()
        except NoActivePolicy:
            logger.error("no active policy: no consent receipt")
            raise ClientError(503, "no_active_policy", "the gateway has no active consent policy") from None
        receipt = make_receipt(
            parsed,
            policy=policy,
            source_id=source.source_id,
            visitor=self.ingestor.proxy.visitor(request),
            received_at=request.received_at,
            pseudonymiser=pseudonymiser,
            receipt_id=self._new_id(),
        )
        try:
            store.put(receipt)
        except Exception as exc:  # noqa: BLE001 - only the type is logged: messages may hold item values
            logger.error("storing the consent receipt failed", extra={"error_type": type(exc).__name__})
            raise ClientError(
                503, "receipt_store_unavailable", "the consent receipt could not be stored; retry later"
            ) from None
        metrics.add_metric(name="ConsentReceiptsStored", unit="Count", value=1)
        logger.info(
            "consent receipt stored",
            extra={
                "granted": len(receipt.granted),
                "denied": len(receipt.denied),
                "signals": receipt.signals,
                "subjects": len(receipt.subject),
            },
        )
        return receipt.receipt_id
