"""`fairtrack policy push | activate | rollback | pull | diff | explain` against the policy table (moto).

The stack is seeded with policies/default.yaml as v1, active. Commands run through ``cli.main``
with ``--policy-table`` (boto3 clients are intercepted by ``mock_aws``); the ingest function is
loaded fresh after each change, as a new Lambda container would be.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from awshelpers import queue_messages

from fairtrack.stores.policy_table import policy_version_id
from fairtrack_tools.local.localcloud import LocalCloud
from fairtrack_tools.ops import cli, policy_ops

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_POLICY = ROOT / "policies" / "default.yaml"


def default_document() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(DEFAULT_POLICY.read_text(encoding="utf-8"))
    return doc


def advertising_only() -> dict[str, Any]:
    """The default policy, except that every destination needs advertising consent."""
    doc = default_document()
    for dest in doc["destinations"].values():
        dest["requires"] = {"all": ["advertising"]}
    return doc


@pytest.fixture
def table(cloud: LocalCloud) -> str:
    return cloud.physical_id("PolicyTable")


@pytest.fixture
def ddb(cloud: LocalCloud) -> Any:
    return cloud.client("dynamodb")


@pytest.fixture
def policy(table: str, capsys: pytest.CaptureFixture[str]) -> Any:
    """``policy("push", file)`` -> (exit code, stdout, stderr) of ``fairtrack policy ... --policy-table``."""

    def run(*argv: str) -> tuple[int, str, str]:
        capsys.readouterr()  # drop what ran before (the functions' log lines)
        code = cli.main(["policy", *argv, "--policy-table", table])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def write(tmp_path: Path, name: str, doc: dict[str, Any]) -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def track_event() -> dict[str, Any]:
    """The sample Segment track: analytics granted, advertising denied."""
    event: dict[str, Any] = json.loads((ROOT / "events" / "ingest" / "track.json").read_text(encoding="utf-8"))
    return event


def clear_queues(cloud: LocalCloud) -> None:
    sqs = cloud.client("sqs")
    for name in cloud.queue_depths():
        sqs.purge_queue(QueueUrl=cloud.physical_id(name))


def queued(cloud: LocalCloud) -> dict[str, int]:
    return {q: v["visible"] for q, v in cloud.queue_depths().items() if v["visible"]}


def test_push_gives_increasing_versions_and_leaves_the_active_one(
    policy: Any, ddb: Any, table: str, tmp_path: Path
) -> None:
    # Given v1 active (seeded)
    path = write(tmp_path, "p.yaml", advertising_only())
    # When the same file is pushed twice
    first = policy("push", str(path))
    second = policy("push", str(path))
    # Then each push gets the next number, and v1 stays active
    assert first[0] == 0 and json.loads(first[1]) == {"version": 2, "active": False}
    assert "fairtrack policy activate 2" in first[2]
    assert second[0] == 0 and json.loads(second[1]) == {"version": 3, "active": False}
    assert policy_ops.latest_version(ddb, table) == 3
    assert policy_ops.active_version(ddb, table) == 1


def test_a_bad_document_is_refused_and_nothing_changes(policy: Any, ddb: Any, table: str, tmp_path: Path) -> None:
    doc = advertising_only()
    doc["attributes"]["userId"]["purpose"] = "profiling"
    path = write(tmp_path, "bad.yaml", doc)

    code, out, err = policy("push", str(path), "--activate")

    assert code == 2
    assert out == ""
    assert "attributes.userId.purpose: unknown purpose 'profiling'" in err
    assert policy_ops.latest_version(ddb, table) == 1
    assert policy_ops.active_version(ddb, table) == 1
    assert policy_ops.get_policy_document(ddb, table, 2) is None


def test_push_validates_even_when_called_directly(ddb: Any, table: str) -> None:
    from pydantic import ValidationError

    doc = default_document()
    del doc["purposes"]["necessary"]
    with pytest.raises(ValidationError, match="must define 'necessary'"):
        policy_ops.push_policy(ddb, table, doc)
    assert policy_ops.latest_version(ddb, table) == 1


def test_activate_rollback_and_history(policy: Any, ddb: Any, table: str, tmp_path: Path) -> None:
    path = write(tmp_path, "p.yaml", advertising_only())
    assert json.loads(policy("push", str(path), "--activate")[1]) == {"version": 2, "active": True, "previous": 1}
    assert json.loads(policy("push", str(path))[1])["version"] == 3

    code, out, _ = policy("activate", "v3")
    assert code == 0 and json.loads(out) == {"active": 3, "previous": 2}

    # rollback walks back through the activations: 3 -> 2 -> 1, then there is nothing before v1
    assert json.loads(policy("rollback")[1]) == {"active": 2, "rolled_back_from": 3}
    assert json.loads(policy("rollback")[1]) == {"active": 1, "rolled_back_from": 2}
    code, out, err = policy("rollback")
    assert code == 2 and out == ""
    assert "v1 is active and no earlier activation is recorded: nothing to roll back to" in err
    assert policy_ops.active_version(ddb, table) == 1

    history = json.loads(policy("history")[1])
    assert history["active"] == 1 and history["latest"] == 3 and history["rollback_to"] is None
    assert [(e["version"], e["previous"], e["action"]) for e in history["activations"]] == [
        (1, None, "activate"),  # the seed
        (2, 1, "activate"),
        (3, 2, "activate"),
        (2, 3, "rollback"),
        (1, 2, "rollback"),
    ]


def test_activate_refuses_an_unknown_version(policy: Any, ddb: Any, table: str) -> None:
    code, _, err = policy("activate", "7")

    assert code == 2
    assert "policy version 7 does not exist" in err
    assert policy_ops.active_version(ddb, table) == 1


def test_rollback_refuses_when_the_pointer_was_moved_elsewhere(
    policy: Any, ddb: Any, table: str, tmp_path: Path
) -> None:
    version = policy_ops.push_policy(ddb, table, advertising_only())
    policy_ops.activate_policy(ddb, table, version)
    # Something else points the active item at v1 without recording it
    ddb.put_item(TableName=table, Item={"id": {"S": "policy#active"}, "value": {"S": json.dumps({"version": 1})}})

    code, _, err = policy("rollback")

    assert code == 2
    assert "the active version v1 was not set by `fairtrack policy activate`" in err
    assert policy_ops.active_version(ddb, table) == 1


def test_pull_round_trips_the_pushed_document(policy: Any, tmp_path: Path) -> None:
    # Given the default policy (TCF purpose numbers as keys, a quoted "NO") pushed as v2
    assert json.loads(policy("push", str(DEFAULT_POLICY))[1])["version"] == 2
    pulled = tmp_path / "pulled.yaml"

    code, _, err = policy("pull", "--version", "2", "--out", str(pulled))

    assert code == 0 and f"wrote {pulled}" in err
    text = pulled.read_text(encoding="utf-8")
    assert text.startswith("# fairtrack policy v2, pulled from ")
    assert yaml.safe_load(text) == default_document()
    # and what was pulled validates as it is
    assert cli.main(["policy", "validate", str(pulled)]) == 0


def test_pull_without_a_version_prints_the_active_one(policy: Any) -> None:
    code, out, _ = policy("pull")

    assert code == 0
    assert out.startswith("# fairtrack policy v1 (active), pulled from ")
    assert yaml.safe_load(out) == default_document()


def test_concurrent_pushes_never_share_a_number(ddb: Any, table: str) -> None:
    # Given a client whose first read of policy#latest lets another push complete before the
    # outer push writes (the read-then-write race)
    class Racing:
        def __init__(self, inner: Any) -> None:
            self.inner = inner
            self.raced = False

        def get_item(self, **kwargs: Any) -> Any:
            answer = self.inner.get_item(**kwargs)
            if kwargs["Key"]["id"]["S"] == policy_ops.LATEST_POLICY_ID and not self.raced:
                self.raced = True
                assert policy_ops.push_policy(self.inner, table, advertising_only()) == 2
            return answer

        def __getattr__(self, name: str) -> Any:
            return getattr(self.inner, name)

    outer = default_document()
    outer["description"] = "the outer push"

    # When the outer push runs
    version = policy_ops.push_policy(Racing(ddb), table, outer)

    # Then it lost v2 to the other push and took v3; both documents are stored
    assert version == 3
    assert policy_ops.latest_version(ddb, table) == 3
    v2 = policy_ops.get_policy_document(ddb, table, 2)
    v3 = policy_ops.get_policy_document(ddb, table, 3)
    assert v2 is not None and v2["destinations"]["lake"]["requires"] == {"all": ["advertising"]}
    assert v3 is not None and v3["description"] == "the outer push"


def test_push_skips_a_number_already_taken(ddb: Any, table: str) -> None:
    # Given a version item that policy#latest does not count (written by hand, or by an old tool)
    ddb.put_item(TableName=table, Item={"id": {"S": policy_version_id(2)}, "value": {"S": "{}"}})

    assert policy_ops.push_policy(ddb, table, default_document()) == 3
    assert policy_ops.get_policy_document(ddb, table, 2) == {}


def test_activation_changes_what_a_fresh_ingest_function_routes(
    policy: Any, load_handler: Any, context: Any, cloud: LocalCloud, tmp_path: Path
) -> None:
    # Given a policy where every destination needs advertising, pushed and activated
    path = write(tmp_path, "ads.yaml", advertising_only())
    assert policy("push", str(path), "--activate")[0] == 0

    # When an analytics-only track reaches a freshly loaded ingest function
    response = load_handler("IngestFunction").handler(track_event(), context)

    # Then it is accepted and goes nowhere: the lake gets only the counts of what was withheld
    assert response["statusCode"] == 200
    assert queued(cloud) == {"LakeQueue": 1}
    (carried,) = [json.loads(m["Body"]) for m in queue_messages(cloud, "LakeQueue")]
    assert carried["events"] == [] and carried["policy_version"] == 2
    assert {r["destination"] for r in carried["decisions"]} == {"ga4", "meta", "webhook", "lake"}
    assert {r["reason"] for r in carried["decisions"]} == {"purpose_not_granted"}
    clear_queues(cloud)

    # And after a rollback to v1 the same track reaches the webhook and the lake again
    assert json.loads(policy("rollback")[1]) == {"active": 1, "rolled_back_from": 2}
    assert load_handler("IngestFunction").handler(track_event(), context)["statusCode"] == 200
    assert queued(cloud) == {"Ga4Queue": 1, "WebhookQueue": 1, "LakeQueue": 1}


def test_diff_and_explain_read_stored_versions(policy: Any, tmp_path: Path) -> None:
    path = write(tmp_path, "ads.yaml", advertising_only())
    policy("push", str(path))

    same = policy("diff", "active", str(DEFAULT_POLICY))
    different = policy("diff", "v1", "v2")
    explained = policy("explain", "--format", "md")

    assert same[0] == 0 and "no differences between v1 (active) and" in same[1]
    assert different[0] == 1
    lake_before = default_document()["destinations"]["lake"]["requires"]["all"]
    assert "  destinations.lake.requires.all: + advertising" in different[1].splitlines()
    assert f"  destinations.lake.requires.all: - {lake_before[0]}" in different[1].splitlines()
    assert explained[0] == 0
    assert "Generated from the fairtrack consent policy v1 (active)." in explained[1]
    assert f"| `lake` | all of: {', '.join(lake_before)} |" in explained[1]


def test_unknown_stored_version_is_refused(policy: Any, table: str) -> None:
    code, out, err = policy("explain", "v9")

    assert code == 2 and out == ""
    assert f"there is no policy version 9 in {table}" in err
