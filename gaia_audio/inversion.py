"""Phase reconstruction: turn an STFT magnitude back into a waveform.

Everything here assumes the STFT of ``torch.stft`` with a Hann window and ``center=True``
(frames centred on ``t * hop_length``, zero padding, phase referenced to each frame's start):

* :func:`pghi` — Phase-Gradient Heuristic Integration (Průša, Balazs & Søndergaard 2017), in
  :mod:`gaia_audio.pghi` and re-exported here: a phase from the magnitude alone, in one pass.
* :func:`griffin_lim` — Fast Griffin-Lim (Perraudin, Balazs & Søndergaard 2013, "A fast
  Griffin-Lim algorithm", WASPAA): alternating projections with an inertial (momentum) step.
  Batched torch; runs unchanged on a GPU, with fused numba loops around torch's FFTs on the CPU.
* :func:`reconstruct` — PGHI alone, FGLA alone, or PGHI then FGLA (the default: PGHI gives a good
  phase in one pass, a few FGLA iterations refine it; a strong low band, e.g. rumble, is first
  re-solved apart by :func:`solve_low_band`, free of the sign walls FGLA leaves there).

Plus :func:`mel_to_linear` (NNLS) and, re-exported from :mod:`gaia_audio.spectral_metrics`, the
quality metrics ``spectral_convergence_db`` and ``log_spectral_distance_db``.
"""
from __future__ import annotations

import contextlib
import math

import numba
import numpy as np
import torch

from gaia_audio import phase_walls
from gaia_audio.errors import ConfigError
from gaia_audio.pghi import pghi

METHODS = ("pghi+fgla", "pghi", "fgla")
DEFAULT_N_ITER = 16  # FGLA iterations after PGHI (InversionConfig.n_iter; benchmarks/inversion.py)
# FGLA's alpha when none is given (InversionConfig.momentum = None): Perraudin et al.'s 0.99 from a
# random phase; after PGHI, whose phase is already close, 0.9 overshoots less and gains 0.5-1.3 dB
# SC in 16 iterations on every preset (benchmarks/inversion.py)
DEFAULT_MOMENTUM = {"fgla": 0.99, "pghi+fgla": 0.9}
# the low-band sub-problem solved after PGHI (gaia_audio.phase_walls): FGLA iterations per stage,
# a wall flip between stages; on the decimated STFT (bengalese_finch: D = 32) all three cost about
# 1.5 full iterations
LOW_BAND_STAGES = (12, 12, 12)


# ---- STFT helpers (the convention every function here assumes) --------------------------------


def _window(win_length: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    return torch.hann_window(win_length, periodic=True, device=device, dtype=dtype)


def stft(y: torch.Tensor, n_fft: int, hop_length: int, win_length: int,
         window: torch.Tensor | None = None) -> torch.Tensor:
    """Complex STFT with a Hann window, frames centred on ``t * hop_length`` (zero padding).

    Args:
        y: (B, n) or (n,) real waveform.
    Returns:
        (B, n_fft // 2 + 1, T) or (n_fft // 2 + 1, T) complex, T = 1 + n // hop_length.
    """
    if window is None:
        window = _window(win_length, y.device, y.dtype)
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
        window = _window(win_length, X.device, X.real.dtype)
    if length is None:
        length = (X.shape[-1] - 1) * hop_length
    return torch.istft(X, n_fft, hop_length, win_length, window, center=True, length=length)


def _as_batch(mag) -> tuple[torch.Tensor, bool]:
    """(F, T) or (B, F, T) array/tensor -> ((B, F, T) float tensor, had a batch axis)."""
    t = torch.as_tensor(mag)
    if not torch.is_floating_point(t):
        t = t.float()
    if t.ndim not in (2, 3):
        raise ValueError(f"expected a magnitude of shape (F, T) or (B, F, T), got {tuple(t.shape)}")
    return (t if t.ndim == 3 else t[None]), t.ndim == 3


class _Frames:
    """The STFT pair of :func:`stft` / :func:`istft` for a fixed frame count, in (B, T, F) layout.

    On the CPU, framing and overlap-add are single-threaded numba loops around torch's FFTs (few
    parallel regions per iteration, so no collapse when other processes share the cores); the
    window and the inverse overlap-add envelope are kept between iterations. Elsewhere (GPU) it
    is torch.stft / torch.istft.
    """

    def __init__(self, n_fft: int, hop_length: int, win_length: int, n_time: int, length: int,
                 device: torch.device, dtype: torch.dtype):
        self.n_fft, self.hop, self.win_length, self.n_time, self.length = n_fft, hop_length, win_length, n_time, length
        self.window = _window(win_length, device, dtype)
        self.cpu = device.type == "cpu" and dtype in (torch.float32, torch.float64)
        if self.cpu:
            left = (n_fft - win_length) // 2
            self.full_window = torch.nn.functional.pad(self.window, (left, n_fft - win_length - left)).numpy()
            env = np.zeros((1, length), self.full_window.dtype)
            ones = np.ones((1, n_time, n_fft), self.full_window.dtype)
            _overlap_add_numba(ones, self.full_window ** 2, np.ones(length, env.dtype), hop_length, env)
            self.inv_env = np.where(env[0] > 1e-11, 1.0 / np.maximum(env[0], 1e-11), 0.0).astype(env.dtype)

    def stft(self, y: torch.Tensor) -> torch.Tensor:
        """(B, n) -> (B, T, n_fft // 2 + 1) complex."""
        if not self.cpu:
            return stft(y, self.n_fft, self.hop, self.win_length, self.window).transpose(1, 2)
        frames = torch.empty(y.shape[0], self.n_time, self.n_fft, dtype=y.dtype)
        _frames_numba(y.contiguous().numpy(), self.full_window, self.hop, frames.numpy())
        return torch.fft.rfft(frames)

    def istft(self, X: torch.Tensor) -> torch.Tensor:
        """(B, T, n_fft // 2 + 1) complex -> (B, length)."""
        if not self.cpu:
            return istft(X.transpose(1, 2), self.n_fft, self.hop, self.win_length, self.length, self.window)
        frames = torch.fft.irfft(X, n=self.n_fft).contiguous()
        out = torch.empty(X.shape[0], self.length, dtype=frames.dtype)
        _overlap_add_numba(frames.numpy(), self.full_window, self.inv_env, self.hop, out.numpy())
        return out


@contextlib.contextmanager
def _one_cpu_thread(active: bool = True):
    """Run torch's CPU ops on one thread inside the block (restoring the count after).

    FGLA's FFTs are small: a second thread gains little, and when other processes share the
    cores every parallel region can stall for a scheduler time slice (10x slowdowns measured).
    """
    before = torch.get_num_threads()
    if active and before > 1:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


@numba.njit(cache=True)
def _frames_numba(y, window, hop, out):  # pragma: no cover - numba
    """Windowed frames of y (B, n), centred on t * hop with zero padding, into out (B, T, n_fft)."""
    n_batch, n_time, n_fft = out.shape
    n = y.shape[1]
    for b in range(n_batch):
        for t in range(n_time):
            start = t * hop - n_fft // 2
            for j in range(n_fft):
                i = start + j
                out[b, t, j] = y[b, i] * window[j] if 0 <= i < n else 0.0


@numba.njit(cache=True, fastmath=True)
def _overlap_add_numba(frames, window, inv_env, hop, out):  # pragma: no cover - numba
    """out (B, length) = inv_env · Σ_t window · frames[:, t] placed at t * hop - n_fft // 2.

    Accumulates into a buffer padded by n_fft // 2 on each side, so the inner loop has no bounds
    and vectorizes (7x faster than clipping each frame to the output).
    """
    n_batch, n_time, n_fft = frames.shape
    length = out.shape[1]
    half = n_fft // 2
    buf = np.empty(max(length + n_fft, (n_time - 1) * hop + n_fft), frames.dtype)  # sample i at i + half
    for b in range(n_batch):
        buf[:] = 0.0
        for t in range(n_time):
            seg = buf[t * hop:t * hop + n_fft]
            frame = frames[b, t]
            for j in range(n_fft):
                seg[j] += frame[j] * window[j]
        row = out[b]
        for i in range(length):
            row[i] = buf[i + half] * inv_env[i]


def _polar(mag: torch.Tensor, phase: torch.Tensor) -> torch.Tensor:
    """mag · exp(i·phase), contiguous; vectorized cos and sin run 3x faster than torch.polar on the CPU."""
    return torch.complex(mag * torch.cos(phase), mag * torch.sin(phase)).contiguous()


def _fit(y: torch.Tensor, length: int) -> torch.Tensor:
    """Crop or zero-pad the last axis of y to ``length`` samples."""
    if y.shape[-1] >= length:
        return y[..., :length]
    return torch.nn.functional.pad(y, (0, length - y.shape[-1]))


@numba.njit(cache=True, fastmath=True)
def _project_extrapolate_numba(X, mag, t_prev, momentum):  # pragma: no cover - numba
    """In place on interleaved (2 N,) float views: t = mag·X/|X|; X <- t + momentum·(t − t_prev); t_prev <- t.

    Three passes (|X|², the scale, the update): the middle one's sqrt and division vectorize
    once apart from the interleaved loads, twice as fast as one fused pass.
    """
    m = X.dtype.type(momentum)
    tiny = X.dtype.type(1e-30)
    n = mag.shape[0]
    scale = np.empty(n, X.dtype)
    for i in range(n):
        scale[i] = X[2 * i] * X[2 * i] + X[2 * i + 1] * X[2 * i + 1]
    for i in range(n):
        scale[i] = mag[i] / np.sqrt(scale[i] + tiny)
    for i in range(n):
        s = scale[i]
        t_re, t_im = X[2 * i] * s, X[2 * i + 1] * s
        X[2 * i] = t_re + m * (t_re - t_prev[2 * i])
        X[2 * i + 1] = t_im + m * (t_im - t_prev[2 * i + 1])
        t_prev[2 * i] = t_re
        t_prev[2 * i + 1] = t_im


def _project_extrapolate(X: torch.Tensor, mag: torch.Tensor, t_prev: torch.Tensor, momentum: float) -> torch.Tensor:
    """FGLA's step after the consistency projection: returns c and sets t_prev to t, in place.

    On the CPU a fused numba loop (one pass, no temporaries); elsewhere plain torch.
    """
    if X.shape != mag.shape or t_prev.shape != mag.shape:
        raise ValueError(f"shapes differ: X {tuple(X.shape)}, mag {tuple(mag.shape)}, t_prev {tuple(t_prev.shape)}")
    if X.device.type == "cpu" and X.is_contiguous() and t_prev.is_contiguous() and mag.is_contiguous():
        flat = lambda z: torch.view_as_real(z).reshape(-1).numpy()  # noqa: E731
        _project_extrapolate_numba(flat(X), mag.reshape(-1).numpy(), flat(t_prev), momentum)
        return X
    t = X * (mag / X.abs().clamp_min(1e-30))
    c = t + momentum * (t - t_prev)
    t_prev.copy_(t)
    return c


# ---- Fast Griffin-Lim ------------------------------------------------------------------------


def _iterate(c: torch.Tensor, t_prev: torch.Tensor, mag_t: torch.Tensor, frames: _Frames, n_iter: int,
             momentum: float, last_magnitude: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
    """n_iter FGLA iterations on (B, T, F) c (t_prev updated in place).

    Returns:
        the new c, and with ``last_magnitude`` the magnitude (B, T, F) of the last consistent
        estimate STFT(ISTFT(c)) (None otherwise, or when n_iter is 0).
    """
    est = None
    for i in range(n_iter):
        Z = frames.stft(frames.istft(c))
        if last_magnitude and i == n_iter - 1:
            est = Z.abs()
        c = _project_extrapolate(Z, mag_t, t_prev, momentum)
    return c, est


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
    frames = _Frames(n_fft // D, hop_length // D, win_length // D, n_time, (n_time - 1) * (hop_length // D),
                     mag.device, mag.dtype)
    mag_d = (mag[:, :n_sub].transpose(1, 2) / D).contiguous()  # (B, T, n_sub)
    c = _polar(mag_d, phase[:, :n_sub].transpose(1, 2).contiguous())
    t_prev = c.clone()
    with _one_cpu_thread(frames.cpu):
        for i, n_iter in enumerate(stages):
            c, est = _iterate(c, t_prev, mag_d, frames, n_iter, momentum, last_magnitude=True)
            if i == 0:
                strong &= phase_walls.low_band_share(est, mag_d, n_low) >= phase_walls.MIN_SHARE
                if not bool(strong.any()):
                    return None
            if i < len(stages) - 1:
                flip = phase_walls.wall_signs(est, mag_d, n_low)[..., None].to(c.real.dtype)
                c[..., :n_low] *= flip  # the extrapolated estimate and the momentum's memory alike
                t_prev[..., :n_low] *= flip
    out = phase.clone()
    low = torch.angle(c[..., :n_low]).transpose(1, 2)  # (B, n_low, T)
    out[:, :n_low] = torch.where(strong[:, None, None], low.to(out.dtype), out[:, :n_low])
    return out


def griffin_lim(mag: torch.Tensor, n_fft: int, hop_length: int, win_length: int, n_iter: int = 32,
                momentum: float = 0.99, init_phase: torch.Tensor | str | None = None,
                length: int | None = None, seed: int = 0) -> torch.Tensor:
    """Fast Griffin-Lim (Perraudin et al. 2013): alternating projections with momentum.

    Each iteration projects onto consistent spectrograms (istft then stft) and back onto the given
    magnitude; the step is extrapolated by ``momentum`` (0 gives classic Griffin-Lim).

    Args:
        mag: (B, F, T) or (F, T) STFT magnitude, F = n_fft // 2 + 1 (tensor or array).
        n_fft, hop_length, win_length: the STFT that produced ``mag``.
        n_iter: iterations (each one stft + one istft).
        momentum: the inertial factor alpha (Perraudin et al. recommend 0.99).
        init_phase: (B, F, T) or (F, T) starting phase in radians, "random" (default, seeded)
            or "zeros".
        length: samples of the output; None gives (T - 1) * hop_length.
        seed: seed of the random starting phase.
    Returns:
        (B, length) waveform, or (length,) for an unbatched ``mag``.
    """
    mag_b, batched = _as_batch(mag)
    B, n_freq, n_time = mag_b.shape
    length = (n_time - 1) * hop_length if length is None else int(length)
    if init_phase is None or (isinstance(init_phase, str) and init_phase == "random"):
        gen = torch.Generator(device="cpu").manual_seed(seed)
        phase = (torch.rand(mag_b.shape, generator=gen, dtype=mag_b.dtype) * 2 * math.pi).to(mag_b.device)
    elif isinstance(init_phase, str) and init_phase == "zeros":
        phase = torch.zeros_like(mag_b)
    else:
        phase = torch.as_tensor(init_phase, dtype=mag_b.dtype, device=mag_b.device).reshape(mag_b.shape)
    # iterate on a signal length whose STFT has exactly n_time frames, crop/pad at the end
    inner = length if 1 + length // hop_length == n_time else (n_time - 1) * hop_length
    frames = _Frames(n_fft, hop_length, win_length, n_time, inner, mag_b.device, mag_b.dtype)
    mag_t = mag_b.transpose(1, 2).contiguous()  # (B, T, F): the layout of _Frames
    c = _polar(mag_t, phase.transpose(1, 2).contiguous())  # the extrapolated estimate c_n
    t_prev = c.clone()  # the last magnitude projection t_{n-1}
    with _one_cpu_thread(frames.cpu):
        c, _ = _iterate(c, t_prev, mag_t, frames, n_iter, momentum)
        c = c * (mag_t / c.abs().clamp_min(1e-30))  # back onto the given magnitude
        y = _fit(frames.istft(c), length)
    return y if batched else y[0]


# ---- the chain -------------------------------------------------------------------------------


def reconstruct(mag, n_fft: int, hop_length: int, win_length: int, method: str = "pghi+fgla",
                n_iter: int = DEFAULT_N_ITER, momentum: float | None = None,
                length: int | None = None) -> torch.Tensor:
    """A waveform whose STFT magnitude matches ``mag``: PGHI, FGLA, or PGHI then FGLA.

    Args:
        mag: (B, F, T) or (F, T) STFT magnitude (tensor or array), F = n_fft // 2 + 1.
        n_fft, hop_length, win_length: the STFT (Hann window, centred frames) of ``mag``.
        method: "pghi+fgla" (PGHI phase refined by ``n_iter`` FGLA iterations; where bins within
            two main lobes of DC hold >= 5% of the energy, :func:`solve_low_band` re-solves them
            first, on a decimated STFT), "pghi" (no iterations), or "fgla" (``n_iter`` iterations
            from a random phase).
        n_iter: FGLA iterations (ignored by "pghi").
        momentum: FGLA's inertial factor; None: ``DEFAULT_MOMENTUM[method]`` (0.99 from a random
            phase, 0.9 after PGHI).
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
    if momentum is None:
        momentum = DEFAULT_MOMENTUM.get(method, 0.0)
    mag_b, batched = _as_batch(mag)
    with _one_cpu_thread(mag_b.device.type == "cpu"):
        if method == "fgla":
            y = griffin_lim(mag_b, n_fft, hop_length, win_length, n_iter, momentum, "random", length)
        else:
            phase = pghi(mag_b, n_fft, hop_length, win_length)
            if method == "pghi":
                y = istft(_polar(mag_b, phase), n_fft, hop_length, win_length, length)
            else:
                # a strong low band is re-solved first, without sign walls, on a decimated STFT
                solved = solve_low_band(mag_b, phase, n_fft, hop_length, win_length, momentum) if n_iter else None
                if solved is not None:
                    phase = solved
                y = griffin_lim(mag_b, n_fft, hop_length, win_length, n_iter, momentum, phase, length)
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
