"""Values from a user in report.md are text, never markup.

An override value (`model.name=<script>...</script>`), a sweep directory named
`<img src=x onerror=...>` or a key a user made up reaches report.md, which a Markdown viewer
renders with its raw HTML. Every such value goes through `text` (HTML's special characters as
entities, `|` kept out of the table's columns, one line) or `code` (a code span, whose content a
renderer shows as it is, fenced by more backticks than the value holds).
"""

from __future__ import annotations

import html
import re
from typing import Any


def text(value: Any) -> str:
    """`value` as plain text in Markdown: no HTML, no table column break, no line break."""
    escaped = html.escape(str(value), quote=False)
    return escaped.replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def code(value: Any) -> str:
    """`value` as a Markdown code span, shown as it is whatever backticks it holds."""
    shown = str(value).replace("\r", " ").replace("\n", " ").replace("|", "\\|")
    longest = max((len(run) for run in re.findall(r"`+", shown)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if longest else ""
    return f"{fence}{pad}{shown}{pad}{fence}"
