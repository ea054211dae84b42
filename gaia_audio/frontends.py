"""Spectrogram front ends: waveform -> band-limited dB spectrogram in [0, 1] -> fixed-size tiles, and back.

``Spectrogram`` is a torch module (runs batched, on a GPU unchanged, no torchaudio):

    y (B, n) ─pre-emphasis─▶ STFT (Hann, centred frames) ─▶ |X|·2/Σw ─▶ bins in [fmin, fmax)
      ─▶ dB ─▶ (dB − min_db) / (ref_db − min_db), clipped to [0, 1] ─▶ S (B, n_freq, T)

Magnitudes are normalised by the window sum, so a full-scale sine reads 0 dB whatever n_fft is;
``ref_db`` maps to 1 and ``min_db`` (the floor) to 0. The way back is exact above the floor:
``to_magnitude`` undoes the mapping (zeros outside the band, floor values to the floor amplitude),
``invert`` adds phase reconstruction (:mod:`gaia_audio.inversion`) and undoes the pre-emphasis.
``tile`` resizes S in time to the model's fixed width and remembers T, so ``untile`` restores the
duration. ``MelSpectrogram`` does the same on a mel scale and goes back by non-negative least squares.

Named presets (``PRESETS``) come from the literature; ``make_frontend`` builds one with overrides.
"""
from __future__ import annotations

import math
import warnings

import numba
import numpy as np
import torch
import torch.nn.functional as F

from gaia_audio import inversion
from gaia_audio.errors import ConfigError

# Every preset sets every field; a recipe overrides any of them (None = keep the preset's value).
# Shared by all: Hann window, pre-emphasis 0.97 and an 80 dB range below a full-scale sine, as in
# Sainburg, Thielk & Gentner 2020 (PLoS Comput Biol 16: e1008228) "Finding, visualizing, and
# quantifying latent structure across diverse animal vocal repertoires" (Hann STFT, pre-emphasis
# 0.97, dB floor at -60...-80 dB). Hops are 1/8 of the window (1/5 for starling, as published):
# phase retrieval, PGHI in particular, needs that redundancy, and tiles are resized in time anyway.
PRESETS: dict[str, dict] = {
    # Zebra finch. Sainburg et al. 2020 use n_fft 1024, 5 ms window, 1 ms hop; AVA (Goffinet et al.
    # 2021, eLife 10: e67855) 32 kHz, 400 Hz-10 kHz, 512-sample windows. Ours is smaller on purpose:
    # the default recipe trains on a 2-core CPU in minutes, so the tile is 87 x 64. At 22050 Hz a
    # 256-sample window (11.6 ms, 86 Hz bins) resolves the harmonics of a 500-700 Hz stack; the
    # band 500 Hz-8 kHz holds nearly all of the song's energy (87 bins). The 1.45 ms hop (1/8 of
    # the window) puts a 60-300 ms syllable on 41-207 frames, stretched to 64 (at most ~3x).
    "zebra_finch": dict(kind="linear", sr=22050, n_fft=256, hop_length=32, win_length=256, fmin=500.0,
                        fmax=8000.0, n_mels=48, preemphasis=0.97, ref_db=0.0, min_db=-80.0, n_frames=64),
    # Bengalese finch: TweetyNet/vak's settings for the Bengalese Finch Song Repository (Cohen et al.
    # 2022, eLife 11: e63853): 32 kHz, 512-point FFT, hop 64, 500 Hz-10 kHz (152 bins).
    "bengalese_finch": dict(kind="linear", sr=32000, n_fft=512, hop_length=64, win_length=512, fmin=500.0,
                            fmax=10000.0, n_mels=64, preemphasis=0.97, ref_db=0.0, min_db=-80.0, n_frames=64),
    # European starling: Sainburg et al. 2020's birdsong STFT (n_fft 1024, 5 ms Hann window, 1 ms
    # hop) at 44.1 kHz; band 500 Hz-12 kHz for the whistles and broadband clicks (267 bins).
    "starling": dict(kind="linear", sr=44100, n_fft=1024, hop_length=44, win_length=220, fmin=500.0,
                     fmax=12000.0, n_mels=128, preemphasis=0.97, ref_db=0.0, min_db=-80.0, n_frames=64),
    # Speech at 16 kHz: TiFGAN's STFT (Marafioti et al. 2019, ICML, "Adversarial generation of
    # time-frequency features with application in audio synthesis"): 512-sample (32 ms) window,
    # 256 bins (0-8 kHz without Nyquist), 128 frames; its hop of 128 halved to 64 (4 ms) for phase
    # retrieval (redundancy 8). Pre-emphasis 0.97 as in Tacotron.
    "speech_16k": dict(kind="linear", sr=16000, n_fft=512, hop_length=64, win_length=512, fmin=0.0,
                       fmax=8000.0, n_mels=80, preemphasis=0.97, ref_db=0.0, min_db=-80.0, n_frames=128),
    # Mouse ultrasonic vocalizations: AVA's mouse settings (Goffinet et al. 2021): 250 kHz, band
    # 30-110 kHz. AVA's 1024/512 STFT overlaps too little to invert; we use 512-sample (2 ms)
    # windows with a 64 hop (0.26 ms, redundancy 8): 164 bins; no pre-emphasis (the band is far
    # above any low-frequency noise it would tame).
    "mouse_usv": dict(kind="linear", sr=250000, n_fft=512, hop_length=64, win_length=512, fmin=30000.0,
                      fmax=110000.0, n_mels=64, preemphasis=0.0, ref_db=0.0, min_db=-80.0, n_frames=64),
}
DEFAULT_PRESET = "zebra_finch"
KINDS = ("linear", "mel")
TILE_MODES = ("stretch", "pad")


def _as_batch(x, ndim: int, device: torch.device) -> tuple[torch.Tensor, bool]:
    """Tensor with a leading batch axis (adds one to an (ndim-1)-d input); and whether it had one."""
    t = torch.as_tensor(x, device=device)
    if not (torch.is_floating_point(t) or torch.is_complex(t)):
        t = t.float()
    if t.ndim == ndim - 1:
        return t[None], False
    if t.ndim != ndim:
        raise ValueError(f"expected {ndim - 1} or {ndim} dimensions, got shape {tuple(t.shape)}")
    return t, True


class Spectrogram(torch.nn.Module):
    """Band-limited linear STFT magnitude in dB, scaled to [0, 1]; invertible above the floor.

    Args:
        sr: sample rate in Hz the module expects.
        n_fft, hop_length, win_length: the STFT (Hann window of win_length, zero-padded to n_fft).
        fmin, fmax: keep the bins with fmin <= frequency < fmax (Hz).
        preemphasis: coefficient a of y[t] - a·y[t-1] before the STFT (0 disables it).
        ref_db: dB (re a full-scale sine) mapped to 1.
        min_db: dB floor mapped to 0.
        n_frames: tile width in frames.
    Raises:
        ConfigError: a setting that cannot work (fmax above sr/2, hop longer than the window, ...).
    """

    kind = "linear"

    def __init__(self, sr: int, n_fft: int, hop_length: int, win_length: int, fmin: float, fmax: float,
                 preemphasis: float = 0.97, ref_db: float = 0.0, min_db: float = -80.0, n_frames: int = 64):
        super().__init__()
        _check(sr=sr, n_fft=n_fft, hop_length=hop_length, win_length=win_length, fmin=fmin, fmax=fmax,
               preemphasis=preemphasis, ref_db=ref_db, min_db=min_db, n_frames=n_frames)
        self.sr, self.n_fft, self.hop_length, self.win_length = int(sr), int(n_fft), int(hop_length), int(win_length)
        self.fmin, self.fmax, self.preemphasis = float(fmin), float(fmax), float(preemphasis)
        self.ref_db, self.min_db, self.n_frames = float(ref_db), float(min_db), int(n_frames)
        bins = np.arange(n_fft // 2 + 1) * sr / n_fft
        keep = np.flatnonzero((bins >= fmin) & (bins < fmax))
        self.bin_lo, self.bin_hi = int(keep[0]), int(keep[-1]) + 1  # kept bins: [bin_lo, bin_hi)
        self.register_buffer("window", torch.hann_window(win_length, periodic=True), persistent=False)
        self.scale = 2.0 / float(self.window.sum())  # |X| * scale = amplitude of a sine
        self.n_freq = self.bin_hi - self.bin_lo

    @property
    def settings(self) -> dict:
        """Every resolved setting (the preset's values with overrides): rebuilds this front end via
        ``make_frontend(**settings)`` and is the right key for caches of its output."""
        out = dict(kind=self.kind, sr=self.sr, n_fft=self.n_fft, hop_length=self.hop_length,
                   win_length=self.win_length, fmin=self.fmin, fmax=self.fmax, preemphasis=self.preemphasis,
                   ref_db=self.ref_db, min_db=self.min_db, n_frames=self.n_frames)
        if self.kind == "mel":
            out["n_mels"] = self.n_mels
        return out

    @property
    def tile_shape(self) -> tuple[int, int]:
        """(n_freq, n_frames) of one tile."""
        return self.n_freq, self.n_frames

    @property
    def frequencies(self) -> np.ndarray:
        """(n_freq,) centre frequency in Hz of each row of S."""
        return np.arange(self.bin_lo, self.bin_hi) * self.sr / self.n_fft

    @property
    def floor_amplitude(self) -> float:
        """The normalised amplitude of the floor, 10^(min_db / 20)."""
        return 10.0 ** (self.min_db / 20)

    # ---- waveform <-> complex STFT ----

    def stft(self, y: torch.Tensor) -> torch.Tensor:
        """Complex STFT (no pre-emphasis, no normalisation).

        Args:
            y: (B, n) or (n,) waveform.
        Returns:
            (B, n_fft // 2 + 1, T) complex, T = 1 + n // hop_length.
        """
        y, _ = _as_batch(y, 2, self.window.device)
        return inversion.stft(y, self.n_fft, self.hop_length, self.win_length, self.window.to(y.dtype))

    def istft(self, X: torch.Tensor, length: int | None = None) -> torch.Tensor:
        """Inverse of :meth:`stft`: (B, n_fft // 2 + 1, T) complex -> (B, length) waveform."""
        X, _ = _as_batch(X, 3, self.window.device)
        return inversion.istft(X, self.n_fft, self.hop_length, self.win_length, length, self.window.to(X.real.dtype))

    def emphasize(self, y: torch.Tensor) -> torch.Tensor:
        """Pre-emphasis y[t] - a·y[t-1] (y[0] kept): (..., n) -> (..., n)."""
        if self.preemphasis == 0:
            return y
        return torch.cat([y[..., :1], y[..., 1:] - self.preemphasis * y[..., :-1]], dim=-1)

    def deemphasize(self, y: torch.Tensor) -> torch.Tensor:
        """Exact inverse of :meth:`emphasize` (the all-pole filter 1 / (1 - a z^-1), zero state)."""
        if self.preemphasis == 0:
            return y
        x = y.detach().cpu().double().contiguous().numpy()
        out = np.empty_like(x)
        rows = (math.prod(x.shape[:-1]), x.shape[-1])  # (..., n) -> (B, n)
        _deemphasis_numba(x.reshape(rows), self.preemphasis, out.reshape(rows))
        return torch.from_numpy(out).to(device=y.device, dtype=y.dtype)

    def magnitude(self, y: torch.Tensor) -> torch.Tensor:
        """|STFT| of the pre-emphasised waveform, all bins: (B, n) or (n,) -> (B, n_fft // 2 + 1, T)."""
        y, _ = _as_batch(y, 2, self.window.device)
        return self.stft(self.emphasize(y)).abs()

    # ---- magnitude <-> [0, 1] ----

    def _band(self, mag: torch.Tensor) -> torch.Tensor:
        """(B, n_fft // 2 + 1, T) magnitude -> (B, n_freq, T) normalised amplitudes of the rows of S."""
        return mag[:, self.bin_lo:self.bin_hi] * self.scale

    def _to_unit(self, amp: torch.Tensor) -> torch.Tensor:
        db = 20 * torch.log10(amp.clamp_min(1e-12))
        return ((db - self.min_db) / (self.ref_db - self.min_db)).clamp(0.0, 1.0)

    def _from_unit(self, S: torch.Tensor) -> torch.Tensor:
        return 10.0 ** ((S.clamp(0.0, 1.0) * (self.ref_db - self.min_db) + self.min_db) / 20)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        """Spectrogram in [0, 1].

        Args:
            y: (B, n) or (n,) waveform at ``sr`` (tensor or array).
        Returns:
            (B, n_freq, T) with T = 1 + n // hop_length (B = 1 for a 1-d input).
        """
        return self.from_magnitude(self.magnitude(y))

    def from_magnitude(self, mag: torch.Tensor) -> torch.Tensor:
        """The [0, 1] spectrogram of an STFT magnitude (what :meth:`forward` does after the STFT).

        Args:
            mag: (B, n_fft // 2 + 1, T) or (n_fft // 2 + 1, T) magnitude, as :meth:`magnitude` gives.
        Returns:
            (B, n_freq, T) in [0, 1].
        """
        mag, _ = _as_batch(mag, 3, self.window.device)
        return self._to_unit(self._band(mag))

    def to_magnitude(self, S: torch.Tensor) -> torch.Tensor:
        """|STFT| of the pre-emphasised waveform that :meth:`forward` mapped to S (exact above the floor).

        Args:
            S: (B, n_freq, T) or (n_freq, T) spectrogram in [0, 1].
        Returns:
            (B, n_fft // 2 + 1, T): zeros outside the band, the floor amplitude where S is 0.
        """
        S, _ = _as_batch(S, 3, self.window.device)
        mag = S.new_zeros(S.shape[0], self.n_fft // 2 + 1, S.shape[-1])
        mag[:, self.bin_lo:self.bin_hi] = self._from_unit(S) / self.scale
        return mag

    def invert(self, S: torch.Tensor, length: int | None = None, method: str = "pghi+fgla",
               n_iter: int = inversion.DEFAULT_N_ITER, momentum: float | None = None) -> torch.Tensor:
        """Waveform of a spectrogram: :meth:`to_magnitude`, phase reconstruction, de-emphasis.

        Args:
            S: (B, n_freq, T) or (n_freq, T) spectrogram in [0, 1].
            length: samples of the output; None gives (T - 1) * hop_length.
            method, n_iter, momentum: see :func:`gaia_audio.inversion.reconstruct`.
        Returns:
            (B, length) waveform (float32, on the device of S).
        """
        mag = self.to_magnitude(S).float()
        y = inversion.reconstruct(mag, self.n_fft, self.hop_length, self.win_length, method=method,
                                  n_iter=n_iter, momentum=momentum, length=length)
        return self.deemphasize(y)

    # ---- fixed-size tiles ----

    def tile(self, S: torch.Tensor, mode: str = "stretch") -> tuple[torch.Tensor, int]:
        """Resize spectrograms in time to the tile width, keeping their frame count.

        Args:
            S: (B, n_freq, T) or (n_freq, T) spectrogram(s) in [0, 1].
            mode: "stretch" (linear interpolation in time, antialiased when shrinking) or "pad"
                (centre-padded with zeros, i.e. the floor, or centre-cropped when T > n_frames).
        Returns:
            (tiles (B, 1, n_freq, n_frames), T).
        """
        S, _ = _as_batch(S, 3, S.device if isinstance(S, torch.Tensor) else None)
        n_time = S.shape[-1]
        if mode == "stretch":
            x = F.interpolate(S[:, None].float(), size=(S.shape[1], self.n_frames), mode="bilinear",
                              align_corners=False, antialias=n_time > self.n_frames)
            return x.clamp(0.0, 1.0).to(S.dtype), n_time
        if mode == "pad":
            return _center(S, self.n_frames)[:, None], n_time
        raise ConfigError(f"unknown tile mode '{mode}' (use one of {', '.join(TILE_MODES)})")

    def untile(self, tiles: torch.Tensor, n_frames_orig: int, mode: str = "stretch") -> torch.Tensor:
        """Undo :meth:`tile`: back to the original number of frames.

        Args:
            tiles: (B, 1, n_freq, n_frames) or (B, n_freq, n_frames).
            n_frames_orig: T the spectrograms had before tiling.
            mode: the mode they were tiled with; "pad" fills what cropping removed with zeros.
        Returns:
            (B, n_freq, n_frames_orig).
        """
        x = tiles[:, 0] if tiles.ndim == 4 else tiles
        n_frames_orig = int(n_frames_orig)
        if n_frames_orig < 1:
            raise ValueError(f"n_frames_orig must be >= 1, got {n_frames_orig}")
        if mode == "stretch":
            out = F.interpolate(x[:, None].float(), size=(x.shape[1], n_frames_orig), mode="bilinear",
                                align_corners=False, antialias=n_frames_orig < x.shape[-1])
            return out[:, 0].clamp(0.0, 1.0).to(x.dtype)
        if mode == "pad":
            return _center(x, n_frames_orig)
        raise ConfigError(f"unknown tile mode '{mode}' (use one of {', '.join(TILE_MODES)})")

    def waveform_to_tile(self, y: torch.Tensor, mode: str = "stretch") -> tuple[torch.Tensor, int]:
        """One waveform's tile: (n,) samples at ``sr`` -> (tile (1, n_freq, n_frames), T)."""
        tiles, n_time = self.tile(self.forward(torch.as_tensor(y).reshape(1, -1)), mode)
        return tiles[0], n_time

    def tile_to_waveform(self, tile: torch.Tensor, n_frames_orig: int, length: int | None = None,
                         mode: str = "stretch", **inversion_args) -> torch.Tensor:
        """One tile's waveform: untile to n_frames_orig frames, then :meth:`invert`.

        Args:
            tile: (1, n_freq, n_frames) or (n_freq, n_frames).
            n_frames_orig: frames of the unit before tiling (sets the duration).
            length: samples; None gives (n_frames_orig - 1) * hop_length.
            inversion_args: method, n_iter, momentum for :meth:`invert`.
        Returns:
            (length,) waveform.
        """
        x = tile.reshape(1, *tile.shape[-2:])
        return self.invert(self.untile(x, n_frames_orig, mode), length=length, **inversion_args)[0]


class MelSpectrogram(Spectrogram):
    """Like :class:`Spectrogram` on ``n_mels`` mel bands between fmin and fmax.

    Each band is a weighted mean (unit-sum triangular filter from ``librosa.filters.mel``) of the
    normalised magnitudes, so levels match the linear front end. ``to_magnitude`` goes back to a
    linear magnitude by non-negative least squares (:func:`gaia_audio.inversion.mel_to_linear`):
    exact, in that the mel projection of the result equals the input, whenever the input is the
    mel projection of some spectrum (e.g. the output of :meth:`forward` above the floor); what the
    filterbank averaged away within a band is not recovered.

    Args:
        n_mels: number of mel bands (every band must hold at least one FFT bin).
        others: as :class:`Spectrogram`.
    """

    kind = "mel"

    def __init__(self, sr: int, n_fft: int, hop_length: int, win_length: int, fmin: float, fmax: float,
                 n_mels: int = 64, preemphasis: float = 0.97, ref_db: float = 0.0, min_db: float = -80.0,
                 n_frames: int = 64):
        super().__init__(sr, n_fft, hop_length, win_length, fmin, fmax, preemphasis, ref_db, min_db, n_frames)
        import librosa

        if not isinstance(n_mels, (int, np.integer)) or n_mels < 1:
            raise ConfigError(f"n_mels must be a positive integer, got {n_mels!r}")
        with warnings.catch_warnings():  # empty bands get our own error below
            warnings.simplefilter("ignore")
            basis = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=int(n_mels), fmin=fmin, fmax=fmax, norm=None)
        basis = basis[:, self.bin_lo:self.bin_hi].astype(np.float64)
        sums = basis.sum(axis=1)
        if np.any(sums <= 0):
            raise ConfigError(f"n_mels={n_mels} is too many for n_fft={n_fft} between {fmin:g} and {fmax:g} Hz: "
                              f"{int(np.sum(sums <= 0))} mel band(s) hold no FFT bin")
        basis /= sums[:, None]
        self.register_buffer("mel_basis", torch.from_numpy(basis).float(), persistent=False)  # (n_mels, n_band)
        self.n_mels = self.n_freq = int(n_mels)
        self._mel_hz = librosa.mel_frequencies(n_mels + 2, fmin=fmin, fmax=fmax)[1:-1]

    @property
    def frequencies(self) -> np.ndarray:
        """(n_mels,) centre frequency in Hz of each mel band."""
        return self._mel_hz

    def _band(self, mag: torch.Tensor) -> torch.Tensor:
        return self.mel_basis.to(mag.dtype) @ (mag[:, self.bin_lo:self.bin_hi] * self.scale)

    def to_magnitude(self, S: torch.Tensor) -> torch.Tensor:
        """Linear |STFT| (B, n_fft // 2 + 1, T) of (B, n_mels, T) or (n_mels, T) S, by NNLS per frame."""
        S, _ = _as_batch(S, 3, self.window.device)
        band = inversion.mel_to_linear(self._from_unit(S).detach().cpu().double().numpy(),
                                       self.mel_basis.cpu().double().numpy())
        mag = S.new_zeros(S.shape[0], self.n_fft // 2 + 1, S.shape[-1])
        mag[:, self.bin_lo:self.bin_hi] = torch.from_numpy(band / self.scale).to(mag)
        return mag


@numba.njit(cache=True)
def _deemphasis_numba(x, a, out):  # pragma: no cover - numba
    """out[b, t] = x[b, t] + a · out[b, t - 1] from zero state: scipy.signal.lfilter([1], [1, -a], x)
    on each row of (B, n), in the same order of operations, without importing scipy.signal (~1 s)."""
    for b in range(x.shape[0]):
        acc = 0.0
        for t in range(x.shape[1]):
            acc = x[b, t] + a * acc
            out[b, t] = acc


def _center(x: torch.Tensor, width: int) -> torch.Tensor:
    """Centre-pad with zeros or centre-crop the last axis of x to ``width``."""
    n = x.shape[-1]
    if n >= width:
        start = (n - width) // 2
        return x[..., start:start + width]
    left = (width - n) // 2
    return F.pad(x, (left, width - n - left))


def _check(sr, n_fft, hop_length, win_length, fmin, fmax, preemphasis, ref_db, min_db, n_frames) -> None:
    """Raise ConfigError for front-end settings that cannot work."""
    for name, value in (("sr", sr), ("n_fft", n_fft), ("hop_length", hop_length), ("win_length", win_length),
                        ("n_frames", n_frames)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ConfigError(f"frontend {name} must be a positive integer, got {value!r}")
    if win_length > n_fft:
        raise ConfigError(f"frontend win_length ({win_length}) must be <= n_fft ({n_fft})")
    if hop_length > win_length:
        raise ConfigError(f"frontend hop_length ({hop_length}) must be <= win_length ({win_length})")
    window_sq = np.sin(np.pi * np.arange(win_length) / win_length) ** 4  # periodic Hann, squared
    steady = np.array([window_sq[n::hop_length].sum() for n in range(hop_length)])  # overlap-added, one period
    if steady.min() <= 1e-2 * steady.max():  # the inverse STFT divides by this overlap-added envelope
        raise ConfigError(f"frontend hop_length {hop_length} is too long for a {win_length}-sample Hann "
                          "window: the STFT cannot be inverted reliably (use hop_length <= win_length / 2)")
    if not (0 <= fmin < fmax):
        raise ConfigError(f"frontend needs 0 <= fmin < fmax, got fmin={fmin}, fmax={fmax}")
    if fmax > sr / 2:
        raise ConfigError(f"frontend fmax ({fmax:g} Hz) is above the Nyquist frequency sr/2 ({sr / 2:g} Hz)")
    if int(np.ceil(fmin * n_fft / sr)) * sr / n_fft >= fmax:
        raise ConfigError(f"frontend band {fmin:g}-{fmax:g} Hz holds no FFT bin at n_fft={n_fft}, sr={sr}")
    if not (0 <= preemphasis < 1):
        raise ConfigError(f"frontend preemphasis must be in [0, 1), got {preemphasis}")
    if not ref_db > min_db:
        raise ConfigError(f"frontend ref_db ({ref_db}) must be above min_db ({min_db})")


def make_frontend(preset: str | None = None, kind: str | None = None, **overrides) -> Spectrogram:
    """Build a front end from a named preset, overriding any of its fields.

    Args:
        preset: a key of :data:`PRESETS`; None means "zebra_finch".
        kind: "linear" or "mel"; None keeps the preset's ("linear" for all presets).
        overrides: any of sr, n_fft, hop_length, win_length, fmin, fmax, n_mels, preemphasis,
            ref_db, min_db, n_frames; None values are ignored (the FrontendConfig convention).
    Returns:
        a :class:`Spectrogram` or :class:`MelSpectrogram`.
    Raises:
        ConfigError: unknown preset, kind or field, or settings that cannot work.
    """
    name = DEFAULT_PRESET if preset is None else preset
    if name not in PRESETS:
        raise ConfigError(f"unknown frontend preset '{name}' (use one of {', '.join(PRESETS)})")
    args = dict(PRESETS[name])
    unknown = sorted(set(overrides) - set(args))
    if unknown:
        raise ConfigError(f"unknown frontend setting(s) {', '.join(unknown)}")
    args.update({k: v for k, v in overrides.items() if v is not None})
    if kind is not None:
        args["kind"] = kind
    kind = args.pop("kind")
    n_mels = args.pop("n_mels")
    if kind == "linear":
        return Spectrogram(**args)
    if kind == "mel":
        return MelSpectrogram(n_mels=n_mels, **args)
    raise ConfigError(f"unknown frontend kind '{kind}' (use one of {', '.join(KINDS)})")
