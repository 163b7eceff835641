"""The ``fairtrack`` command: local stack, local invoke and operator actions."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from fairtrack_tools.ops.stackref import is_local, stack_outputs, stack_parent


def cmd_dev(args: argparse.Namespace) -> int:
    from fairtrack_tools.local.stack import DevStack

    stack = DevStack(port=args.port, moto_port=args.moto_port)
    stack.start()
    stack.serve_forever()
    return 0


def cmd_invoke(args: argparse.Namespace) -> int:
    from fairtrack_tools.local.invoke import invoke

    return int(invoke(args.logical_id, Path(args.event), show_captured=not args.quiet))


def cmd_seed(args: argparse.Namespace) -> int:
    import boto3

    from fairtrack.stores.policy_table import Source
    from fairtrack_tools.ops import policy_ops, sources

    ddb = boto3.client("dynamodb")
    version = policy_ops.push_policy(ddb, args.policy_table, policy_ops.load_policy_file(Path(args.policy)))
    policy_ops.activate_policy(ddb, args.policy_table, version)
    print(json.dumps({"policy_version": version}))
    if args.write_key:
        source = Source(source_id=args.source_id, name=args.source_id, origins=args.origin or [])
        sources.add_source(ddb, args.policy_table, source, args.write_key)
        print(json.dumps({"source_id": args.source_id, "origins": source.origins}))
    return 0


def _policy_table(args: argparse.Namespace) -> tuple[Any, str]:
    """A DynamoDB client and the policy table: a deployed stack's (``--policy-table``, credentials
    from the environment) or the running local stack's (``--local``)."""
    import boto3

    if args.policy_table:
        return boto3.client("dynamodb"), args.policy_table
    outputs, client = stack_outputs(args)  # no --stack here: the local stack's
    return client("dynamodb"), outputs["PolicyTableName"]


def cmd_source(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from fairtrack.stores.policy_table import Source
    from fairtrack_tools.ops import sources

    client, table = _policy_table(args)
    try:
        if args.action == "add":
            source = Source(
                source_id=args.source_id,
                name=args.name or args.source_id,
                origins=args.origin or [],
                measurement_ids=args.measurement_id or [],
                action_source=args.action_source,
            )
            key = sources.add_source(client, table, source)
            print(json.dumps({**source.model_dump(), "write_key": key}, indent=2))
            print("The write key is shown only now: store it where the site's configuration lives.", file=sys.stderr)
        elif args.action == "list":
            print(json.dumps(sources.list_sources(client, table), indent=2))
        elif args.action == "set":
            changed = sources.set_action_source(client, table, args.source_id, args.action_source)
            print(json.dumps({"source_id": changed.source_id, "action_source": changed.action_source}))
        elif args.action == "rotate":
            key = sources.rotate_key(client, table, args.source_id, args.keep_old_for)
            print(json.dumps({"source_id": args.source_id, "write_key": key}, indent=2))
        elif args.action == "remove":
            sources.remove_source(client, table, args.source_id)
            print(json.dumps({"source_id": args.source_id, "removed": True}))
    except (sources.SourceError, ValidationError) as exc:
        print(f"fairtrack source {args.action}: {exc}", file=sys.stderr)
        return 2
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    from fairtrack.stores.failed_events import FailedStore
    from fairtrack.stores.ledger import Ledger
    from fairtrack_tools.ops import replay

    outputs, client = stack_outputs(args)
    prefix = {"ga4": "Ga4", "meta": "Meta", "webhook": "Webhook", "lake": "Lake"}[args.destination]
    where = replay.Resources(
        queue_url=outputs[f"{prefix}QueueUrl"],
        dlq_url=outputs[f"{prefix}DeadLetterQueueUrl"],
        delivery_table=outputs["DeliveryTableName"],
        failed_bucket=outputs["FailedEventsBucketName"],
    )

    sqs = client("sqs")
    store = FailedStore(where.failed_bucket, args.destination, client("s3"))
    before = set(store.list_keys())
    dlq_before = 0 if args.source == "dlq" else replay.depth(sqs, where.dlq_url)
    progress = replay.progress_bar(f"replay {args.destination} from {args.source}", quiet=args.quiet)
    if args.source == "dlq":
        result = replay.from_dlq(sqs, where, args.destination, progress)
    else:
        ledger = Ledger(where.delivery_table, args.destination, client("dynamodb"))
        result = replay.from_failed(sqs, store, ledger, where, destination=args.destination, progress=progress)
        before = set()  # the replayed objects are gone; any object there now failed again
    if args.wait and result.messages:
        replay.wait_for_outcome(sqs, store, where, result, timeout=args.wait, before=before, dlq_before=dlq_before)
    print(json.dumps(result.as_dict(), indent=2))
    return 0 if result.succeeded else 1


def cmd_subject(args: argparse.Namespace) -> int:
    from datetime import date

    from fairtrack.stores import subjects

    outputs, client = stack_outputs(args)
    where = subjects.Where(
        policy_table=outputs["PolicyTableName"],
        consent_table=outputs["ConsentTableName"],
        lake_bucket=outputs["LakeBucketName"],
        failed_bucket=outputs["FailedEventsBucketName"],
        pseudonym_secret_arn=outputs["PseudonymSecretArn"],
    )
    kind, value = ("user_id", args.user_id) if args.user_id else ("anonymous_id", args.anonymous_id)
    start = date.fromisoformat(args.start) if args.start else None  # default: every lake partition
    end = date.fromisoformat(args.end) if args.end else None
    clients = {name: client(name) for name in ("dynamodb", "s3")}
    pseudonym = subjects.pseudonym_for(client("secretsmanager"), where, kind, value)
    found = subjects.find(clients, where, pseudonym, start, end)
    if args.action == "export":
        print(json.dumps(subjects.export(found, kind), indent=2))
        return 0
    if not args.yes:
        print(
            f"would erase {len(found.receipts)} consent receipts, {len(found.lake_records)} lake records in "
            f"{len(found.lake_objects)} objects (and {len(found.lake_old_versions)} objects' earlier versions) and "
            f"{len(found.failed_events)} failed events, and suppress the subject's later hits; lake range scanned: "
            f"{json.dumps(found.lake_range())}; run again with --yes",
            file=sys.stderr,
        )
        return 2
    who = "local" if is_local(args) else client("sts").get_caller_identity()["Arn"]
    print(json.dumps(subjects.erase(clients, where, found, who), indent=2))
    return 0


def cmd_policy(args: argparse.Namespace) -> int:
    from fairtrack_tools.ops import policy_cli

    return policy_cli.run(args, _policy_table)


def _add_replay(sub: Any) -> None:
    rep = sub.add_parser(
        "replay", parents=[stack_parent()], help="send a destination's DLQ or failed events again after a fix"
    )
    rep.add_argument("destination", choices=["ga4", "meta", "webhook", "lake"])
    rep.add_argument("--from", dest="source", choices=["dlq", "failed"], default="dlq", help="default: dlq")
    rep.add_argument(
        "--wait", type=float, default=0, metavar="SECONDS", help="watch the queue drain and report what failed again"
    )
    rep.add_argument("--quiet", action="store_true", help="no progress bar")
    rep.set_defaults(func=cmd_replay)


def _add_subject(sub: Any) -> None:
    parent = stack_parent()
    subj = sub.add_parser("subject", help="data-subject requests: export or erase what fairtrack holds on someone")
    subj_actions = subj.add_subparsers(dest="action", required=True)
    for name, text in (
        ("export", "print everything held on the subject as JSON"),
        ("erase", "delete it, suppress later hits, record the erasure"),
    ):
        action = subj_actions.add_parser(name, parents=[parent], help=text)
        who = action.add_mutually_exclusive_group(required=True)
        who.add_argument("--anonymous-id", help="the visitor id the site's analytics client uses")
        who.add_argument("--user-id", help="the site's own user id")
        action.add_argument(
            "--from", dest="start", metavar="YYYY-MM-DD", help="first lake day (default: every partition)"
        )
        action.add_argument("--to", dest="end", metavar="YYYY-MM-DD", help="last lake day (default: all)")
        if name == "erase":
            action.add_argument("--yes", action="store_true", help="really erase (otherwise: say what would go)")
    subj.set_defaults(func=cmd_subject)


def main(argv: list[str] | None = None) -> int:
    from fairtrack_tools.ops import audit, policy_cli, receipts_cli, smoke

    parser = argparse.ArgumentParser(prog="fairtrack", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    dev = sub.add_parser("dev", help="run the local stack in the foreground")
    dev.add_argument("--port", type=int, default=3000, help="port of the ingest API (default 3000)")
    dev.add_argument("--moto-port", type=int, default=0, help="port of the embedded AWS (default: any free port)")
    dev.set_defaults(func=cmd_dev)

    inv = sub.add_parser("invoke", help="run one function's handler with an event file, like `sam local invoke`")
    inv.add_argument("logical_id", help="the function's logical id in template.yaml, e.g. IngestFunction")
    inv.add_argument("event", help="event file, e.g. events/ingest/track.json")
    inv.add_argument("--quiet", action="store_true", help="print only the function's response")
    inv.set_defaults(func=cmd_invoke)

    seed = sub.add_parser("seed", help="push and activate a policy and add a source in a deployed stack")
    seed.add_argument("--policy-table", required=True, help="PolicyTableName output of the stack")
    seed.add_argument("--policy", default="policies/default.yaml")
    seed.add_argument("--write-key", help="write key of the source to add")
    seed.add_argument("--source-id", default="web")
    seed.add_argument("--origin", action="append", help="allowed origin of the source (repeatable)")
    seed.set_defaults(func=cmd_seed)

    src = sub.add_parser("source", help="manage sources: websites and backends, their write keys and origins")
    where = argparse.ArgumentParser(add_help=False)
    group = where.add_mutually_exclusive_group()
    group.add_argument("--policy-table", help="PolicyTableName output of a deployed stack")
    group.add_argument(
        "--local", default="http://127.0.0.1:3000", help="URL of a running local stack (default, when no table)"
    )
    actions = src.add_subparsers(dest="action", required=True)
    add = actions.add_parser("add", parents=[where], help="add a source; prints its new write key once")
    add.add_argument("source_id", help="short id, e.g. shop-web (letters, digits, - and _)")
    add.add_argument("--name", help="a name for people")
    add.add_argument("--origin", action="append", help="allowed browser origin, e.g. https://shop.example (repeat)")
    add.add_argument("--measurement-id", action="append", help="GA4 measurement id gtag hits carry as tid (repeat)")
    where_events = (
        "where the source's events happen, for Meta's action_source: website (default; events need a page URL "
        "and a user agent), app (needs context.os), email, phone_call, chat, physical_store, system_generated, "
        "business_messaging, other"
    )
    add.add_argument("--action-source", default="website", metavar="KIND", help=where_events)
    actions.add_parser("list", parents=[where], help="list sources (key fingerprints only)")
    sets = actions.add_parser("set", parents=[where], help="change a source's settings")
    sets.add_argument("source_id")
    sets.add_argument("--action-source", required=True, metavar="KIND", help=where_events)
    rot = actions.add_parser("rotate", parents=[where], help="give a source a new write key")
    rot.add_argument("source_id")
    rot.add_argument("--keep-old-for", type=int, default=0, metavar="SECONDS", help="grace period for old keys")
    rem = actions.add_parser("remove", parents=[where], help="remove a source and all its keys")
    rem.add_argument("source_id")
    src.set_defaults(func=cmd_source)

    policy_cli.add_parser(sub, where).set_defaults(func=cmd_policy)
    receipts_cli.add_parser(sub).set_defaults(func=receipts_cli.run)
    audit.add_parser(sub)  # `fairtrack audit`; sets func=audit.run
    smoke.add_parser(sub)  # `fairtrack smoke`: a post-deploy check; sets func=smoke.run

    _add_replay(sub)
    _add_subject(sub)

    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
