"""The offline experiment page of a continuum folder: ``experiment_<design>.html`` on jsPsych.

The page runs the trials of :func:`gaia_audio.experiment.trials.make_trials` (also written beside it as
``trials_<design>.csv`` / ``.json``, the same rows in the same order) from ``file://`` with no
network: jsPsych and its plugins (MIT, pinned, shipped in ``static/``) are copied into
``experiment/`` beside the page, the trial list is written into the page itself, and every sound
is a relative path. AX and ABX trials play one file each, the steps joined by ``isi_ms`` of silence
(written to ``experiment/sounds/``), so the interval does not depend on the browser's timing.

A session: a start click (browsers play sound only after a gesture), the participant's id,
instructions with the replay rule, an optional headphone check (Woods et al. 2017: six trials of
three 200 Hz tones, one 6 dB quieter, one in antiphase between the ears; pick the quietest; pass at
five), optional practice on the two endpoints (with feedback, not saved), the trials with a
progress bar, and at the end the CSV (:data:`RESULT_COLUMNS`) saved as a download, also kept in
``window.gaiaResults`` and shown on the screen if the download fails.
"""
from __future__ import annotations

import html
import json
import os
import re
import shutil
from importlib import resources
from pathlib import Path

import numpy as np
import soundfile as sf

from gaia_audio.errors import DataError
from gaia_audio.experiment.responses import endpoint_names, manifest_alphas
from gaia_audio.experiment.trials import STIMULI, Continuum, make_trials, read_continuum, write_trials
from gaia_audio.io.audio import save
from gaia_audio.io.files import atomic_write, write_text

#: Files of static/ copied beside every page, in the order the page loads the scripts.
SCRIPTS = ("jspsych.min.js", "plugin-html-button-response.min.js", "plugin-audio-button-response.min.js",
           "plugin-survey-text.min.js", "gaia-experiment.js")
ASSETS = (*SCRIPTS, "jspsych.css", "LICENSE-jspsych.txt")
#: Columns of the responses CSV the page saves (one row per trial, in the trial list's order).
RESULT_COLUMNS = ("participant", "session", "design", "trial", "block", "pair", "step", "alpha", "files", "response",
                  "response_label", "correct", "rt", "timestamp", "headphone_check")
CHOICES = {"ax": ["same", "different"], "abx": ["A", "B"]}
PROMPTS = {"identification": "Which sound was it?", "ax": "Were the two sounds the same or different?",
           "abx": "Was the third sound the same as the first (A) or the second (B)?"}
HEADPHONE_TRIALS, HEADPHONE_PASS = 6, 5


def write_experiment(folder: str | os.PathLike, design: str, repeats: int = 1, seed: int = 0, distance: int = 2,
                     practice: bool = True, headphone_check: bool = False, isi_ms: float = 500.0) -> list[Path]:
    """Write ``experiment_<design>.html`` (and what it needs) into a continuum folder.

    Args:
        folder: a continuum folder (manifest.csv and its WAVs).
        design: "identification", "ax" or "abx".
        repeats, seed, distance: as for :func:`gaia_audio.experiment.trials.make_trials`.
        practice: begin with practice trials on the two endpoints of the first pair.
        headphone_check: run the Woods et al. (2017) antiphase check before the trials.
        isi_ms: silence between the sounds of an AX or ABX trial.
    Returns:
        The page, then the trial lists and every file written under ``experiment/``.
    Raises:
        DataError: naming the folder or manifest (:func:`read_continuum`, :func:`make_trials`), or a
            continuum whose steps differ in sample rate or channels (AX/ABX).
    """
    continuum = read_continuum(folder)
    trials = make_trials(continuum, design, repeats, seed, distance)
    written = list(write_trials(continuum, design, trials))
    base = continuum.folder / "experiment"
    for name in ASSETS:
        with atomic_write(base / name, error=DataError) as tmp:
            shutil.copyfile(resources.files("gaia_audio.experiment") / "static" / name, tmp)
        written.append(base / name)
    alphas = manifest_alphas(continuum)
    rows = [_page_trial(continuum, design, t, alphas, isi_ms, written) for t in trials]
    first = next(iter(continuum.pairs))
    practice_rows = _practice(continuum, design, first, alphas, isi_ms, written) if practice else []
    checks = _headphone_files(base, np.random.default_rng(seed), written) if headphone_check else []
    config = {"design": design, "title": f"{continuum.folder.name}: {design}", "prompt": PROMPTS[design],
              "instructions": _instructions(design), "trials": rows, "practice": practice_rows,
              "headphone": checks, "headphone_pass": HEADPHONE_PASS, "columns": list(RESULT_COLUMNS)}
    page = continuum.folder / f"experiment_{design}.html"
    written.insert(0, write_text(page, _html(config)))
    return written


def _labels(pair: str) -> list[str]:
    """The identification buttons of a pair: its endpoints' names."""
    return list(endpoint_names(pair))


def _page_trial(continuum: Continuum, design: str, trial: dict, alphas: dict, isi_ms: float,
                written: list[Path]) -> dict:
    """One trial as the page runs it: what to play, the buttons, and the fields its CSV row keeps."""
    files = [trial[c] for c in STIMULI[design]]
    steps = [trial["step"]] if design == "identification" else [trial[c.replace("_file", "_step")]
                                                                 for c in STIMULI[design]]
    pair_alphas = alphas.get(trial["pair"], {})
    return {"trial": trial["trial"], "block": trial["block"], "pair": trial["pair"],
            "step": ";".join(map(str, steps)), "alpha": ";".join(f"{pair_alphas[s]:.6g}" if s in pair_alphas else ""
                                                                 for s in steps),
            "files": ";".join(files), "play": _sound(continuum, design, trial["pair"], steps, isi_ms, written),
            "choices": _labels(trial["pair"]) if design == "identification" else CHOICES[design],
            "correct": trial.get("correct", "")}


def _sound(continuum: Continuum, design: str, pair: str, steps: list[int], isi_ms: float,
           written: list[Path]) -> str:
    """The relative path the page plays for ``steps`` of ``pair``: the step's own file, or the steps
    joined by silence in experiment/sounds/ (written once per combination)."""
    files = [continuum.pairs[pair][s] for s in steps]
    if len(files) == 1:
        return files[0]
    name = f"experiment/sounds/{design}_{_safe(pair)}_{'_'.join(map(str, steps))}.wav"
    target = continuum.folder / name
    if target not in written:
        waves, rates, subtypes = [], set(), set()
        for f in files:
            y, sr = sf.read(continuum.folder / f, dtype="float32", always_2d=True)  # (n, channels)
            waves.append(y)
            rates.add(sr)
            subtypes.add(sf.info(continuum.folder / f).subtype)
        if len(rates) > 1 or len({y.shape[1] for y in waves}) > 1:
            raise DataError(f"the steps of continuum '{pair}' differ in sample rate or channels; "
                            f"{design} trials join them into one file", continuum.manifest)
        sr = rates.pop()
        gap = np.zeros((int(round(isi_ms * sr / 1000)), waves[0].shape[1]), np.float32)
        joined = np.concatenate([part for y in waves for part in (y, gap)][:-1])
        subtype = subtypes.pop() if len(subtypes) == 1 and subtypes <= {"PCM_16", "PCM_24", "FLOAT"} else "PCM_16"
        save(target, joined.T if joined.shape[1] > 1 else joined[:, 0], sr, subtype)
        written.append(target)
    return name


def _practice(continuum: Continuum, design: str, pair: str, alphas: dict, isi_ms: float,
              written: list[Path]) -> list[dict]:
    """Practice trials on the two endpoints of ``pair``, each with its right answer."""
    steps = list(continuum.pairs[pair])
    a, b = steps[0], steps[-1]
    labels = _labels(pair)
    if design == "identification":
        plays = [([a], labels[0]), ([b], labels[1])]
    elif design == "ax":
        plays = [([a, b], "different"), ([a, a], "same")]
    else:
        plays = [([a, b, a], "A"), ([a, b, b], "B")]
    return [{"play": _sound(continuum, design, pair, s, isi_ms, written), "answer": answer,
             "choices": labels if design == "identification" else CHOICES[design]} for s, answer in plays]


def _headphone_files(base: Path, rng: np.random.Generator, written: list[Path]) -> list[dict]:
    """The six stereo WAVs of the antiphase headphone check and the position (1-3) of each quiet tone.

    Each holds three 1 s, 200 Hz tones (100 ms raised-cosine ramps) 500 ms apart, in random order:
    one at the reference level, one 6 dB quieter (the answer), one at the reference level with the
    right channel inverted (over loudspeakers it cancels and sounds quietest; over headphones not).
    """
    sr = 44100
    t = np.arange(sr) / sr
    ramp = int(0.1 * sr)
    envelope = np.ones(sr)
    envelope[:ramp] = 0.5 - 0.5 * np.cos(np.pi * np.arange(ramp) / ramp)
    envelope[-ramp:] = envelope[:ramp][::-1]
    tone = 0.25 * envelope * np.sin(2 * np.pi * 200 * t)
    kinds = {"reference": np.stack([tone, tone]), "quiet": np.stack([tone, tone]) * 10 ** (-6 / 20),
             "antiphase": np.stack([tone, -tone])}
    gap = np.zeros((2, sr // 2))
    checks = []
    for i in range(HEADPHONE_TRIALS):
        order = [["reference", "quiet", "antiphase"][j] for j in rng.permutation(3)]
        y = np.concatenate([gap[:, :0]] + [part for kind in order for part in (kinds[kind], gap)][:-1], axis=1)
        path = save(base / f"headphone_check_{i + 1}.wav", y.astype(np.float32), sr)
        written.append(path)
        checks.append({"play": f"experiment/{path.name}", "answer": str(order.index("quiet") + 1)})
    return checks


def _instructions(design: str) -> str:
    """The instructions screen's HTML, the replay rule included."""
    task = {"identification": "You will hear one sound at a time. Say which of the two sounds it is most like, "
                              "using the buttons named after them.",
            "ax": "You will hear two sounds one after the other. Say whether they were the same or different.",
            "abx": "You will hear three sounds: A, B, then X. Say whether X was the same as A or as B."}[design]
    return (f"<p>{task}</p><p><b>Each sound plays once and cannot be replayed.</b> The buttons become active when "
            "it has finished; answer as quickly and accurately as you can.</p>"
            "<p>Please wear headphones and keep the volume at a comfortable level.</p>")


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "pair"


def _html(config: dict) -> str:
    """The page: jsPsych's stylesheet and scripts from experiment/, the configuration inline."""
    data = json.dumps(config, ensure_ascii=False).replace("</", "<\\/")
    scripts = "\n".join(f'<script src="experiment/{name}"></script>' for name in SCRIPTS[:-1])
    return "\n".join(["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
                      f"<title>{html.escape(config['title'])}</title>",
                      '<link rel="stylesheet" href="experiment/jspsych.css">', scripts, "</head>", "<body>",
                      f"<script>window.GAIA_EXPERIMENT = {data};</script>",
                      f'<script src="experiment/{SCRIPTS[-1]}"></script>', "</body>", "</html>", ""])
