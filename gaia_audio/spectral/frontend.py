"""The spectrogram front end: waveform -> band-limited dB spectrogram in [0, 1] -> fixed-size tiles, and back.

``Spectrogram`` is a torch module (runs batched, on a GPU unchanged, no torchaudio):

    y (B, n) ─pre-emphasis─▶ STFT (Hann, centred frames) ─▶ |X|·2/Σw ─▶ bins in [fmin, fmax)
      ─▶ dB ─▶ (dB − min_db) / (ref_db − min_db), clipped to [0, 1] ─▶ S (B, n_freq, T)

Magnitudes are normalised by the window sum, so a full-scale sine reads 0 dB whatever n_fft is;
``ref_db`` maps to 1 and ``min_db`` (the floor) to 0. The way back is exact above the floor:
``to_magnitude`` undoes the mapping (zeros outside the band, floor values to the floor amplitude);
:func:`gaia_audio.inversion.invert` adds phase reconstruction and undoes the pre-emphasis.
``tile`` resizes S in time to the model's fixed width and remembers T, so ``untile`` restores the
duration. :mod:`gaia_audio.spectral.mel` does the same on a mel scale; named presets and
``make_frontend`` are in :mod:`gaia_audio.spectral.presets`.

Names, the same in every module: ``S`` is always this [0, 1] dB image (``S_a``, ``S_b`` an
endpoint's); a linear |STFT| is ``mag`` (what librosa calls S); a mel one ``M``; decoded model
output at the model's fixed width is a ``tile``. Shapes follow librosa: (n_freq, T), batched (B, n_freq, T).
"""
from __future__ import annotations

import math

import numba
import numpy as np
import torch
import torch.nn.functional as F

from gaia_audio.errors import ConfigError
from gaia_audio.spectral.stft import istft, stft


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
        return dict(kind=self.kind, sr=self.sr, n_fft=self.n_fft, hop_length=self.hop_length,
                    win_length=self.win_length, fmin=self.fmin, fmax=self.fmax, preemphasis=self.preemphasis,
                    ref_db=self.ref_db, min_db=self.min_db, n_frames=self.n_frames)

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
        return stft(y, self.n_fft, self.hop_length, self.win_length, self.window.to(y.dtype))

    def istft(self, X: torch.Tensor, length: int | None = None) -> torch.Tensor:
        """Inverse of :meth:`stft`: (B, n_fft // 2 + 1, T) complex -> (B, length) waveform."""
        X, _ = _as_batch(X, 3, self.window.device)
        return istft(X, self.n_fft, self.hop_length, self.win_length, length, self.window.to(X.real.dtype))

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

    # ---- fixed-size tiles ----

    def tile(self, S: torch.Tensor) -> tuple[torch.Tensor, int]:
        """Resize spectrograms in time to the tile width, keeping their frame count.

        Args:
            S: (B, n_freq, T) or (n_freq, T) spectrogram(s) in [0, 1].
        Returns:
            (tiles (B, 1, n_freq, n_frames), T).
        """
        S, _ = _as_batch(S, 3, S.device if isinstance(S, torch.Tensor) else None)
        return stretch(S, self.n_frames)[:, None], S.shape[-1]

    def untile(self, tiles: torch.Tensor, n_frames_orig: int) -> torch.Tensor:
        """Undo :meth:`tile`: (B, 1, n_freq, n_frames) or (B, n_freq, n_frames) -> (B, n_freq, n_frames_orig)."""
        x = tiles[:, 0] if tiles.ndim == 4 else tiles
        return stretch(x, int(n_frames_orig))

    def waveform_to_tile(self, y: torch.Tensor) -> tuple[torch.Tensor, int]:
        """One waveform's tile: (n,) samples at ``sr`` -> (tile (1, n_freq, n_frames), T)."""
        tiles, n_time = self.tile(self.forward(torch.as_tensor(y).reshape(1, -1)))
        return tiles[0], n_time


def stretch(S: torch.Tensor, n_frames: int) -> torch.Tensor:
    """Resize spectrograms in time to ``n_frames`` frames: linear interpolation, antialiased when shrinking
    (a unit of any duration becomes one tile this way, and goes back to its own length the same way).

    Args:
        S: (B, n_freq, T) spectrograms in [0, 1].
        n_frames: frames wanted (>= 1).
    Returns:
        (B, n_freq, n_frames) in [0, 1], in the dtype of ``S``.
    Raises:
        ValueError: ``n_frames`` < 1.
    """
    n_frames = int(n_frames)
    if n_frames < 1:
        raise ValueError(f"n_frames must be >= 1, got {n_frames}")
    x = F.interpolate(S[:, None].float(), size=(S.shape[1], n_frames), mode="bilinear", align_corners=False,
                      antialias=n_frames < S.shape[-1])
    return x[:, 0].clamp(0.0, 1.0).to(S.dtype)


@numba.njit(cache=True)
def _deemphasis_numba(x, a, out):  # pragma: no cover - numba
    """out[b, t] = x[b, t] + a · out[b, t - 1] from zero state: scipy.signal.lfilter([1], [1, -a], x)
    on each row of (B, n), in the same order of operations, without importing scipy.signal
    (1.6 s after torch: a morph would pay it)."""
    for b in range(x.shape[0]):
        acc = 0.0
        for t in range(x.shape[1]):
            acc = x[b, t] + a * acc
            out[b, t] = acc


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


