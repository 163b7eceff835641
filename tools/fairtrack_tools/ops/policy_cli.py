"""``fairtrack policy``: validate, diff, push, activate, roll back, history, pull, explain."""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from fairtrack_tools.ops.policy_diff import dry_run, read_traffic, render_dry_run, structural_diff
from fairtrack_tools.ops.policy_explain import render_html, render_markdown, transparency
from fairtrack_tools.ops.policy_files import (
    EXIT_DIFFERENT,
    EXIT_ERROR,
    EXIT_SAME,
    VERSION_REF,
    Loaded,
    PolicyCliError,
    Refs,
    TableResolver,
    load_file,
)
from fairtrack_tools.ops.subcommand import add_command, aws_failure

if TYPE_CHECKING:
    pass

# -- commands -------------------------------------------------------------------------------------


def _emit(text: str, out: str | None) -> None:
    if out:
        Path(out).write_text(text, encoding="utf-8")
        print(f"wrote {out}", file=sys.stderr)
    else:
        sys.stdout.write(text)


def cmd_validate(args: argparse.Namespace, refs: Refs) -> int:
    loaded = load_file(Path(args.file))
    p = loaded.policy
    print(
        f"{loaded.label}: valid policy ({len(p.purposes)} purposes, {len(p.attributes)} attributes, "
        f"destinations: {', '.join(p.destinations) or 'none'})"
    )
    if "version" in loaded.document:
        print(f"{loaded.label}: note: `version` is ignored, the policy table numbers versions", file=sys.stderr)
    return EXIT_SAME


def cmd_diff(args: argparse.Namespace, refs: Refs) -> int:
    a, b = refs.load(args.a), refs.load(args.b)
    sections = structural_diff(a.policy, b.policy)
    if not sections:
        print(f"no differences between {a.label} and {b.label}")
    else:
        print(f"--- {a.label}")
        print(f"+++ {b.label}")
        for section, lines in sections.items():
            print(f"{section}:")
            for line in lines:
                print(f"  {line}")
    if args.against_traffic:
        records = (record for name in args.against_traffic for record in _traffic(Path(name)))
        run = dry_run(a.policy, b.policy, records)
        print()
        print("\n".join(render_dry_run(run, a.label, b.label, list(args.against_traffic))))
    return EXIT_DIFFERENT if sections else EXIT_SAME


def _traffic(path: Path) -> Iterator[tuple[int, Any]]:
    try:
        yield from read_traffic(path)
    except OSError as exc:
        raise PolicyCliError(f"{path}: cannot read the file ({exc.strerror or type(exc).__name__})") from None


STACK_TAG = "aws:cloudformation:stack-name"


def _lake_expiry_days(s3: Any, bucket: str) -> int | None:
    """Days the bucket's lifecycle rule on ``lake/`` expires objects after (None: no such rule)."""
    try:
        rules = s3.get_bucket_lifecycle_configuration(Bucket=bucket).get("Rules", [])
    except Exception:  # noqa: BLE001 - NoSuchLifecycleConfiguration: nothing is enforced
        return None
    for rule in rules:
        prefix = rule.get("Prefix", rule.get("Filter", {}).get("Prefix"))
        days = rule.get("Expiration", {}).get("Days")
        if prefix == "lake/" and rule.get("Status") == "Enabled" and days:
            return int(days)
    return None


def enforced_retention(args: argparse.Namespace, client: Any, table: str) -> tuple[int | None, str]:
    """The lake retention the stack enforces, and where it was read: a deployed table's stack (its
    ``aws:cloudformation:stack-name`` tag) and that stack's ``LakeRetentionDays`` parameter, or
    the local stack's lake bucket lifecycle rule. ``None`` when nothing says."""
    if not getattr(args, "policy_table", None):
        from fairtrack_tools.ops.stackref import stack_outputs

        outputs, clients = stack_outputs(args)
        bucket = outputs.get("LakeBucketName", "")
        return _lake_expiry_days(clients("s3"), bucket), f"the lifecycle rule of {bucket} (lake/)"
    import boto3

    arn = client.describe_table(TableName=table)["Table"]["TableArn"]
    tags = client.list_tags_of_resource(ResourceArn=arn).get("Tags", [])
    stack = next((tag["Value"] for tag in tags if tag["Key"] == STACK_TAG), None)
    if stack is None:
        return None, f"{table} (no CloudFormation stack owns it)"
    described = boto3.client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0]
    params = {p["ParameterKey"]: p.get("ParameterValue") for p in described.get("Parameters", [])}
    value = params.get("LakeRetentionDays")
    return (int(value) if value else None), f"stack {stack} (LakeRetentionDays)"


def check_retention(args: argparse.Namespace, loaded: Loaded, client: Any, table: str) -> None:
    """Refuse (or, with --allow-retention-mismatch, warn about) a policy whose retention_days is not
    what the stack enforces: the transparency text would tell visitors something untrue."""
    wanted = loaded.policy.defaults.retention_days
    enforced, where = enforced_retention(args, client, table)
    if enforced is None:
        print(f"warning: cannot tell what lake retention {where} enforces: not checked", file=sys.stderr)
        return
    if enforced == wanted:
        return
    headline = (
        f"{loaded.label}: defaults.retention_days is {wanted} but {where} enforces {enforced} days; "
        f"deploy with LakeRetentionDays={wanted} or set retention_days: {enforced}"
    )
    if getattr(args, "allow_retention_mismatch", False):
        print(f"warning: {headline} (pushed anyway: --allow-retention-mismatch)", file=sys.stderr)
        return
    raise PolicyCliError(headline, ["nothing pushed; --allow-retention-mismatch pushes it with a warning"])


def cmd_push(args: argparse.Namespace, refs: Refs) -> int:
    from fairtrack_tools.ops import policy_ops

    loaded = load_file(Path(args.file))  # refused here, before the table is touched
    client, table = refs.table()
    check_retention(args, loaded, client, table)
    version = policy_ops.push_policy(client, table, loaded.document)
    result: dict[str, Any] = {"version": version, "active": False}
    if args.activate:
        result["previous"] = policy_ops.activate_policy(client, table, version)
        result["active"] = True
    print(json.dumps(result))
    if not args.activate:
        print(f"pushed as v{version}, not active: fairtrack policy activate {version}", file=sys.stderr)
    return EXIT_SAME


def cmd_activate(args: argparse.Namespace, refs: Refs) -> int:
    from fairtrack_tools.ops import policy_ops

    client, table = refs.table()
    previous = policy_ops.activate_policy(client, table, args.version)
    print(json.dumps({"active": args.version, "previous": previous}))
    if previous == args.version:
        print(f"v{args.version} was already active: nothing changed", file=sys.stderr)
    return EXIT_SAME


def cmd_rollback(args: argparse.Namespace, refs: Refs) -> int:
    from fairtrack_tools.ops import policy_ops

    client, table = refs.table()
    active, rolled_back = policy_ops.rollback_policy(client, table)
    print(json.dumps({"active": active, "rolled_back_from": rolled_back}))
    return EXIT_SAME


def cmd_history(args: argparse.Namespace, refs: Refs) -> int:
    from fairtrack_tools.ops import policy_ops

    client, table = refs.table()
    history = policy_ops.policy_history(client, table)
    print(
        json.dumps(
            {
                "active": policy_ops.active_version(client, table),
                "latest": policy_ops.latest_version(client, table),
                "rollback_to": history["undo"][-1] if history["undo"] else None,
                "activations": history["entries"],
            },
            indent=2,
        )
    )
    return EXIT_SAME


def policy_yaml(loaded: Loaded, header: str) -> str:
    """A stored version as the YAML an author would write: what was set, in the model's types
    (TCF purpose numbers as numbers again), without defaults the author left out."""
    from pydantic import ValidationError

    from fairtrack.policy import Policy

    try:
        doc: dict[str, Any] = Policy.model_validate(loaded.document).model_dump(
            mode="python", exclude_unset=True, exclude={"version"}
        )
    except ValidationError:
        doc = loaded.document
    body = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=110, default_flow_style=False)
    return f"# {header}\n{body}"


def cmd_pull(args: argparse.Namespace, refs: Refs) -> int:
    active = refs.active_version() if args.version is None else None
    version = args.version if args.version is not None else active
    assert version is not None
    loaded = refs.version(version)
    _, table = refs.table()
    state = " (active)" if active is not None else ""
    _emit(policy_yaml(loaded, f"fairtrack policy v{version}{state}, pulled from {table}"), args.out)
    return EXIT_SAME


def cmd_explain(args: argparse.Namespace, refs: Refs) -> int:
    loaded = refs.load(args.policy)
    doc = transparency(loaded.policy, loaded.label)
    text = render_html(doc) if args.format == "html" else render_markdown(doc)
    _emit(text, args.out)
    return EXIT_SAME


COMMANDS: dict[str, Callable[[argparse.Namespace, Refs], int]] = {
    "validate": cmd_validate,
    "diff": cmd_diff,
    "push": cmd_push,
    "activate": cmd_activate,
    "rollback": cmd_rollback,
    "history": cmd_history,
    "pull": cmd_pull,
    "explain": cmd_explain,
}


def run(args: argparse.Namespace, resolver: TableResolver) -> int:
    """Run ``fairtrack policy <action>``; refusals go to stderr with exit status 2."""
    from botocore.exceptions import BotoCoreError, ClientError

    from fairtrack_tools.ops.policy_ops import PolicyError

    try:
        return COMMANDS[args.action](args, Refs(args, resolver))
    except PolicyCliError as exc:
        print(exc.headline, file=sys.stderr)
        for line in exc.details:
            print(line, file=sys.stderr)
    except PolicyError as exc:
        print(f"fairtrack policy {args.action}: {exc}", file=sys.stderr)
    except (ClientError, BotoCoreError) as exc:
        print(f"fairtrack policy {args.action}: {aws_failure(exc)}", file=sys.stderr)
    return EXIT_ERROR


def _version(text: str) -> int:
    match = VERSION_REF.match(text) or re.match(r"^(\d+)$", text)
    if not match or int(match.group(1)) < 1:
        raise argparse.ArgumentTypeError("a version number, e.g. 3 or v3")
    return int(match.group(1))


def add_parser(sub: Any, where: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Register ``fairtrack policy`` on the CLI's subparsers; ``where`` carries --policy-table/--local."""
    ref_help = "a policy file, `active` or a stored version `vN`"
    pol = add_command(
        sub, "policy", "validate, diff, push, activate, roll back, pull and explain consent policies", __doc__
    )
    actions = pol.add_subparsers(dest="action", required=True)

    val = actions.add_parser("validate", help="check a policy file; every problem with its path and line (exit 2)")
    val.add_argument("file")

    diff = actions.add_parser(
        "diff", parents=[where], help="what changes from policy A to B, per section (exit 0 same, 1 different)"
    )
    diff.add_argument("a", metavar="A", help=ref_help)
    diff.add_argument("b", metavar="B", help=ref_help)
    diff.add_argument(
        "--against-traffic",
        action="append",
        metavar="HITS.ndjson",
        help='dry run over recorded hits, one {"purposes": [...], "event": {...}} per line (the lake\'s '
        "format, .gz too): events and fields each destination would get under A and under B (repeatable)",
    )

    push = actions.add_parser("push", parents=[where], help="validate a file and store it as the next version")
    push.add_argument("file")
    push.add_argument("--activate", action="store_true", help="activate the new version as well")
    push.add_argument(
        "--allow-retention-mismatch",
        action="store_true",
        help="push even when defaults.retention_days differs from the retention the stack enforces (warns)",
    )

    act = actions.add_parser("activate", parents=[where], help="make a stored version the active one")
    act.add_argument("version", type=_version, help="version number (3 or v3)")

    actions.add_parser("rollback", parents=[where], help="re-activate the version active before the current one")
    actions.add_parser("history", parents=[where], help="active and latest versions and past activations")

    pull = actions.add_parser("pull", parents=[where], help="print a stored version (default: the active one) as YAML")
    pull.add_argument("--version", type=_version, help="version number (default: the active one)")
    pull.add_argument("--out", metavar="FILE", help="write to FILE instead of stdout")

    exp = actions.add_parser("explain", parents=[where], help="the transparency table for a privacy notice")
    exp.add_argument("policy", nargs="?", default="active", help=ref_help + " (default: active)")
    exp.add_argument("--format", choices=["md", "html"], default="md", help="Markdown (default) or a standalone page")
    exp.add_argument("--out", metavar="FILE", help="write to FILE instead of stdout")
    return pol
