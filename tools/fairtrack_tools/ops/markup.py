"""What the operator's documents share (the audit, the transparency table): Markdown cells that
cannot break a table or render HTML, and the head and style of their HTML form."""

from __future__ import annotations

import html
import re

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
