"""The readable part of an export: one PDF per language (German and English), rendered with weasyprint
as the reports are (crm.reports.pdf), its words from the ui catalogue (crm.ui.privacy_labels)."""

from __future__ import annotations

import json
from typing import Any

from markupsafe import Markup

from crm import catalogs
from crm.reports.pdf import html_to_pdf
from crm.ui.privacy_labels import PDF

LANGUAGES = ("de", "en")
STYLE = """
body { font-family: sans-serif; font-size: 9pt; }
h1 { font-size: 16pt; } h2 { font-size: 12pt; margin-top: 14pt; }
table { border-collapse: collapse; width: 100%; margin-bottom: 6pt; }
td, th { border: 0.5pt solid #999; padding: 2pt 4pt; vertical-align: top; text-align: left; }
th { width: 28%; background: #eee; } pre { white-space: pre-wrap; font-size: 8pt; }
"""


def _value(value: Any) -> str:
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, indent=1)
    return "" if value is None else str(value)


def _table(name: str, table: dict[str, Any], words: dict[str, str]) -> Markup:
    parts = [Markup("<h2>{} ({})</h2>").format(name, len(table["rows"]))]
    parts.append(Markup("<h3>{}</h3><table>").format(words["fields"]))
    for field, meaning in table["fields"].items():
        parts.append(Markup("<tr><th>{}</th><td>{}</td></tr>").format(field, meaning))
    parts.append(Markup("</table>"))
    if not table["rows"]:
        parts.append(Markup("<p>{}</p>").format(words["none"]))
    for row in table["rows"]:
        parts.append(Markup("<table>"))
        for key, value in row.items():
            if value in (None, "", [], {}):
                continue
            parts.append(Markup("<tr><th>{}</th><td><pre>{}</pre></td></tr>").format(key, _value(value)))
        parts.append(Markup("</table>"))
    return Markup("").join(parts)


def render_html(data: dict[str, Any], language: str) -> str:
    words = {key: catalogs.gettext(language, "ui", msgid) for key, msgid in PDF.items()}
    body = [
        Markup("<h1>{}</h1><p>{}</p>").format(words["title"], words["intro"]),
        Markup("<p>{}: {} &middot; {}: {}</p>").format(
            words["generated"], data["generated_at"], words["request"], data["request_id"]
        ),
    ]
    body += [_table(name, table, words) for name, table in data["tables"].items()]
    return str(
        Markup(
            '<!doctype html><html lang="{}"><head><meta charset="utf-8"><style>{}</style></head><body>{}</body></html>'
        ).format(language, Markup(STYLE), Markup("").join(body))
    )


def render(data: dict[str, Any], language: str) -> bytes:
    return html_to_pdf(render_html(data, language))
