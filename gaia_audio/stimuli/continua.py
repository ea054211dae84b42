"""Continua from sound files to a finished folder, in one call: what ``gaia-audio morph`` and
``gaia-audio continuum`` run, and what a Python user calls to get the same files.

    from gaia_audio.stimuli.continua import MorphRequest, write_continua
    written = write_continua(MorphRequest.of_sounds(["a.wav", "b.wav"], steps=16), "a_to_b")

:func:`write_continua` checks the inputs and the output folder, loads the model (hashed as it is
read), makes the continua (:func:`make_continua`), records their provenance and exports them
(:func:`gaia_audio.stimuli.export.export`). continuum.png is drawn by a worker process started
before torch is imported, so that matplotlib's import runs beside torch's
(:class:`gaia_audio.render.worker.Worker`, ``benchmarks/morph_latency.py``): nothing heavy is
imported by this module.
"""
from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from gaia_audio.bounds import MAX_MORPH_SECONDS, check_grid_steps
from gaia_audio.errors import DataError

if TYPE_CHECKING:  # annotations only: importing this module stays free of torch
    from gaia_audio.morph.finish import MorphResult
    from gaia_audio.morph.model import Endpoint, VocalModel
    from gaia_audio.stimuli.export import ExportSettings

#: What a request makes, as provenance.json's ``form`` records it.
FORMS = ("pair", "barycentric", "grid", "pairs", "attribute")


@dataclass(frozen=True)
class MorphRequest:
    """The continua one command asks for: which sounds, in what form, with which series settings.

    Build one with :meth:`of_sounds`, :meth:`of_table` or :meth:`of_grid`.

    Attributes:
        form: "pair" (two sounds), "barycentric" (three or more), "grid" (four corners),
            "pairs" (one continuum per row of a pairs table) or "attribute" (one sound moved
            along a fitted attribute).
        inputs: every sound file read, in order.
        pairs: for "pairs": (name, a, b) per row of the table.
        table: for "pairs": the table's path (a file read, like the inputs).
        steps: sounds per continuum (per edge for grids and barycentric morphs).
        alpha_range: first and last α; beyond [0, 1] extrapolates.
        path: "lerp" or "slerp".
        spacing: "equal" perceptual steps or "uniform" α.
        tune_steps: per-pair decoder tuning steps (None: the default; 0: none).
        detail: add back what the tuned decoder misses of each end.
        attribute: for "attribute": the attribute's name (from ``gaia-audio attributes``).
        extent: for "attribute": first and last multiple of its vector.
        channel: the channel of multichannel inputs to use (None: mix down).
    """

    form: str
    inputs: tuple[str, ...]
    pairs: tuple[tuple[str, str, str], ...] = ()
    table: str | None = None
    steps: int = 16
    alpha_range: tuple[float, float] = (0.0, 1.0)
    path: str = "lerp"
    spacing: str = "equal"
    tune_steps: int | None = None
    detail: bool = True
    attribute: str | None = None
    extent: tuple[float, float] = (-3.0, 3.0)
    channel: int | None = None

    def __post_init__(self):
        if self.form not in FORMS:
            raise DataError(f"unknown form of morph '{self.form}' (use one of {', '.join(FORMS)})")
        need = {"pair": (2, 2), "barycentric": (3, None), "grid": (4, 4), "attribute": (1, 1)}.get(self.form)
        if need and not (need[0] <= len(self.inputs) <= (need[1] or len(self.inputs))):
            raise DataError(f"a {self.form} morph takes {need[0]}{'' if need[1] == need[0] else ' or more'} "
                            f"sound(s), got {len(self.inputs)}")
        if self.form == "attribute" and not self.attribute:
            raise DataError("an attribute morph needs the attribute's name")
        if self.form == "grid":
            check_grid_steps(self.steps)

    @classmethod
    def of_sounds(cls, inputs: list[str | os.PathLike], attribute: str | None = None, **settings) -> MorphRequest:
        """Two sounds: a continuum; three or more: a barycentric morph; one with ``attribute``: an attribute sweep."""
        paths = tuple(os.fspath(p) for p in inputs)
        form = "attribute" if attribute is not None else "pair" if len(paths) == 2 else "barycentric"
        return cls(form, paths, attribute=attribute, **settings)

    @classmethod
    def of_table(cls, table: str | os.PathLike, **settings) -> MorphRequest:
        """One continuum per row of a pairs table (``stimuli.manifest.read_pairs``)."""
        from gaia_audio.stimuli.manifest import read_pairs
        from gaia_audio.stimuli.output_folder import check_names

        rows = read_pairs(table)
        check_names([row["name"] for row in rows], table)
        inputs = tuple(dict.fromkeys(str(p) for row in rows for p in (row["a"], row["b"])))
        pairs = tuple((row["name"], str(row["a"]), str(row["b"])) for row in rows)
        return cls("pairs", inputs, pairs=pairs, table=os.fspath(table), **settings)

    @classmethod
    def of_grid(cls, corners: list[str | os.PathLike], **settings) -> MorphRequest:
        """A bilinear grid between four corner sounds (a, b on top; c, d below)."""
        return cls("grid", tuple(os.fspath(p) for p in corners), **settings)

    @property
    def read(self) -> tuple[str, ...]:
        """Every file the request reads: the sounds and the pairs table (never inside the output folder)."""
        return (*self.inputs, *([self.table] if self.table else []))

    def default_out(self, parent: str | os.PathLike = ".") -> Path:
        """A new folder named after the inputs (or the table): ``a_to_b``, ``pairs_continua``, ``a_to_b-2``…"""
        from gaia_audio.stimuli.output_folder import default_out_dir

        stems = [Path(p).stem for p in ([self.table] if self.table else self.inputs)]
        suffix = {"pairs": "_continua", "grid": "_grid", "attribute": f"_{self.attribute}"}.get(self.form, "")
        return default_out_dir(stems, suffix, parent)

    def settings(self) -> dict:
        """The series' settings as provenance.json records them."""
        return {"steps": self.steps, "alpha_range": list(self.alpha_range), "path": self.path,
                "spacing": self.spacing}


@dataclass
class Written:
    """A finished continuum folder.

    Attributes:
        folder: where it was written.
        results: the continua, as :func:`make_continua` made them.
        notes: what was changed on the way, one line each (also in provenance.json).
    """

    folder: Path
    results: list[MorphResult]
    notes: list[str] = field(default_factory=list)

    @property
    def files(self) -> int:
        """Sounds written."""
        return sum(len(r.rows) for r in self.results)


def load_endpoint(vm: VocalModel, path: str | os.PathLike, channel: int | None = None) -> Endpoint:
    """Read one sound file and bring it to the model (mono or ``channel``, the model's rate, loud enough).

    Raises:
        AudioError: naming the file (a :class:`~gaia_audio.errors.BandError` when its rate cannot
            hold the model's band).
    """
    from gaia_audio.errors import AudioError
    from gaia_audio.io import audio
    from gaia_audio.morph.model import make_endpoint

    y, sr = audio.load(path, mono=False)
    channel = None if y.shape[0] == 1 else channel  # a channel is picked among multichannel inputs' channels
    try:
        return make_endpoint(vm, y, sr, Path(path).stem, channel)
    except AudioError as err:  # rows and notes name the input by its stem; the error names the file
        raise type(err)(err.problem, path) from None


def make_continua(vm: VocalModel, request: MorphRequest) -> list[MorphResult]:
    """The continua ``request`` asks for, made with ``vm``.

    Returns:
        one :class:`~gaia_audio.morph.finish.MorphResult` per continuum.
    """
    from gaia_audio.morph import series
    from gaia_audio.morph.tune import TuneSettings

    if request.form == "attribute":
        vector = vm.attribute(request.attribute)
        end = load_endpoint(vm, request.inputs[0], request.channel)
        return [series.morph_attribute(vm, end, vector, request.attribute, tuple(request.extent), request.steps)]
    loaded = {p: load_endpoint(vm, p, request.channel) for p in dict.fromkeys(request.inputs)}  # each file once
    ends = [loaded[p] for p in request.inputs]
    pair = dict(steps=request.steps, alpha_range=request.alpha_range, path=request.path, spacing=request.spacing,
                tune_steps=request.tune_steps, tune=TuneSettings(detail=request.detail))
    if request.form == "pair":
        return [series.morph_pair(vm, *ends, **pair)]
    if request.form == "pairs":
        return [series.morph_pair(vm, loaded[a], loaded[b], name=name, **pair) for name, a, b in request.pairs]
    if request.form == "barycentric":
        return [series.morph_barycentric(vm, ends, request.steps)]
    return [series.morph_grid(vm, ends, request.steps)]


def write_continua(request: MorphRequest, out_dir: str | os.PathLike | None = None,
                   model: str | os.PathLike | None = None, export_settings: ExportSettings | None = None, *,
                   seed: int = 0, device: str = "cpu",
                   overwrite: bool = False, plot: bool = True, command: str | None = None,
                   on_note: Callable[[str], None] | None = None) -> Written:
    """Make the continua ``request`` asks for and write them, with their manifest, provenance and pages.

    Args:
        request: what to make.
        out_dir: the folder to write (None: :meth:`MorphRequest.default_out`); it must not exist
            unless ``overwrite`` (``stimuli.output_folder.check_output``) and never holds an input.
        model: a shipped model's name, a run folder or a model file (None: the default shipped model).
        export_settings: sample rate, bit depth, loudness, ramps, silence (None: the defaults).
        seed: torch's seed (recorded).
        device: where the network runs.
        overwrite: replace a folder gaia-audio wrote before.
        plot: draw continuum.png.
        command: the command line that ran, recorded in provenance.json (None from Python).
        on_note: called with each note, as soon as it is known (the notes are also returned).
    Returns:
        The folder, the continua and the notes.
    Raises:
        GaiaError: one line naming the file at fault, before any slow work where it can be known then.
    """
    from gaia_audio.render.worker import Worker

    with Worker() if plot else contextlib.nullcontext() as worker:  # started before torch is imported
        return _write(request, out_dir, model, export_settings, seed, device, overwrite, worker, command, on_note)


def _write(request, out_dir, model, export_settings, seed, device, overwrite, worker, command, on_note) -> Written:
    """:func:`write_continua`'s work, drawing continuum.png with ``worker`` (None: no figure)."""
    import torch

    from gaia_audio.io import audio
    from gaia_audio.morph.model import load_model
    from gaia_audio.pretrained import DEFAULT_MODEL
    from gaia_audio.stimuli.export import ExportSettings, check_output, export
    from gaia_audio.stimuli.provenance import build_provenance

    model = DEFAULT_MODEL if model is None else model
    out_dir = request.default_out() if out_dir is None else Path(out_dir)
    settings = export_settings or ExportSettings()
    protected = [*request.read, model]
    audio.check_channel(list(request.inputs), request.channel)  # a channel no input has: before any work
    audio.check_duration(list(request.inputs), MAX_MORPH_SECONDS)  # from the headers: a 30-minute file is never read
    check_output(out_dir, overwrite, protected)
    torch.manual_seed(seed)
    vm = load_model(model, device=device)  # hashed as loaded (vm.checksum)
    settings.check_band(getattr(vm.frontend, "fmax", None), vm.path)  # before any slow work
    results = make_continua(vm, request)
    notes = list(dict.fromkeys(n for r in results for n in r.notes))
    for note in notes if on_note else []:
        on_note(note)
    provenance = build_provenance(request.form, vm, results, list(request.inputs), request.settings(), seed, command)
    more: list[str] = []

    def note(text: str) -> None:
        more.append(text)
        if on_note:
            on_note(text)

    folder = export(results, out_dir, settings, provenance, overwrite, worker is not None, on_note=note,
                    worker=worker, inputs=protected)
    return Written(folder, results, notes + more)

