"""What the ``fairtrack`` sub-commands share: their parser, and how a failed AWS call reads."""

from __future__ import annotations

import argparse
from typing import Any


def add_command(sub: Any, name: str, summary: str, doc: str | None) -> argparse.ArgumentParser:
    """Register ``fairtrack NAME`` on the CLI's subparsers: ``summary`` in the list of commands, and
    ``doc`` (the command module's docstring) as written in its own ``--help``."""
    parser: argparse.ArgumentParser = sub.add_parser(
        name, help=summary, description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    return parser


def aws_failure(exc: Exception) -> str:
    """A failed AWS call as an operator reads it: the service's error code and message (a
    ``ClientError``), else the client's own error (credentials, connection, configuration)."""
    from botocore.exceptions import ClientError

    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code')}: {error.get('Message')}"
    return str(exc)
