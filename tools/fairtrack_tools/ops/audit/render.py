"""The audit document as Markdown (text bars) or HTML (inline SVG charts, no script)."""

from __future__ import annotations

import html
from collections.abc import Iterable
from datetime import date
from typing import Any

from fairtrack_tools.ops.audit.document import DAY_SERIES, Chart, Part, Table, document, thousands
from fairtrack_tools.ops.audit.read import as_day, summarise
from fairtrack_tools.ops.markup import BASE_CSS, html_head, html_table, md, md_code

# -- Markdown -------------------------------------------------------------------------------------

BAR_WIDTH = 40
BAR_CHARS = ("█", "▓", "▒", "░")


def _plain(text: str) -> str:
    """Text inside a fenced code block: no backticks, no control characters."""
    return "".join(c if c.isprintable() and c != "`" else "?" for c in text)


def segments(values: list[int], scale: int, width: int) -> list[int]:
    """Widths (in characters or pixels) of a bar's segments: proportional to ``scale``, a non-zero
    value at least 1 wide, the whole never wider than ``width``."""
    if scale <= 0:
        return [0] * len(values)
    out = [max(1, round(v * width / scale)) if v > 0 else 0 for v in values]
    while sum(out) > width:
        out[out.index(max(out))] -= 1
    return out


def text_chart(chart: Chart) -> list[str]:
    label_width = min(48, max(len(label) for label, _ in chart.bars))
    lines = ["  ".join(f"{BAR_CHARS[i]} {name}" for i, name in enumerate(chart.series))]
    for label, values in chart.bars:
        bar = "".join(BAR_CHARS[i] * w for i, w in enumerate(segments(values, chart.scale, BAR_WIDTH)))
        shown = _plain(label if len(label) <= label_width else label[: label_width - 1] + "~")
        lines.append(f"{shown.ljust(label_width)}  {bar.ljust(BAR_WIDTH)}  {chart.numbers(values)}".rstrip())
    return lines


def render_markdown(title: str, parts: list[Part]) -> str:
    lines: list[str] = []
    for kind, payload in parts:
        if kind in ("h1", "h2", "h3"):
            lines += ["#" * int(kind[1]) + " " + md(payload), ""]
        elif kind == "p":
            lines += [md(payload), ""]
        elif kind == "ul":
            lines += [f"- {md(item)}" for item in payload] + [""]
        elif kind == "table":
            table: Table = payload
            lines.append("| " + " | ".join(md(h) for h in table.header) + " |")
            lines.append("|" + "".join(" ---: |" if i in table.numeric else " --- |" for i in range(len(table.header))))
            for row in table.rows:
                cells = [md_code(c) if i in table.code_columns else md(c) for i, c in enumerate(row)]
                lines.append("| " + " | ".join(cells) + " |")
            lines.append("")
        elif kind == "chart":
            chart: Chart = payload
            lines += [f"*{md(chart.title)}*", "", "```text", *text_chart(chart), "```", ""]
        elif kind == "signoff":
            lines += [
                "## Sign-off",
                "",
                "| Reviewed by | Role | Date | Signature |",
                "| --- | --- | --- | --- |",
                "|  | Data protection officer |  |  |",
                "",
            ]
    return "\n".join(lines)


# -- HTML -------------------------------------------------------------------------------------------

_CSS = BASE_CSS + (
    "td.num{text-align:right;font-variant-numeric:tabular-nums}"
    "figure{margin:1rem 0}figcaption{font-size:.9rem;color:#444;margin-bottom:.3rem}"
    "svg text{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;font-size:12px;fill:#1b1b1b}"
    "table.signoff td{height:2.5rem}h2{margin-top:2.5rem;border-bottom:1px solid #c8c8c8}"
)
COLORS = ("#2b6cb0", "#90cdf4", "#dd6b20", "#c53030")
DAY_COLORS = ("#2f855a", "#a0aec0", "#dd6b20", "#c53030")


def svg_chart(chart: Chart, chart_id: str) -> str:
    """An inline SVG bar chart: no script, no external reference, every text escaped."""
    e = html.escape
    colors = DAY_COLORS if chart.series == DAY_SERIES else COLORS
    row, bar_h, top = 22, 14, 28
    label_w = min(340, 16 + 7 * max(len(label) for label, _ in chart.bars))
    bar_w = 420
    number_w = 12 + 7 * max(len(chart.numbers(values)) for _, values in chart.bars)
    width = label_w + bar_w + number_w
    height = top + row * len(chart.bars) + 6
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-labelledby="{chart_id}">',
        f'<title id="{chart_id}">{e(chart.title)}</title>',
    ]
    x = label_w
    for i, name in enumerate(chart.series):
        out.append(f'<rect x="{x}" y="6" width="10" height="10" fill="{colors[i % len(colors)]}"/>')
        out.append(f'<text x="{x + 14}" y="15">{e(name)}</text>')
        x += 24 + 7 * len(name)
    for n, (label, values) in enumerate(chart.bars):
        y = top + n * row
        shown = label if len(label) <= 46 else label[:45] + "…"
        out.append(f'<text x="{label_w - 8}" y="{y + 11}" text-anchor="end">{e(shown)}</text>')
        x = label_w
        for i, w in enumerate(segments(values, chart.scale, bar_w)):
            if w:
                value = f"{chart.series[i]}: {thousands(values[i])}"
                out.append(
                    f'<rect x="{x}" y="{y}" width="{w}" height="{bar_h}" fill="{colors[i % len(colors)]}">'
                    f"<title>{e(label)}, {e(value)}</title></rect>"
                )
                x += w
        out.append(f'<text x="{x + 6}" y="{y + 11}">{e(chart.numbers(values))}</text>')
    out.append("</svg>")
    return "".join(out)


def render_html(title: str, parts: list[Part]) -> str:
    """A standalone page: inline style and SVG, no script, nothing loaded from elsewhere (its CSP
    says so); every piece of text from the log is escaped."""
    e = html.escape
    out = [
        *html_head(title, _CSS),
    ]
    charts = 0
    for kind, payload in parts:
        if kind in ("h1", "h2", "h3"):
            out.append(f"<{kind}>{e(payload)}</{kind}>")
        elif kind == "p":
            out.append(f"<p>{e(payload)}</p>")
        elif kind == "ul":
            out.append("<ul>" + "".join(f"<li>{e(item)}</li>" for item in payload) + "</ul>")
        elif kind == "table":
            table: Table = payload
            out += html_table(
                table.header, table.rows, table.code_columns, column_class=dict.fromkeys(table.numeric, "num")
            )
        elif kind == "chart":
            charts += 1
            chart: Chart = payload
            out.append(
                f"<figure><figcaption>{e(chart.title)}</figcaption>{svg_chart(chart, f'chart-{charts}')}</figure>"
            )
        elif kind == "signoff":
            out.append("<h2>Sign-off</h2>")
            out.append(
                '<table class="signoff"><thead><tr><th scope="col">Reviewed by</th><th scope="col">Role</th>'
                '<th scope="col">Date</th><th scope="col">Signature</th></tr></thead>'
                "<tbody><tr><td></td><td>Data protection officer</td><td></td><td></td></tr></tbody></table>"
            )
    out += ["</body>", "</html>", ""]
    return "\n".join(out)


def render(
    rows: Iterable[dict[str, Any]],
    fmt: str = "md",
    *,
    start: date | str | None = None,
    end: date | str | None = None,
    bucket: str | None = None,
) -> str:
    """The audit report of ``rows`` (from :func:`load_rows`) as Markdown (``md``) or HTML (``html``).
    The period is ``start`` to ``end``, or the first to the last day in the rows."""
    if fmt not in ("md", "html"):
        raise ValueError(f"unknown format {fmt!r}: md or html")
    audit = summarise(rows, as_day(start).isoformat() if start else None, as_day(end).isoformat() if end else None)
    title, parts = document(audit, bucket)
    return render_html(title, parts) if fmt == "html" else render_markdown(title, parts)
