"""``fairtrack consent``: read consent receipts back (operators and data-subject requests).

``fairtrack consent show <receipt-id>`` prints one receipt as JSON: the subject's pseudonyms, the
purposes granted and denied under the policy version in force, the signal as it was sent, and the
full IP address and user agent kept as evidence. The consent table is found from the stack's
outputs (``ConsentTableName``): a deployed stack's (``--stack NAME``, credentials from the
environment) or the running local stack's (``--local URL``, the default).

Reading needs ``dynamodb:GetItem`` on the consent table, which no function has: it is an operator's
permission. A receipt holds personal data (a full IP address): print it only where it may be read.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from typing import Any

from fairtrack_tools.ops.stackref import stack_outputs, stack_parent
from fairtrack_tools.ops.subcommand import add_command, aws_failure

EXIT_OK, EXIT_NOT_FOUND, EXIT_ERROR = 0, 1, 2
RECEIPT_ID = re.compile(r"^[0-9a-f]{32}$")


def add_parser(sub: Any, where: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    """Register ``fairtrack consent`` on the CLI's subparsers; ``where`` carries ``--stack``/``--local``
    (default: :func:`fairtrack_tools.ops.stackref.stack_parent`)."""
    con = add_command(sub, "consent", "read consent receipts (POST /v1/consent) back", __doc__)
    actions = con.add_subparsers(dest="action", required=True)
    show = actions.add_parser(
        "show", parents=[where or stack_parent()], help="print one consent receipt as JSON (exit 1: no such receipt)"
    )
    show.add_argument("receipt_id", metavar="RECEIPT_ID", help="the receiptId POST /v1/consent answered")
    return con


def consent_table(args: argparse.Namespace) -> tuple[Any, str]:
    """A DynamoDB client and the consent table's name, from the stack's outputs."""
    outputs, client = stack_outputs(args)
    return client("dynamodb"), outputs["ConsentTableName"]


def show(client: Any, table: str, receipt_id: str) -> dict[str, Any] | None:
    """One receipt as an operator reads it, or None."""
    from fairtrack.consent.receipts import ReceiptStore

    receipt = ReceiptStore(table, lambda: client).get(receipt_id)
    return receipt.as_json() if receipt is not None else None


def run(args: argparse.Namespace) -> int:
    """Run ``fairtrack consent <action>``; refusals go to stderr (exit 2), a missing receipt exits 1."""
    from botocore.exceptions import BotoCoreError, ClientError

    if not RECEIPT_ID.match(args.receipt_id):
        print("fairtrack consent show: a receipt id is 32 lower-case hex digits", file=sys.stderr)
        return EXIT_ERROR
    try:
        client, table = consent_table(args)
        receipt = show(client, table, args.receipt_id)
    except KeyError as exc:
        print(f"fairtrack consent {args.action}: the stack has no output {exc}", file=sys.stderr)
        return EXIT_ERROR
    except (ClientError, BotoCoreError, OSError) as exc:
        print(f"fairtrack consent {args.action}: {aws_failure(exc)}", file=sys.stderr)
        return EXIT_ERROR
    if receipt is None:
        print(f"fairtrack consent {args.action}: no receipt {args.receipt_id}", file=sys.stderr)
        return EXIT_NOT_FOUND
    print(json.dumps(receipt, indent=2))
    return EXIT_OK
