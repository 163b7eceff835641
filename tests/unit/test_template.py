"""Contract tests for template.yaml, the SAM template that defines fairtrack's infrastructure.

Two views of the template are asserted on, both built offline:

* the SAM template itself, read with cfn-lint's YAML loader (which understands the short-form
  intrinsic tags such as ``!Ref``);
* the plain CloudFormation that SAM turns it into, produced with ``samtranslator`` (the same
  library ``sam deploy`` relies on), so that generated resources such as IAM roles and event source
  mappings can be checked too.

The properties asserted here are the ones the design depends on: every destination queue has a
dead-letter queue and a visibility timeout long enough for its forwarder, every store is encrypted
and private, the access log holds no IP address or user agent, and no role can do more than its
function needs.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import cfn_yaml  # type: ignore[import-untyped]
from samtranslator.translator.transform import transform  # type: ignore[import-untyped]

TEMPLATE_PATH = Path(__file__).resolve().parents[2] / "template.yaml"

# destination name -> logical id prefix of its queue, dead-letter queue and forwarder
DESTINATIONS = {"ga4": "Ga4", "meta": "Meta", "webhook": "Webhook", "lake": "Lake"}

# destination -> environment variables its forwarder needs besides DESTINATION
# the ledger, the failed-events store and the decision log, for every forwarder
DELIVERY_ENV = {"DELIVERY_TABLE", "FAILED_BUCKET", "DECISION_LOG_STREAM"}
DESTINATION_ENV = {
    "ga4": {"GA4_MEASUREMENT_ID", "GA4_API_SECRET_ARN", "GA4_ENDPOINT", "GA4_DEBUG"} | DELIVERY_ENV,
    "meta": {"META_PIXEL_ID", "META_ACCESS_TOKEN_ARN", "META_GRAPH_URL", "META_TEST_EVENT_CODE"} | DELIVERY_ENV,
    "webhook": {"WEBHOOK_URL", "WEBHOOK_SECRET_ARN"} | DELIVERY_ENV,
    "lake": {"LAKE_BUCKET"} | DELIVERY_ENV,
}

# function -> condition that must guard its Secrets Manager access (None: no secret at all)
SECRET_CONDITIONS = {
    "IngestFunction": None,  # always: the configured pseudonym key or the one the stack creates
    "Ga4ForwarderFunction": "HasGa4ApiSecret",
    "MetaForwarderFunction": "HasMetaAccessToken",
    "WebhookForwarderFunction": "HasWebhookSecret",
    "LakeForwarderFunction": None,
}

FUNCTIONS = list(SECRET_CONDITIONS)
FORWARDERS = [f"{prefix}ForwarderFunction" for prefix in DESTINATIONS.values()]
FORWARDER_DESTINATION = {f"{prefix}ForwarderFunction": name for name, prefix in DESTINATIONS.items()}
ALL_QUEUES = [f"{p}{kind}" for p in DESTINATIONS.values() for kind in ("Queue", "DeadLetterQueue")]

# The local stack resolves the template itself and understands only these.
SUPPORTED_INTRINSICS = {
    "Ref",
    "Fn::GetAtt",
    "Fn::Sub",
    "Fn::If",
    "Fn::Equals",
    "Fn::Not",
    "Fn::And",
    "Fn::Or",
    "Fn::Join",
}
SUPPORTED_GETATT_ATTRIBUTES = {"Arn", "QueueName", "QueueUrl"}
# Conditions that are false on the local stack (no first-party domain there).
DOMAIN_CONDITIONS = {"HasDomain", "HasHostedZone"}

# The only AWS managed policies a role may carry (SAM attaches them itself).
ALLOWED_MANAGED_POLICIES = {
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
    "arn:aws:iam::aws:policy/service-role/AWSLambdaSQSQueueExecutionRole",
}

# Action verbs that only read; any other action counts as a write.
READ_ONLY_VERB_PREFIXES = ("Get", "List", "Describe", "BatchGet", "Query", "Scan")


class _OfflinePolicyLoader:
    """Stands in for samtranslator's ManagedPolicyLoader, which would call IAM: the template names no
    managed policy by name, so the map of names to ARNs can stay empty."""

    def load(self) -> dict[str, str]:
        return {}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _walk(node: Any) -> Iterator[Any]:
    """Yield every dict and list nested in ``node`` (including ``node``)."""
    yield node
    if isinstance(node, dict):
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def load_sam_template() -> dict[str, Any]:
    # JSON round trip: plain dicts and strs instead of the loader's node classes.
    template: dict[str, Any] = json.loads(json.dumps(cfn_yaml.load(str(TEMPLATE_PATH))))
    return template


def translate(sam_template: dict[str, Any]) -> dict[str, Any]:
    """The template transformed to plain CloudFormation, offline."""
    template = copy.deepcopy(sam_template)
    for resource in template["Resources"].values():
        properties = resource.get("Properties", {})
        for uri_key in ("CodeUri", "ContentUri"):
            if uri_key in properties:
                properties[uri_key] = "s3://fairtrack-artifacts/code.zip"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AWS_DEFAULT_REGION", "eu-west-1")
        mp.setenv("AWS_REGION", "eu-west-1")
        translated: dict[str, Any] = transform(template, {}, _OfflinePolicyLoader())
    return translated


@pytest.fixture(scope="module")
def sam_template() -> dict[str, Any]:
    return load_sam_template()


@pytest.fixture(scope="module")
def resources(sam_template: dict[str, Any]) -> dict[str, Any]:
    template_resources: dict[str, Any] = sam_template["Resources"]
    return template_resources


@pytest.fixture(scope="module")
def cfn_template(sam_template: dict[str, Any]) -> dict[str, Any]:
    """The template transformed to plain CloudFormation, offline."""
    return translate(sam_template)


def _props(resources: dict[str, Any], logical_id: str) -> dict[str, Any]:
    assert logical_id in resources, f"{logical_id} missing from template"
    properties: dict[str, Any] = resources[logical_id].get("Properties", {})
    return properties


# --------------------------------------------------------------------------------------------------
# Template as a whole
# --------------------------------------------------------------------------------------------------


def test_template_is_a_sam_template_using_only_intrinsics_the_local_stack_resolves(
    sam_template: dict[str, Any],
) -> None:
    """Given template.yaml, when it is loaded, then it is a SAM template whose intrinsics are all
    ones the local stack can resolve (Ref, GetAtt of Arn/QueueName/QueueUrl, Sub, Join, If, ...)."""
    assert sam_template["Transform"] == "AWS::Serverless-2016-10-31"

    # The first-party domain's resources and outputs exist only with a DomainName, which the local
    # stack never has (it skips outputs whose condition is false): they may use the domain's own
    # attributes (RegionalDomainName, RegionalHostedZoneId).
    local = copy.deepcopy(sam_template)
    for section in ("Resources", "Outputs"):
        for name in [n for n, spec in local[section].items() if spec.get("Condition") in DOMAIN_CONDITIONS]:
            del local[section][name]
    for node in _walk(local):
        if not isinstance(node, dict):
            continue
        for key, value in node.items():
            if key == "Ref" or key.startswith("Fn::"):
                assert key in SUPPORTED_INTRINSICS, f"unsupported intrinsic {key}"
            if key == "Fn::GetAtt":
                attribute = value[1] if isinstance(value, list) else value.split(".", 1)[1]
                assert attribute in SUPPORTED_GETATT_ATTRIBUTES, f"unsupported GetAtt attribute {attribute}"


def test_every_parameter_has_a_safe_default_and_a_description(sam_template: dict[str, Any]) -> None:
    """Given the parameters, then each has a default (sam deploy works without overrides) and a
    description, and the privacy-relevant ones default to the private choice."""
    parameters = sam_template["Parameters"]
    expected = {
        "ApiThrottlingRateLimit": 100,
        "ApiThrottlingBurstLimit": 200,
        "LogLevel": "INFO",
        "LogRetentionDays": 30,
        "IpV4PrefixLength": 24,
        "IpV6PrefixLength": 48,
        "TrustedProxy": "none",
        "PolicyCacheSeconds": 30,
        "ForwarderMaximumConcurrency": 5,
        "ForwarderBatchSize": 100,
        "Ga4MeasurementId": "",
        "Ga4ApiSecretArn": "",
        "Ga4Endpoint": "https://www.google-analytics.com",
        "MetaPixelId": "",
        "MetaAccessTokenArn": "",
        "MetaGraphUrl": "https://graph.facebook.com/v21.0",
        "WebhookUrl": "",
        "WebhookSecretArn": "",
        "PseudonymSecretArn": "",
    }
    assert set(expected) <= set(parameters)
    for name, default in expected.items():
        assert str(parameters[name]["Default"]) == str(default), name
        assert parameters[name].get("Description"), f"{name} has no Description"
    assert {str(v) for v in parameters["IpV4PrefixLength"]["AllowedValues"]} == {"16", "24"}
    assert {str(v) for v in parameters["IpV6PrefixLength"]["AllowedValues"]} == {"32", "48", "56", "64"}
    assert "AllowedValues" not in parameters["TrustedProxy"]  # a pattern: see tests/unit/test_proxy_modes.py
    assert set(parameters["LogLevel"]["AllowedValues"]) == {"DEBUG", "INFO", "WARNING", "ERROR"}
    assert int(parameters["PolicyCacheSeconds"]["MaxValue"]) <= 60
    assert int(parameters["ForwarderMaximumConcurrency"]["MinValue"]) >= 2  # the SQS ESM minimum


def test_secret_conditions_test_that_the_arn_parameter_is_set(sam_template: dict[str, Any]) -> None:
    """Given the secret ARN parameters, then each has a condition that is true only when it is set."""
    conditions = sam_template["Conditions"]
    for condition, parameter in {
        "HasGa4ApiSecret": "Ga4ApiSecretArn",
        "HasMetaAccessToken": "MetaAccessTokenArn",
        "HasWebhookSecret": "WebhookSecretArn",
        "HasPseudonymSecret": "PseudonymSecretArn",
    }.items():
        assert conditions[condition] == {"Fn::Not": [{"Fn::Equals": [{"Ref": parameter}, ""]}]}


def test_function_globals_pin_runtime_architecture_layer_and_private_logging(
    sam_template: dict[str, Any],
) -> None:
    """Given Globals.Function, then every function runs python3.13 on arm64 with the common layer,
    logs JSON, never logs whole events, and has no X-Ray tracing (170 ms of cold start)."""
    function_globals = sam_template["Globals"]["Function"]
    assert function_globals["Runtime"] == "python3.13"
    assert function_globals["Architectures"] == ["arm64"]
    assert function_globals["Layers"] == [{"Ref": "CommonLayer"}]
    assert "Tracing" not in function_globals
    assert function_globals["LoggingConfig"]["LogFormat"] == "JSON"
    variables = function_globals["Environment"]["Variables"]
    assert variables["POWERTOOLS_LOGGER_LOG_EVENT"] == "false"
    assert variables["POWERTOOLS_SERVICE_NAME"] == "fairtrack"
    assert variables["POWERTOOLS_LOG_LEVEL"] == {"Ref": "LogLevel"}
    assert variables["POLICY_TABLE"] == {"Ref": "PolicyTable"}
    assert variables["POLICY_CACHE_SECONDS"] == {"Ref": "PolicyCacheSeconds"}


def test_outputs_expose_the_api_queues_tables_and_bucket(sam_template: dict[str, Any]) -> None:
    """Given the outputs, then the API URL, every queue and DLQ URL, both tables and the bucket are there."""
    outputs = sam_template["Outputs"]
    expected = {"ApiUrl", "PolicyTableName", "ConsentTableName", "LakeBucketName"}
    expected |= {f"{queue}Url" for queue in ALL_QUEUES}
    assert expected <= set(outputs)
    assert outputs["ApiUrl"]["Value"] == {
        "Fn::If": [
            "HasDomain",
            {"Fn::Sub": "https://${DomainName}/"},
            {"Fn::Sub": "https://${HttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/"},
        ]
    }
    for queue in ALL_QUEUES:
        assert outputs[f"{queue}Url"]["Value"] == {"Ref": queue}


# --------------------------------------------------------------------------------------------------
# HTTP API
# --------------------------------------------------------------------------------------------------


def test_http_api_is_throttled_and_leaves_cors_to_the_function(resources: dict[str, Any]) -> None:
    """Given the HTTP API, then routes are throttled from parameters and API Gateway does not answer
    CORS itself (it would discard the per-source CORS headers of the ingest function)."""
    api = _props(resources, "HttpApi")
    assert resources["HttpApi"]["Type"] == "AWS::Serverless::HttpApi"
    assert "CorsConfiguration" not in api
    assert api["DefaultRouteSettings"]["ThrottlingRateLimit"] == {"Ref": "ApiThrottlingRateLimit"}
    assert api["DefaultRouteSettings"]["ThrottlingBurstLimit"] == {"Ref": "ApiThrottlingBurstLimit"}


def test_access_log_holds_no_ip_address_or_user_agent(resources: dict[str, Any]) -> None:
    """Given the HTTP API access log, when its format is parsed as JSON, then it has the operational
    fields and neither the source IP, the user agent nor any request header."""
    settings = _props(resources, "HttpApi")["AccessLogSettings"]
    assert settings["DestinationArn"] == {"Fn::GetAtt": ["HttpApiAccessLogGroup", "Arn"]}

    log_format = settings["Format"]
    fields = json.loads(log_format)
    assert {"requestId", "routeKey", "status", "responseLength", "integrationLatency", "requestTime"} <= set(fields)
    lowered = log_format.lower()
    for forbidden in ("sourceip", "useragent", "$request.header", "x-forwarded-for"):
        assert forbidden not in lowered, f"access log would record {forbidden}"


def test_ingest_function_serves_every_route_on_the_api(resources: dict[str, Any]) -> None:
    """Given the ingest function, then its HTTP events are exactly the tracking, beacon and gtag
    routes and the snippet."""
    ingest = _props(resources, "IngestFunction")
    assert ingest["CodeUri"] == "functions/ingest/"
    assert ingest["Handler"] == "ingest_handler.handler"
    assert ingest["Timeout"] == 10
    routes = set()
    for event in ingest["Events"].values():
        assert event["Type"] == "HttpApi"
        assert event["Properties"]["ApiId"] == {"Ref": "HttpApi"}
        routes.add((event["Properties"]["Method"].upper(), event["Properties"]["Path"]))
    assert routes == {
        ("ANY", "/v1/{proxy+}"),
        ("ANY", "/beacon/v1/{proxy+}"),
        ("GET", "/g/collect"),
        ("POST", "/g/collect"),
        ("OPTIONS", "/g/collect"),
        ("GET", "/fairtrack.js"),
    }


def test_ingest_function_knows_every_queue_and_its_anonymisation_settings(resources: dict[str, Any]) -> None:
    """Given the ingest function's environment, then it has each destination queue URL (empty,
    so nothing is routed there, while that destination is not configured) and the anonymisation
    settings from parameters."""
    variables = _props(resources, "IngestFunction")["Environment"]["Variables"]
    assert variables["LAKE_QUEUE_URL"] == {"Ref": "LakeQueue"}
    for destination, prefix in (("ga4", "Ga4"), ("meta", "Meta"), ("webhook", "Webhook")):
        assert variables[f"{destination.upper()}_QUEUE_URL"] == {
            "Fn::If": [f"{prefix}Enabled", {"Ref": f"{prefix}Queue"}, ""]
        }
    assert variables["IP_V4_PREFIX_LENGTH"] == {"Ref": "IpV4PrefixLength"}
    assert variables["IP_V6_PREFIX_LENGTH"] == {"Ref": "IpV6PrefixLength"}
    assert variables["TRUSTED_PROXY"] == {"Ref": "TrustedProxy"}
    assert variables["PSEUDONYM_SECRET_ARN"] == {
        "Fn::If": ["HasPseudonymSecret", {"Ref": "PseudonymSecretArn"}, {"Ref": "PseudonymSecret"}]
    }
    assert variables["CONSENT_TABLE"] == {"Ref": "ConsentTable"}


def test_ingest_function_may_send_to_every_destination_queue(resources: dict[str, Any]) -> None:
    """Given the ingest function's policies, then it may send (SendMessage alone) to each of the four
    queues."""
    policies = _props(resources, "IngestFunction")["Policies"]
    statements = [st for p in policies if isinstance(p, dict) and "Statement" in p for st in _as_list(p["Statement"])]
    send = _granting(statements, "sqs")
    assert [_as_list(st["Action"]) for st in send] == [["sqs:SendMessage"]]
    assert sorted(send[0]["Resource"], key=str) == sorted(
        ({"Fn::GetAtt": [f"{prefix}Queue", "Arn"]} for prefix in DESTINATIONS.values()), key=str
    )


# --------------------------------------------------------------------------------------------------
# Queues and forwarders
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", DESTINATIONS.values())
def test_each_destination_queue_redrives_to_its_own_dead_letter_queue(resources: dict[str, Any], prefix: str) -> None:
    """Given a destination queue, then after 5 failed receives a message moves to that destination's
    DLQ, and the visibility timeout is at least 6x the forwarder timeout (AWS guidance for SQS
    event sources) so a batch in flight is not delivered twice."""
    queue = _props(resources, f"{prefix}Queue")
    forwarder = _props(resources, f"{prefix}ForwarderFunction")

    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": [f"{prefix}DeadLetterQueue", "Arn"]}
    assert int(queue["RedrivePolicy"]["maxReceiveCount"]) == 5
    assert int(queue["VisibilityTimeout"]) >= 6 * int(forwarder["Timeout"])
    assert int(queue["MessageRetentionPeriod"]) == 345600
    dead_letter_queue = _props(resources, f"{prefix}DeadLetterQueue")
    assert int(dead_letter_queue["MessageRetentionPeriod"]) == 1209600
    assert "RedrivePolicy" not in dead_letter_queue


@pytest.mark.parametrize("queue", ALL_QUEUES)
def test_every_queue_is_encrypted_and_named_by_cloudformation(resources: dict[str, Any], queue: str) -> None:
    """Given any queue or DLQ, then it is encrypted at rest and has no fixed name (stacks never collide)."""
    assert resources[queue]["Type"] == "AWS::SQS::Queue"
    properties = _props(resources, queue)
    assert properties.get("SqsManagedSseEnabled") is True or "KmsMasterKeyId" in properties
    assert "QueueName" not in properties


@pytest.mark.parametrize(("destination", "prefix"), DESTINATIONS.items())
def test_each_forwarder_reads_its_own_queue_with_partial_batch_failures(
    resources: dict[str, Any], destination: str, prefix: str
) -> None:
    """Given a forwarder, then it runs the shared forwarder code for its DESTINATION, with the
    destination's settings, fed by its queue with partial batch failures and capped concurrency."""
    forwarder = _props(resources, f"{prefix}ForwarderFunction")
    assert forwarder["CodeUri"] == "functions/forwarder/"
    assert forwarder["Handler"] == "forwarder_handler.handler"
    assert forwarder["Timeout"] == 30

    variables = forwarder["Environment"]["Variables"]
    assert variables["DESTINATION"] == destination
    assert set(variables) == {"DESTINATION"} | DESTINATION_ENV[destination]

    events = forwarder["Events"]
    assert set(events) == {"Queue"}
    assert events["Queue"]["Type"] == "SQS"
    source = events["Queue"]["Properties"]
    assert source["Queue"] == {"Fn::GetAtt": [f"{prefix}Queue", "Arn"]}
    assert source["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert source["ScalingConfig"]["MaximumConcurrency"] == {"Ref": "ForwarderMaximumConcurrency"}
    assert source["BatchSize"] == {"Ref": "ForwarderBatchSize"}
    # A batch window above 0 is required by SQS for batch sizes above 10.
    assert int(source["MaximumBatchingWindowInSeconds"]) >= 1


def test_lake_forwarder_knows_the_lake_bucket(resources: dict[str, Any]) -> None:
    """Given the lake forwarder, then it writes to the stack's own bucket."""
    variables = _props(resources, "LakeForwarderFunction")["Environment"]["Variables"]
    assert variables["LAKE_BUCKET"] == {"Ref": "LakeBucket"}


@pytest.mark.parametrize("function", FUNCTIONS)
def test_every_function_logs_to_its_own_log_group_with_retention(resources: dict[str, Any], function: str) -> None:
    """Given a function, then its logs go to a log group of this stack with the configured retention
    (Lambda's implicit log groups keep logs forever)."""
    log_group = _props(resources, function)["LoggingConfig"]["LogGroup"]
    assert log_group == {"Ref": f"{function}LogGroup"}
    assert resources[f"{function}LogGroup"]["Type"] == "AWS::Logs::LogGroup"
    assert _props(resources, f"{function}LogGroup")["RetentionInDays"] == {"Ref": "LogRetentionDays"}


def test_access_log_group_has_retention(resources: dict[str, Any]) -> None:
    """Given the API access log group, then it keeps logs only for the configured days."""
    assert _props(resources, "HttpApiAccessLogGroup")["RetentionInDays"] == {"Ref": "LogRetentionDays"}


# --------------------------------------------------------------------------------------------------
# Stores
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("table", "key_schema"),
    [
        ("PolicyTable", [("id", "HASH")]),
        ("ConsentTable", [("pk", "HASH"), ("sk", "RANGE")]),
    ],
)
def test_tables_are_on_demand_recoverable_encrypted_expiring_and_retained(
    resources: dict[str, Any], table: str, key_schema: list[tuple[str, str]]
) -> None:
    """Given a table, then it is on-demand, has point-in-time recovery, encryption and a TTL on
    `expires_at`, has the expected string keys, and survives stack deletion or replacement."""
    assert resources[table]["Type"] == "AWS::DynamoDB::Table"
    assert resources[table]["DeletionPolicy"] == "Retain"
    assert resources[table]["UpdateReplacePolicy"] == "Retain"
    properties = _props(resources, table)
    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    assert properties["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert properties["SSESpecification"]["SSEEnabled"] is True
    assert properties["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert [(k["AttributeName"], k["KeyType"]) for k in properties["KeySchema"]] == key_schema
    attribute_types = {a["AttributeName"]: a["AttributeType"] for a in properties["AttributeDefinitions"]}
    assert attribute_types == {name: "S" for name, _ in key_schema}


def test_lake_bucket_is_private_encrypted_versioned_and_retained(resources: dict[str, Any]) -> None:
    """Given the lake bucket, then public access is fully blocked, ACLs are disabled, objects are
    encrypted and versioned, old versions expire, and the bucket survives stack deletion."""
    assert resources["LakeBucket"]["DeletionPolicy"] == "Retain"
    assert resources["LakeBucket"]["UpdateReplacePolicy"] == "Retain"
    bucket = _props(resources, "LakeBucket")
    assert bucket["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    encryption = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert encryption[0]["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in {
        "AES256",
        "aws:kms",
        "aws:kms:dsse",
    }
    assert bucket["VersioningConfiguration"]["Status"] == "Enabled"
    assert bucket["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    noncurrent_days = [
        rule["NoncurrentVersionExpiration"]["NoncurrentDays"]
        for rule in bucket["LifecycleConfiguration"]["Rules"]
        if rule["Status"] == "Enabled" and "NoncurrentVersionExpiration" in rule
    ]
    assert noncurrent_days, "old object versions never expire"
    assert max(noncurrent_days) <= 30


def test_lake_bucket_refuses_requests_without_tls(resources: dict[str, Any]) -> None:
    """Given the lake bucket policy, then every request over plain HTTP is denied."""
    policy = _props(resources, "LakeBucketPolicy")
    assert policy["Bucket"] == {"Ref": "LakeBucket"}
    denies = [
        statement
        for statement in policy["PolicyDocument"]["Statement"]
        if statement["Effect"] == "Deny"
        and statement.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") in ("false", False)
    ]
    assert denies, "no statement denies non-TLS access"
    assert denies[0]["Principal"] == "*"
    assert "s3:*" in _as_list(denies[0]["Action"])


def test_common_layer_cross_builds_for_python313_on_arm64(resources: dict[str, Any]) -> None:
    """Given the common layer, then sam build installs its requirements for python3.13 on arm64."""
    layer = resources["CommonLayer"]
    assert layer["Type"] == "AWS::Serverless::LayerVersion"
    assert layer["Metadata"] == {"BuildMethod": "python3.13", "BuildArchitecture": "arm64"}
    assert layer["Properties"]["ContentUri"] == "layers/common/"
    assert layer["Properties"]["CompatibleRuntimes"] == ["python3.13"]
    assert layer["Properties"]["CompatibleArchitectures"] == ["arm64"]


# --------------------------------------------------------------------------------------------------
# Translated CloudFormation (what is actually deployed)
# --------------------------------------------------------------------------------------------------


def _role_policy_entries(cfn_template: dict[str, Any], function: str) -> list[tuple[str | None, dict[str, Any]]]:
    """Inline policies of a function's role as (guarding condition or None, policy document)."""
    role = cfn_template["Resources"][f"{function}Role"]
    assert role["Type"] == "AWS::IAM::Role"
    entries: list[tuple[str | None, dict[str, Any]]] = []
    for policy in role["Properties"].get("Policies", []):
        if "Fn::If" in policy:
            condition, when_true, when_false = policy["Fn::If"]
            assert when_false == {"Ref": "AWS::NoValue"}
            entries.append((condition, when_true["PolicyDocument"]))
        else:
            entries.append((None, policy["PolicyDocument"]))
    return entries


def _statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    return _as_list(document["Statement"])


def _role_statements(cfn_template: dict[str, Any], function: str) -> list[dict[str, Any]]:
    """Every statement of the inline policies of a function's role, whatever guards them."""
    return [
        statement for _, document in _role_policy_entries(cfn_template, function) for statement in _statements(document)
    ]


def _granting(statements: list[dict[str, Any]], service: str) -> list[dict[str, Any]]:
    """The ``statements`` with an action of ``service`` (``s3``, ``firehose``, ...)."""
    return [st for st in statements if any(str(a).startswith(f"{service}:") for a in _as_list(st["Action"]))]


def test_translated_template_has_one_function_per_role_on_python313_arm64(
    cfn_template: dict[str, Any],
) -> None:
    """Given the template transformed to CloudFormation, then exactly the six functions exist (ingest,
    four forwarders, admin), each on python3.13/arm64 with the common layer and its own role."""
    functions = {lid: r for lid, r in cfn_template["Resources"].items() if r["Type"] == "AWS::Lambda::Function"}
    assert set(functions) == {*FUNCTIONS, "AdminFunction"}
    layer_ids = {lid for lid, r in cfn_template["Resources"].items() if r["Type"] == "AWS::Lambda::LayerVersion"}
    assert len(layer_ids) == 1
    for logical_id, function in functions.items():
        properties = function["Properties"]
        assert properties["Runtime"] == "python3.13"
        assert properties["Architectures"] == ["arm64"]
        assert properties["Layers"] == [{"Ref": next(iter(layer_ids))}]
        assert properties["Role"] == {"Fn::GetAtt": [f"{logical_id}Role", "Arn"]}
        assert "TracingConfig" not in properties
        assert properties["LoggingConfig"]["LogFormat"] == "JSON"
        assert properties["LoggingConfig"]["LogGroup"] == {"Ref": f"{logical_id}LogGroup"}


def test_translated_event_source_mappings_report_partial_failures(cfn_template: dict[str, Any]) -> None:
    """Given the transformed template, then each destination queue feeds its forwarder through an
    event source mapping with partial batch failures and a concurrency cap."""
    mappings = {
        r["Properties"]["EventSourceArn"]["Fn::GetAtt"][0]: r["Properties"]
        for r in cfn_template["Resources"].values()
        if r["Type"] == "AWS::Lambda::EventSourceMapping"
    }
    assert set(mappings) == {f"{prefix}Queue" for prefix in DESTINATIONS.values()}
    for queue, mapping in mappings.items():
        assert mapping["FunctionName"] == {"Ref": queue.replace("Queue", "ForwarderFunction")}
        assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        assert mapping["ScalingConfig"]["MaximumConcurrency"] == {"Ref": "ForwarderMaximumConcurrency"}


@pytest.mark.parametrize("function", FUNCTIONS)
def test_no_role_grants_wildcards_or_writes_on_every_resource(cfn_template: dict[str, Any], function: str) -> None:
    """Given a function's role in the transformed template, then no statement allows every action of
    all or of a service (`*`, `s3:*`), no statement allows a write on Resource `*`, and the only
    managed policies are the two SAM attaches for logging and SQS polling."""
    role = cfn_template["Resources"][f"{function}Role"]["Properties"]
    assert set(role.get("ManagedPolicyArns", [])) <= ALLOWED_MANAGED_POLICIES

    for statement in _role_statements(cfn_template, function):
        assert "NotAction" not in statement
        assert "NotResource" not in statement
        if statement["Effect"] != "Allow":
            continue
        actions = [str(a) for a in _as_list(statement["Action"])]
        for action in actions:
            assert action != "*", f"{function} is granted every action"
            assert not action.endswith(":*"), f"{function} is granted {action}"
        if "*" in _as_list(statement["Resource"]):
            writes = [a for a in actions if not a.split(":", 1)[1].startswith(READ_ONLY_VERB_PREFIXES)]
            assert not writes, f"{function} may {writes} on every resource"


@pytest.mark.parametrize("function", FUNCTIONS)
def test_secrets_are_readable_only_when_configured(cfn_template: dict[str, Any], function: str) -> None:
    """Given a function's role, then Secrets Manager access exists only under the condition that its
    own secret ARN parameter is set, and is limited to reading that one secret."""
    expected_condition = SECRET_CONDITIONS[function]
    secret_entries = [
        (condition, statement)
        for condition, document in _role_policy_entries(cfn_template, function)
        for statement in _statements(document)
        if any(str(a).startswith("secretsmanager:") for a in _as_list(statement["Action"]))
    ]
    if function == "IngestFunction":  # the pseudonym key, and the origin-verify value under cloudfront
        assert len(secret_entries) == 2
        for (condition, statement), secret in zip(
            secret_entries, ("PseudonymSecret", "OriginVerifySecret"), strict=True
        ):
            assert _as_list(statement["Action"]) == ["secretsmanager:GetSecretValue"]
            assert secret in json.dumps(statement["Resource"])
            assert condition == (None if secret == "PseudonymSecret" else "IsCloudFrontProxy")
        return
    if expected_condition is None:
        assert secret_entries == []
        return
    assert len(secret_entries) == 1
    condition, statement = secret_entries[0]
    assert condition == expected_condition
    assert _as_list(statement["Action"]) == ["secretsmanager:GetSecretValue"]
    assert "*" not in _as_list(statement["Resource"])


def test_only_forwarders_touch_s3_and_only_to_put_their_own_objects(cfn_template: dict[str, Any]) -> None:
    """Given every role, then ingest has no S3 permission; each forwarder may only put objects under
    its own failed/<destination>/ prefix of the failed-events store, and the lake forwarder also
    under lake/ in the lake bucket (no read, list or delete anywhere; the decision log goes through
    Firehose)."""
    for function in FUNCTIONS:
        s3_statements = _granting(_role_statements(cfn_template, function), "s3")
        destination = FORWARDER_DESTINATION.get(function)
        if destination is None:
            assert s3_statements == [], f"{function} has S3 access"
            continue
        assert all(_as_list(st["Action"]) == ["s3:PutObject"] for st in s3_statements)
        expected = [{"Fn::Sub": f"${{FailedEventsBucket.Arn}}/failed/{destination}/*"}]
        if destination == "lake":
            expected.append({"Fn::Sub": "${LakeBucket.Arn}/lake/*"})
        assert sorted(json.dumps(st["Resource"]) for st in s3_statements) == sorted(json.dumps(r) for r in expected)


def test_the_decision_log_goes_through_one_firehose_stream_into_decisions(
    resources: dict[str, Any], cfn_template: dict[str, Any]
) -> None:
    """Given the decision-log stream, then it takes direct PUTs and writes them, uncompressed (the
    records are gzip members), to the lake bucket under decisions/ every minute or 5 MB, with a role
    that may put objects only there; every forwarder may PutRecordBatch to it and to nothing else
    in Firehose, and no other function may touch it."""
    stream = _props(resources, "DecisionLogStream")
    assert stream["DeliveryStreamType"] == "DirectPut"
    s3 = stream["ExtendedS3DestinationConfiguration"]
    assert s3["BucketARN"] == {"Fn::GetAtt": ["LakeBucket", "Arn"]}
    assert s3["RoleARN"] == {"Fn::GetAtt": ["DecisionLogStreamRole", "Arn"]}
    assert s3["Prefix"] == "decisions/" and s3["ErrorOutputPrefix"].startswith("decisions/")
    assert s3["CompressionFormat"] == "UNCOMPRESSED"
    assert s3["BufferingHints"] == {"IntervalInSeconds": 60, "SizeInMBs": 5}
    role = _props(resources, "DecisionLogStreamRole")
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "firehose.amazonaws.com"}
    statements = [st for policy in role["Policies"] for st in _as_list(policy["PolicyDocument"]["Statement"])]
    for st in statements:
        actions = _as_list(st["Action"])
        if st["Resource"] == {"Fn::GetAtt": ["LakeBucket", "Arn"]}:  # bucket-level reads only
            assert set(actions) <= {"s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"}
        else:
            assert st["Resource"] == {"Fn::Sub": "${LakeBucket.Arn}/decisions/*"}
            assert sorted(actions) == ["s3:AbortMultipartUpload", "s3:PutObject"]
    for function in FUNCTIONS:
        firehose = _granting(_role_statements(cfn_template, function), "firehose")
        if function not in FORWARDER_DESTINATION:
            assert firehose == [], function
            continue
        assert [(_as_list(st["Action"]), st["Resource"]) for st in firehose] == [
            (["firehose:PutRecordBatch"], {"Fn::GetAtt": ["DecisionLogStream", "Arn"]})
        ], function
        env = _props(resources, function)["Environment"]["Variables"]
        assert env["DECISION_LOG_STREAM"] == {"Ref": "DecisionLogStream"} and "DECISION_LOG_BUCKET" not in env


@pytest.mark.parametrize("function", FORWARDERS)
def test_only_the_ga4_forwarder_uses_the_ledger_and_only_its_own_entries(
    cfn_template: dict[str, Any], function: str
) -> None:
    """Given a forwarder's role, then the GA4 forwarder may get, put, update and delete items of the
    delivery ledger whose key starts with ``ga4#`` (a LeadingKeys condition), and the Meta, webhook
    and lake forwarders may not touch it."""
    ledger = [
        statement
        for statement in _role_statements(cfn_template, function)
        if "DeliveryTable" in json.dumps(statement["Resource"])
    ]
    if FORWARDER_DESTINATION[function] != "ga4":
        assert ledger == [], function
        return
    assert len(ledger) == 1
    assert sorted(_as_list(ledger[0]["Action"])) == [
        "dynamodb:DeleteItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
    ]
    assert ledger[0]["Condition"] == {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["ga4#*"]}}


def test_ingest_cannot_touch_the_ledger(cfn_template: dict[str, Any]) -> None:
    statements = _role_statements(cfn_template, "IngestFunction")
    assert not any("DeliveryTable" in json.dumps(st["Resource"]) for st in statements)


def test_ledger_items_expire_and_failed_events_expire_with_the_retention(cfn_template: dict[str, Any]) -> None:
    resources = cfn_template["Resources"]
    table = resources["DeliveryTable"]["Properties"]
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert table["SSESpecification"] == {"SSEEnabled": True}
    bucket = resources["FailedEventsBucket"]["Properties"]
    (rule,) = bucket["LifecycleConfiguration"]["Rules"]
    assert rule["ExpirationInDays"] == {"Ref": "FailedEventsRetentionDays"} and rule["Prefix"] == "failed/"
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    assert "VersioningConfiguration" not in bucket  # a replayed or expired failure is really gone


@pytest.mark.parametrize("function", FUNCTIONS)
def test_every_function_reads_the_policy_table_but_cannot_change_it(
    cfn_template: dict[str, Any], function: str
) -> None:
    """Given every role, then each function can read the policy table and none can write to it
    (policies are pushed by the operator's CLI, not by a function), except that ingest may put and
    delete the daily salts, and only those (a LeadingKeys condition on ``salt#``)."""
    table_actions: set[str] = set()
    for statement in _role_statements(cfn_template, function):
        if "PolicyTable" in json.dumps(statement["Resource"]):
            if statement.get("Condition") == {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["salt#*"]}}:
                assert function == "IngestFunction"
                assert sorted(_as_list(statement["Action"])) == ["dynamodb:DeleteItem", "dynamodb:PutItem"]
                continue
            table_actions |= {str(a) for a in _as_list(statement["Action"])}
    assert "dynamodb:GetItem" in table_actions
    assert (
        not {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"}
        & table_actions
    )


def test_ingest_may_only_append_consent_receipts(cfn_template: dict[str, Any]) -> None:
    """Given every role but the admin function's (data-subject rights, IAM-authorised), then only the
    ingest function can touch the consent table (where full IP addresses may live), and only to put
    receipts and their subject pointers: one statement, PutItem alone, on the table itself, for keys
    under ``receipt#`` and ``subject#`` only (a LeadingKeys condition). No other function can read,
    change or delete a receipt."""
    for function in FUNCTIONS:
        statements = [
            statement
            for statement in _role_statements(cfn_template, function)
            if "ConsentTable" in json.dumps(statement["Resource"])
        ]
        if function != "IngestFunction":
            assert statements == [], function
            continue
        (statement,) = statements
        assert statement["Effect"] == "Allow"
        assert _as_list(statement["Action"]) == ["dynamodb:PutItem"]
        assert _as_list(statement["Resource"]) == [{"Fn::GetAtt": ["ConsentTable", "Arn"]}]
        assert statement["Condition"] == {
            "ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["receipt#*", "subject#*"]}
        }


def test_nothing_else_in_the_stack_grants_consent_table_access(cfn_template: dict[str, Any]) -> None:
    """Given the whole transformed template, then the ingest role's one statement and the admin
    role's (data-subject rights, tested in test_admin_role_is_least_privilege) are the only IAM
    grants anywhere that name the consent table (no other role, managed or inline policy, and no
    resource policy), and only those two functions are told the table's name."""
    mentions: list[str] = []
    for logical_id, resource in cfn_template["Resources"].items():
        if logical_id == "ConsentTable" or "ConsentTable" not in json.dumps(resource):
            continue
        mentions.append(logical_id)
        if resource["Type"] == "AWS::Lambda::Function":
            variables = resource["Properties"]["Environment"]["Variables"]
            assert [k for k, v in variables.items() if "ConsentTable" in json.dumps(v)] == ["CONSENT_TABLE"]
    assert sorted(mentions) == ["AdminFunction", "AdminFunctionRole", "IngestFunction", "IngestFunctionRole"]
    granting = [
        statement
        for statement in _role_statements(cfn_template, "IngestFunction")
        if "ConsentTable" in json.dumps(statement)
    ]
    assert len(granting) == 1


# --------------------------------------------------------------------------------------------------
# Admin function: data-subject rights over IAM-authorised routes only
# --------------------------------------------------------------------------------------------------

ADMIN_ROUTES = {("GET", "/admin/subjects/{kind}/{id}"), ("DELETE", "/admin/subjects/{kind}/{id}")}


def _http_events(resources: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (logical_id, event["Properties"])
        for logical_id, resource in resources.items()
        if resource["Type"] == "AWS::Serverless::Function"
        for event in resource["Properties"].get("Events", {}).values()
        if event["Type"] == "HttpApi"
    ]


def test_admin_routes_are_iam_authorised_and_nothing_else_is_admin(resources: dict[str, Any]) -> None:
    """Given every HTTP event, then the admin function serves exactly the two subject routes, each
    with the AWS_IAM authorizer (SigV4: never public), and no other function has an /admin route."""
    admin = _props(resources, "AdminFunction")
    assert admin["CodeUri"] == "functions/admin/"
    assert admin["Handler"] == "admin_handler.handler"
    assert admin["LoggingConfig"]["LogGroup"] == {"Ref": "AdminFunctionLogGroup"}
    assert _props(resources, "AdminFunctionLogGroup")["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    routes = set()
    for function, properties in _http_events(resources):
        route = (properties["Method"].upper(), properties["Path"])
        if function == "AdminFunction":
            assert properties["ApiId"] == {"Ref": "HttpApi"}
            assert properties["Auth"] == {"Authorizer": "AWS_IAM"}
            routes.add(route)
        else:
            assert not properties["Path"].startswith("/admin"), function
            assert properties["Path"] not in ("/{proxy+}", "$default"), f"{function} would catch /admin/..."
    assert routes == ADMIN_ROUTES


def test_admin_routes_translate_to_iam_authorization(cfn_template: dict[str, Any]) -> None:
    """Given the transformed template, then the API's definition marks both admin operations with
    SigV4 security and leaves no /admin path without it."""
    (api,) = [r for r in cfn_template["Resources"].values() if r["Type"] == "AWS::ApiGatewayV2::Api"]
    paths = api["Properties"]["Body"]["paths"]
    admin_paths = {path: ops for path, ops in paths.items() if path.startswith("/admin")}
    assert set(admin_paths) == {"/admin/subjects/{kind}/{id}"}
    operations = admin_paths["/admin/subjects/{kind}/{id}"]
    assert set(operations) >= {"get", "delete"}
    for method in ("get", "delete"):
        assert operations[method]["security"] == [{"AWS_IAM": []}]
    # enabling the IAM authorizer on the API leaves the tracking routes as they were (no default)
    assert "security" not in api["Properties"]["Body"]
    for path, ops in paths.items():
        if not path.startswith("/admin"):
            assert all("security" not in op for op in ops.values() if isinstance(op, dict)), path


def test_admin_function_knows_where_subject_data_lives(resources: dict[str, Any]) -> None:
    variables = _props(resources, "AdminFunction")["Environment"]["Variables"]
    assert variables["CONSENT_TABLE"] == {"Ref": "ConsentTable"}
    assert variables["LAKE_BUCKET"] == {"Ref": "LakeBucket"}
    assert variables["FAILED_BUCKET"] == {"Ref": "FailedEventsBucket"}
    assert (
        variables["PSEUDONYM_SECRET_ARN"]
        == _props(resources, "IngestFunction")["Environment"]["Variables"]["PSEUDONYM_SECRET_ARN"]
    )


def test_admin_role_is_least_privilege(cfn_template: dict[str, Any]) -> None:
    """Given the admin function's role, then it may only: read the pseudonym secret; query, read and
    delete consent receipts and subject pointers; read and put the policy table's suppression list
    and erasure records; list, read, rewrite and delete lake objects (and their versions) under lake/
    and failed events under failed/. Nothing on every resource, no wildcard actions, no other table."""
    role = cfn_template["Resources"]["AdminFunctionRole"]["Properties"]
    assert set(role.get("ManagedPolicyArns", [])) <= ALLOWED_MANAGED_POLICIES
    grants: dict[str, tuple[list[str], Any]] = {}
    for condition, document in _role_policy_entries(cfn_template, "AdminFunction"):
        assert condition is None
        for statement in _statements(document):
            assert statement["Effect"] == "Allow"
            assert "NotAction" not in statement and "NotResource" not in statement
            resource = json.dumps(statement["Resource"], sort_keys=True)
            assert "*" not in _as_list(statement["Resource"])
            actions = sorted(str(a) for a in _as_list(statement["Action"]))
            assert all(a != "*" and not a.endswith(":*") for a in actions)
            assert resource not in grants, f"two statements on {resource}"
            grants[resource] = (actions, statement.get("Condition"))

    def grant(resource: Any) -> tuple[list[str], Any]:
        return grants.pop(json.dumps(resource, sort_keys=True))

    secret = [r for r in list(grants) if "PseudonymSecret" in r]
    assert len(secret) == 1 and grants.pop(secret[0])[0] == ["secretsmanager:GetSecretValue"]
    assert grant({"Fn::GetAtt": ["ConsentTable", "Arn"]}) == (
        ["dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:Query"],
        {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["receipt#*", "subject#*"]}},
    )
    assert grant({"Fn::GetAtt": ["PolicyTable", "Arn"]}) == (
        ["dynamodb:BatchWriteItem", "dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem"],
        {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["suppressed", "suppress#*", "erasure#*"]}},
    )
    assert grant({"Fn::GetAtt": ["LakeBucket", "Arn"]}) == (
        ["s3:ListBucket", "s3:ListBucketVersions"],
        {"StringLike": {"s3:prefix": ["lake/*"]}},
    )
    assert grant({"Fn::Sub": "${LakeBucket.Arn}/lake/*"}) == (
        ["s3:DeleteObject", "s3:DeleteObjectVersion", "s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"],
        None,
    )
    assert grant({"Fn::GetAtt": ["FailedEventsBucket", "Arn"]}) == (
        ["s3:ListBucket"],
        {"StringLike": {"s3:prefix": ["failed/*"]}},
    )
    assert grant({"Fn::Sub": "${FailedEventsBucket.Arn}/failed/*"}) == (
        ["s3:DeleteObject", "s3:GetObject", "s3:PutObject"],
        None,
    )
    assert grants == {}, f"unexpected grants: {sorted(grants)}"
