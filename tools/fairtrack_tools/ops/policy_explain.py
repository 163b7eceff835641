"""The transparency document a policy implies: what each destination receives, for which purpose,
on which legal basis, in which form; as Markdown or HTML.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fairtrack.anonymise import formats
from fairtrack_tools.ops.markup import BASE_CSS, html_head, html_table, md, md_code
from fairtrack_tools.ops.policy_files import LEGAL_BASIS_LABELS

if TYPE_CHECKING:
    from fairtrack.policy import Policy

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


def render_markdown(doc: Transparency) -> str:
    lines = [f"# {md(doc.title)}", ""]
    for paragraph in doc.intro:
        lines += [md(paragraph), ""]
    for section in doc.sections:
        lines += [f"## {md(section.title)}", ""]
        lines.append("| " + " | ".join(md(h) for h in section.header) + " |")
        lines.append("|" + " --- |" * len(section.header))
        for row in section.rows:
            cells = [md_code(c) if i in section.code_columns else md(c) for i, c in enumerate(row)]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
        for note in section.notes:
            lines.append(f"- {md(note)}")
        if section.notes:
            lines.append("")
    return "\n".join(lines)


_CSS = BASE_CSS + "td.not-sent{color:#6b6b6b}"


def render_html(doc: Transparency) -> str:
    """A standalone page: inline style, no script, nothing loaded from elsewhere (its CSP says so);
    every piece of text from the policy is escaped."""
    e = html.escape
    out = [
        *html_head(doc.title, _CSS),
        f"<h1>{e(doc.title)}</h1>",
    ]
    out += [f"<p>{e(p)}</p>" for p in doc.intro]
    for section in doc.sections:
        out.append(f"<h2>{e(section.title)}</h2>")
        out += html_table(section.header, section.rows, section.code_columns, value_class={"not sent": "not-sent"})
        if section.notes:
            out.append("<ul>" + "".join(f"<li>{e(n)}</li>" for n in section.notes) + "</ul>")
    out += ["</body>", "</html>", ""]
    return "\n".join(out)
