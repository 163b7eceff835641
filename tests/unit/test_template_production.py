"""template.yaml for production: first-party domain, alarms and dashboard, enforced retention.

Each parameter combination is evaluated with the local stack's resolver (conditions and intrinsics
as CloudFormation would), and the translated template (samtranslator, offline) is checked for the
HTTP API's execute-api switch."""

from __future__ import annotations

import copy
import itertools
import json
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import cfn_yaml  # type: ignore[import-untyped]
from samtranslator.translator.transform import transform  # type: ignore[import-untyped]

from fairtrack_tools.local.template import Resolver

TEMPLATE_PATH = Path(__file__).resolve().parents[2] / "template.yaml"
DESTINATIONS = {"ga4": "Ga4", "meta": "Meta", "webhook": "Webhook", "lake": "Lake"}
DOMAIN = {"DomainName": "collect.shop.example", "CertificateArn": "arn:aws:acm:eu-west-1:123456789012:certificate/abc"}
ZONE = {"HostedZoneId": "Z0123456789ABC"}
EMAIL = {"AlarmEmail": "ops@shop.example"}
DOMAIN_RESOURCES = {"ApiDomainName", "ApiDomainMapping"}
ALARM_TOPIC = {"AlarmTopic", "AlarmEmailSubscription"}


class _NoPolicies:
    def load(self) -> dict[str, str]:
        return {}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(json.dumps(cfn_yaml.load(str(TEMPLATE_PATH))))
    return loaded


def _present(template: dict[str, Any], params: dict[str, str], section: str) -> set[str]:
    resolver = Resolver(template, params)
    return {name for name, spec in template[section].items() if resolver.condition(spec.get("Condition"))}


COMBINATIONS = [{**d, **z, **e} for d, z, e in itertools.product([{}, DOMAIN], [{}, ZONE], [{}, EMAIL])]


@pytest.mark.parametrize("params", COMBINATIONS, ids=lambda p: "+".join(sorted(p)) or "defaults")
def test_each_combination_creates_exactly_its_resources_and_outputs(
    template: dict[str, Any], params: dict[str, str]
) -> None:
    has_domain = "DomainName" in params
    has_record = has_domain and "HostedZoneId" in params
    has_email = "AlarmEmail" in params
    resources = _present(template, params, "Resources")
    outputs = _present(template, params, "Outputs")
    resolver = Resolver(template, params)
    resolver.refs.update({"HttpApi": "abc123", "AlarmTopic": "arn:aws:sns:topic"})

    assert (resources >= DOMAIN_RESOURCES) is has_domain
    assert not (DOMAIN_RESOURCES & resources) or has_domain
    assert ("ApiDomainRecord" in resources) is has_record
    assert (resources >= ALARM_TOPIC) is has_email
    assert not (ALARM_TOPIC & resources) or has_email
    assert (
        {"CustomDomainUrl", "ApiDomainTarget"} <= outputs
        if has_domain
        else not {"CustomDomainUrl", "ApiDomainTarget"} & outputs
    )
    api_url = resolver.resolve(template["Outputs"]["ApiUrl"]["Value"])
    expected = "https://collect.shop.example/" if has_domain else "https://abc123.execute-api.us-east-1.amazonaws.com/"
    assert api_url == expected
    api = template["Resources"]["HttpApi"]["Properties"]
    assert resolver.resolve(api["DisableExecuteApiEndpoint"]) is has_domain
    for name, spec in template["Resources"].items():
        if spec["Type"] != "AWS::CloudWatch::Alarm":
            continue
        props = resolver.resolve({k: spec["Properties"][k] for k in ("AlarmActions", "OKActions")})
        if has_email:
            assert props["AlarmActions"] == [resolver.resolve({"Ref": "AlarmTopic"})], name
            assert props["OKActions"] == props["AlarmActions"], name
        else:
            assert "AlarmActions" not in props and "OKActions" not in props, name


def test_domain_resources_map_the_default_stage_and_alias_the_regional_name(template: dict[str, Any]) -> None:
    res = template["Resources"]
    config = res["ApiDomainName"]["Properties"]["DomainNameConfigurations"]
    assert config == [
        {"CertificateArn": {"Ref": "CertificateArn"}, "EndpointType": "REGIONAL", "SecurityPolicy": "TLS_1_2"}
    ]
    assert res["ApiDomainMapping"]["Properties"] == {
        "ApiId": {"Ref": "HttpApi"},
        "DomainName": {"Ref": "ApiDomainName"},
        "Stage": {"Ref": "HttpApiApiGatewayDefaultStage"},
    }
    record = res["ApiDomainRecord"]["Properties"]
    assert record["Type"] == "A" and record["HostedZoneId"] == {"Ref": "HostedZoneId"}
    assert record["AliasTarget"]["DNSName"] == {"Fn::GetAtt": ["ApiDomainName", "RegionalDomainName"]}
    assert template["Rules"]["DomainNeedsCertificate"]["Assertions"][0]["Assert"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "CertificateArn"}, ""]}]
    }


def test_translated_http_api_disables_execute_api_only_with_a_domain(template: dict[str, Any]) -> None:
    sam = copy.deepcopy(template)
    for resource in sam["Resources"].values():
        for key in ("CodeUri", "ContentUri"):
            if key in resource.get("Properties", {}):
                resource["Properties"][key] = "s3://fairtrack-artifacts/code.zip"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AWS_DEFAULT_REGION", "eu-west-1")
        cfn = transform(sam, {}, _NoPolicies())
    servers = cfn["Resources"]["HttpApi"]["Properties"]["Body"]["servers"]
    assert servers == [
        {
            "x-amazon-apigateway-endpoint-configuration": {
                "disableExecuteApiEndpoint": {"Fn::If": ["HasDomain", True, False]}
            }
        }
    ]
    assert "HttpApiApiGatewayDefaultStage" in cfn["Resources"]


def test_lake_and_decision_logs_expire_after_lake_retention_days(template: dict[str, Any]) -> None:
    param = template["Parameters"]["LakeRetentionDays"]
    assert param["Default"] == 30 and param["MinValue"] == 1
    rules = template["Resources"]["LakeBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    by_prefix = {r.get("Prefix"): r for r in rules}
    for prefix in ("lake/", "decisions/"):
        rule = by_prefix[prefix]
        assert rule["Status"] == "Enabled"
        assert rule["ExpirationInDays"] == {"Ref": "LakeRetentionDays"}
        assert rule["NoncurrentVersionExpiration"] == {"NoncurrentDays": 1}


def _alarms(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n: s["Properties"] for n, s in template["Resources"].items() if s["Type"] == "AWS::CloudWatch::Alarm"}


def test_every_alarm_watches_the_metric_and_dimensions_it_names(template: dict[str, Any]) -> None:
    expected: dict[str, tuple[str, str, dict[str, Any], str, int]] = {
        "Ingest5xxAlarm": ("AWS/ApiGateway", "5xx", {"ApiId": {"Ref": "HttpApi"}}, "Sum", 0),
        # Firehose holding decision records it cannot write to S3 (the audit would under-count)
        "DecisionLogDeliveryAlarm": (
            "AWS/Firehose",
            "DeliveryToS3.DataFreshness",
            {"DeliveryStreamName": {"Ref": "DecisionLogStream"}},
            "Maximum",
            900,
        ),
    }
    for p in DESTINATIONS.values():
        expected[f"{p}DeadLetterQueueAlarm"] = (
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            {"QueueName": {"Fn::GetAtt": [f"{p}DeadLetterQueue", "QueueName"]}},
            "Maximum",
            0,
        )
        expected[f"{p}QueueAgeAlarm"] = (
            "AWS/SQS",
            "ApproximateAgeOfOldestMessage",
            {"QueueName": {"Fn::GetAtt": [f"{p}Queue", "QueueName"]}},
            "Maximum",
            900,
        )
        for metric in ("Errors", "Throttles"):
            expected[f"{p}Forwarder{metric}Alarm"] = (
                "AWS/Lambda",
                metric,
                {"FunctionName": {"Ref": f"{p}ForwarderFunction"}},
                "Sum",
                0,
            )
    alarms = _alarms(template)
    failed = {f"{p}EventsFailedAlarm" for p in DESTINATIONS.values()}
    assert set(alarms) == set(expected) | failed
    for name, (namespace, metric, dims, stat, threshold) in expected.items():
        props = alarms[name]
        assert props["Namespace"] == namespace, name
        assert props["MetricName"] == metric, name
        assert {d["Name"]: d["Value"] for d in props["Dimensions"]} == dims, name
        assert props["Statistic"] == stat, name
        assert props["Threshold"] == threshold and props["ComparisonOperator"] == "GreaterThanThreshold", name
        assert props["TreatMissingData"] == "notBreaching", name
    for dest, p in DESTINATIONS.items():
        props = alarms[f"{p}EventsFailedAlarm"]
        (query,) = props["Metrics"]
        # the forwarder's EMF metric: namespace fairtrack, dimensions destination, reason, service
        assert query["Expression"] == (
            "SELECT SUM(EventsFailed) FROM SCHEMA(fairtrack, destination, reason, service) "
            f"WHERE destination = '{dest}'"
        )
        assert props["Threshold"] == 0 and props["ComparisonOperator"] == "GreaterThanThreshold"


def test_dashboard_shows_requests_hits_and_each_destination(template: dict[str, Any]) -> None:
    body = template["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    widgets = json.loads(body)["widgets"]
    titles = [w["properties"]["title"] for w in widgets]
    assert titles[:2] == ["Requests (HTTP API)", "Hits accepted and rejected"]
    text = json.dumps(widgets)
    for name in ("HitsAccepted", "HitsRejected", '"Count"', "${HttpApi}"):
        assert name in text
    for dest, p in DESTINATIONS.items():
        assert {f"{dest}: delivered and failed", f"{dest}: dropped, by reason", f"{dest}: queue and DLQ depth"} <= set(
            titles
        )
        for needle in (
            f"${{{p}Queue.QueueName}}",
            f"${{{p}DeadLetterQueue.QueueName}}",
            "EventsDropped",
            "EventsFailed",
        ):
            assert needle in text
    assert template["Globals"]["Function"]["Environment"]["Variables"]["POWERTOOLS_METRICS_NAMESPACE"] == "fairtrack"
