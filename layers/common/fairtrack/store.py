"""Reads from the policy table: the active policy and sources, cached per container.

Layout of the table (one key, ``id``; JSON in ``value``; ``expires_at`` is the TTL attribute):

- ``policy#active``          -> ``{"version": N}``, the pointer to the version in force
- ``policy#v<N>``            -> an immutable policy document (JSON of :class:`fairtrack.policy.Policy`)
- ``writekey#<sha256(key)>`` -> a source: ``{"source_id", "name", "origins", "measurement_ids"}``

Reads go through Powertools' ``DynamoDBProvider`` with a ``max_age`` of ``POLICY_CACHE_SECONDS``,
so a warm function reads the table at most once per item per interval, never per hit. Write keys
are stored hashed: a backend's key is a secret and a table dump should not reveal it.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

from aws_lambda_powertools.utilities.parameters import DynamoDBProvider
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError
from pydantic import BaseModel, ConfigDict, Field

from fairtrack.policy import Policy

ACTIVE_POLICY_ID = "policy#active"


def policy_version_id(version: int) -> str:
    return f"policy#v{version:06d}"


def write_key_id(write_key: str) -> str:
    return "writekey#" + hashlib.sha256(write_key.encode()).hexdigest()


class Source(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    source_id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    name: str = ""
    origins: list[str] = []


class NoActivePolicy(Exception):
    """The table holds no active policy: fail closed, forward nothing."""


class PolicyStore:
    NEGATIVE_CACHE_LIMIT = 1024

    def __init__(self, table_name: str, cache_seconds: int) -> None:
        self.table_name = table_name
        self.cache_seconds = cache_seconds
        self._provider: DynamoDBProvider | None = None
        self._policies: dict[int, Policy] = {}  # versions are immutable: parse each once
        self._unknown_keys: dict[str, float] = {}  # negative cache so bad keys cannot force reads

    @property
    def provider(self) -> DynamoDBProvider:
        if self._provider is None:
            self._provider = DynamoDBProvider(table_name=self.table_name)
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

    def source_for_write_key(self, write_key: str) -> Source | None:
        item_id = write_key_id(write_key)
        now = time.monotonic()
        if self._unknown_keys.get(item_id, 0.0) > now:
            return None
        doc = self._get_json(item_id, self.cache_seconds)
        if not isinstance(doc, dict):
            if len(self._unknown_keys) >= self.NEGATIVE_CACHE_LIMIT:
                self._unknown_keys.clear()
            self._unknown_keys[item_id] = now + self.cache_seconds
            return None
        return Source.model_validate(doc)

    def clear_cache(self) -> None:
        if self._provider is not None:
            self._provider.clear_cache()  # type: ignore[no-untyped-call]
        self._policies.clear()
        self._unknown_keys.clear()
