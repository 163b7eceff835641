"""Policy files: YAML read with positions, so a validation problem names its line, and the
versions a command refers to (a file, ``active``, ``vN``) loaded from disk or the policy table.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from pydantic import ValidationError

    from fairtrack.policy import Policy

TableResolver = Callable[[argparse.Namespace], tuple[Any, str]]

EXIT_SAME, EXIT_DIFFERENT, EXIT_ERROR = 0, 1, 2

VERSION_REF = re.compile(r"^v(\d+)$")
BOOLEAN_HINT = 'YAML read a bare word such as NO, yes, on or off as a boolean: quote it, e.g. "NO"'

LEGAL_BASIS_LABELS = {
    "consent": "consent (Art. 6(1)(a) GDPR)",
    "contract": "contract (Art. 6(1)(b) GDPR)",
    "legal_obligation": "legal obligation (Art. 6(1)(c) GDPR)",
    "vital_interests": "vital interests (Art. 6(1)(d) GDPR)",
    "public_task": "public task (Art. 6(1)(e) GDPR)",
    "legitimate_interest": "legitimate interest (Art. 6(1)(f) GDPR)",
}


class PolicyCliError(Exception):
    """A refusal: a headline and detail lines for stderr; the command exits 2."""

    def __init__(self, headline: str, details: list[str] | None = None) -> None:
        super().__init__(headline)
        self.headline = headline
        self.details = details or []


# -- reading YAML with positions ------------------------------------------------------------------


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing duplicate keys (PyYAML silently keeps the last one, which in a
    policy would hide an attribute or a destination defined twice)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, yaml.Node] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.get(key)
            except TypeError:  # an unhashable key: the base class reports it
                continue
            if first is not None:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    f"duplicate key (first defined at line {first.start_mark.line + 1})",
                    key_node.start_mark,
                )
            seen[key] = key_node
        return super().construct_mapping(node, deep=deep)


def read_yaml(text: str, label: str) -> tuple[Any, yaml.Node | None]:
    """The document and its node tree (for line numbers). Syntax errors are reported with their
    line and column and the parser's description of the problem, never the offending text."""
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
        doc = loader.construct_document(root) if root is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{label}:{mark.line + 1}:{mark.column + 1}" if mark else label
        details = []
        if exc.context:
            at = f" (line {exc.context_mark.line + 1})" if exc.context_mark else ""
            details.append(f"  {exc.context}{at}")
        raise PolicyCliError(f"{where}: YAML error: {exc.problem or 'not valid YAML'}", details) from None
    except yaml.YAMLError:
        raise PolicyCliError(f"{label}: not valid YAML") from None
    finally:
        loader.dispose()
    return doc, root


def _key_text(node: yaml.Node) -> str:
    return str(node.value) if isinstance(node, yaml.ScalarNode) else f"<{node.tag.rsplit(':', 1)[-1]} key>"


_key_reader = _Loader("")


def _key_value(node: yaml.Node) -> Any:
    """A mapping key as the loader read it (``NO`` -> False), to match pydantic's ``loc``."""
    if not isinstance(node, yaml.ScalarNode):
        return None
    try:
        return _key_reader.construct_object(node)
    except yaml.YAMLError:
        return None
    finally:
        _key_reader.constructed_objects.clear()


def _locate(root: yaml.Node | None, loc: tuple[Any, ...]) -> tuple[str, yaml.Node | None]:
    """A pydantic ``loc`` as a dotted path spelled as in the file (a key YAML read as ``False``
    is shown as the ``NO`` that was written) and the deepest node of the file it reaches."""
    parts: list[str] = []
    node, found = root, root
    last_key: yaml.Node | None = None
    for item in loc:
        if item == "[key]":
            if parts:
                parts[-1] += " (key)"
            if last_key is not None:
                found = last_key
            continue
        text = str(item)
        nxt: yaml.Node | None = None
        last_key = None
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                key = _key_value(key_node)
                if (key == item and type(key) in (type(item), bool)) or str(key) == text:
                    text, nxt, last_key = _key_text(key_node), value_node, key_node
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(item, int) and 0 <= item < len(node.value):
            nxt = node.value[item]
        parts.append(text)
        node = nxt
        if nxt is not None:
            found = nxt
    return ".".join(parts), found


def _locate_text(root: yaml.Node | None, path: str, problem: str) -> yaml.Node | None:
    """The node a model-level message's ``path`` names (keys may hold dots: the longest key that
    prefixes the rest of the path wins); in a list, the item the problem quotes."""
    node, rest = root, path
    while rest and isinstance(node, yaml.MappingNode):
        best: tuple[str, yaml.Node] | None = None
        for key_node, value_node in node.value:
            text = _key_text(key_node)
            if (rest == text or rest.startswith(text + ".")) and (best is None or len(text) > len(best[0])):
                best = (text, value_node)
        if best is None:
            break
        node, rest = best[1], rest[len(best[0]) + 1 :]
    if isinstance(node, yaml.SequenceNode):
        quoted = re.search(r"'([^']*)'", problem)
        for item in node.value:
            if quoted and isinstance(item, yaml.ScalarNode) and item.value == quoted.group(1):
                return item
    return node


@dataclass(frozen=True)
class Problem:
    path: str
    message: str
    node: yaml.Node | None = None

    def render(self, label: str) -> str:
        where = label
        if self.node is not None:
            where += f":{self.node.start_mark.line + 1}:{self.node.start_mark.column + 1}"
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


def problems(exc: ValidationError, root: yaml.Node | None = None) -> list[Problem]:
    """Every error of a validation, with its path; the model's own checks (which report several
    ``path: problem`` items joined by ``; ``) give one problem per item. Inputs are never shown."""
    out: list[Problem] = []
    for err in exc.errors(include_url=False):
        loc = tuple(err["loc"])
        path, node = _locate(root, loc)
        if err["type"] == "value_error":
            cause = (err.get("ctx") or {}).get("error")
            text = str(cause) if cause is not None else err["msg"].removeprefix("Value error, ")
            for item in text.split("; "):
                prefix, sep, problem = item.partition(": ")
                if sep and "'" not in prefix and '"' not in prefix:
                    sub = f"{path}.{prefix}" if path else prefix
                    out.append(Problem(sub, problem, _locate_text(root, sub, problem) or node))
                else:
                    out.append(Problem(path, item, node))
            continue
        message = err["msg"]
        if isinstance(err.get("input"), bool) and err["type"] not in ("bool_type", "bool_parsing"):
            message += f" ({BOOLEAN_HINT})"
        out.append(Problem(path, message, node))
    return out


# -- loading policies -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Loaded:
    label: str
    policy: Policy
    document: dict[str, Any]  # as written (a file) or as stored (a version)


def load_file(path: Path) -> Loaded:
    """Read and validate a policy file; raise :class:`PolicyCliError` listing every problem."""
    from pydantic import ValidationError

    from fairtrack_tools.ops import policy_ops

    label = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise PolicyCliError(f"{label}: not UTF-8 text") from None
    except OSError as exc:
        raise PolicyCliError(f"{label}: cannot read the file ({exc.strerror or type(exc).__name__})") from None
    doc, root = read_yaml(text, label)
    if doc is None:
        raise PolicyCliError(f"{label}: the document is empty")
    if not isinstance(doc, dict):
        kind = "a list" if isinstance(doc, list) else "a string" if isinstance(doc, str) else f"a {type(doc).__name__}"
        raise PolicyCliError(
            f"{label}: a policy is a mapping (purposes:, signals:, attributes:, destinations:, defaults:), not {kind}"
        )
    try:
        policy, _ = policy_ops.stored_document(doc)
    except ValidationError as exc:
        found = problems(exc, root)
        count = f"{len(found)} problem" + ("s" if len(found) != 1 else "")
        raise PolicyCliError(f"{label}: not a valid policy ({count})", [p.render(label) for p in found]) from None
    return Loaded(label, policy, doc)


class Refs:
    """Resolves ``FILE``, ``active`` and ``vN``; connects to the table only when a ref needs it."""

    def __init__(self, args: argparse.Namespace, resolver: TableResolver) -> None:
        self.args = args
        self.resolver = resolver
        self._table: tuple[Any, str] | None = None

    def table(self) -> tuple[Any, str]:
        if self._table is None:
            try:
                self._table = self.resolver(self.args)
            except (OSError, ValueError, KeyError) as exc:  # URLError, or not a local stack's answer
                local = getattr(self.args, "local", None)
                raise PolicyCliError(
                    f"cannot reach the local stack at {local} ({type(exc).__name__}): start it with `make dev`, "
                    "or name a deployed stack's table with --policy-table"
                ) from None
        return self._table

    def active_version(self) -> int:
        from fairtrack_tools.ops import policy_ops

        client, table = self.table()
        version = policy_ops.active_version(client, table)
        if version is None:
            raise PolicyCliError(f"no policy is active in {table}")
        return version

    def version(self, version: int, label: str | None = None) -> Loaded:
        from pydantic import ValidationError

        from fairtrack.policy import Policy
        from fairtrack_tools.ops import policy_ops

        client, table = self.table()
        doc = policy_ops.get_policy_document(client, table, version)
        if doc is None:
            raise PolicyCliError(f"there is no policy version {version} in {table}")
        label = label or f"v{version}"
        try:
            policy = Policy.model_validate({**doc, "version": version})
        except ValidationError as exc:
            raise PolicyCliError(
                f"{label}: the stored document does not validate against this fairtrack's policy model",
                [p.render(label) for p in problems(exc)],
            ) from None
        return Loaded(label, policy, doc)

    def load(self, ref: str) -> Loaded:
        if ref == "active":
            version = self.active_version()
            return self.version(version, f"v{version} (active)")
        match = VERSION_REF.match(ref)
        if match:
            return self.version(int(match.group(1)))
        return load_file(Path(ref))
