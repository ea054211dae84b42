"""A trained model with its front end: encode sounds, decode codes, invert spectrograms.

    from gaia_audio import load_model
    m = load_model("runs/zebra_finch")            # a run folder or its model.safetensors
    z = m.encode(y_a, sr)                          # (code_dim,) numpy
    y = m.decode(z, duration=0.12)                 # (n,) numpy at m.sr

:class:`VocalModel` also carries the lower-level pieces the series code uses (spectrograms,
tiles, batched encode/decode, realism, inversion); all take and return arrays of the shapes their
docstrings give. :func:`make_endpoint` checks an input sound and brings it to the model; morphs
are :mod:`gaia_audio.morph.series`'s.
"""
from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from gaia_audio.bounds import MAX_MORPH_SECONDS
from gaia_audio.config import Config
from gaia_audio.errors import ModelError
from gaia_audio.inversion import invert
from gaia_audio.io import audio
from gaia_audio.io.checks import QUIET_DB, check_loud_enough, check_signal
from gaia_audio.io.files import file_sha256
from gaia_audio.models.export import load_network, resolve_model_path
from gaia_audio.pretrained import DEFAULT_MODEL, PRETRAINED_DIR
from gaia_audio.spectral.presets import make_frontend

#: Tiles per forward pass when encoding or decoding many at once.
CHUNK = 64
#: Inputs up to the longest unit the model was trained on (``max_unit_frames`` in the exported
#: metadata) are single units, time-normalised into one tile; longer ones are aligned and morphed
#: window by window. A model without that record takes this many seconds (segment.detect_units'
#: default longest unit), or one tile's duration if that is longer.
DEFAULT_MAX_UNIT_S = 0.5
#: The attribute vectors of a model (``gaia-audio attributes``), in its folder.
ATTRIBUTES_FILE = "attributes.json"


class VocalModel:
    """A trained model with its front end, ready to encode, decode and morph sounds.

    Args:
        model: the network (GAIA, AE or VAE) with ``encode``/``decode``.
        frontend: the ``spectral.frontend.Spectrogram`` it was trained with.
        config: the merged recipe it was trained with.
        extra: the exported metadata (``d_error_real`` for GAIA).
        path: the model file it was loaded from.
        device: where the network runs.
        sha256: the file's hash as it was loaded (None: hashed when asked).
    """

    def __init__(self, model: torch.nn.Module, frontend, config: Config, extra: dict | None = None,
                 path: str | os.PathLike | None = None, device: str | torch.device = "cpu", sha256: str | None = None):
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.frontend = frontend.to(self.device)
        self.config = config
        self.extra = dict(extra or {})
        self.path = None if path is None else Path(path)
        self.sha256 = sha256
        self.kind = config.model.kind
        self.sr = int(frontend.sr)
        self.n_freq, self.n_frames = (int(v) for v in frontend.tile_shape)
        self.hop_length, self.win_length = int(frontend.hop_length), int(frontend.win_length)
        self.ref_db, self.min_db = float(frontend.ref_db), float(frontend.min_db)
        freqs = np.asarray(getattr(frontend, "frequencies", [0.0, self.sr / 2]), dtype=np.float64)
        self.freq_range = (float(freqs[0]), float(freqs[-1]))
        self.quiet_db = QUIET_DB
        self.quiet_threshold = QUIET_DB / (self.ref_db - self.min_db)
        self.d_error_real = self.extra.get("d_error_real")
        self.max_unit_frames = int(self.extra.get("max_unit_frames")
                                   or max(self.n_frames, self.frames_for(DEFAULT_MAX_UNIT_S * self.sr)))

    # ---- public ---------------------------------------------------------------------------

    def encode(self, y: np.ndarray, sr: int) -> np.ndarray:
        """The code of one vocal unit (time-normalised into one tile, whatever its length).

        Args:
            y: (n,) or (channels, n) samples (mixed down) of one unit; for longer sounds use
                :meth:`morph`, which aligns them and works window by window.
            sr: their sample rate (resampled to :attr:`sr` if different).
        Returns:
            (code_dim,) float32 code.
        """
        endpoint = make_endpoint(self, y, sr, "input")
        return self.encode_tiles(self.to_tile(endpoint.S)[None])[0].cpu().numpy()

    @torch.no_grad()
    def decode(self, z: np.ndarray, duration: float | None = None) -> np.ndarray:
        """A waveform from a code.

        Args:
            z: (code_dim,) code.
            duration: seconds of the sound; None gives one tile's duration.
        Returns:
            (n,) float32 samples at :attr:`sr`.
        """
        n = int(round((duration if duration is not None else self.n_frames * self.hop_length / self.sr) * self.sr))
        tile = self.decode_codes(torch.as_tensor(np.asarray(z, np.float32))[None])[0]
        return self.invert(self.from_tile(tile, self.frames_for(n)), n)

    @property
    def name(self) -> str:
        """How messages name the model: a shipped model's name (``birdsong``), else its file's path."""
        if self.path is None:
            return "in memory"
        return self.path.parent.name if self.path.parent.parent == PRETRAINED_DIR else str(self.path)

    def checksum(self) -> str | None:
        """SHA-256 of the model file as it was loaded (None for a model built in memory).

        :func:`load_model` hashes the file as it opens it, so a file replaced while a morph runs
        cannot be recorded in its provenance in place of the one that made the sounds.
        """
        if self.path is None:
            return None
        return self.sha256 or file_sha256(self.path)

    def attribute(self, name: str) -> np.ndarray:
        """The (code_dim,) vector of attribute ``name`` saved beside the model (``gaia-audio attributes``)."""
        if self.path is None:
            raise ModelError("a model built in memory has no attribute vectors")
        return load_attribute(self.path.parent / ATTRIBUTES_FILE, name, int(self.model.code_dim))

    # ---- building blocks ------------------------------------------------------------------

    def level_db(self, s: float) -> float:
        """The dB level of a [0, 1] spectrogram value."""
        return self.min_db + float(s) * (self.ref_db - self.min_db)

    def frames_for(self, n: int) -> int:
        """STFT frames of ``n`` samples (centred frames)."""
        return 1 + int(n) // self.hop_length

    @torch.no_grad()
    def spectrogram(self, y: np.ndarray) -> torch.Tensor:
        """(n_freq, T) front end spectrogram in [0, 1] of (n,) samples at :attr:`sr`."""
        return self.frontend(torch.as_tensor(np.asarray(y, np.float32))[None])[0].cpu()

    def to_tile(self, S: torch.Tensor) -> torch.Tensor:
        """(1, n_freq, n_frames) tile of a unit's (n_freq, T) spectrogram, tiled as in training."""
        tiles, _ = self.frontend.tile(S[None])
        return tiles[0]

    def from_tile(self, tile: torch.Tensor, n_frames: int) -> np.ndarray:
        """(n_freq, n_frames) spectrogram from a (1, n_freq, tile width) tile, undoing the tiling."""
        return self.frontend.untile(tile[None].float().cpu(), int(n_frames))[0].numpy()

    def magnitude(self, S: np.ndarray) -> np.ndarray:
        """Linear STFT magnitude (n_fft // 2 + 1, T) of a (n_freq, T) [0, 1] spectrogram."""
        return self.frontend.to_magnitude(torch.as_tensor(S)[None])[0].cpu().double().numpy()

    @torch.no_grad()
    def invert(self, S: np.ndarray, length: int) -> np.ndarray:
        """(length,) float32 waveform of a (n_freq, T) spectrogram (the recipe's inversion)."""
        return self.invert_many([S], [length])[0]

    @torch.no_grad()
    def invert_many(self, spectrograms: list[np.ndarray], lengths: list[int], batch_size: int = 32,
                    method: str | None = None) -> list[np.ndarray]:
        """Invert many spectrograms in batches (far faster than one by one on a CPU).

        Spectrograms of different lengths are padded at the end with the floor (silence) to the
        longest of their batch, inverted together, and each waveform is cut back to its length.

        Args:
            spectrograms: (n_freq, T_k) arrays in [0, 1].
            lengths: samples of each waveform.
            batch_size: spectrograms per batch.
            method: the inversion method (``gaia_audio.inversion.METHODS``); None: the recipe's.
        Returns:
            (lengths[k],) float32 waveforms.
        """
        inv = self.config.inversion
        out: list[np.ndarray] = [None] * len(spectrograms)
        order = sorted(range(len(spectrograms)), key=lambda k: lengths[k])
        for start in range(0, len(order), batch_size):
            group = order[start:start + batch_size]
            n_max = max(int(lengths[k]) for k in group)
            T = max(self.frames_for(n_max), *(spectrograms[k].shape[-1] for k in group))
            S = torch.zeros(len(group), self.n_freq, T)
            for row, k in enumerate(group):
                S[row, :, :spectrograms[k].shape[-1]] = torch.as_tensor(spectrograms[k])
            y = invert(self.frontend, S.to(self.device), length=n_max, method=method or inv.method, n_iter=inv.n_iter,
                       momentum=inv.momentum)
            for row, k in enumerate(group):
                out[k] = np.asarray(y[row, :int(lengths[k])].cpu(), dtype=np.float32)
        return out

    @torch.no_grad()
    def encode_tiles(self, x: torch.Tensor) -> torch.Tensor:
        """(B, code_dim) codes of (B, 1, n_freq, n_frames) tiles."""
        return torch.cat([self.model.encode(c.float().to(self.device)) for c in x.split(CHUNK)])

    @torch.no_grad()
    def decode_codes(self, z: torch.Tensor) -> torch.Tensor:
        """(B, 1, n_freq, n_frames) tiles in [0, 1] decoded from (B, code_dim) codes."""
        return torch.cat([self.model.decode(c.float().to(self.device)) for c in z.split(CHUNK)])

    @torch.no_grad()
    def realism(self, x: torch.Tensor) -> np.ndarray | None:
        """Per tile, mean |x − D(x)| over the same error on real training tiles (1.0 = as real data).

        Args:
            x: (B, 1, n_freq, n_frames) decoded tiles.
        Returns:
            (B,) float64, or None for a model without a discriminator (AE, VAE).
        """
        chunks = x.float().to(self.device).split(CHUNK)
        errors = [self.model.realism_error(c) for c in chunks]
        if not self.d_error_real or any(e is None for e in errors):
            return None
        return (torch.cat(errors).double() / float(self.d_error_real)).cpu().numpy()


def load_model(path: str | os.PathLike = DEFAULT_MODEL, device: str | torch.device = "cpu") -> VocalModel:
    """Open an exported model (a shipped model's name, a run folder or its ``model.safetensors``); runs no code from it.

    Args:
        path: a shipped model's name (``birdsong``, the default; ``speech``), a run folder or a
            ``.safetensors`` file.
        device: where the network runs ("cpu", "cuda", ...).
    Returns:
        The model with its front end.
    Raises:
        ModelError: missing file, not a gaia-audio model, or weights that do not fit the recipe.
    """
    file = resolve_model_path(path)
    sha256 = file_sha256(file)  # what provenance records: the file as it is read now, not after the morph
    model, config, extra = load_network(file)
    frontend = make_frontend(**dataclasses.asdict(config.frontend))
    if tuple(frontend.tile_shape) != tuple(extra["tile_shape"][1:]):
        raise ModelError(f"model tile shape {tuple(extra['tile_shape'][1:])} does not match its front end's "
                         f"{tuple(frontend.tile_shape)}", extra["path"])
    return VocalModel(model, frontend, config, extra, extra["path"], device, sha256)


@dataclass
class Endpoint:
    """One input sound, ready to morph.

    Attributes:
        name: how rows and notes refer to it (a file name, "a", "b").
        y: (n,) float32 mono samples at the model's sample rate.
        S: (n_freq, T) spectrogram in [0, 1] from the model's front end.
        notes: what was changed to make it fit the model (resampling, mix-down).
    """

    name: str
    y: np.ndarray
    S: torch.Tensor
    notes: list[str] = field(default_factory=list)

    @property
    def n_frames(self) -> int:
        return int(self.S.shape[-1])


def make_endpoint(vm: VocalModel, y: np.ndarray, sr: int, name: str = "input", channel: int | None = None) -> Endpoint:
    """Check an input sound and bring it to the model: mono, the model's rate, loud enough.

    Args:
        vm: the model it will be encoded with.
        y: (n,) mono or (channels, n) samples in [-1, 1].
        sr: their sample rate.
        name: the input's name, used in errors and notes.
        channel: pick this channel of a multichannel input instead of mixing all down.
    Returns:
        The endpoint; ``notes`` says what was changed.
    Raises:
        AudioError: empty, NaN/Inf, a sample rate below the front end's band, too short for one
            STFT window, silent (:func:`gaia_audio.io.checks.check_signal`) or too quiet input, or
            a channel that does not exist. A near-silent input that is not too quiet gets a note.
    """
    y = np.asarray(y, dtype=np.float32)
    audio.check_length(y.shape[-1], sr, MAX_MORPH_SECONDS, name)
    y, note = audio.to_mono(y[0] if y.ndim == 2 and y.shape[0] == 1 else y, channel, name)
    notes = [f"{name}: {note}"] if note else []
    # empty, NaN/Inf, a rate below the band, too short, silent: the check every command shares
    notes += check_signal(y, sr, name, vm.sr, vm.win_length, getattr(vm.frontend, "fmax", None))
    if int(sr) != vm.sr:
        notes.append(f"{name}: resampled from {int(sr)} Hz to the model's {vm.sr} Hz")
        y = audio.resample(y, int(sr), vm.sr)
    S = vm.spectrogram(y)
    check_loud_enough(vm.level_db(float(S.max())), vm.min_db, name)  # QUIET_DB: the model's tile would be empty
    return Endpoint(name, y, S, notes)


def load_attribute(path: str | os.PathLike, name: str, code_dim: int) -> np.ndarray:
    """One saved attribute vector (code_dim,) from an ``attributes.json``."""
    path = Path(path)
    if not path.is_file():
        raise ModelError("no attribute vectors for this model (run 'gaia-audio attributes' first)", path)
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
        found = saved["attributes"]
        if not isinstance(found, dict):
            raise TypeError
    except (ValueError, KeyError, TypeError):
        raise ModelError("not an attributes file", path) from None
    if name not in found:
        raise ModelError(f"no attribute {name!r} (have: {', '.join(sorted(found))})", path)
    values = found[name].get("vector") if isinstance(found[name], dict) else None
    if not isinstance(values, list) or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        raise ModelError(f"attribute {name!r} is not a list of numbers", path)
    vector = np.asarray(values, np.float64)
    if not np.all(np.isfinite(vector)) or np.abs(vector).max(initial=0) > 1e6:
        raise ModelError(f"attribute {name!r} is not a list of finite numbers of a code's size", path)
    vector = vector.astype(np.float32)
    if vector.shape != (code_dim,):
        raise ModelError(f"attribute {name!r} has {vector.size} dimensions, the model's code {code_dim}", path)
    return vector
