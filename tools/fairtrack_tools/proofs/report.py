"""The pieces every proof report shares: a named check, and a plain-text table."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass
class Check:
    name: str
    ok: bool
    detail: str = ""


def text_table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows, strict=True)]
    line = "  ".join("-" * w for w in widths)
    fmt = "  ".join("{:<%d}" % w for w in widths)  # noqa: UP031 - widths are computed
    return [fmt.format(*head), line, *(fmt.format(*r) for r in rows)]
