"""Local stack helpers: template intrinsics (tools/fairtrack_tools/local/template.py) and the local HTTP API
(tools/fairtrack_tools/local/apiserver.py)."""

from __future__ import annotations

import base64
import gzip
import json
import time
from pathlib import Path
from typing import Any

import pytest

from fairtrack_tools.local.apiserver import build_event, match_route
from fairtrack_tools.local.localcloud import (
    LOCAL_OPERATOR_ROLE_ARN,
    LOCAL_OPERATOR_SESSION,
    HttpRoute,
    LocalCloud,
    check_parameters,
    is_loopback_http,
)
from fairtrack_tools.local.template import ACCOUNT, REGION, Resolver, load, resources_of_type

TEMPLATE_PATH = Path(__file__).resolve().parents[2] / "template.yaml"

TEMPLATE: dict[str, Any] = {
    "Parameters": {
        "Stage": {"Type": "String", "Default": "dev"},
        "Prefix": {"Type": "Number", "Default": 24},
        "WebhookUrl": {"Type": "String", "Default": ""},
        "NoDefault": {"Type": "String"},
    },
    "Conditions": {
        "IsProd": {"Fn::Equals": [{"Ref": "Stage"}, "prod"]},
        "HasWebhook": {"Fn::Not": [{"Fn::Equals": [{"Ref": "WebhookUrl"}, ""]}]},
        "ProdWithWebhook": {"Fn::And": [{"Condition": "IsProd"}, {"Condition": "HasWebhook"}]},
    },
}


def resolver(**parameters: str) -> Resolver:
    return Resolver(
        template=TEMPLATE,
        parameters=parameters,
        refs={"Queue": "https://sqs.local/queue", "Table": "fairtrack-policy"},
        attrs={("Queue", "Arn"): "arn:aws:sqs:us-east-1:123456789012:queue", ("Queue", "QueueName"): "queue"},
        stack_name="unit-stack",
    )


# -- Resolver -------------------------------------------------------------------------------------


def test_ref_to_parameter_uses_default_then_override() -> None:
    """Given a parameter with a default, then Ref gives the default, or the override when one is passed."""
    assert resolver().resolve({"Ref": "Stage"}) == "dev"
    assert resolver(Stage="prod").resolve({"Ref": "Stage"}) == "prod"


def test_numeric_default_becomes_text() -> None:
    """Given a Number parameter default, then Ref gives its text (environment variables are strings)."""
    assert resolver().resolve({"Ref": "Prefix"}) == "24"


def test_parameter_without_default_is_empty_text() -> None:
    """Given a parameter with no default and no override, then Ref gives an empty string."""
    assert resolver().resolve({"Ref": "NoDefault"}) == ""


def test_ref_to_resource_uses_physical_id() -> None:
    """Given a created resource, then Ref gives its physical id."""
    assert resolver().resolve({"Ref": "Queue"}) == "https://sqs.local/queue"


def test_unknown_ref_raises() -> None:
    """Given a Ref that is neither parameter, pseudo parameter nor resource, then resolving fails loudly."""
    with pytest.raises(KeyError):
        resolver().resolve({"Ref": "Missing"})


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("AWS::Region", REGION),
        ("AWS::AccountId", ACCOUNT),
        ("AWS::StackName", "unit-stack"),
        ("AWS::Partition", "aws"),
        ("AWS::URLSuffix", "amazonaws.com"),
    ],
)
def test_pseudo_parameters(name: str, expected: str) -> None:
    """Given a pseudo parameter, then it resolves to the local stack's value."""
    assert resolver().resolve({"Ref": name}) == expected


@pytest.mark.parametrize(("webhook_url", "expected"), [("", "off"), ("https://hooks.example/in", "on")])
def test_if_with_condition_built_from_equals_and_not(webhook_url: str, expected: str) -> None:
    """Given Fn::If on ``Not [Equals [Ref WebhookUrl, ""]]``, then the branch follows the parameter."""
    assert resolver(WebhookUrl=webhook_url).resolve({"Fn::If": ["HasWebhook", "on", "off"]}) == expected


def test_if_branches_are_resolved_too() -> None:
    """Given Fn::If whose chosen branch is itself an intrinsic, then that branch is resolved."""
    value = {"Fn::If": ["IsProd", {"Ref": "Queue"}, {"Ref": "Stage"}]}

    assert resolver(Stage="prod").resolve(value) == "https://sqs.local/queue"
    assert resolver().resolve(value) == "dev"


def test_conditions_can_refer_to_conditions() -> None:
    """Given And over two named conditions, then it is true only when both are."""
    value = {"Fn::If": ["ProdWithWebhook", "yes", "no"]}

    assert resolver(Stage="prod", WebhookUrl="https://x").resolve(value) == "yes"
    assert resolver(Stage="prod").resolve(value) == "no"
    assert resolver(WebhookUrl="https://x").resolve(value) == "no"


def test_sub_with_parameter_and_attribute() -> None:
    """Given Fn::Sub with ``${Param}``, ``${Res.Arn}`` and a pseudo parameter, then all are substituted."""
    value = {"Fn::Sub": "${Stage}/${Queue.Arn}/${AWS::Region}/${Queue}"}

    assert resolver(Stage="prod").resolve(value) == (
        f"prod/arn:aws:sqs:us-east-1:123456789012:queue/{REGION}/https://sqs.local/queue"
    )


def test_sub_with_variable_map() -> None:
    """Given the two-argument form of Fn::Sub, then the local variables win and are resolved themselves."""
    value = {"Fn::Sub": ["${Name}-${Stage}", {"Name": {"Ref": "Table"}, "Stage": "override"}]}

    assert resolver().resolve(value) == "fairtrack-policy-override"


def test_sub_escape_renders_a_literal() -> None:
    """Given ``${!Literal}`` in Fn::Sub, then the output is the literal ``${Literal}`` (CloudFormation rule)."""
    assert resolver().resolve({"Fn::Sub": "${Stage}-${!Literal}"}) == "dev-${Literal}"


def test_get_att_in_both_forms() -> None:
    """Given Fn::GetAtt as ``Res.Attr`` or ``[Res, Attr]``, then both give the attribute."""
    assert resolver().resolve({"Fn::GetAtt": "Queue.QueueName"}) == "queue"
    assert resolver().resolve({"Fn::GetAtt": ["Queue", "Arn"]}) == "arn:aws:sqs:us-east-1:123456789012:queue"


def test_join_and_select() -> None:
    """Given Fn::Join over resolved items and Fn::Select, then they compose like CloudFormation's."""
    joined = {"Fn::Join": [":", ["a", {"Ref": "Stage"}, {"Ref": "Prefix"}]]}

    assert resolver().resolve(joined) == "a:dev:24"
    assert resolver().resolve({"Fn::Select": [1, ["x", {"Ref": "Stage"}, "z"]]}) == "dev"


def test_no_value_is_dropped_from_lists_and_dicts() -> None:
    """Given Fn::If choosing AWS::NoValue, then the item or key disappears rather than becoming a value."""
    no_value_unless_prod = {"Fn::If": ["IsProd", "prod-only", {"Ref": "AWS::NoValue"}]}
    value = {
        "Items": ["always", no_value_unless_prod],
        "Variables": {"KEEP": "1", "PROD_ONLY": no_value_unless_prod},
    }

    assert resolver().resolve(value) == {"Items": ["always"], "Variables": {"KEEP": "1"}}
    assert resolver(Stage="prod").resolve(value) == {
        "Items": ["always", "prod-only"],
        "Variables": {"KEEP": "1", "PROD_ONLY": "prod-only"},
    }


def test_resolve_leaves_plain_values_alone() -> None:
    """Given plain scalars and maps with several keys, then they come back unchanged."""
    value = {"A": 1, "B": [True, "x"], "C": {"D": None, "E": "f"}}

    assert resolver().resolve(value) == value


# -- the real template ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load(TEMPLATE_PATH)


def fake_refs(template: dict[str, Any]) -> dict[str, str]:
    return {logical: f"physical-{logical}" for logical in template["Resources"]}


def test_ingest_environment_resolves_with_fake_refs(template: dict[str, Any]) -> None:
    """Given template.yaml and fake physical ids, then IngestFunction's environment resolves to plain text."""
    res = Resolver(template, {"WebhookUrl": "https://hooks.example/in"}, refs=fake_refs(template))
    env = res.resolve(template["Resources"]["IngestFunction"]["Properties"]["Environment"])["Variables"]

    assert all(isinstance(v, str) for v in env.values()), env
    assert env["LAKE_QUEUE_URL"] == "physical-LakeQueue"
    # the webhook is configured, so its queue is used; GA4 and Meta are not, so theirs are empty
    assert env["WEBHOOK_QUEUE_URL"] == "physical-WebhookQueue"
    assert env["GA4_QUEUE_URL"] == ""
    assert env["META_QUEUE_URL"] == ""
    assert env["IP_V4_PREFIX_LENGTH"] == str(template["Parameters"]["IpV4PrefixLength"]["Default"])


def test_ingest_environment_without_webhook_disables_its_queue(template: dict[str, Any]) -> None:
    """Given no WebhookUrl, then ingest gets no webhook queue (it routes nothing to an unconfigured destination)."""
    res = Resolver(template, {}, refs=fake_refs(template))

    env = res.resolve(template["Resources"]["IngestFunction"]["Properties"]["Environment"])["Variables"]

    assert env["WEBHOOK_QUEUE_URL"] == ""


def test_global_environment_resolves(template: dict[str, Any]) -> None:
    """Given the Globals environment, then the policy table is the created table's physical id."""
    res = Resolver(template, {}, refs=fake_refs(template))

    env = res.resolve(template["Globals"]["Function"]["Environment"])["Variables"]

    assert env["POLICY_TABLE"] == "physical-PolicyTable"
    assert env["POWERTOOLS_LOGGER_LOG_EVENT"] == "false"


def test_resources_of_type_finds_the_queues(template: dict[str, Any]) -> None:
    """Given the template, then the lake queue and its dead-letter queue are SQS queues."""
    queues = resources_of_type(template, "AWS::SQS::Queue")

    assert {"LakeQueue", "LakeDeadLetterQueue"} <= set(queues)
    assert all(spec["Type"] == "AWS::SQS::Queue" for spec in queues.values())


# -- match_route ----------------------------------------------------------------------------------

ROUTES = [
    HttpRoute("ANY", "/v1/{proxy+}", "IngestFunction"),
    HttpRoute("ANY", "/beacon/v1/{proxy+}", "IngestFunction"),
    HttpRoute("GET", "/g/collect", "GtagGet"),
    HttpRoute("POST", "/g/collect", "GtagPost"),
    HttpRoute("POST", "/v1/consent", "ConsentFunction"),
    HttpRoute("GET", "/items/{id}", "ItemFunction"),
]


def test_greedy_route_matches_with_proxy_parameter() -> None:
    """Given ``ANY /v1/{proxy+}``, when POST /v1/track arrives, then it matches with proxy=track."""
    found = match_route(ROUTES, "POST", "/v1/track")

    assert found is not None
    route, params = found
    assert route.route_key == "ANY /v1/{proxy+}"
    assert params == {"proxy": "track"}


def test_greedy_route_spans_slashes() -> None:
    """Given a greedy variable, then it captures several path segments."""
    found = match_route(ROUTES, "POST", "/beacon/v1/a/b")

    assert found is not None
    assert found[1] == {"proxy": "a/b"}


def test_exact_route_beats_greedy() -> None:
    """Given ``POST /v1/consent`` and ``ANY /v1/{proxy+}``, then the exact route wins."""
    found = match_route(ROUTES, "POST", "/v1/consent")

    assert found is not None
    assert found[0].function == "ConsentFunction"
    assert found[1] == {}


def test_exact_route_only_for_its_method() -> None:
    """Given GET /v1/consent (the exact route is POST only), then the greedy ANY route takes it."""
    found = match_route(ROUTES, "GET", "/v1/consent")

    assert found is not None
    assert found[0].path == "/v1/{proxy+}"


@pytest.mark.parametrize(("method", "function"), [("GET", "GtagGet"), ("POST", "GtagPost")])
def test_method_selects_the_route(method: str, function: str) -> None:
    """Given GET and POST routes on /g/collect, then the request's method picks one."""
    found = match_route(ROUTES, method, "/g/collect")

    assert found is not None
    assert found[0].function == function


def test_exact_method_beats_any_on_the_same_path() -> None:
    """Given ``ANY /x`` and ``POST /x``, then a POST goes to the POST route and a GET to ANY."""
    routes = [HttpRoute("ANY", "/x", "AnyFn"), HttpRoute("POST", "/x", "PostFn")]

    post, get = match_route(routes, "POST", "/x"), match_route(routes, "GET", "/x")

    assert post is not None
    assert get is not None
    assert post[0].function == "PostFn"
    assert get[0].function == "AnyFn"


def test_path_variable_matches_one_segment() -> None:
    """Given ``GET /items/{id}``, then /items/42 matches with id=42 and /items/42/x does not."""
    assert match_route(ROUTES, "GET", "/items/42") == (ROUTES[-1], {"id": "42"})
    assert match_route(ROUTES, "GET", "/items/42/x") is None


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/unknown"), ("GET", "/"), ("DELETE", "/g/collect"), ("POST", "/v1"), ("POST", "/v2/track")],
)
def test_unmatched_request_gives_none(method: str, path: str) -> None:
    """Given a path or method no route has, then there is no match (the server answers 404)."""
    assert match_route(ROUTES, method, path) is None


# -- build_event ----------------------------------------------------------------------------------


def event_for(
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    query: str = "",
    method: str = "POST",
    path: str = "/v1/track",
) -> dict[str, Any]:
    route = HttpRoute("ANY", "/v1/{proxy+}", "IngestFunction")
    return build_event(
        route,
        params={"proxy": "track"},
        method=method,
        raw_path=path,
        query=query,
        headers=headers or {},
        body=body,
        source_ip="198.51.100.7",
        host="127.0.0.1:3000",
    )


def test_event_has_payload_v2_shape() -> None:
    """Given a request, then the event has the HTTP API payload 2.0 fields a handler reads."""
    before = int(time.time() * 1000)
    event = event_for(headers={"user-agent": "curl/8"})
    after = int(time.time() * 1000)

    assert event["version"] == "2.0"
    assert event["routeKey"] == "ANY /v1/{proxy+}"
    assert event["rawPath"] == "/v1/track"
    assert event["pathParameters"] == {"proxy": "track"}
    http = event["requestContext"]["http"]
    assert (http["method"], http["path"], http["sourceIp"], http["userAgent"]) == (
        "POST",
        "/v1/track",
        "198.51.100.7",
        "curl/8",
    )
    assert event["requestContext"]["stage"] == "$default"
    assert before <= event["requestContext"]["timeEpoch"] <= after
    assert event["isBase64Encoded"] is False
    assert "body" not in event  # no body, no key
    json.dumps(event)  # a Lambda event is JSON


def test_json_body_stays_text() -> None:
    """Given a JSON body, then it is passed as text with isBase64Encoded False."""
    body = json.dumps({"event": "Viewed", "city": "Zürich"}, ensure_ascii=False).encode()

    event = event_for(body, {"content-type": "application/json; charset=utf-8"})

    assert event["isBase64Encoded"] is False
    assert event["body"] == body.decode("utf-8")


def test_text_plain_body_stays_text() -> None:
    """Given a sendBeacon text/plain body, then it is text too."""
    event = event_for(b'{"a":1}', {"content-type": "text/plain"})

    assert (event["isBase64Encoded"], event["body"]) == (False, '{"a":1}')


def test_gzip_body_is_base64_encoded() -> None:
    """Given ``content-encoding: gzip``, then the body is base64 (as API Gateway sends binary) and round-trips."""
    raw = gzip.compress(b'{"event":"Viewed"}')

    event = event_for(raw, {"content-type": "application/json", "content-encoding": "gzip"})

    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == raw


def test_binary_body_without_text_type_is_base64() -> None:
    """Given bytes that are not UTF-8 and no content type, then the body is base64-encoded."""
    event = event_for(b"\xff\x00\xfe")

    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == b"\xff\x00\xfe"


def test_query_string_is_parsed() -> None:
    """Given a query string, then it is kept raw and parsed; repeated keys are joined with commas like API Gateway."""
    event = event_for(query="writeKey=wk_1&tag=a&tag=b&empty=")

    assert event["rawQueryString"] == "writeKey=wk_1&tag=a&tag=b&empty="
    assert event["queryStringParameters"] == {"writeKey": "wk_1", "tag": "a,b", "empty": ""}


def test_no_query_string_means_no_parameters_key() -> None:
    """Given no query string, then queryStringParameters is absent (as in payload 2.0)."""
    assert "queryStringParameters" not in event_for()


def test_cookies_are_split_and_removed_from_headers() -> None:
    """Given a Cookie header, then payload 2.0 carries a cookies list and no cookie header."""
    event = event_for(headers={"cookie": "a=1; b=2 ;; c=3", "x-test": "y"})

    assert event["cookies"] == ["a=1", "b=2", "c=3"]
    assert "cookie" not in event["headers"]
    assert event["headers"]["x-test"] == "y"


# -- parameters the template refuses; the local operator --------------------------------------------


@pytest.mark.parametrize(
    ("url", "loopback"),
    [
        ("http://127.0.0.1:8080/webhook", True),
        ("http://127.9.9.9/x", True),
        ("http://[::1]:9000/x", True),
        ("http://localhost:9000/x", True),
        ("https://127.0.0.1/x", False),  # already valid: nothing to bypass
        ("http://hooks.example/in", False),
        ("http://10.0.0.1/in", False),
        ("", False),
    ],
)
def test_only_loopback_http_urls_are_local_exceptions(url: str, loopback: bool) -> None:
    assert is_loopback_http(url) is loopback


def test_parameters_are_checked_as_cloudformation_would() -> None:
    """Given the real template, then a value its AllowedPattern or AllowedValues refuses is refused
    by the local stack too (WebhookUrl must be https), and a good one passes."""
    template = load(TEMPLATE_PATH)
    check_parameters(template, {"WebhookUrl": "https://hooks.example/in", "OperatorRoleArn": LOCAL_OPERATOR_ROLE_ARN})
    for bad in ({"WebhookUrl": "http://hooks.example/in"}, {"Ga4DebugMode": "yes"}, {"NoSuchParameter": "x"}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            check_parameters(template, bad)


def test_the_local_webhook_url_reaches_the_forwarder_past_the_pattern() -> None:
    """Given the local stack (its capture server on http://127.0.0.1), then the template is resolved
    with a stand-in https URL (the webhook is enabled, ingest routes to it) and the webhook forwarder
    alone is given the loopback URL; a non-loopback http URL is refused as on deploy."""
    from moto import mock_aws

    with mock_aws():
        cloud = LocalCloud(embedded=False).start()
        try:
            specs = cloud.functions()
            assert cloud.capture_server is not None
            assert (
                specs["WebhookForwarderFunction"].environment["WEBHOOK_URL"]
                == cloud.capture_server.base_url + "/webhook"
            )
            assert specs["IngestFunction"].environment["WEBHOOK_QUEUE_URL"] != ""
            assert "WEBHOOK_URL" not in specs["Ga4ForwarderFunction"].environment
        finally:
            cloud.stop()
        with pytest.raises(ValueError, match="WebhookUrl"):
            LocalCloud(embedded=False, parameters={"WebhookUrl": "http://hooks.example/in"}).start()


def test_an_iam_route_event_names_the_caller() -> None:
    route = HttpRoute("GET", "/admin/subjects/{kind}/{id}", "AdminFunction", iam_auth=True)
    event = build_event(
        route,
        params={"kind": "userId", "id": "u"},
        method="GET",
        raw_path="/admin/subjects/userId/u",
        query="",
        headers={},
        body=b"",
        source_ip="127.0.0.1",
        host="127.0.0.1:3000",
        iam_caller=LOCAL_OPERATOR_SESSION,
    )
    iam = event["requestContext"]["authorizer"]["iam"]
    assert iam["userArn"] == LOCAL_OPERATOR_SESSION
    assert iam["accountId"] == ACCOUNT
    assert "authorizer" not in event_for()["requestContext"]  # other routes: no caller
