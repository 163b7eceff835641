"""Least privilege, read from the template as CloudFormation will deploy it (``samtranslator``).

:data:`EXPECTED` is the whole of what each function's role may do: one row per statement and
resource, its exact actions, the ``dynamodb:LeadingKeys`` (or other) condition and the template
condition that guards it. A role with a grant the table lacks, or without one it lists, fails. To
give a function a new permission, add its row here (forwarder rows: :func:`forwarder`).

Besides the table: no role but the admin function's may ``Scan``, ``Query`` or ``BatchGetItem`` the
policy table (daily salts, every source, erased subjects); every grant on a table is limited to
key prefixes; those prefixes are the ones the code writes (:mod:`fairtrack.stores.policy_table`,
:mod:`fairtrack.anonymise.pseudonym`); ``WebhookUrl`` takes https only and ``OperatorRoleArn`` a role ARN.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from datetime import date
from fnmatch import fnmatchcase
from typing import Any

import pytest
from test_template import (
    ALLOWED_MANAGED_POLICIES,
    _as_list,
    _role_policy_entries,
    _statements,
    load_sam_template,
    translate,
)

from fairtrack.anonymise.pseudonym import salt_id
from fairtrack.stores.policy_table import (
    ACTIVE_POLICY_ID,
    SUPPRESSED_ID,
    measurement_id_item,
    origin_item,
    policy_version_id,
    suppress_item_id,
    write_key_id,
)

BASIC = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
SQS_POLLING = "arn:aws:iam::aws:policy/service-role/AWSLambdaSQSQueueExecutionRole"


@dataclass(frozen=True)
class Grant:
    """One resource of one Allow statement: ``resource`` is a logical id (``PolicyTable``), a
    logical id and object path (``LakeBucket/lake/*``) or ``secret:<Ref>[|<Ref>]``; ``actions``
    space-separated; ``keys`` the LeadingKeys a ForAllValues:StringLike condition allows;
    ``condition`` any other condition; ``when`` the template condition guarding the policy."""

    resource: str
    actions: str
    keys: tuple[str, ...] | None = None
    condition: str | None = None  # JSON, for conditions other than LeadingKeys
    when: str | None = None

    def normal(self) -> tuple[str, frozenset[str], str | None, str | None]:
        condition = self.condition
        if self.keys is not None:
            condition = _json({"ForAllValues:StringLike": {"dynamodb:LeadingKeys": list(self.keys)}})
        return self.resource, frozenset(self.actions.split()), condition, self.when


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


# the policy table's items each reader may GetItem (see fairtrack.stores.policy_table for the layout)
POLICY = ("policy#*",)  # the active pointer and the policy versions
SUPPRESSION = ("suppressed", "suppress#*")  # the former single-item list, a subject's item
INGEST_LOOKUPS = ("writekey#*", "measurement#*", "origin#*")  # a hit's source; CORS preflights


def forwarder(destination: str, *extra: Grant, policy_keys: tuple[str, ...] = ()) -> list[Grant]:
    """What every forwarder may do, plus ``extra``: read the policy and the suppressions (one item
    at a time), keep failed events under failed/<destination>/ and send its decision log records
    to the decision-log stream (Firehose writes them to the lake bucket with its own role)."""
    return [
        Grant("PolicyTable", "dynamodb:GetItem", keys=(*POLICY, *SUPPRESSION, *policy_keys)),
        Grant(f"FailedEventsBucket/failed/{destination}/*", "s3:PutObject"),
        Grant("DecisionLogStream", "firehose:PutRecordBatch"),
        *extra,
    ]


EXPECTED: dict[str, list[Grant]] = {
    "IngestFunction": [
        *(Grant(queue, "sqs:SendMessage") for queue in ("Ga4Queue", "MetaQueue", "WebhookQueue", "LakeQueue")),
        Grant("PolicyTable", "dynamodb:GetItem", keys=(*POLICY, *INGEST_LOOKUPS, *SUPPRESSION, "salt#*")),
        Grant("PolicyTable", "dynamodb:PutItem dynamodb:DeleteItem", keys=("salt#*",)),  # today's; yesterday's
        Grant("ConsentTable", "dynamodb:PutItem", keys=("receipt#*", "subject#*")),  # append-only
        Grant("secret:PseudonymSecretArn|PseudonymSecret", "secretsmanager:GetSecretValue"),
        Grant(
            "secret:OriginVerifySecret|OriginVerifySecretArn",
            "secretsmanager:GetSecretValue",
            when="IsCloudFrontProxy",
        ),
    ],
    "Ga4ForwarderFunction": forwarder(
        "ga4",
        # the delivery ledger: one conditional PutItem per message; Update/Delete on failures
        Grant(
            "DeliveryTable",
            "dynamodb:PutItem dynamodb:UpdateItem dynamodb:DeleteItem",
            keys=("ga4#*",),
        ),
        Grant("secret:Ga4ApiSecretArn", "secretsmanager:GetSecretValue", when="HasGa4ApiSecret"),
    ),
    "MetaForwarderFunction": forwarder(
        "meta",
        Grant("secret:MetaAccessTokenArn", "secretsmanager:GetSecretValue", when="HasMetaAccessToken"),
        policy_keys=("source#*",),  # the source's action_source
    ),
    "WebhookForwarderFunction": forwarder(
        "webhook",
        Grant("secret:WebhookSecretArn", "secretsmanager:GetSecretValue", when="HasWebhookSecret"),
    ),
    "LakeForwarderFunction": forwarder("lake", Grant("LakeBucket/lake/*", "s3:PutObject")),
    "AdminFunction": [
        Grant("secret:PseudonymSecretArn|PseudonymSecret", "secretsmanager:GetSecretValue"),
        Grant("ConsentTable", "dynamodb:Query dynamodb:GetItem dynamodb:DeleteItem", keys=("receipt#*", "subject#*")),
        Grant(
            "PolicyTable",
            "dynamodb:GetItem dynamodb:PutItem dynamodb:DeleteItem dynamodb:BatchWriteItem",
            keys=(*SUPPRESSION, "erasure#*"),
        ),
        Grant(
            "LakeBucket",
            "s3:ListBucket s3:ListBucketVersions",
            condition=_json({"StringLike": {"s3:prefix": ["lake/*"]}}),
        ),
        Grant(
            "LakeBucket/lake/*",
            "s3:GetObject s3:GetObjectVersion s3:PutObject s3:DeleteObject s3:DeleteObjectVersion",
        ),
        Grant("FailedEventsBucket", "s3:ListBucket", condition=_json({"StringLike": {"s3:prefix": ["failed/*"]}})),
        Grant("FailedEventsBucket/failed/*", "s3:GetObject s3:PutObject s3:DeleteObject"),
    ],
}

MANAGED = {
    "IngestFunction": {BASIC},
    "AdminFunction": {BASIC},
    **{f"{p}ForwarderFunction": {BASIC, SQS_POLLING} for p in ("Ga4", "Meta", "Webhook", "Lake")},
}


@pytest.fixture(scope="module")
def sam_template() -> dict[str, Any]:
    return load_sam_template()


@pytest.fixture(scope="module")
def cfn_template(sam_template: dict[str, Any]) -> dict[str, Any]:
    return translate(sam_template)


def _resource_name(resource: Any) -> str:
    """A readable name for a statement's resource (see :class:`Grant`)."""
    if isinstance(resource, dict) and "Fn::GetAtt" in resource:
        logical, attribute = resource["Fn::GetAtt"]
        assert attribute == "Arn", resource
        return str(logical)
    if isinstance(resource, dict) and isinstance(resource.get("Fn::Sub"), str):
        match = re.fullmatch(r"\$\{(\w+)\.Arn\}(/.+)", resource["Fn::Sub"])
        assert match, resource
        return match[1] + match[2]
    if isinstance(resource, dict) and isinstance(resource.get("Fn::Sub"), list):
        template, variables = resource["Fn::Sub"]
        assert template == "${secretArn}", resource
        arn = variables["secretArn"]
        if "Fn::If" in arn:
            _, yes, no = arn["Fn::If"]
            return f"secret:{yes['Ref']}|{no['Ref']}"
        return f"secret:{arn['Ref']}"
    raise AssertionError(f"unexpected resource {resource!r}")


def granted(cfn_template: dict[str, Any], function: str) -> list[tuple[str, frozenset[str], str | None, str | None]]:
    rows = []
    for when, document in _role_policy_entries(cfn_template, function):
        for statement in _statements(document):
            assert statement["Effect"] == "Allow", statement
            assert "NotAction" not in statement and "NotResource" not in statement
            actions = frozenset(str(a) for a in _as_list(statement["Action"]))
            condition = _json(statement["Condition"]) if "Condition" in statement else None
            for resource in _as_list(statement["Resource"]):
                rows.append((_resource_name(resource), actions, condition, when))
    return rows


def test_the_table_names_every_function(cfn_template: dict[str, Any]) -> None:
    functions = {lid for lid, r in cfn_template["Resources"].items() if r["Type"] == "AWS::Lambda::Function"}
    assert functions == set(EXPECTED) == set(MANAGED)


@pytest.mark.parametrize("function", sorted(EXPECTED))
def test_each_role_holds_exactly_the_grants_of_the_table(cfn_template: dict[str, Any], function: str) -> None:
    """Given a function's role, then its inline statements are exactly the table's rows (actions,
    resource, condition, guard), and its managed policies only SAM's logging and SQS polling."""
    role = cfn_template["Resources"][f"{function}Role"]["Properties"]
    assert set(role.get("ManagedPolicyArns", [])) == MANAGED[function]
    assert MANAGED[function] <= ALLOWED_MANAGED_POLICIES
    got = Counter(granted(cfn_template, function))
    want = Counter(g.normal() for g in EXPECTED[function])
    assert got - want == Counter(), f"{function} is granted more than the table says"
    assert want - got == Counter(), f"{function} lacks grants the table lists"


@pytest.mark.parametrize("function", sorted(EXPECTED))
def test_no_role_but_admin_may_list_the_policy_table(cfn_template: dict[str, Any], function: str) -> None:
    """Given every role, then only the admin function's may Scan, Query or BatchGetItem the policy
    table (it does neither today), and none may on any table with a wildcard action."""
    for resource, actions, _, _ in granted(cfn_template, function):
        assert not any(a in ("*", "dynamodb:*") or a.endswith("*") for a in actions), (function, actions)
        if resource == "PolicyTable" and function != "AdminFunction":
            assert not actions & {"dynamodb:Scan", "dynamodb:Query", "dynamodb:BatchGetItem"}, function


@pytest.mark.parametrize("function", sorted(EXPECTED))
def test_every_table_grant_is_limited_to_key_prefixes(cfn_template: dict[str, Any], function: str) -> None:
    for resource, actions, condition, _ in granted(cfn_template, function):
        if any(a.startswith("dynamodb:") for a in actions):
            assert condition is not None and '"dynamodb:LeadingKeys"' in condition, (function, resource)
            assert json.loads(condition).keys() == {"ForAllValues:StringLike"}, (function, resource)


def _keys(function: str, action: str) -> list[str]:
    return [
        k
        for g in EXPECTED[function]
        if g.resource == "PolicyTable" and action in g.actions.split()
        for k in g.keys or ()
    ]


def _allowed(item_id: str, patterns: list[str]) -> bool:
    return any(fnmatchcase(item_id, p) for p in patterns)


def test_the_prefixes_are_the_items_the_code_reads() -> None:
    """Given the ids the code builds (fairtrack.stores.policy_table, fairtrack.anonymise.pseudonym), then
    ingest's GetItem prefixes allow every item ingest reads, each forwarder's the policy and suppression items (and
    the Meta forwarder a source), and none allows a write key, salt or source it does not read."""
    policy_items = [ACTIVE_POLICY_ID, policy_version_id(7), SUPPRESSED_ID, suppress_item_id("p-abc")]
    ingest_items = [
        *policy_items,
        write_key_id("a-key"),
        measurement_id_item("G-ABC123"),
        origin_item("https://shop.example"),
        salt_id(date(2026, 5, 1)),
    ]
    for item in ingest_items:
        assert _allowed(item, _keys("IngestFunction", "dynamodb:GetItem")), item
    assert _allowed(salt_id(date(2026, 5, 1)), _keys("IngestFunction", "dynamodb:PutItem"))
    assert not _allowed(ACTIVE_POLICY_ID, _keys("IngestFunction", "dynamodb:PutItem"))
    assert not _allowed("source#dev", _keys("IngestFunction", "dynamodb:GetItem"))  # ingest never reads it
    for function in (
        "Ga4ForwarderFunction",
        "MetaForwarderFunction",
        "WebhookForwarderFunction",
        "LakeForwarderFunction",
    ):
        reads = _keys(function, "dynamodb:GetItem")
        assert all(_allowed(item, reads) for item in policy_items), function
        assert _allowed("source#dev", reads) == (function == "MetaForwarderFunction")
        for other in (
            write_key_id("a-key"),
            salt_id(date(2026, 5, 1)),
            origin_item("https://shop.example"),
            "erasure#x",
        ):
            assert not _allowed(other, reads), (function, other)


# -- parameters -----------------------------------------------------------------------------------


def _pattern(sam_template: dict[str, Any], name: str) -> re.Pattern[str]:
    # CloudFormation matches AllowedPattern against the whole value
    return re.compile(str(sam_template["Parameters"][name]["AllowedPattern"]))


# What each parameter's AllowedPattern must accept (True) and refuse (False): the webhook URL is
# https (or empty), the operator role ARN an IAM role's (or empty).
ALLOWED_PATTERN_CASES: dict[str, list[tuple[str, bool]]] = {
    "WebhookUrl": [
        ("", True),
        ("https://hooks.example/in", True),
        ("https://hooks.example:8443/in?team=a", True),
        ("https://hooks.example", True),
        ("http://hooks.example/in", False),
        ("http://127.0.0.1:8080/webhook", False),
        ("HTTP://hooks.example/in", False),
        ("ftp://hooks.example/in", False),
        ("https://user:secret@hooks.example/in", False),
        ("https://hooks.example/in#frag", False),
        ("https:///in", False),
        (" https://hooks.example/in", False),
    ],
    "OperatorRoleArn": [
        ("", True),
        ("arn:aws:iam::123456789012:role/fairtrack-operator", True),
        ("arn:aws:iam::123456789012:role/ops/fairtrack-operator", True),
        ("arn:aws-cn:iam::123456789012:role/Operator_1", True),
        ("arn:aws:iam::123456789012:user/alice", False),
        ("arn:aws:sts::123456789012:assumed-role/fairtrack-operator/alice", False),
        ("arn:aws:iam::12345:role/fairtrack-operator", False),
        ("fairtrack-operator", False),
    ],
}


@pytest.mark.parametrize(
    ("parameter", "value", "ok"),
    [(parameter, value, ok) for parameter, cases in ALLOWED_PATTERN_CASES.items() for value, ok in cases],
)
def test_parameter_patterns(sam_template: dict[str, Any], parameter: str, value: str, ok: bool) -> None:
    assert (_pattern(sam_template, parameter).fullmatch(value) is not None) == ok


def test_admin_function_is_told_the_operator_role(sam_template: dict[str, Any]) -> None:
    variables = sam_template["Resources"]["AdminFunction"]["Properties"]["Environment"]["Variables"]
    assert variables["OPERATOR_ROLE_ARN"] == {"Ref": "OperatorRoleArn"}
    assert sam_template["Parameters"]["OperatorRoleArn"]["Default"] == ""
