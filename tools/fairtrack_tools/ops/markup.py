"""What the operator's documents share (the audit, the transparency table): Markdown cells that
cannot break a table or render HTML, the head and style of their HTML form, and its tables."""

from __future__ import annotations

import html
import re
from collections.abc import Collection, Iterable, Mapping, Sequence

# the HTML documents' common style: type, width, tables; each document adds its own rules
BASE_CSS = (
    "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:80rem;margin:2rem auto;"
    "padding:0 1rem;color:#1b1b1b;line-height:1.45}"
    "table{border-collapse:collapse;width:100%;margin:1rem 0;font-size:.92rem}"
    "th,td{border:1px solid #c8c8c8;padding:.35rem .5rem;text-align:left;vertical-align:top}"
    "th{background:#f2f2f2}code{font-size:.95em}ul{font-size:.9rem}"
)


def md(text: str) -> str:
    """A Markdown table cell or paragraph: HTML shown, not rendered; pipes and line breaks cannot
    break a table."""
    text = html.escape(text, quote=False).replace("\\", "\\\\").replace("|", "\\|")
    return " ".join(text.split())


def md_code(text: str) -> str:
    """``text`` as inline code when it is safe as such, else as :func:`md` text."""
    return f"`{text}`" if re.fullmatch(r"[^`|<>&\\\s]+", text) else md(text)


def html_head(title: str, css: str) -> list[str]:
    """The lines of a standalone page up to ``<body>``: its CSP allows inline style only (no script,
    nothing loaded from elsewhere); ``title`` is escaped."""
    return [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">",
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(title)}</title>",
        f"<style>{css}</style>",
        "</head>",
        "<body>",
    ]


def html_table(
    header: Sequence[str],
    rows: Iterable[Sequence[str]],
    code_columns: Collection[int] = frozenset(),
    *,
    column_class: Mapping[int, str] | None = None,
    value_class: Mapping[str, str] | None = None,
) -> list[str]:
    """The lines of a table: the column heads, then each row with its first cell as the row's head;
    the cells of ``code_columns`` as code, every text escaped. A cell's class is its column's in
    ``column_class``, else its text's in ``value_class``, if either names one."""
    e = html.escape
    out = [
        "<table>",
        "<thead><tr>" + "".join(f'<th scope="col">{e(h)}</th>' for h in header) + "</tr></thead>",
        "<tbody>",
    ]
    for row in rows:
        cells = []
        for i, cell in enumerate(row):
            content = f"<code>{e(cell)}</code>" if i in code_columns else e(cell)
            tag, attrs = ("th", ' scope="row"') if i == 0 else ("td", "")
            if css := (column_class or {}).get(i) or (value_class or {}).get(cell):
                attrs += f' class="{css}"'
            cells.append(f"<{tag}{attrs}>{content}</{tag}>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    return [*out, "</tbody>", "</table>"]
