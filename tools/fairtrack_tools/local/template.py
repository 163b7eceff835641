"""Reads template.yaml and resolves the intrinsic functions the local stack needs.

The local stack creates queues, tables and buckets and computes each function's environment from
the template itself, so the two cannot drift. Supported: Ref, Fn::GetAtt, Fn::Sub, Fn::If with
Conditions (Equals, Not, And, Or), Fn::Join, Fn::Select and AWS::NoValue.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cfnlint.decode import cfn_yaml

NO_VALUE = object()
REGION = "us-east-1"
ACCOUNT = "123456789012"


def load(path: Path) -> dict[str, Any]:
    doc: dict[str, Any] = cfn_yaml.load(str(path))
    return doc


@dataclass
class Resolver:
    """Resolves intrinsics against parameter values and the physical ids of created resources."""

    template: dict[str, Any]
    parameters: dict[str, str]
    refs: dict[str, str] = field(default_factory=dict)
    attrs: dict[tuple[str, str], str] = field(default_factory=dict)
    stack_name: str = "fairtrack-local"

    def pseudo(self, name: str) -> str | None:
        return {
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT,
            "AWS::StackName": self.stack_name,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
        }.get(name)

    def param(self, name: str) -> str | None:
        spec = self.template.get("Parameters", {}).get(name)
        if spec is None:
            return None
        if name in self.parameters:
            return self.parameters[name]
        return str(spec.get("Default", ""))

    def ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        for lookup in (self.pseudo, self.param, self.refs.get):
            value = lookup(name)
            if value is not None:
                return value
        raise KeyError(f"cannot resolve Ref {name}")

    def condition(self, name: str | None) -> bool:
        """Whether a condition holds; no condition (``None``) always does."""
        if name is None:
            return True
        return bool(self.resolve(self.template["Conditions"][name]))

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [v for v in (self.resolve(x) for x in value) if v is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Fn::GetAtt":
                logical, attr = arg.split(".", 1) if isinstance(arg, str) else arg
                return self.attrs[(logical, attr)]
            if key == "Fn::Sub":
                return self._sub(arg)
            if key == "Fn::If":
                cond, yes, no = arg
                return self.resolve(yes if self.condition(cond) else no)
            if key == "Fn::Equals":
                a, b = (self.resolve(x) for x in arg)
                return str(a) == str(b)
            if key == "Fn::Not":
                return not self.resolve(arg[0])
            if key == "Fn::And":
                return all(self.resolve(x) for x in arg)
            if key == "Fn::Or":
                return any(self.resolve(x) for x in arg)
            if key == "Condition":
                return self.condition(arg)
            if key == "Fn::Join":
                sep, items = arg
                return sep.join(str(x) for x in self.resolve(items))
            if key == "Fn::Select":
                index, items = arg
                return self.resolve(items)[int(self.resolve(index))]
        return {k: v for k, v in ((k, self.resolve(v)) for k, v in value.items()) if v is not NO_VALUE}

    def _sub(self, arg: Any) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
        resolved = {k: self.resolve(v) for k, v in variables.items()}

        def repl(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in resolved:
                return str(resolved[name])
            if "." in name and "::" not in name:
                logical, attr = name.split(".", 1)
                return self.attrs[(logical, attr)]
            return str(self.ref(name))

        rendered = re.sub(r"\$\{([^}!][^}]*)\}", repl, text)
        return rendered.replace("${!", "${")  # ${!Literal} renders as ${Literal}


def resources_of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template.get("Resources", {}).items() if v.get("Type") == kind}
