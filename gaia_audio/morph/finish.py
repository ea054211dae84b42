"""From decoded steps to a finished series: invert each step and fill in its manifest columns.

Every kind of morph (pairs, grids, barycentric lattices, attribute sweeps) ends here: its steps are
rendered by the one path every series shares (:meth:`gaia_audio.morph.steps.Series.render`). A series of
up to ``STREAM_CHUNK`` steps is made at once into a :class:`MorphResult`; a longer one is streamed
(:mod:`gaia_audio.morph.stream`): its steps are made again, a chunk at a time, each time they are
read. The columns every morph shares are the step's duration, level, realism (the model's own
discriminator), ``distance_prev`` (:func:`gaia_audio.morph.perceptual.frame_distance` of the final
waveforms) and, for steps that are an input, ``fidelity_db`` against the recording.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import torch

from gaia_audio.io import audio
from gaia_audio.morph.model import Endpoint
from gaia_audio.morph.perceptual import frame_distance, perceptual_frames
from gaia_audio.morph.steps import Series
from gaia_audio.morph.stream import STREAM_CHUNK, LazySteps, StepStream
from gaia_audio.spectral.metrics import fidelity_db


@dataclass
class MorphResult:
    """A series of resynthesized steps and what the manifest says about each.

    Attributes:
        waveforms: one (n_k,) float32 array per step, at ``sr``.
        sr: sample rate of the waveforms.
        rows: one dict per step: pair, step, alpha (or weights), duration_s, level_db, realism,
            distance_prev, fidelity_db (empty where it does not apply).
        spectrograms: one (n_freq, T_k) [0, 1] array per step, for plots.
        notes: what was changed on the way (resampling, mix-down), one line each.
        name: the pair's (or grid's) name.
        stems: file name (without extension) of each step.
        hop_length: STFT hop of the spectrograms (for plot axes).
        freq_range: (fmin, fmax) in Hz that the spectrogram rows span (for plot axes).
        originals: the input sounds the series starts from, by name: (n,) float32 mono at ``sr``
            (what the model heard; the listening page plays them beside the steps).
        tuning: the per-pair decoder tuning's settings and report (None: untuned), for provenance.
        recordings: a pair's two inputs as (name, (n_freq, T) spectrogram of the recording), first
            and last: continuum.png shows them at the ends of the strip, beside the steps.
        stream: for a series longer than ``STREAM_CHUNK`` steps, what makes them a chunk at a
            time (:mod:`gaia_audio.morph.stream`); its waveforms, spectrograms and rows are then
            made when first read. None: a series made at once.
    """

    waveforms: list[np.ndarray]
    sr: int
    rows: list[dict]
    spectrograms: list[np.ndarray]
    notes: list[str] = field(default_factory=list)
    name: str = "morph"
    stems: list[str] | None = None
    hop_length: int | None = None
    freq_range: tuple[float, float] | None = None
    originals: dict[str, np.ndarray] = field(default_factory=dict)
    stream: StepStream | None = field(default=None, repr=False, compare=False)
    tuning: dict | None = None
    recordings: list[tuple[str, np.ndarray]] = field(default_factory=list)

    def __post_init__(self):
        if self.stems is None:
            width = max(2, len(str(len(self.waveforms) - 1)))
            self.stems = [f"step_{k:0{width}d}" for k in range(len(self.waveforms))]

    def chunks(self) -> Iterator[tuple[list[np.ndarray], list[np.ndarray]]]:
        """(waveforms, spectrograms) of up to ``STREAM_CHUNK`` steps at a time, in order; a streamed
        series makes them now and keeps none (how the export writes 10 000 steps)."""
        if self.stream is not None:
            yield from self.stream.chunks()
            return
        for start in range(0, len(self.waveforms), STREAM_CHUNK):
            yield (list(self.waveforms[start:start + STREAM_CHUNK]),
                   list(self.spectrograms[start:start + STREAM_CHUNK]))



def finish_series(series: Series, positions: np.ndarray, rows: list[dict], targets: dict[int, Endpoint], name: str,
                  notes: list[str], endpoints: list[Endpoint], previous: list[int | None] | None = None) -> MorphResult:
    """Render ``series`` at ``positions`` (:meth:`Series.render`) and fill in the manifest columns every
    kind of morph shares; a series longer than ``STREAM_CHUNK`` steps is streamed.

    Args:
        series: what the steps are decoded from (:mod:`gaia_audio.morph.steps`).
        positions: (S,) or (S, N) positions of the steps on it, in step order.
        rows: S manifest rows, each already holding the columns that place its step.
        targets: step index -> the endpoint it reproduces (its ``fidelity_db`` is measured).
        name: the ``pair`` column.
        notes: what was changed on the way (resampling, alignment).
        endpoints: the inputs (kept as the listening page's originals).
        previous: per step, the earlier step its ``distance_prev`` is measured from (None: no
            distance); default: the step before.
    Returns:
        A series made at once (up to ``STREAM_CHUNK`` steps), or a streamed one
        (:mod:`gaia_audio.morph.stream`) whose steps and rows are made when read.
    """
    vm, positions = series.vm, np.asarray(positions)
    n_steps = len(rows)
    previous = [None, *range(n_steps - 1)] if previous is None else list(previous)
    last_use = {p: k for k, p in enumerate(previous) if p is not None}  # frames kept until their last comparison

    @torch.no_grad()
    def make() -> Iterator[tuple[list[np.ndarray], list[np.ndarray]]]:
        kept: dict[int, np.ndarray] = {}  # perceptual frames of steps a later chunk compares with
        for start in range(0, n_steps, STREAM_CHUNK):
            ks = slice(start, min(start + STREAM_CHUNK, n_steps))
            made = series.render(positions[ks])
            tiles, spectrograms, waveforms = made.tiles, made.spectrograms, made.waveforms
            realism = vm.realism(tiles.reshape(-1, *tiles.shape[-3:]))
            realism = None if realism is None else realism.reshape(len(spectrograms), -1).mean(axis=1)
            kept.update(zip(range(ks.start, ks.stop), perceptual_frames(waveforms, vm.sr)))
            for i, k in enumerate(range(ks.start, ks.stop)):
                row, p = rows[k], previous[k]
                distance = np.nan if p is None else frame_distance(kept[p], kept[k])
                row["pair"] = name
                row["duration_s"] = len(waveforms[i]) / vm.sr
                row["level_db"] = float(audio.rms_db(waveforms[i]))
                row["realism"] = float(realism[i]) if realism is not None else None
                row["distance_prev"] = None if np.isnan(distance) else float(distance)
                # the step's sound against the recording (level invariant, time-normalised, in band)
                row["fidelity_db"] = fidelity_db(vm.frontend, targets[k].y, waveforms[i]) if k in targets else None
            kept = {k: frames for k, frames in kept.items() if last_use.get(k, -1) >= ks.stop}
            yield waveforms, spectrograms

    stream = StepStream(make, rows)
    common = dict(notes=notes, name=name, hop_length=vm.hop_length, freq_range=vm.freq_range,
                  originals={e.name: e.y for e in endpoints})
    if n_steps <= STREAM_CHUNK:
        waveforms, spectrograms = stream.materialize()
        return MorphResult(waveforms, vm.sr, rows, spectrograms, **common)
    return MorphResult(LazySteps(stream, "waveforms"), vm.sr, LazySteps(stream, "rows"),
                       LazySteps(stream, "spectrograms"), stream=stream, **common)
