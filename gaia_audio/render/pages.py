"""Self-contained HTML pages: one file, inline style, relative links only, no script.

A page written with :func:`page` opens from ``file://`` with no network: the listening page of a
continuum (:mod:`gaia_audio.stimuli.page`) and the page of a training run
(:mod:`gaia_audio.training.report`) are built from these pieces.
"""
from __future__ import annotations

import html
import math

STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; max-width: 72em; }
h1 { font-size: 1.4em; } h2 { font-size: 1.1em; margin-top: 1.5em; }
table { border-collapse: collapse; margin: 0.5em 0; }
th, td { padding: 0.25em 0.6em; border-bottom: 1px solid #ddd; text-align: right; vertical-align: middle; }
th { background: #f4f4f4; } th:first-child, td.name { text-align: left; }
tr.original td { background: #f7f9ff; }
audio { height: 2em; width: 16em; }
img { max-width: 100%; border: 1px solid #ddd; }
pre { background: #f7f7f7; padding: 0.8em; overflow-x: auto; font-size: 0.85em; }
.note { color: #555; }
svg.curve { border: 1px solid #ddd; margin: 0 0.4em 0.4em 0; font-size: 11px; }
"""


def page(title: str, body: list[str]) -> str:
    """A whole HTML document: ``title`` (escaped here) and ``body`` (HTML fragments, already escaped)."""
    return "\n".join(["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
                      f"<title>{html.escape(title)}</title>", f"<style>{STYLE}</style>", "</head>", "<body>",
                      *body, "</body>", "</html>", ""])


def audio_tag(src: str) -> str:
    """A player for the sound at relative path ``src`` (its length is read when the page opens)."""
    return f'<audio controls preload="metadata" src="{html.escape(src, quote=True)}"></audio>'


def cell(value) -> str:
    """A table cell's text: blank for missing values, 4 significant digits for numbers, escaped."""
    if value is None or value == "" or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return html.escape(str(value))


def link(href: str, text: str) -> str:
    """``<a href>`` to a relative path, both escaped."""
    return f'<a href="{html.escape(href, quote=True)}">{html.escape(text)}</a>'
