"""``fairtrack policy``: validate, compare, push, activate, roll back, pull and explain consent policies.

A policy is named on the command line by a file path, ``active`` (the version in force) or ``vN``
(a stored version; write ``./v3`` for a file that happens to be called ``v3``). Commands that read
only files (``validate``, ``diff`` of two files, ``explain FILE``) never touch a table; the others
reach the policy table through the resolver ``fairtrack.cli`` passes in (``--policy-table NAME``
for a deployed stack, ``--local URL`` for the running local stack).

Error messages name the place of a problem (its path in the document, and the line and column in
the file) and never echo the value found there: a policy file is configuration, but the same rule
holds everywhere in fairtrack.
"""

from __future__ import annotations

import argparse
import gzip
import html
import json
import re
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from fairtrack.anonymise import formats

if TYPE_CHECKING:
    from pydantic import ValidationError

    from fairtrack.policy import Decision, Policy

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


# -- diff -----------------------------------------------------------------------------------------

_BARE = re.compile(r"^[\w.:/@+-]{1,60}$")


def _fmt(value: Any) -> str:
    if isinstance(value, str) and _BARE.match(value):
        return value
    if isinstance(value, dict):  # an added or removed entry: its unset options (values, max_length) are noise
        value = {k: v for k, v in value.items() if v is not None}
    text = json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
    return text if len(text) <= 120 else text[:119] + "…"


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def _diff(path: str, a: Any, b: Any, out: list[str]) -> None:
    if a == b:
        return
    if isinstance(a, dict) and isinstance(b, dict):
        for key in [*a, *(k for k in b if k not in a)]:
            sub = f"{path}.{key}"
            if key not in b:
                out.append(f"- {sub}: {_fmt(a[key])}")
            elif key not in a:
                out.append(f"+ {sub}: {_fmt(b[key])}")
            else:
                _diff(sub, a[key], b[key], out)
    elif isinstance(a, list) and isinstance(b, list) and all(_is_scalar(x) for x in [*a, *b]):
        removed = [x for x in a if x not in b]
        added = [x for x in b if x not in a]
        out.extend(f"{path}: - {_fmt(x)}" for x in removed)
        out.extend(f"{path}: + {_fmt(x)}" for x in added)
        if not removed and not added:
            out.append(f"{path}: same items, in another order")
    else:
        out.append(f"{path}: {_fmt(a)} -> {_fmt(b)}")


def structural_diff(a: Policy, b: Policy) -> dict[str, list[str]]:
    """Per top-level section (purposes, signals, attributes, destinations, ...), the readable
    differences from ``a`` to ``b``: ``+ path``/``- path`` for what was added or removed,
    ``path: + item`` for list items, ``path: old -> new`` for changed values. Defaults count:
    leaving a field out and writing its default are the same policy."""
    da = a.model_dump(mode="json", exclude={"version"})
    db = b.model_dump(mode="json", exclude={"version"})
    for doc in (da, db):  # an attribute without per-destination purposes reads as before they existed
        for attr in doc["attributes"].values():
            if not attr["purpose_for"]:
                del attr["purpose_for"]
    sections: dict[str, list[str]] = {}
    for section in [*da, *(k for k in db if k not in da)]:
        lines: list[str] = []
        _diff(section, da.get(section), db.get(section), lines)
        if lines:
            sections[section] = lines
    return sections


# -- dry run against traffic ----------------------------------------------------------------------


@dataclass
class DestinationCounts:
    events_a: int = 0
    events_b: int = 0
    gained: int = 0  # delivered under B, not under A
    lost: int = 0  # delivered under A, not under B
    only_a: Counter[str] = field(default_factory=Counter)  # field -> events where only A sends it
    only_b: Counter[str] = field(default_factory=Counter)
    reformed: Counter[tuple[str, str, str]] = field(default_factory=Counter)  # (field, form A, form B)


@dataclass
class DryRun:
    events: int = 0
    skipped_lines: list[int] = field(default_factory=list)
    destinations: dict[str, DestinationCounts] = field(default_factory=dict)


def _sent_fields(decisions: list[Decision]) -> dict[str, str]:
    """Catalogued field -> the form it is sent in, from the engine's decisions."""
    out: dict[str, str] = {}
    for d in decisions:
        if d.field is None:
            continue
        if d.action == "sent":
            out[d.field] = f"full ({d.form or 'none'})"
        elif d.action == "reduced":
            out[d.field] = f"reduced ({d.form})"
    return out


def read_traffic(path: Path) -> Iterator[tuple[int, Any]]:
    """``(line number, parsed line)`` of an NDJSON file (gzip too: the lake's objects); a line
    that is not JSON gives None."""
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    for number, line in enumerate(raw.decode("utf-8", "replace").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield number, json.loads(line)
        except ValueError:
            yield number, None


def dry_run(a: Policy, b: Policy, records: Iterator[tuple[int, Any]]) -> DryRun:
    """What each destination would receive under ``a`` and under ``b`` for the same hits: lines
    shaped ``{"purposes": [...], "event": {...}}`` (the lake's format), judged by the engine."""
    from fairtrack.policy import evaluate

    run = DryRun()
    names = [*a.destinations, *(d for d in b.destinations if d not in a.destinations)]
    run.destinations = {name: DestinationCounts() for name in names}
    for number, record in records:
        purposes = record.get("purposes") if isinstance(record, dict) else None
        event = record.get("event") if isinstance(record, dict) else None
        if not (isinstance(purposes, list) and all(isinstance(p, str) for p in purposes) and isinstance(event, dict)):
            run.skipped_lines.append(number)
            continue
        run.events += 1
        granted = frozenset(purposes)
        for name, counts in run.destinations.items():
            sent_a, decisions_a = evaluate(event, granted, name, a)
            sent_b, decisions_b = evaluate(event, granted, name, b)
            fields_a = _sent_fields(decisions_a) if sent_a is not None else {}
            fields_b = _sent_fields(decisions_b) if sent_b is not None else {}
            counts.events_a += sent_a is not None
            counts.events_b += sent_b is not None
            counts.gained += sent_a is None and sent_b is not None
            counts.lost += sent_a is not None and sent_b is None
            counts.only_a.update(f for f in fields_a if f not in fields_b)
            counts.only_b.update(f for f in fields_b if f not in fields_a)
            counts.reformed.update(
                (f, form, fields_b[f]) for f, form in fields_a.items() if f in fields_b and fields_b[f] != form
            )
    return run


def _table(header: list[str], rows: list[list[str]], numeric_from: int = 1) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(row: list[str]) -> str:
        pairs = enumerate(zip(row, widths, strict=True))
        cells = [c.rjust(w) if i >= numeric_from else c.ljust(w) for i, (c, w) in pairs]
        return "  ".join(cells).rstrip()

    return [line(header), *(line(r) for r in rows)]


def render_dry_run(run: DryRun, label_a: str, label_b: str, sources: list[str]) -> list[str]:
    lines = [f"dry run: {run.events} events from {', '.join(sources)}"]
    if run.skipped_lines:
        shown = ", ".join(map(str, run.skipped_lines[:10])) + (", ..." if len(run.skipped_lines) > 10 else "")
        lines.append(f"  skipped {len(run.skipped_lines)} lines that are not {{purposes, event}} records: {shown}")
    lines += [f"  A = {label_a}", f"  B = {label_b}", ""]
    rows = [
        [name, str(c.events_a), str(c.events_b), str(c.gained), str(c.lost)] for name, c in run.destinations.items()
    ]
    lines += _table(["destination", "events A", "events B", "gained", "lost"], rows)
    for name, c in run.destinations.items():
        lines.append("")
        if not (c.only_a or c.only_b or c.reformed):
            lines.append(f"{name}: the same fields under A and B")
            continue
        for title, counter in (("sent only under A", c.only_a), ("sent only under B", c.only_b)):
            if counter:
                lines.append(f"{name}: fields {title}")
                rows = [[f, str(n)] for f, n in counter.most_common()]
                lines += ["  " + r for r in _table(["field", "events"], rows)]
        if c.reformed:
            lines.append(f"{name}: fields sent in another form")
            rows = [[f, form_a, form_b, str(n)] for (f, form_a, form_b), n in c.reformed.most_common()]
            lines += ["  " + r for r in _table(["field", "form A", "form B", "events"], rows, numeric_from=3)]
    return lines


# -- explain --------------------------------------------------------------------------------------


@dataclass
class Section:
    title: str
    header: list[str]
    rows: list[list[str]]
    code_columns: frozenset[int] = frozenset()
    notes: list[str] = field(default_factory=list)


@dataclass
class Transparency:
    title: str
    intro: list[str]
    sections: list[Section]


def _basis(policy: Policy, purpose: str) -> str:
    basis = policy.purposes[purpose].legal_basis
    return LEGAL_BASIS_LABELS.get(basis, basis.replace("_", " "))


def _form(policy: Policy, destination: str, path: str) -> str:
    from fairtrack.policy import NECESSARY

    listed = policy.destinations[destination].attributes  # type: ignore[index]
    parent = path.rpartition(".")[0]
    while path not in listed and parent:  # an object listed brings its catalogued children
        if (
            parent in listed
            and policy.attributes.get(parent) is not None
            and policy.attributes[parent].format == "object"
        ):
            break
        parent = parent.rpartition(".")[0]
    else:
        if path not in listed:
            return "not sent"
    attr = policy.attributes[path]
    purposes = attr.purposes(destination)
    full = f"full ({attr.transform})"
    if purposes != attr.purposes():  # a destination of its own purposes (purpose_for)
        full += " with " + " or ".join(purposes)
    if NECESSARY not in purposes and attr.reduced != "drop":
        return f"{full}; reduced ({attr.reduced}) without {' or '.join(purposes)}"
    return full


def _purposes(attr: Any) -> str:
    """``analytics``; ``analytics or advertising``; ``analytics (meta: analytics or advertising)``."""
    shown = " or ".join(attr.purposes())
    own = [f"{d}: {' or '.join(attr.purposes(d))}" for d in attr.purpose_for]
    return shown + (f" ({'; '.join(own)})" if own else "")


def _bases(policy: Policy, attr: Any) -> str:
    """The legal bases of every purpose that allows the attribute somewhere, each once."""
    ordered = [*attr.purposes(), *(p for d in attr.purpose_for for p in attr.purposes(d))]
    return " or ".join(dict.fromkeys(_basis(policy, p) for p in ordered))


def _format(attr: Any) -> str:
    shown: str = attr.format
    if attr.values is not None:
        shown += " (" + ", ".join(attr.values) + ")"
    if attr.max_length is not None:
        shown += f", at most {attr.max_length} characters"
    return shown


def _requires(policy: Policy, destination: str) -> str:
    req = policy.destinations[destination].requires  # type: ignore[index]
    parts = []
    if req.all:
        parts.append("all of: " + ", ".join(req.all))
    if req.any:
        parts.append("any of: " + ", ".join(req.any))
    return "; ".join(parts) or "no purpose beyond necessary"


def transparency(policy: Policy, label: str) -> Transparency:
    """The transparency table a privacy notice needs, from the policy alone."""
    destinations = list(policy.destinations)
    intro = [f"Generated from the fairtrack consent policy {label}."]
    if policy.description:
        intro.append(policy.description)
    attributes = Section(
        "Data and where it goes",
        ["Attribute", "Description", "Format", "Purpose", "Legal basis", *destinations],
        [
            [path, attr.description, _format(attr), _purposes(attr), _bases(policy, attr)]
            + [_form(policy, d, path) for d in destinations]
            for path, attr in policy.attributes.items()
        ],
        frozenset({0}),
        [
            "full (form): sent when the attribute's purpose is granted, in that form (none: unchanged; "
            "sha256_normalised: trimmed, lower-cased and hashed with SHA-256). A purpose 'a or b': sent when "
            "either is granted; 'with a or b': that destination's own purposes for the attribute.",
            "reduced (form) without a purpose: sent in that reduced form when the purpose is not granted "
            "(url_origin: only the site's address; ip_coarse: the network, /16 or /32). "
            "Otherwise nothing is sent without the purpose.",
            "not sent: never sent to that destination. A field that is not in this table is never sent anywhere.",
            "Format: the only values that may leave (closed world). A value its format does not admit is "
            "dropped (a message id is replaced by a gateway id), never sent: "
            + "; ".join(f"{name}: {text}" for name, text in sorted(formats.DESCRIPTIONS.items())),
            "A destination receives nothing unless the purposes it requires are granted (see Destinations).",
        ],
    )
    purposes = Section(
        "Purposes",
        ["Purpose", "Legal basis", "Description"],
        [[name, _basis(policy, name), p.description] for name, p in policy.purposes.items()],
        frozenset({0}),
    )
    dests = Section(
        "Destinations",
        ["Destination", "Requires", "Attributes it may receive"],
        [[name, _requires(policy, name), str(len(d.attributes))] for name, d in policy.destinations.items()],
        frozenset({0}),
        ["all of: every purpose listed must be granted; any of: at least one of them."],
    )
    retention = Section(
        "Retention",
        ["What", "Kept for"],
        [
            ["Lake records and failed deliveries", f"{policy.defaults.retention_days} days"],
            ["Consent receipts", f"{policy.defaults.consent_retention_days} days"],
        ],
    )
    return Transparency("Transparency table", intro, [attributes, purposes, dests, retention])


def _md(text: str) -> str:
    """A Markdown table cell: HTML in a description is shown, not rendered; pipes and line
    breaks cannot break the table."""
    text = html.escape(text, quote=False).replace("\\", "\\\\").replace("|", "\\|")
    return " ".join(text.split())


def _md_code(text: str) -> str:
    return f"`{text}`" if re.fullmatch(r"[^`|<>&\\\s]+", text) else _md(text)


def render_markdown(doc: Transparency) -> str:
    lines = [f"# {_md(doc.title)}", ""]
    for paragraph in doc.intro:
        lines += [_md(paragraph), ""]
    for section in doc.sections:
        lines += [f"## {_md(section.title)}", ""]
        lines.append("| " + " | ".join(_md(h) for h in section.header) + " |")
        lines.append("|" + " --- |" * len(section.header))
        for row in section.rows:
            cells = [_md_code(c) if i in section.code_columns else _md(c) for i, c in enumerate(row)]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
        for note in section.notes:
            lines.append(f"- {_md(note)}")
        if section.notes:
            lines.append("")
    return "\n".join(lines)


_CSS = (
    "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:80rem;margin:2rem auto;"
    "padding:0 1rem;color:#1b1b1b;line-height:1.45}"
    "table{border-collapse:collapse;width:100%;margin:1rem 0;font-size:.92rem}"
    "th,td{border:1px solid #c8c8c8;padding:.35rem .5rem;text-align:left;vertical-align:top}"
    "th{background:#f2f2f2}td.not-sent{color:#6b6b6b}code{font-size:.95em}ul{font-size:.9rem}"
)


def render_html(doc: Transparency) -> str:
    """A standalone page: inline style, no script, nothing loaded from elsewhere (its CSP says so);
    every piece of text from the policy is escaped."""
    e = html.escape
    out = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">",
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{e(doc.title)}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        f"<h1>{e(doc.title)}</h1>",
    ]
    out += [f"<p>{e(p)}</p>" for p in doc.intro]
    for section in doc.sections:
        out.append(f"<h2>{e(section.title)}</h2>")
        out.append("<table>")
        out.append("<thead><tr>" + "".join(f'<th scope="col">{e(h)}</th>' for h in section.header) + "</tr></thead>")
        out.append("<tbody>")
        for row in section.rows:
            cells = []
            for i, cell in enumerate(row):
                content = f"<code>{e(cell)}</code>" if i in section.code_columns else e(cell)
                css = ' class="not-sent"' if cell == "not sent" else ""
                tag = "th" if i == 0 else "td"
                scope = ' scope="row"' if i == 0 else ""
                cells.append(f"<{tag}{scope}{css}>{content}</{tag}>")
            out.append("<tr>" + "".join(cells) + "</tr>")
        out.append("</tbody>")
        out.append("</table>")
        if section.notes:
            out.append("<ul>" + "".join(f"<li>{e(n)}</li>" for n in section.notes) + "</ul>")
    out += ["</body>", "</html>", ""]
    return "\n".join(out)


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
    except ClientError as exc:
        error = exc.response.get("Error", {})
        print(f"fairtrack policy {args.action}: {error.get('Code')}: {error.get('Message')}", file=sys.stderr)
    except BotoCoreError as exc:
        print(f"fairtrack policy {args.action}: {exc}", file=sys.stderr)
    return EXIT_ERROR


def _version(text: str) -> int:
    match = VERSION_REF.match(text) or re.match(r"^(\d+)$", text)
    if not match or int(match.group(1)) < 1:
        raise argparse.ArgumentTypeError("a version number, e.g. 3 or v3")
    return int(match.group(1))


def add_parser(sub: Any, where: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Register ``fairtrack policy`` on the CLI's subparsers; ``where`` carries --policy-table/--local."""
    ref_help = "a policy file, `active` or a stored version `vN`"
    pol: argparse.ArgumentParser = sub.add_parser(
        "policy",
        help="validate, diff, push, activate, roll back, pull and explain consent policies",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
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
