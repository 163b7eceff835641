"""Reads from the policy table: the active policy and sources, cached per container.

Layout of the table (one key, ``id``; JSON in ``value``; ``expires_at`` is the TTL attribute):

- ``policy#active``          -> ``{"version": N}``, the pointer to the version in force
- ``policy#v<N>``            -> an immutable policy document (JSON of :class:`fairtrack.policy.model.Policy`)
- ``source#<source_id>``     -> a source: ``{"source_id", "name", "origins", "measurement_ids",
  "action_source", "key_ids"}`` (what the operator CLI lists, rotates and removes; the Meta
  forwarder reads its ``action_source``)
- ``writekey#<sha256(key)>`` -> the source that write key belongs to (a copy, so ingest reads one
  item); a rotated-out key still in its grace period carries ``not_after`` (epoch seconds)
- ``measurement#<G-...>``    -> the source a GA4 measurement id (gtag ``tid``) belongs to
- ``origin#<origin>``        -> ``{"source_ids": [...]}``: which sources allow a browser origin, for
  CORS preflights, which carry no write key (analytics.js sends it in ``Authorization``)
- ``suppress#<pseudonym>``   -> ``{"since": ..., "erasure": "started"|"complete"}``: one item per data
  subject erased on request (``fairtrack subject erase``, written before anything is deleted);
  ingest and the forwarders drop their later hits with the reason ``subject_suppressed``. One item
  per subject, so the list has no size ceiling; a hit's pseudonyms are looked up with ``GetItem``
  (only the key is projected), each distinct pseudonym at most once per ``POLICY_CACHE_SECONDS``
  per container, either answer cached
- ``suppressed``             -> ``{"subjects": [pseudonym, ...]}``: the former single-item list (it
  broke past about 8,000 subjects); still read while it exists, and moved to ``suppress#`` items
  (then deleted) by the next ``fairtrack subject erase``
- ``erasure#<time>#<id>``    -> the record of an erasure: who, when, what was removed (counts), never
  the erased data

Reads go through Powertools' ``DynamoDBProvider`` with a ``max_age`` of ``POLICY_CACHE_SECONDS``,
so a warm function reads the table at most once per item per interval, never per hit. Write keys
are stored hashed: a backend's key is a secret and a table dump should not reveal it.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable, Container
from typing import Any, Literal
from urllib.parse import urlsplit

from aws_lambda_powertools.utilities.parameters import DynamoDBProvider
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError
from pydantic import BaseModel, ConfigDict, Field, field_validator

from fairtrack.memo import Memo
from fairtrack.policy.model import Policy
from fairtrack.stores.clients import make_resource

__all__ = [
    "ACTIVE_POLICY_ID",
    "SUPPRESSED_ID",
    "NoActivePolicy",
    "PolicyStore",
    "Source",
    "Suppression",
    "is_suppressed",
    "measurement_id_item",
    "origin_item",
    "policy_version_id",
    "suppress_item_id",
    "write_key_id",
]

ACTIVE_POLICY_ID = "policy#active"
SUPPRESSED_ID = "suppressed"  # the former single-item list, read while it exists
SUPPRESS_PREFIX = "suppress#"


def suppress_item_id(pseudonym: str) -> str:
    return SUPPRESS_PREFIX + pseudonym


def policy_version_id(version: int) -> str:
    return f"policy#v{version:06d}"


def write_key_id(write_key: str) -> str:
    # surrogatepass: a key with an unpaired surrogate escape hashes to an unknown key, not a crash
    return "writekey#" + hashlib.sha256(write_key.encode("utf-8", "surrogatepass")).hexdigest()


def measurement_id_item(measurement_id: str) -> str:
    return "measurement#" + measurement_id.upper()


def origin_item(origin: str) -> str:
    return "origin#" + origin


MEASUREMENT_ID = re.compile(r"^G-[A-Z0-9]{2,20}$")
ANY_ORIGIN = "*"


def normalise_origin(value: str) -> str:
    """``https://Shop.Example:443/`` -> ``https://shop.example``: what a browser sends as ``Origin``."""
    value = value.strip()
    if value == ANY_ORIGIN:
        return value
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/"):
        raise ValueError("an origin is scheme://host[:port], e.g. https://shop.example")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError("an origin is scheme://host[:port], e.g. https://shop.example")
    default_port = {"http": 80, "https": 443}[parts.scheme]
    port = f":{parts.port}" if parts.port and parts.port != default_port else ""
    return f"{parts.scheme}://{parts.hostname}{port}"


ActionSource = Literal[
    "website", "app", "email", "phone_call", "chat", "physical_store", "system_generated", "business_messaging", "other"
]
"""Where a source's conversions happen, as Meta's Conversions API names it (server event parameter
``action_source``)."""


class Source(BaseModel):
    """A website or backend that sends hits. ``origins`` are the browser origins allowed to send
    (none: server-side only, so a request carrying an ``Origin`` is refused; ``*``: any).
    ``action_source``: where its events happen, for Meta (``website`` events need a page URL and a
    user agent; ``app`` events app data; the others neither)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    source_id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    name: str = ""
    origins: list[str] = []
    measurement_ids: list[str] = []
    action_source: ActionSource = "website"

    @field_validator("origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        return sorted({normalise_origin(v) for v in value})

    @field_validator("measurement_ids")
    @classmethod
    def _measurement_ids(cls, value: list[str]) -> list[str]:
        ids = sorted({v.strip().upper() for v in value})
        for item in ids:
            if not MEASUREMENT_ID.match(item):
                raise ValueError("a GA4 measurement id looks like G-XXXXXXX")
        return ids

    def allows_origin(self, origin: str) -> bool:
        return ANY_ORIGIN in self.origins or origin in self.origins


class NoActivePolicy(Exception):
    """The table holds no active policy: fail closed, forward nothing."""


def is_suppressed(event: dict[str, Any], suppressed: Container[str]) -> bool:
    """Whether an event (pseudonymised ids) belongs to a subject erased on request."""
    if isinstance(suppressed, frozenset) and not suppressed:
        return False
    return any(isinstance(v := event.get(k), str) and v in suppressed for k in ("anonymousId", "userId"))


class Suppression:
    """The suppressed subjects as ingest and the forwarders see them: ``pseudonym in suppression``
    looks the pseudonym up (the former single-item list, then its ``suppress#`` item, the answer
    cached by the store). A container, not a set: it cannot list the subjects, only answer for one."""

    __slots__ = ("_legacy", "_lookup")

    def __init__(self, legacy: frozenset[str], lookup: Callable[[str], bool]) -> None:
        self._legacy = legacy
        self._lookup = lookup

    def __contains__(self, pseudonym: object) -> bool:
        if not isinstance(pseudonym, str) or not pseudonym:
            return False
        return pseudonym in self._legacy or self._lookup(pseudonym)


class PolicyStore:
    NEGATIVE_CACHE_LIMIT = 1024
    SUBJECT_CACHE_LIMIT = 100_000  # pseudonym -> (until, suppressed); about 15 MB at the limit

    def __init__(self, table_name: str, cache_seconds: int) -> None:
        self.table_name = table_name
        self.cache_seconds = cache_seconds
        self._provider: DynamoDBProvider | None = None
        self._policies: dict[int, Policy] = {}  # versions are immutable: parse each once
        # negative cache so bad keys cannot force reads: key -> until
        self._unknown_keys: Memo[str, float] = Memo(self.NEGATIVE_CACHE_LIMIT)
        self._sources: dict[str, tuple[Any, Source]] = {}
        self._suppressed: tuple[Any, frozenset[str]] = (None, frozenset())
        self._subjects: Memo[str, tuple[float, bool]] = Memo(self.SUBJECT_CACHE_LIMIT)

    @property
    def provider(self) -> DynamoDBProvider:
        if self._provider is None:
            # From boto3's default session, which the function's other clients (SQS, DynamoDB)
            # come from too: left to itself the provider makes a session of its own, and a new
            # session loads botocore's endpoint, retry and service data files all over again.
            # Same credentials, region, endpoint and calls (GetItem on this table).
            resource = make_resource("dynamodb")
            self._provider = DynamoDBProvider(table_name=self.table_name, boto3_client=resource)
        return self._provider

    def _get_json(self, item_id: str, max_age: int) -> Any | None:
        try:
            return self.provider.get(item_id, transform="json", max_age=max_age)
        except GetParameterError:
            return None

    def active_policy(self) -> Policy:
        pointer = self._get_json(ACTIVE_POLICY_ID, self.cache_seconds)
        if not isinstance(pointer, dict) or not isinstance(pointer.get("version"), int):
            raise NoActivePolicy("no active policy in the policy table")
        version: int = pointer["version"]
        policy = self._policies.get(version)
        if policy is None:
            doc = self._get_json(policy_version_id(version), 3600)
            if doc is None:
                raise NoActivePolicy(f"active policy version {version} is missing")
            policy = Policy.model_validate({**doc, "version": version})
            self._policies[version] = policy
        return policy

    def suppressed(self) -> Suppression:
        """The data subjects whose hits must be dropped (erased on request), as a
        :class:`Suppression`: ``pseudonym in store.suppressed()`` for any pseudonym."""
        doc = self._cached(SUPPRESSED_ID)  # the former list; none: negatively cached like an unknown key
        if doc is not self._suppressed[0]:  # not the provider's cached object: parse it
            subjects = doc.get("subjects") if isinstance(doc, dict) else None
            legacy = frozenset(s for s in subjects if isinstance(s, str)) if isinstance(subjects, list) else frozenset()
            self._suppressed = (doc, legacy)
        return Suppression(self._suppressed[1], self.subject_suppressed)

    def subject_suppressed(self, pseudonym: str) -> bool:
        """Whether ``suppress#<pseudonym>`` exists: one GetItem per distinct pseudonym and cache
        interval (only the key projected), the answer cached either way."""
        now = time.monotonic()
        seen = self._subjects.get(pseudonym)
        if seen is not None and seen[0] > now:
            return seen[1]
        if len(pseudonym) > 256:
            return False  # longer than any pseudonym: never stored
        got = self.provider.table.get_item(
            Key={"id": suppress_item_id(pseudonym)},
            ProjectionExpression="#id",
            ExpressionAttributeNames={"#id": "id"},
        )
        found = "Item" in got
        self._subjects.keep(pseudonym, (now + self.cache_seconds, found))
        return found

    def source_for_write_key(self, write_key: str) -> Source | None:
        return self._source(write_key_id(write_key))

    def source_for_measurement_id(self, measurement_id: str) -> Source | None:
        if not MEASUREMENT_ID.match(measurement_id.upper()):
            return None  # not even shaped like one: no table read
        return self._source(measurement_id_item(measurement_id))

    def source(self, source_id: str) -> Source | None:
        """The source with this id (its ``source#`` item, through the same caches), or None."""
        if len(source_id) > 64:
            return None
        return self._source(f"source#{source_id}")

    def origin_allowed(self, origin: str) -> bool:
        """Whether any source allows ``origin`` (preflights, which carry no write key)."""
        if len(origin) > 300:
            return False
        return any(
            isinstance(doc := self._cached(origin_item(candidate)), dict) and bool(doc.get("source_ids"))
            for candidate in (origin, ANY_ORIGIN)
        )

    def _cached(self, item_id: str) -> Any | None:
        """An item through the provider's cache, with a negative cache in front so that made-up keys
        or origins cannot force a table read per request."""
        now = time.monotonic()
        if self._unknown_keys.get(item_id, 0.0) > now:
            return None
        doc = self._get_json(item_id, self.cache_seconds)
        if not isinstance(doc, dict):
            self._unknown_keys.keep(item_id, now + self.cache_seconds)
            return None
        return doc

    def _source(self, item_id: str) -> Source | None:
        doc = self._cached(item_id)
        if doc is None:
            return None
        not_after = doc.get("not_after")  # a rotated-out key in its grace period (TTL deletes lazily)
        if isinstance(not_after, (int, float)) and time.time() > not_after:
            return None
        seen = self._sources.get(item_id)
        if seen is not None and seen[0] is doc:  # the provider's cached object: already parsed
            return seen[1]
        source = Source.model_validate(doc)
        self._sources[item_id] = (doc, source)
        return source

    def loaded_policies(self) -> list[Policy]:
        """The policy versions this container has parsed (each kept once: versions are immutable)."""
        return list(self._policies.values())

    def clear_cache(self) -> None:
        if self._provider is not None:
            self._provider.clear_cache()  # type: ignore[no-untyped-call]
        self._policies.clear()
        self._unknown_keys.clear()
        self._sources.clear()
        self._suppressed = (None, frozenset())
        self._subjects.clear()
