"""`fairtrack policy push` refuses a policy whose defaults.retention_days differs from the lake
retention the stack enforces (moto): a deployed stack's LakeRetentionDays parameter, found through
the policy table's CloudFormation tag, or the local stack's lake bucket lifecycle rule."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from moto import mock_aws

from fairtrack_tools.local.template import Resolver, load
from fairtrack_tools.ops import cli, stackref

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_POLICY = ROOT / "policies" / "default.yaml"
STACK = "fairtrack-prod"
TABLE = "fairtrack-prod-PolicyTable"

# A stand-in for the deployed stack: only its parameter matters here.
STACK_TEMPLATE = {
    "Parameters": {"LakeRetentionDays": {"Type": "Number", "Default": 30}},
    "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
}


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }.items():
        monkeypatch.setenv(key, value)
    with mock_aws():
        yield


def deploy(days: int | None, tagged: bool = True) -> None:
    """The policy table of a stack deployed with LakeRetentionDays=days (None: an older stack)."""
    ddb = boto3.client("dynamodb")
    arn = ddb.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )["TableDescription"]["TableArn"]
    if tagged:
        ddb.tag_resource(ResourceArn=arn, Tags=[{"Key": "aws:cloudformation:stack-name", "Value": STACK}])
    template: dict[str, Any] = json.loads(json.dumps(STACK_TEMPLATE))
    params = []
    if days is None:
        del template["Parameters"]
    else:
        params = [{"ParameterKey": "LakeRetentionDays", "ParameterValue": str(days)}]
    boto3.client("cloudformation").create_stack(StackName=STACK, TemplateBody=json.dumps(template), Parameters=params)


def policy_file(tmp_path: Path, retention_days: int) -> Path:
    doc = yaml.safe_load(DEFAULT_POLICY.read_text(encoding="utf-8"))
    doc["defaults"]["retention_days"] = retention_days
    path = tmp_path / f"policy-{retention_days}.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


def push(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = cli.main(["policy", "push", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def versions() -> int:
    return int(boto3.client("dynamodb").scan(TableName=TABLE, Select="COUNT")["Count"])


def test_push_of_the_enforced_retention_goes_through(
    aws: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    deploy(30)
    code, out, err = push(capsys, str(policy_file(tmp_path, 30)), "--policy-table", TABLE)
    assert code == 0, err
    assert json.loads(out)["version"] == 1
    assert "retention" not in err


def test_push_of_another_retention_is_refused_and_nothing_is_stored(
    aws: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    deploy(30)
    code, out, err = push(capsys, str(policy_file(tmp_path, 90)), "--policy-table", TABLE)
    assert code == 2
    assert out == ""
    assert "defaults.retention_days is 90 but stack fairtrack-prod (LakeRetentionDays) enforces 30 days" in err
    assert "--allow-retention-mismatch" in err
    assert versions() == 0


def test_allow_retention_mismatch_pushes_with_a_warning(
    aws: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    deploy(30)
    path = str(policy_file(tmp_path, 90))
    code, out, err = push(capsys, path, "--policy-table", TABLE, "--allow-retention-mismatch")
    assert code == 0
    assert json.loads(out)["version"] == 1
    assert err.startswith("warning: ") and "enforces 30 days" in err


def test_a_table_no_stack_owns_is_pushed_with_a_warning(
    aws: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    deploy(30, tagged=False)
    code, _, err = push(capsys, str(policy_file(tmp_path, 90)), "--policy-table", TABLE)
    assert code == 0
    assert "cannot tell what lake retention" in err and "not checked" in err


def test_the_local_stack_is_checked_against_its_lake_bucket_lifecycle_rule(
    aws: None, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the lake bucket with the lifecycle rules template.yaml gives it (LakeRetentionDays=14)
    template = load(ROOT / "template.yaml")
    resolver = Resolver(template, {"LakeRetentionDays": "14"})
    rules = resolver.resolve(template["Resources"]["LakeBucket"]["Properties"]["LifecycleConfiguration"]["Rules"])
    lake = [r for r in rules if r.get("Prefix") == "lake/"]
    assert len(lake) == 1
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="lake", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    s3.put_bucket_lifecycle_configuration(
        Bucket="lake",
        LifecycleConfiguration={
            "Rules": [
                {
                    "ID": r["Id"],
                    "Status": r["Status"],
                    "Filter": {"Prefix": r["Prefix"]},
                    "Expiration": {"Days": int(r["ExpirationInDays"])},
                }
                for r in lake
            ]
        },
    )
    deploy(30, tagged=False)  # the local stack's table
    outputs = {"LakeBucketName": "lake", "PolicyTableName": TABLE}
    monkeypatch.setattr(stackref, "stack_outputs", lambda args: (outputs, boto3.client))
    monkeypatch.setattr(cli, "stack_outputs", lambda args: (outputs, boto3.client))

    refused = push(capsys, str(policy_file(tmp_path, 30)))
    accepted = push(capsys, str(policy_file(tmp_path, 14)))

    assert refused[0] == 2
    assert "the lifecycle rule of lake (lake/) enforces 14 days" in refused[2]
    assert accepted[0] == 0, accepted[2]
