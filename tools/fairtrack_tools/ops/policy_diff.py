"""Comparing two policies: a structural diff, and a dry run of both against recorded traffic."""

from __future__ import annotations

import gzip
import json
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fairtrack.policy import Decision, Policy

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
