"""``fairtrack audit``: the period, the stack or bucket, the format, and the file."""

from __future__ import annotations

import argparse
import sys
import urllib.error
import urllib.request
from datetime import date
from pathlib import Path
from typing import Any

from fairtrack_tools.ops.audit.read import LATE_DAYS, MAX_DAYS, AuditError, load_rows
from fairtrack_tools.ops.audit.render import render
from fairtrack_tools.ops.stackref import stack_outputs
from fairtrack_tools.ops.subcommand import add_command, aws_failure

EXIT_OK, EXIT_ERROR = 0, 2

# -- the command ------------------------------------------------------------------------------------


def resolve(args: argparse.Namespace) -> tuple[Any, str]:
    """An S3 client and the lake bucket: ``--bucket`` (credentials from the environment), a deployed
    stack's ``LakeBucketName`` output (``--stack``), or the running local stack's (``--local``)."""
    import boto3

    if args.bucket:
        return boto3.client("s3"), args.bucket
    try:
        outputs, client = stack_outputs(args)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise AuditError(
            f"no local stack at {args.local} ({exc}): start it with `make dev`, or pass --stack or --bucket"
        ) from None
    bucket = outputs.get("LakeBucketName")
    if not bucket:
        where = f"stack {args.stack}" if args.stack else f"the local stack at {args.local}"
        raise AuditError(f"{where} names no LakeBucketName")
    return client("s3"), bucket


def run(args: argparse.Namespace) -> int:
    """Run ``fairtrack audit``; refusals go to stderr with exit status 2."""
    from botocore.exceptions import BotoCoreError, ClientError

    start, end = args.start, args.end
    if start > end:
        print(f"fairtrack audit: --from {start} is after --to {end}", file=sys.stderr)
        return EXIT_ERROR
    if (end - start).days >= MAX_DAYS:
        print(f"fairtrack audit: a period of at most {MAX_DAYS} days", file=sys.stderr)
        return EXIT_ERROR
    try:
        s3, bucket = resolve(args)
        rows = load_rows(s3, bucket, start, end, late_days=args.late_days)
    except AuditError as exc:
        print(f"fairtrack audit: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except (ClientError, BotoCoreError) as exc:
        print(f"fairtrack audit: {aws_failure(exc)}", file=sys.stderr)
        return EXIT_ERROR
    text = render(rows, args.format, start=start, end=end, bucket=bucket)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
        print(f"wrote {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    if not rows:
        print(f"fairtrack audit: no decisions recorded from {start} to {end}", file=sys.stderr)
    return EXIT_OK


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError("a date, YYYY-MM-DD") from None


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``fairtrack audit`` on the CLI's subparsers (its ``func`` is :func:`run`)."""
    parser = add_command(
        subparsers,
        "audit",
        "what was shared with whom, on which basis, under which policy versions (Markdown or HTML)",
        __doc__,
    )
    parser.add_argument("--from", dest="start", required=True, type=_day, metavar="YYYY-MM-DD", help="first day")
    parser.add_argument("--to", dest="end", required=True, type=_day, metavar="YYYY-MM-DD", help="last day (included)")
    parser.add_argument(
        "--format", choices=["md", "html"], default="md", help="Markdown (default) or a standalone page"
    )
    parser.add_argument("--out", metavar="FILE", help="write to FILE instead of stdout")
    parser.add_argument(
        "--late-days",
        type=int,
        default=LATE_DAYS,
        metavar="N",
        help=f"also read the log delivered up to N days after --to (default {LATE_DAYS}): events that settle late",
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--local",
        default="http://127.0.0.1:3000",
        help="URL of a running local stack (default, without --stack/--bucket)",
    )
    where.add_argument(
        "--stack", help="name of a deployed stack: its LakeBucketName output (credentials from the environment)"
    )
    where.add_argument("--bucket", help="the lake bucket itself (credentials from the environment)")
    parser.set_defaults(func=run)
    return parser
