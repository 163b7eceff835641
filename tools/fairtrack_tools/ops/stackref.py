"""Where an operator command finds a stack: a deployed one (``--stack NAME``: CloudFormation
outputs, credentials from the environment) or the running local stack (``--local URL``: its
``/_dev/aws`` answer, which carries the same output names). One place for every command."""

from __future__ import annotations

import argparse
import json
import urllib.request
from collections.abc import Callable
from typing import Any

LOCAL_DEFAULT = "http://127.0.0.1:3000"


def stack_parent() -> argparse.ArgumentParser:
    """The parent parser naming where the stack is: ``--stack NAME`` or ``--local URL``."""
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_mutually_exclusive_group()
    group.add_argument("--stack", help="name of a deployed stack (credentials from the environment)")
    group.add_argument(
        "--local",
        default=LOCAL_DEFAULT,
        help=f"URL of a running local stack (default {LOCAL_DEFAULT}, when no --stack)",
    )
    return parent


def stack_outputs(args: argparse.Namespace) -> tuple[dict[str, str], Callable[[str], Any]]:
    """The stack's outputs and a factory of boto3 clients that reach the same AWS."""
    import boto3

    if getattr(args, "stack", None):
        session = boto3.Session()
        stack = session.client("cloudformation").describe_stacks(StackName=args.stack)["Stacks"][0]
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}

        def deployed(service: str) -> Any:
            return session.client(service)  # type: ignore[call-overload]

        return outputs, deployed
    with urllib.request.urlopen(args.local.rstrip("/") + "/_dev/aws", timeout=5) as resp:
        env = json.loads(resp.read())
    local = boto3.Session(
        aws_access_key_id="local",
        aws_secret_access_key="local",  # noqa: S106 - moto accepts any credentials
        region_name=env["region"],
    )

    def client(service: str) -> Any:
        return local.client(service, endpoint_url=env["endpoint_url"])  # type: ignore[call-overload]

    return dict(env.get("outputs") or {}), client


def is_local(args: argparse.Namespace) -> bool:
    return not getattr(args, "stack", None)
