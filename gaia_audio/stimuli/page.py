"""``index.html`` beside every continuum: the strip, a player per step, the originals, the provenance.

A lab auditions a continuum before it runs a bird or a listener on it. The page needs nothing but
the folder it sits in: no network, no script, no stylesheet from elsewhere; every sound and
picture is a relative path inside the folder, so it works from ``file://``, copied to a laptop,
or served by any web server. Written with the rest of the continuum, atomically.
"""
from __future__ import annotations

import html
import json
from pathlib import Path

from gaia_audio.io.files import write_text
from gaia_audio.render.pages import audio_tag, cell, page

#: Manifest columns shown for each step, with their headings (those no row uses are left out).
SHOWN = {"step": "step", "alpha": "α", "u": "u", "v": "v", "duration_s": "duration (s)", "level_db": "level (dB)",
         "loudness_lufs": "loudness (LUFS)", "realism": "realism (× real)", "distance_prev": "distance to previous",
         "fidelity_db": "fidelity (dB)"}


def continuum_table(rows: list[dict], prefix: str, originals: list[tuple[str, str]]) -> str:
    """The table of one continuum: a player and the manifest's columns per step, originals at the ends.

    Args:
        rows: the continuum's manifest rows (``file`` relative to the manifest's folder).
        prefix: the continuum's folder inside the output folder ("" for a single continuum), which
            is stripped from ``file`` so the page's paths are relative to its own folder.
        originals: (name, relative path) of each original recording, first one before the steps.
    """
    columns = [c for c in SHOWN if any(cell(r.get(c)) for r in rows)]
    weights = sorted({k for r in rows for k in r if k[:1] == "w" and k[1:].isdigit()}, key=lambda k: int(k[1:]))
    columns = columns[:2] + weights + columns[2:] if weights else columns
    head = "".join(f"<th>{html.escape(SHOWN.get(c, c))}</th>" for c in columns)
    out = ["<table>", f"<thead><tr><th>sound</th>{head}</tr></thead>", "<tbody>"]

    def original_row(name: str, src: str) -> str:
        return (f'<tr class="original"><td class="name">original <b>{html.escape(name)}</b><br>{audio_tag(src)}</td>'
                f'<td colspan="{len(columns)}" class="name note">the input as the model heard it (mono, at the '
                "model's rate; not loudness-matched)</td></tr>")

    if originals:
        out.append(original_row(*originals[0]))
    for row in rows:
        src = row["file"][len(prefix):] if prefix and row["file"].startswith(prefix) else row["file"]
        cells = "".join(f"<td>{cell(row.get(c))}</td>" for c in columns)
        out.append(f'<tr><td class="name">{html.escape(Path(src).name)}<br>{audio_tag(src)}</td>{cells}</tr>')
    for name, src in originals[1:]:
        out.append(original_row(name, src))
    out += ["</tbody>", "</table>"]
    return "\n".join(out)


def write_continuum_pages(folder: Path, groups: list[tuple[str, list[dict], list[tuple[str, str]]]],
                          provenance: dict, strip: str | None) -> list[Path]:
    """Write ``index.html`` for an exported continuum folder (one page per continuum when there are several).

    Args:
        folder: the output folder (manifest.csv, provenance.json, the WAVs).
        groups: per continuum: (name, its manifest rows, its originals as (name, path relative to
            ``folder``)). One group: one page; several: a page in each subfolder and an index.
        provenance: provenance.json's content, shown at the bottom.
        strip: the spectrogram strip's file name in ``folder`` (None: not drawn).
    Returns:
        The pages written.
    """
    details = ("<details><summary>provenance (provenance.json)</summary><pre>"
               + html.escape(json.dumps(provenance, indent=2, default=str)) + "</pre></details>")
    intro = (f'<p class="note">{sum(len(rows) for _, rows, _ in groups)} sounds; the manifest is '
             '<a href="{up}manifest.csv">manifest.csv</a>, what made them <a href="{up}provenance.json">'
             "provenance.json</a>. Realism is the discriminator's reconstruction error relative to real "
             "data's (1 = as real data); fidelity compares an endpoint's spectrogram with the original's.</p>")
    picture = [] if strip is None else [f'<img src="{{up}}{html.escape(strip)}" alt="spectrograms of every step">']
    if len(groups) == 1:
        name, rows, originals = groups[0]
        body = [f"<h1>{html.escape(name)}</h1>", intro.format(up=""), *[p.format(up="") for p in picture],
                continuum_table(rows, "", originals), details]
        return [write_text(folder / "index.html", page(f"gaia-audio: {name}", body))]
    written, links = [], []
    for name, rows, originals in groups:
        prefix = f"{name}/"
        local = [(n, p[len(prefix):]) for n, p in originals]
        body = ['<p><a href="../index.html">all continua</a></p>', f"<h1>{html.escape(name)}</h1>",
                intro.format(up="../"), *[p.format(up="../") for p in picture], continuum_table(rows, prefix, local)]
        written.append(write_text(folder / name / "index.html", page(f"gaia-audio: {name}", body)))
        links.append(f'<li><a href="{html.escape(prefix, quote=True)}index.html">{html.escape(name)}</a> '
                     f"({len(rows)} sounds)</li>")
    body = ["<h1>continua</h1>", intro.format(up=""), *[p.format(up="") for p in picture], "<ul>", *links, "</ul>",
            details]
    written.append(write_text(folder / "index.html", page("gaia-audio: continua", body)))
    return written


def continuum_groups(rows: list[dict], names: list[str], originals: dict[str, list[tuple[str, str]]]):
    """Split an export's manifest rows by continuum, in order: [(name, rows, originals), ...]."""
    return [(name, [r for r in rows if r.get("pair") == name], originals.get(name, [])) for name in names]

