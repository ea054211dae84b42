"""Phase reconstruction: turn an STFT magnitude back into a waveform.

Everything here assumes the STFT of ``torch.stft`` with a Hann window and ``center=True``
(frames centred on ``t * hop_length``, zero padding, phase referenced to each frame's start):

* :func:`pghi` — Phase-Gradient Heuristic Integration (Průša, Balazs & Søndergaard 2017), in
  :mod:`gaia_audio.pghi` and re-exported here: a phase from the magnitude alone, in one pass.
* :func:`griffin_lim` — Fast Griffin-Lim (Perraudin, Balazs & Søndergaard 2013), in
  :mod:`gaia_audio.fgla` and re-exported here: alternating projections with momentum, optionally
  as Gauss-Seidel sweeps over groups of frames.
* :func:`reconstruct` — PGHI alone, FGLA alone, or PGHI then FGLA (the default: PGHI gives a good
  phase in one pass, a few grouped FGLA sweeps refine it, over cosets of the frames in turn where
  the STFT is redundant enough; a strong low band, e.g. rumble, is first re-solved apart by
  :func:`solve_low_band`, free of the sign walls FGLA leaves there).

Plus :func:`mel_to_linear` (NNLS) and, re-exported from :mod:`gaia_audio.spectral_metrics`, the
quality metrics ``spectral_convergence_db`` and ``log_spectral_distance_db``.
"""
from __future__ import annotations

import numpy as np
import torch

from gaia_audio import phase_walls
from gaia_audio.errors import ConfigError
from gaia_audio.fgla import State, Sweep, as_batch, griffin_lim, hann_window, one_cpu_thread, polar, sweeps
from gaia_audio.pghi import pghi

METHODS = ("pghi+fgla", "pghi", "fgla")
# FGLA iterations after PGHI (InversionConfig.n_iter; benchmarks/inversion.py): with cosets, 20
# reach 10.5-15.7 dB better SC than librosa's 32-iteration Griffin-Lim on every preset, in
# 0.17-0.18x its time (16: mouse_usv 9.6 dB)
DEFAULT_N_ITER = 20
# FGLA's alpha when none is given (InversionConfig.momentum = None): Perraudin et al.'s 0.99 from a
# random phase; after PGHI, whose phase is already close, 0.9 overshoots less and gains 0.5-1.3 dB
# SC in 16 iterations on every preset; over cosets (COSET_MOMENTUM) 0.95 gains 0.1-0.3 dB more
# (benchmarks/inversion.py), but loses 0.6 dB without them (starling)
DEFAULT_MOMENTUM = {"fgla": 0.99, "pghi+fgla": 0.9}
COSET_MOMENTUM = 0.95
# the low-band sub-problem solved after PGHI (gaia_audio.phase_walls): FGLA iterations per stage,
# a wall flip between stages; on the decimated STFT (bengalese_finch: D = 32) all three cost about
# 1.5 full iterations
LOW_BAND_STAGES = (12, 12, 12)
# frame groups of each FGLA iteration after PGHI (griffin_lim's Gauss-Seidel sweeps): at 16
# iterations 0.3-1.5 dB better SC than one group on every preset of benchmarks/inversion.py, for
# 0-12 % more time per iteration (smaller FFT batches); 8 groups gain at most 0.1 dB more
DEFAULT_GROUPS = 4
# after PGHI, FGLA splits the frames into cosets that still overlap this much (win_length / their
# hop) and solves them in turn (griffin_lim's cosets): on the presets' 8-fold overlap 2 cosets
# gain 0.7-1.5 dB SC over sweeps of all frames at 20 iterations (benchmarks/inversion.py), with
# 16-fold overlap 4 cosets 1.7 dB (at 16); with starling's 5-fold overlap, cosets overlapping
# 2.5-fold lose 1.2 dB, so there is one
MIN_COSET_OVERLAP = 4


def coset_count(hop_length: int, win_length: int) -> int:
    """How many cosets of frames FGLA solves in turn after PGHI: each overlaps MIN_COSET_OVERLAP-fold at least."""
    return max(1, win_length // (MIN_COSET_OVERLAP * hop_length))


# ---- STFT helpers (the convention every function here assumes) --------------------------------


def stft(y: torch.Tensor, n_fft: int, hop_length: int, win_length: int,
         window: torch.Tensor | None = None) -> torch.Tensor:
    """Complex STFT with a Hann window, frames centred on ``t * hop_length`` (zero padding).

    Args:
        y: (B, n) or (n,) real waveform.
    Returns:
        (B, n_fft // 2 + 1, T) or (n_fft // 2 + 1, T) complex, T = 1 + n // hop_length.
    """
    if window is None:
        window = hann_window(win_length, y.device, y.dtype)
    return torch.stft(y, n_fft, hop_length, win_length, window, center=True, pad_mode="constant",
                      return_complex=True)


def istft(X: torch.Tensor, n_fft: int, hop_length: int, win_length: int, length: int | None = None,
          window: torch.Tensor | None = None) -> torch.Tensor:
    """Least-squares inverse of :func:`stft` (``torch.istft``).

    Args:
        X: (B, n_fft // 2 + 1, T) or (n_fft // 2 + 1, T) complex.
        length: samples of the output; None gives (T - 1) * hop_length.
    Returns:
        (B, length) or (length,) real waveform.
    """
    if window is None:
        window = hann_window(win_length, X.device, X.real.dtype)
    if length is None:
        length = (X.shape[-1] - 1) * hop_length
    return torch.istft(X, n_fft, hop_length, win_length, window, center=True, length=length)


def solve_low_band(mag: torch.Tensor, phase: torch.Tensor, n_fft: int, hop_length: int, win_length: int,
                   momentum: float = 0.9, stages: tuple[int, ...] = LOW_BAND_STAGES) -> torch.Tensor | None:
    """Re-solve the phase of the low band (bins where a real signal's +f and -f meet), free of sign walls.

    The lowest ``n_fft // (2 D) + 1`` bins are treated as the STFT of the signal decimated by D
    (window, hop and n_fft divided by D, magnitudes by D; D the largest power of 2 that divides
    them and leaves at least 2 K - 1 bins, K = :func:`phase_walls.low_band_bins`: the low band and
    about as many bins again), solved by FGLA in ``stages`` with the low band's sign walls flipped
    between stages (:mod:`gaia_audio.phase_walls`), at about 1/D of a full iteration's cost.
    Runs only where the low band holds at least ``phase_walls.MIN_ENERGY`` of the energy and,
    after the first stage, ``phase_walls.MIN_SHARE`` of the inconsistency; elsewhere it costs
    nothing (or one stage).

    Args:
        mag: (B, F, T) STFT magnitude; phase: (B, F, T) starting phase (e.g. PGHI's).
    Returns:
        (B, F, T) phase with bins 0..K-1 replaced where the sub-problem ran, or None where it
        ran for no item (signal without a strong low band, or an STFT that cannot be decimated).
    """
    n_low = phase_walls.low_band_bins(n_fft, win_length)
    D = 1
    left = (n_fft - win_length) // 2  # the window's offset in the frame must decimate too
    while (hop_length % (2 * D) == 0 and n_fft % (2 * D) == 0 and win_length % (2 * D) == 0
           and left % (2 * D) == 0 and n_fft // (2 * D) // 2 + 1 >= 2 * n_low - 1):
        D *= 2
    if D == 1 or not stages:
        return None
    energy = mag.square().sum(dim=-1)  # (B, F)
    strong = energy[:, :n_low].sum(-1) >= phase_walls.MIN_ENERGY * energy.sum(-1).clamp_min(1e-30)
    if not bool(strong.any()):
        return None
    n_sub = n_fft // (2 * D) + 1
    n_time = mag.shape[-1]
    # one group: the walls are found frame after frame, in time order
    sweep = Sweep(n_fft // D, hop_length // D, win_length // D, n_time, (n_time - 1) * (hop_length // D), 1,
                   mag.shape[0], mag.device, mag.dtype)
    state = State(sweep, (mag[:, :n_sub].transpose(1, 2) / D).contiguous(),
                   phase[:, :n_sub].transpose(1, 2).contiguous())
    mag_d = state.mag[0]  # (B, T, n_sub)
    with one_cpu_thread(sweep.cpu):
        for i, n_iter in enumerate(stages):
            est = sweeps(state, n_iter, momentum, last_magnitude=True)
            if i == 0:
                strong &= phase_walls.low_band_share(est, mag_d, n_low) >= phase_walls.MIN_SHARE
                if not bool(strong.any()):
                    return None
            if i < len(stages) - 1:
                flip = phase_walls.wall_signs(est, mag_d, n_low)[..., None].to(mag_d.dtype)
                state.t[0][..., :n_low] *= flip  # the estimate and the momentum's memory alike
                state.t_prev[0][..., :n_low] *= flip
                state.resynthesise()
    out = phase.clone()
    low = torch.angle(state.t[0][..., :n_low]).transpose(1, 2)  # (B, n_low, T)
    out[:, :n_low] = torch.where(strong[:, None, None], low.to(out.dtype), out[:, :n_low])
    return out


# ---- the chain -------------------------------------------------------------------------------


def reconstruct(mag, n_fft: int, hop_length: int, win_length: int, method: str = "pghi+fgla",
                n_iter: int = DEFAULT_N_ITER, momentum: float | None = None,
                length: int | None = None) -> torch.Tensor:
    """A waveform whose STFT magnitude matches ``mag``: PGHI, FGLA, or PGHI then FGLA.

    Args:
        mag: (B, F, T) or (F, T) STFT magnitude (tensor or array), F = n_fft // 2 + 1.
        n_fft, hop_length, win_length: the STFT (Hann window, centred frames) of ``mag``.
        method: "pghi+fgla" (PGHI phase refined by ``n_iter`` FGLA iterations, each a sweep over
            ``DEFAULT_GROUPS`` groups of frames, over :func:`coset_count` cosets of the frames in
            turn and then all of them; where bins within two main lobes of DC hold >= 5% of the
            energy, :func:`solve_low_band` re-solves them first, on a decimated STFT), "pghi"
            (no iterations), or "fgla" (``n_iter`` iterations of Perraudin et al.'s FGLA from a
            random phase).
        n_iter: FGLA iterations (ignored by "pghi").
        momentum: FGLA's inertial factor; None: ``DEFAULT_MOMENTUM[method]`` (0.99 from a random
            phase, 0.9 after PGHI), or ``COSET_MOMENTUM`` (0.95) after PGHI where there are cosets.
        length: samples of the output; None gives (T - 1) * hop_length.
    Returns:
        (B, length) or (length,) waveform tensor on the device of ``mag``.
    Raises:
        ConfigError: an unknown method or a negative n_iter.
    """
    if method not in METHODS:
        raise ConfigError(f"unknown inversion method '{method}' (use one of {', '.join(METHODS)})")
    if n_iter < 0:
        raise ConfigError(f"inversion n_iter must be >= 0, got {n_iter}")
    cosets = coset_count(hop_length, win_length)
    if momentum is None:
        momentum = COSET_MOMENTUM if method == "pghi+fgla" and cosets > 1 else DEFAULT_MOMENTUM.get(method, 0.0)
    mag_b, batched = as_batch(mag)
    with one_cpu_thread(mag_b.device.type == "cpu"):
        if method == "fgla":
            y = griffin_lim(mag_b, n_fft, hop_length, win_length, n_iter, momentum, "random", length)
        else:
            phase = pghi(mag_b, n_fft, hop_length, win_length)
            if method == "pghi":
                y = istft(polar(mag_b, phase), n_fft, hop_length, win_length, length)
            else:
                # a strong low band is re-solved first, without sign walls, on a decimated STFT
                solved = solve_low_band(mag_b, phase, n_fft, hop_length, win_length, momentum) if n_iter else None
                if solved is not None:
                    phase = solved
                y = griffin_lim(mag_b, n_fft, hop_length, win_length, n_iter, momentum, phase, length,
                                groups=DEFAULT_GROUPS, cosets=cosets)
    return y if batched else y[0]


# ---- mel -> linear ---------------------------------------------------------------------------


def mel_to_linear(M: np.ndarray, mel_basis: np.ndarray) -> np.ndarray:
    """Non-negative least-squares linear magnitude from mel magnitudes (``scipy.optimize.nnls``).

    Exact (``mel_basis @ S == M``) whenever M lies in the cone the filterbank spans, i.e. M is the
    mel projection of some non-negative spectrum; otherwise the closest such projection.

    Args:
        M: (..., n_mels, T) non-negative mel magnitudes.
        mel_basis: (n_mels, F) non-negative filterbank.
    Returns:
        (..., F, T) non-negative linear magnitudes.
    """
    import scipy.optimize  # ~0.5 s to import; only the mel front end needs it

    M = np.asarray(M, dtype=np.float64)
    A = np.asarray(mel_basis, dtype=np.float64)
    n_mels, n_time = M.shape[-2:]
    frames = np.moveaxis(M, -1, -2).reshape(-1, n_mels)  # (N, n_mels): one row per frame
    uniq, inverse = np.unique(frames, axis=0, return_inverse=True)  # silent frames repeat
    sol = np.stack([scipy.optimize.nnls(A, m, maxiter=50 * A.shape[1])[0] for m in uniq])
    S = sol[inverse.reshape(-1)].reshape(*M.shape[:-2], n_time, A.shape[1])
    return np.moveaxis(S, -1, -2)


# the metrics live in their own module; imported here so `from gaia_audio.inversion import ...` works
from gaia_audio.spectral_metrics import log_spectral_distance_db, spectral_convergence_db  # noqa: E402,F401
