"""Experiment files for rigs that are not browsers: a Praat ExperimentMFC file and a pyoperant stimulus file.

- ``experiment_<design>.mfc.txt`` (identification, AX): Praat's ExperimentMFC, version 7, in Praat's
  text format ("ooTextFile", then the fields of ``ExperimentMFC_def.h`` in order). Its stimuli are
  one block of the design (file paths relative to the folder, without ".wav"; an AX stimulus names
  its two files separated by a comma, which Praat plays with ``stimulusMedialSilenceDuration``
  between them), replicated ``repeats`` times and shuffled by Praat (PermuteBalancedNoDoublets).
  Open it in Praat with Read from file…, then Run. Identification responses are the endpoints'
  names, AX responses "same" and "different".
- ``pyoperant_identification.json`` (identification): the keys pyoperant's two-alternative-choice
  experiments read: ``stim_path``, ``stims`` ({name: file}), ``classes`` ({"L"/"R": {"component"}})
  and ``block_design`` (one "block" queue whose ``conditions`` are the trials in our order, each
  ``{"class", "stim_name"}``). Steps on the a half are class L (left key), on the b half R; the
  middle step of an odd continuum is class "probe" (no response port: reinforce it as the lab
  chooses). Merge it into the rig's own config (panel, schedules, reinforcement).
"""
from __future__ import annotations

import json
import os
from pathlib import Path, PurePosixPath

from gaia_audio.errors import DataError
from gaia_audio.experiment.responses import endpoint_names
from gaia_audio.experiment.trials import make_trials, read_continuum, write_trials
from gaia_audio.io.files import write_text


def praat_string(text: str) -> str:
    """A string in Praat's text format: in double quotes, a quote doubled."""
    return '"' + str(text).replace('"', '""') + '"'


def _stem(file: str) -> str:
    """A manifest file without its ".wav" (Praat adds stimulusFileNameTail)."""
    path = PurePosixPath(file)
    return str(path.with_suffix("")) if path.suffix.lower() == ".wav" else file


def write_praat(folder: str | os.PathLike, design: str, repeats: int = 1, seed: int = 0, distance: int = 2,
                isi_ms: float = 500.0) -> list[Path]:
    """Write ``experiment_<design>.mfc.txt`` (Praat ExperimentMFC 7) and the trial lists into a continuum folder.

    Args:
        folder: the continuum folder.
        design: "identification" or "ax".
        repeats: Praat's numberOfReplicationsPerStimulus.
        seed, distance: as for :func:`~gaia_audio.experiment.trials.make_trials` (the stimuli are one block).
        isi_ms: silence between the two sounds of an AX trial.
    Returns:
        The ExperimentMFC file, then the trial lists.
    Raises:
        DataError: naming the manifest: ABX (Praat's MFC has no ABX layout here), or a manifest file that
            is not a .wav or holds a comma.
    """
    continuum = read_continuum(folder)
    if design not in ("identification", "ax"):
        raise DataError(f"a Praat ExperimentMFC file is written for identification and ax, not {design}",
                        continuum.manifest)
    block = make_trials(continuum, design, 1, seed, distance)
    for file in continuum.files():
        if not file.lower().endswith(".wav") or "," in file:
            raise DataError(f"Praat needs .wav files without commas in their names, got {file}", continuum.manifest)
    if design == "identification":
        stimuli = [_stem(t["file"]) for t in block]
        labels = {n for pair in continuum.pairs for n in endpoint_names(pair)}
        responses = sorted(labels) if len(labels) <= 6 else ["a", "b"]
        run_text = "Which sound was it?"
    else:
        stimuli = [f"{_stem(t['a_file'])},{_stem(t['x_file'])}" for t in block]
        responses = ["same", "different"]
        run_text = "Were the two sounds the same or different?"
    width = 0.8 / len(responses)
    lines = ['"ooTextFile"', '"ExperimentMFC 7"', "blankWhilePlaying? <no>", "stimuliAreSounds? <yes>",
             'stimulusFileNameHead = ""', 'stimulusFileNameTail = ".wav"', 'stimulusCarrierBefore = ""',
             'stimulusCarrierAfter = ""', "stimulusInitialSilenceDuration = 0.5 seconds",
             f"stimulusMedialSilenceDuration = {isi_ms / 1000:g} seconds", "stimulusFinalSilenceDuration = 0 seconds",
             f"numberOfDifferentStimuli = {len(stimuli)}"]
    lines += [f"    {praat_string(s)}  {praat_string('')}" for s in stimuli]
    lines += [f"numberOfReplicationsPerStimulus = {repeats}", "breakAfterEvery = 0",
              "randomize = <PermuteBalancedNoDoublets>",
              f"startText = {praat_string('Each sound plays once and cannot be replayed. Click to start.')}",
              f"runText = {praat_string(run_text)}",
              f"pauseText = {praat_string('You can take a short break. Click to go on.')}",
              f"endText = {praat_string('The experiment is over. Thank you!')}",
              "maximumNumberOfReplays = 0", 'replayButton = 0 0 0 0 "" ""', 'okButton = 0 0 0 0 "" ""',
              'oopsButton = 0 0 0 0 "" ""', "responsesAreSounds? <no>", 'responseFileNameHead = ""',
              'responseFileNameTail = ""', 'responseCarrierBefore = ""', 'responseCarrierAfter = ""',
              "responseInitialSilenceDuration = 0", "responseMedialSilenceDuration = 0",
              "responseFinalSilenceDuration = 0", f"numberOfDifferentResponses = {len(responses)}"]
    for i, name in enumerate(responses):
        left = 0.1 + i * width
        lines.append(f"    {left + 0.02:.3f} {left + width - 0.02:.3f} 0.4 0.6 {praat_string(name)} 24 "
                     f"{praat_string('')} {praat_string(name)}")
    lines += ["numberOfGoodnessCategories = 0", ""]
    path = write_text(continuum.folder / f"experiment_{design}.mfc.txt", "\n".join(lines))
    trials = make_trials(continuum, design, repeats, seed, distance)
    return [path, *write_trials(continuum, design, trials)]


def write_pyoperant(folder: str | os.PathLike, design: str, repeats: int = 1, seed: int = 0,
                    distance: int = 2) -> list[Path]:
    """Write ``pyoperant_identification.json`` and the trial lists into a continuum folder.

    Args:
        folder: the continuum folder.
        design: "identification" (the only design an operant two-key rig runs here).
        repeats, seed, distance: as for :func:`~gaia_audio.experiment.trials.make_trials`.
    Returns:
        The JSON file, then the trial lists.
    Raises:
        DataError: naming the manifest, for another design.
    """
    continuum = read_continuum(folder)
    if design != "identification":
        raise DataError(f"pyoperant files are written for identification, not {design}", continuum.manifest)
    trials = make_trials(continuum, design, repeats, seed, distance)
    stims, classes = {}, {}
    for pair, steps in continuum.pairs.items():
        ordered = list(steps)
        for i, (step, file) in enumerate(steps.items()):
            name = f"{pair}_{step:03d}"
            stims[name] = file
            middle = (len(ordered) - 1) / 2
            classes[name] = "L" if i < middle else "R" if i > middle else "probe"
    config = {
        "stim_path": str(continuum.folder.resolve()),
        "stims": stims,
        "classes": {"L": {"component": "left"}, "R": {"component": "right"}, "probe": {}},
        "block_design": {"blocks": {"continuum": {"queue": "block", "conditions": [
            {"class": classes[f"{t['pair']}_{t['step']:03d}"], "stim_name": f"{t['pair']}_{t['step']:03d}",
             "pair": t["pair"], "step": t["step"]} for t in trials]}}, "order": ["continuum"]},
        "add_fields_to_save": ["pair", "step"],
    }
    path = write_text(continuum.folder / "pyoperant_identification.json", json.dumps(config, indent=2) + "\n")
    return [path, *write_trials(continuum, design, trials)]
