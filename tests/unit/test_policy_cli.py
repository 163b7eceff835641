"""`fairtrack policy` without a table: validate messages, diff, explain, and the dry run over traffic."""

from __future__ import annotations

import argparse
import gzip
import html
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from fairtrack.policy import Policy
from fairtrack_tools.ops import cli, policy_cli, policy_diff, policy_files

DEFAULT_POLICY = Path(__file__).resolve().parents[2] / "policies" / "default.yaml"
USER_ID = "p-7c4a8d09ca3762af61e59520943dc264"  # as recorded traffic holds it: a gateway pseudonym

SMALL = """\
description: A small policy for the CLI tests.
purposes:
  necessary: {legal_basis: legitimate_interest, description: Running the gateway.}
  analytics: {legal_basis: consent, description: Counting visits.}
  advertising: {legal_basis: consent, description: Ads.}
attributes:
  type:              {purpose: necessary, format: enum, description: Kind of hit.,
                      values: [track, page, screen, identify, group, alias]}
  messageId:         {purpose: necessary, format: id}
  event:             {purpose: analytics, format: name, description: Name of the action.}
  userId:            {purpose: analytics, format: pseudonym, description: The site's user id.}
  properties:        {purpose: analytics, format: map}
  context.ip:        {purpose: analytics, format: ip, description: Truncated IP address., reduced: ip_coarse}
  context.page.path: {purpose: analytics, format: path}
  context.campaign:  {purpose: advertising, format: object}
  context.screen:    {purpose: analytics, format: object}
destinations:
  webhook:
    requires: {all: [analytics]}
    attributes: [type, messageId, event, properties, context.ip]
  lake:
    requires: {any: [analytics, advertising]}
    attributes: [type, messageId, event, userId, context.ip, context.page.path, context.campaign]
defaults:
  region_groups:
    NORDIC: [DK, "NO", SE]
  regions:
    NORDIC: [necessary]
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def line_of(text: str, needle: str) -> int:
    """1-based number of the first line holding ``needle``."""
    return next(i for i, line in enumerate(text.splitlines(), start=1) if needle in line)


def at(text: str, needle: str, offset: int = 0) -> str:
    """``line:column`` (1-based) of the first ``needle``, plus ``offset`` columns."""
    line = line_of(text, needle)
    return f"{line}:{text.splitlines()[line - 1].index(needle) + offset + 1}"


def no_table(args: Any) -> tuple[Any, str]:
    raise AssertionError("a command reading only files must not touch a policy table")


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Run ``fairtrack policy ...`` the way the CLI does, with a resolver that fails if it is used."""
    parser = argparse.ArgumentParser(prog="fairtrack")
    sub = parser.add_subparsers(dest="command", required=True)
    where = argparse.ArgumentParser(add_help=False)
    where.add_argument("--policy-table")
    where.add_argument("--local", default="http://127.0.0.1:9")
    policy_cli.add_parser(sub, where)
    code = policy_cli.run(parser.parse_args(["policy", *argv]), no_table)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def small(tmp_path: Path) -> Path:
    return write(tmp_path, "small.yaml", SMALL)


# -- validate -------------------------------------------------------------------------------------


def test_the_default_policy_is_valid(capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["policy", "validate", str(DEFAULT_POLICY)])

    out = capsys.readouterr().out
    assert code == 0
    assert "valid policy" in out and "destinations: webhook, ga4, meta, lake" in out


def test_every_field_error_is_printed_with_its_path_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a policy with three unrelated mistakes, one holding a value that must not be echoed
    text = (
        SMALL.replace("legal_basis: consent, description: Counting", "legal_basis: secret-42, description: Counting")
        .replace("requires: {all: [analytics]}", "requires: {every: [analytics]}")
        .replace("  regions:", "  retention_days: 0\n  regions:")
    )
    path = write(tmp_path, "bad.yaml", text)

    code, out, err = run(["validate", str(path)], capsys)

    assert code == 2
    assert out == ""
    assert err.splitlines() == [
        f"{path}: not a valid policy (3 problems)",
        f"{path}:{at(text, 'secret-42')}: purposes.analytics.legal_basis: Input should be 'consent', "
        "'legitimate_interest', 'contract', 'legal_obligation', 'vital_interests' or 'public_task'",
        f"{path}:{at(text, '[analytics]}')}: destinations.webhook.requires.every: Extra inputs are not permitted",
        f"{path}:{at(text, 'retention_days: 0', 16)}: defaults.retention_days: "
        "Input should be greater than or equal to 1",
    ]
    assert "secret-42" not in err  # the submitted value is never shown


def test_reference_problems_are_one_line_each_with_their_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = SMALL.replace("userId:            {purpose: analytics", "userId:            {purpose: ads").replace(
        "context.page.path, context.campaign]", "context.page.path, context.campaign, context.locale]"
    )
    path = write(tmp_path, "refs.yaml", text)

    code, _, err = run(["validate", str(path)], capsys)

    assert code == 2
    lines = err.splitlines()
    assert lines[0] == f"{path}: not a valid policy (2 problems)"
    assert lines[1] == f"{path}:{at(text, 'ads, format')}: attributes.userId.purpose: unknown purpose 'ads'"
    assert lines[2] == (
        f"{path}:{at(text, 'context.locale]')}: destinations.lake.attributes: 'context.locale' is not in the catalogue"
    )
    assert ";" not in err


def test_norway_problem_points_at_the_bare_no(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Given an unquoted NO (Norway) in a list and as a mapping key: YAML reads both as false
    text = SMALL.replace('NORDIC: [DK, "NO", SE]', "NORDIC: [DK, NO, SE]").replace(
        "NORDIC: [necessary]", "NORDIC: [necessary]\n    NO: [analytics]"
    )
    path = write(tmp_path, "norway.yaml", text)

    code, _, err = run(["validate", str(path)], capsys)

    assert code == 2
    in_list = next(line for line in err.splitlines() if "region_groups" in line)
    as_key = next(line for line in err.splitlines() if "defaults.regions" in line)
    assert in_list == (
        f"{path}:{at(text, ' NO, SE]', 1)}: defaults.region_groups.NORDIC.1: Input should be a valid string "
        f"({policy_files.BOOLEAN_HINT})"
    )
    assert as_key == (
        f"{path}:{at(text, 'NO: [analytics]')}: defaults.regions.NO (key): Input should be a valid string "
        f"({policy_files.BOOLEAN_HINT})"
    )


def test_yaml_syntax_error_gives_line_and_column(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "broken.yaml", "purposes:\n  necessary: {legal_basis: consent\nattributes: {}\n")

    code, _, err = run(["validate", str(path)], capsys)

    assert code == 2
    assert err.startswith(f"{path}:3:11: YAML error: expected ',' or '}}'")
    assert "while parsing a flow mapping (line 2)" in err


def test_duplicate_keys_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = SMALL.replace("  event:", "  userId: {purpose: necessary}\n  event:")
    path = write(tmp_path, "dup.yaml", text)

    code, _, err = run(["validate", str(path)], capsys)

    assert code == 2
    first = line_of(text, "userId: {purpose: necessary}")
    second = line_of(text, "userId:            {purpose: analytics")
    assert first < second
    assert err.startswith(f"{path}:{second}:3: YAML error: duplicate key (first defined at line {first})")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("- purposes\n- attributes\n", "a policy is a mapping (purposes:, signals:, attributes:, destinations:, "),
        ("just a string\n", "not a string"),
        ("", "the document is empty"),
    ],
)
def test_a_document_that_is_not_a_mapping_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, expected: str
) -> None:
    path = write(tmp_path, "odd.yaml", text)

    code, _, err = run(["validate", str(path)], capsys)

    assert code == 2
    assert expected in err


# -- diff -----------------------------------------------------------------------------------------


def test_diff_of_a_file_with_itself_reformatted_is_empty(
    tmp_path: Path, small: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the same policy written another way: block style, defaults spelled out
    doc = yaml.safe_load(SMALL)
    doc["attributes"]["event"]["transform"] = "none"
    doc["defaults"]["retention_days"] = 30
    other = write(tmp_path, "same.yaml", yaml.safe_dump(doc, sort_keys=True))

    code, out, _ = run(["diff", str(small), str(other)], capsys)

    assert code == 0
    assert out == f"no differences between {small} and {other}\n"


def test_diff_lists_changes_per_section(tmp_path: Path, small: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = yaml.safe_load(SMALL)
    doc["purposes"]["personalisation"] = {"legal_basis": "consent"}
    doc["attributes"]["userId"]["purpose"] = "advertising"
    doc["attributes"]["context.ip"]["reduced"] = "drop"
    del doc["attributes"]["context.screen"]
    doc["destinations"]["lake"]["attributes"].remove("context.campaign")
    doc["destinations"]["lake"]["attributes"].append("properties")
    doc["destinations"]["webhook"]["requires"] = {"all": ["analytics", "advertising"]}
    other = write(tmp_path, "changed.yaml", yaml.safe_dump(doc))

    code, out, _ = run(["diff", str(small), str(other)], capsys)

    assert code == 1
    assert out.splitlines() == [
        f"--- {small}",
        f"+++ {other}",
        "purposes:",
        '  + purposes.personalisation: {"legal_basis": "consent", "description": ""}',
        "attributes:",
        "  attributes.userId.purpose: analytics -> advertising",
        "  attributes.context.ip.reduced: ip_coarse -> drop",
        '  - attributes.context.screen: {"purpose": "analytics", "format": "object", "description": "", '
        '"transform": "none", "reduced": "drop"}',
        "destinations:",
        "  destinations.webhook.requires.all: + advertising",
        "  destinations.lake.attributes: - context.campaign",
        "  destinations.lake.attributes: + properties",
    ]


def test_diff_refuses_an_invalid_side(tmp_path: Path, small: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = write(
        tmp_path, "bad.yaml", SMALL.replace("purpose: advertising, format: object}", "purpose: nope, format: object}")
    )

    code, out, err = run(["diff", str(small), str(bad)], capsys)

    assert code == 2
    assert out == ""
    assert "attributes.context.campaign.purpose: unknown purpose 'nope'" in err


# -- dry run against traffic ----------------------------------------------------------------------


def hit(purposes: list[str], **context: Any) -> dict[str, Any]:
    event = {"type": "track", "messageId": "m", "event": "Order Completed", "userId": USER_ID, "context": context}
    return {"source": "shop", "policy_version": 1, "purposes": purposes, "event": event}


def test_dry_run_counts_events_and_fields_per_destination(
    tmp_path: Path, small: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given B: the lake needs advertising and stops taking userId; the webhook gains context.campaign
    doc = yaml.safe_load(SMALL)
    doc["destinations"]["lake"]["requires"] = {"all": ["advertising"]}
    doc["destinations"]["lake"]["attributes"].remove("userId")
    doc["destinations"]["webhook"]["attributes"].append("context.campaign")
    changed = write(tmp_path, "b.yaml", yaml.safe_dump(doc))
    # And recorded traffic: 3 analytics-only hits, 1 with both purposes, 1 necessary-only, 2 junk lines
    lines = [
        *(hit(["analytics", "necessary"], ip="203.0.113.0") for _ in range(3)),
        hit(["advertising", "analytics", "necessary"], ip="203.0.113.0", campaign={"source": "news"}),
        hit(["necessary"], ip="198.51.100.0"),
    ]
    traffic = tmp_path / "hits.ndjson"
    traffic.write_text(
        "\n".join(json.dumps(x) for x in lines) + "\nnot json\n" + json.dumps({"event": {}}) + "\n\n", encoding="utf-8"
    )

    code, out, _ = run(["diff", str(small), str(changed), "--against-traffic", str(traffic)], capsys)

    assert code == 1
    report = out[out.index("dry run:") :].splitlines()
    assert report[0] == f"dry run: 5 events from {traffic}"
    assert report[1] == "  skipped 2 lines that are not {purposes, event} records: 6, 7"
    table = report[report.index("destination  events A  events B  gained  lost") :]
    assert table[1].split() == ["webhook", "4", "4", "0", "0"]
    assert table[2].split() == ["lake", "4", "1", "0", "3"]
    webhook = report[report.index("webhook: fields sent only under B") + 1 :][:2]
    assert webhook[1].split() == ["context.campaign", "1"]
    lake = report[report.index("lake: fields sent only under A") + 1 :]
    assert [row.split() for row in lake] == [
        ["field", "events"],
        ["userId", "4"],  # 3 lost events, and the one still delivered goes without it
        ["type", "3"],
        ["messageId", "3"],
        ["event", "3"],
        ["context.ip", "3"],
    ]
    assert "lake: fields sent only under B" not in report


def test_dry_run_function_counts_forms(small: Path) -> None:
    # Given B where the webhook gets context.ip only in coarse form even with analytics
    a = policy_files.load_file(small).policy
    doc = yaml.safe_load(SMALL)
    doc["attributes"]["context.ip"]["purpose"] = "advertising"
    b = Policy.model_validate(doc)
    records = [(1, hit(["analytics", "necessary"], ip="203.0.113.0")), (2, hit(["necessary"], ip="203.0.113.0"))]

    run_ = policy_diff.dry_run(a, b, iter(records))

    webhook = run_.destinations["webhook"]
    assert (webhook.events_a, webhook.events_b, webhook.gained, webhook.lost) == (1, 1, 0, 0)
    assert webhook.reformed == {("context.ip", "full (none)", "reduced (ip_coarse)"): 1}
    assert not webhook.only_a and not webhook.only_b


def test_dry_run_reads_gzip_lake_objects(tmp_path: Path, small: Path, capsys: pytest.CaptureFixture[str]) -> None:
    traffic = tmp_path / "part.ndjson.gz"
    traffic.write_bytes(gzip.compress((json.dumps(hit(["analytics", "necessary"])) + "\n").encode()))

    code, out, _ = run(["diff", str(small), str(small), "--against-traffic", str(traffic)], capsys)

    assert code == 0
    assert f"dry run: 1 events from {traffic}" in out
    assert "webhook: the same fields under A and B" in out


# -- explain --------------------------------------------------------------------------------------


def test_explain_markdown_rows(small: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["explain", str(small)], capsys)

    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "# Transparency table"
    assert "| Attribute | Description | Format | Purpose | Legal basis | webhook | lake |" in lines
    assert (
        "| `type` | Kind of hit. | enum (track, page, screen, identify, group, alias) | necessary "
        "| legitimate interest (Art. 6(1)(f) GDPR) | full (none) | full (none) |" in lines
    )
    assert (
        "| `userId` | The site's user id. | pseudonym | analytics | consent (Art. 6(1)(a) GDPR) | not sent "
        "| full (none) |" in lines
    )
    assert (
        "| `context.ip` | Truncated IP address. | ip | analytics | consent (Art. 6(1)(a) GDPR) "
        "| full (none); reduced (ip_coarse) without analytics | full (none); reduced (ip_coarse) without analytics |"
        in lines
    )
    assert "| `context.screen` |  | object | analytics | consent (Art. 6(1)(a) GDPR) | not sent | not sent |" in lines
    assert "| `analytics` | consent (Art. 6(1)(a) GDPR) | Counting visits. |" in lines
    assert "| `webhook` | all of: analytics | 5 |" in lines
    assert "| `lake` | any of: analytics, advertising | 7 |" in lines


def test_explain_escapes_a_hostile_description(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    hostile = '<script>alert(1)</script> a | b "quoted" & <img src=x onerror=alert(2)>'
    doc = yaml.safe_load(SMALL)
    doc["attributes"]["event"]["description"] = hostile
    doc["description"] = "</title><script>x()</script>"
    path = write(tmp_path, "hostile.yaml", yaml.safe_dump(doc))
    out_file = tmp_path / "notice.html"

    code, _, _ = run(["explain", str(path), "--format", "html", "--out", str(out_file)], capsys)
    page = out_file.read_text(encoding="utf-8")
    md_code, md, _ = run(["explain", str(path)], capsys)

    assert code == 0 and md_code == 0
    assert page.startswith("<!DOCTYPE html>")
    assert "<script" not in page and "<img" not in page and "</title><" not in page
    assert html.escape(hostile) in page
    # nothing is loaded or linked: no tag names a URL (the formats' notes may mention one as text)
    tags = re.findall(r"<[^>]*>", page)
    assert not [t for t in tags if "://" in t or "src=" in t or "href=" in t or "url(" in t], tags
    assert "@import" not in page and "url(" not in page
    assert "src=" not in page.replace("src=x", "")
    row = next(line for line in md.splitlines() if line.startswith("| `event` |"))
    assert "<script>" not in md and "<img" not in md
    assert "&lt;script&gt;alert(1)&lt;/script&gt; a \\| b" in row
    assert row.count(" | ") == 6  # the pipe in the description does not add a column


def test_explain_default_policy_lists_every_attribute(capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["policy", "explain", str(DEFAULT_POLICY), "--format", "md"])

    out = capsys.readouterr().out
    assert code == 0
    catalogue = yaml.safe_load(DEFAULT_POLICY.read_text(encoding="utf-8"))["attributes"]
    rows = [line for line in out.splitlines() if line.startswith("| `")]
    for path in catalogue:
        assert any(row.startswith(f"| `{path}` |") for row in rows), path


def test_table_commands_report_an_unreachable_local_stack(capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["policy", "pull", "--local", "http://127.0.0.1:9"])

    err = capsys.readouterr().err
    assert code == 2
    assert "cannot reach the local stack at http://127.0.0.1:9" in err


@pytest.mark.parametrize("argv", [["activate", "0"], ["activate", "x3"]])
def test_version_arguments_are_checked(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["policy", *argv])
    assert "a version number, e.g. 3 or v3" in capsys.readouterr().err


def test_wrapped_value_errors_without_a_colon_keep_their_path() -> None:
    doc = yaml.safe_load(SMALL)
    doc["signals"] = {"tcf_purposes": {99: ["analytics"]}}
    with pytest.raises(Exception) as caught:
        Policy.model_validate(doc)

    found = policy_files.problems(caught.value)  # type: ignore[arg-type]

    assert [(p.path, p.message) for p in found] == [
        ("signals.tcf_purposes", "TCF purpose 99 is not a purpose number (1-24)")
    ]
