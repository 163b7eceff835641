"""The ``fairtrack`` command: local stack, local invoke and operator actions."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def cmd_dev(args: argparse.Namespace) -> int:
    from fairtrack_tools.stack import DevStack

    stack = DevStack(port=args.port, moto_port=args.moto_port)
    stack.start()
    stack.serve_forever()
    return 0


def cmd_invoke(args: argparse.Namespace) -> int:
    from fairtrack_tools.invoke import invoke

    return int(invoke(args.logical_id, Path(args.event), show_captured=not args.quiet))


def cmd_seed(args: argparse.Namespace) -> int:
    import boto3

    from fairtrack.store import Source
    from fairtrack_tools import admin

    ddb = boto3.client("dynamodb")
    version = admin.push_policy(ddb, args.policy_table, admin.load_policy_file(Path(args.policy)))
    admin.activate_policy(ddb, args.policy_table, version)
    print(json.dumps({"policy_version": version}))
    if args.write_key:
        admin.add_source(
            ddb,
            args.policy_table,
            args.write_key,
            Source(source_id=args.source_id, name=args.source_id, origins=args.origin or []),
        )
        print(json.dumps({"source_id": args.source_id, "origins": args.origin or []}))
    return 0


def main(argv: list[str] | None = None) -> int:
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

    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
