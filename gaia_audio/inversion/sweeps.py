"""Fast Griffin-Lim: alternating projections with momentum, optionally group by group of frames.

Perraudin, Balazs & Søndergaard 2013, "A fast Griffin-Lim algorithm", WASPAA: each iteration
projects onto consistent spectrograms (ISTFT then STFT) and back onto the given magnitude, and
extrapolates by a momentum. :func:`griffin_lim` can run each iteration as a sweep over G groups
of frames (frame t in group t % G), each group projected from a signal that already holds the
earlier groups' update (Gauss-Seidel, in the spirit of Le Roux et al. 2010's in-place updates):
the same FFT work, fewer iterations to the same error. G = 1 is Perraudin et al.'s FGLA.

The STFT is that of :mod:`gaia_audio.spectral.stft`: Hann window, frames centred on
``t * hop_length``, zero padding, phase referenced to each frame's start (``torch.stft``).
Batched torch; runs unchanged on a GPU, with single-threaded numba loops around torch's FFTs on
the CPU. :func:`gaia_audio.inversion.reconstruct` runs it after PGHI.
"""
from __future__ import annotations

import contextlib
import math

import numba
import numpy as np
import torch

from gaia_audio.spectral.stft import hann_window

# with cosets, the last iterations of griffin_lim run over all frames, so that every frame's
# magnitude is enforced at the end: at 20 iterations, 2 such sweeps give 0.3-0.4 dB better SC
# than as many more sweeps over the cosets, 4 no more (benchmarks/inversion.py's presets)
CLOSING_SWEEPS = 2


def as_batch(mag) -> tuple[torch.Tensor, bool]:
    """(F, T) or (B, F, T) array/tensor -> ((B, F, T) float tensor, had a batch axis)."""
    t = torch.as_tensor(mag)
    if not torch.is_floating_point(t):
        t = t.float()
    if t.ndim not in (2, 3):
        raise ValueError(f"expected a magnitude of shape (F, T) or (B, F, T), got {tuple(t.shape)}")
    return (t if t.ndim == 3 else t[None]), t.ndim == 3


class Sweep:
    """FGLA's STFT pair for a fixed frame count and batch, run one group of frames at a time.

    The signal lives in a padded buffer ``buf`` (B, n_buf): sample i at i + n_fft // 2, zero
    outside [0, length), so frame t (centred on t * hop_length) is ``buf[:, t * hop_length :
    t * hop_length + n_fft]`` times the window. A sweep may cover only one coset of the n_time
    frames, frames ``offset, offset + stride, ...`` (an STFT with hop ``stride * hop_length``);
    the buffer is the whole lattice's either way. Its k-th frame belongs to group k % G;
    per-frame arrays are kept as one contiguous (B, n_g, F) tensor per group. :meth:`analyse` is
    the STFT of one group's frames, :meth:`add` overlap-adds a change of one group's coefficients
    into the buffer, normalized like the least-squares inverse STFT of the sweep's frames (so the
    buffer stays the ISTFT of all its current coefficients). Each group's frames and coefficients
    have preallocated work space (a sweep makes no allocations). On the CPU framing and
    overlap-add are single-threaded numba loops around torch's FFTs (no parallel regions, so no
    collapse when other processes share the cores); elsewhere (GPU) unfold / fold.
    """

    def __init__(self, n_fft: int, hop_length: int, win_length: int, n_time: int, length: int, groups: int,
                 batch: int, device: torch.device, dtype: torch.dtype, stride: int = 1, offset: int = 0):
        if not 0 <= offset < stride <= n_time:
            raise ValueError(f"need 0 <= offset < stride <= n_time, got offset {offset}, stride {stride}, "
                             f"n_time {n_time}")
        self.n_fft, self.length = n_fft, length
        self.hop = stride * hop_length  # between consecutive frames of this sweep
        self.first = offset * hop_length  # buffer offset of its first frame
        self.n_time = len(range(offset, n_time, stride))
        self.groups = max(1, min(int(groups), self.n_time))
        self.half = n_fft // 2
        # the whole frame lattice's buffer, so sweeps over different cosets can share one
        self.n_buf = max((n_time - 1) * hop_length + n_fft, self.half + length)
        left = (n_fft - win_length) // 2
        self.window = torch.nn.functional.pad(hann_window(win_length, device, dtype), (left, n_fft - win_length - left))
        # buffer offset of each group's first frame
        self.starts = [self.first + g * self.hop for g in range(self.groups)]
        self.step = self.groups * self.hop  # between consecutive frames of one group
        env = torch.from_numpy(_envelope_numba(self.window.square().cpu().double().numpy(), self.first, self.hop,
                                               self.n_time, self.n_buf)).to(device=device, dtype=dtype)
        inv_env = torch.where(env > 1e-11, 1.0 / env.clamp_min(1e-11), torch.zeros_like(env))
        inv_env[:self.half] = 0  # outside [0, length) the signal is zero
        inv_env[self.half + length:] = 0
        self.inv_env = inv_env
        counts = [len(range(g, self.n_time, self.groups)) for g in range(self.groups)]
        self.frames = [torch.empty(batch, n, n_fft, dtype=dtype, device=device) for n in counts]
        cdtype = torch.complex128 if dtype == torch.float64 else torch.complex64
        self.coefs = [torch.empty(batch, n, n_fft // 2 + 1, dtype=cdtype, device=device) for n in counts]
        self.cpu = device.type == "cpu" and dtype in (torch.float32, torch.float64)
        if self.cpu:
            self.window_np, self.inv_env_np = self.window.numpy(), self.inv_env.numpy()
            self.frames_np = [f.numpy() for f in self.frames]

    @staticmethod
    def _fold(frames: torch.Tensor, step: int) -> torch.Tensor:
        """Overlap-add (B, n, n_fft) frames spaced ``step`` apart: (B, (n - 1) * step + n_fft)."""
        B, n, n_fft = frames.shape
        size = (n - 1) * step + n_fft
        out = torch.nn.functional.fold(frames.transpose(1, 2), output_size=(1, size), kernel_size=(1, n_fft),
                                       stride=(1, step))
        return out.reshape(B, size)

    def split(self, x: torch.Tensor) -> list[torch.Tensor]:
        """(B, T, ...) in frame order -> one contiguous (B, n_g, ...) tensor per group."""
        return [x[:, g::self.groups].contiguous() for g in range(self.groups)]

    def join(self, parts: list[torch.Tensor]) -> torch.Tensor:
        """Inverse of :meth:`split`."""
        out = parts[0].new_empty(parts[0].shape[0], self.n_time, *parts[0].shape[2:])
        for g, part in enumerate(parts):
            out[:, g::self.groups] = part
        return out

    def analyse(self, buf: torch.Tensor, g: int) -> torch.Tensor:
        """STFT of group g's frames of the buffer: (B, n_g, n_fft // 2 + 1) complex, in the group's
        work space (overwritten by the next call for g)."""
        if self.cpu:
            _group_frames_numba(buf.numpy(), self.window_np, self.starts[g], self.step, self.frames_np[g])
        else:
            frames = buf[:, self.starts[g]:].unfold(-1, self.n_fft, self.step)[:, :self.frames[g].shape[1]]
            torch.mul(frames, self.window, out=self.frames[g])
        return torch.fft.rfft(self.frames[g], out=self.coefs[g])

    def add(self, delta: torch.Tensor, buf: torch.Tensor, g: int) -> None:
        """buf += the least-squares ISTFT of a change ``delta`` (B, n_g, F) of group g's coefficients."""
        frames = torch.fft.irfft(delta, n=self.n_fft, out=self.frames[g])
        if self.cpu:
            _group_add_numba(self.frames_np[g], self.window_np, self.inv_env_np, self.starts[g], self.step,
                             buf.numpy())
            return
        seg = self._fold(frames * self.window, self.step)
        a, b = self.starts[g], self.starts[g] + seg.shape[-1]
        buf[:, a:b] += seg * self.inv_env[a:b]

    def synthesise(self, parts: list[torch.Tensor]) -> torch.Tensor:
        """A new buffer holding the ISTFT of all groups' coefficients (B, n_g, F)."""
        buf = self.window.new_zeros(self.frames[0].shape[0], self.n_buf)
        for g, part in enumerate(parts):
            self.add(part, buf, g)
        return buf

    def signal(self, buf: torch.Tensor) -> torch.Tensor:
        """The (B, length) signal the buffer holds."""
        return buf[:, self.half:self.half + self.length]


@contextlib.contextmanager
def one_cpu_thread(active: bool = True):
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
def _envelope_numba(window_sq, first, step, n_frames, n_buf):  # pragma: no cover - numba
    """Σ_k window_sq placed at first + k step, k < n_frames: (n_buf,) float64."""
    env = np.zeros(n_buf)
    for k in range(n_frames):
        start = first + k * step
        for j in range(window_sq.shape[0]):
            env[start + j] += window_sq[j]
    return env


@numba.njit(cache=True)
def _group_frames_numba(buf, window, first, step, out):  # pragma: no cover - numba
    """out[b, k] = window · buf[b, first + k step : first + k step + n_fft], out (B, n, n_fft)."""
    n_batch, n_frames, n_fft = out.shape
    for b in range(n_batch):
        for k in range(n_frames):
            seg = buf[b, first + k * step:first + k * step + n_fft]
            frame = out[b, k]
            for j in range(n_fft):
                frame[j] = seg[j] * window[j]


@numba.njit(cache=True, fastmath=True)
def _group_add_numba(frames, window, inv_env, first, step, buf):  # pragma: no cover - numba
    """buf[b, i] += inv_env[i] · Σ_k window · frames[b, k] placed at first + k step."""
    n_batch, n_frames, n_fft = frames.shape
    for b in range(n_batch):
        for k in range(n_frames):
            start = first + k * step
            seg = buf[b, start:start + n_fft]
            env = inv_env[start:start + n_fft]
            frame = frames[b, k]
            for j in range(n_fft):
                seg[j] += frame[j] * window[j] * env[j]


def polar(mag: torch.Tensor, phase: torch.Tensor) -> torch.Tensor:
    """mag · exp(i·phase), contiguous; vectorized cos and sin run 3x faster than torch.polar on the CPU."""
    return torch.complex(mag * torch.cos(phase), mag * torch.sin(phase)).contiguous()


def crop_or_pad(y: torch.Tensor, length: int) -> torch.Tensor:
    """Crop or zero-pad the last axis of y to ``length`` samples."""
    if y.shape[-1] >= length:
        return y[..., :length]
    return torch.nn.functional.pad(y, (0, length - y.shape[-1]))


@numba.njit(cache=True, fastmath=True)
def _project_step_numba(Z, mag, t, t_prev, momentum):  # pragma: no cover - numba
    """In place on interleaved (2 N,) float views: with c = t + momentum·(t − t_prev) and
    t' = mag·Z/|Z|: Z <- t' − c, t_prev <- t, t <- t'.

    Three passes (|Z|², the scale, the update): the middle one's sqrt and division vectorize
    once apart from the interleaved loads, twice as fast as one fused pass (or as the same
    three passes over L1-sized blocks, which numba no longer vectorizes).
    """
    m = Z.dtype.type(momentum)
    tiny = Z.dtype.type(1e-30)
    n = mag.shape[0]
    scale = np.empty(n, Z.dtype)
    for i in range(n):
        scale[i] = Z[2 * i] * Z[2 * i] + Z[2 * i + 1] * Z[2 * i + 1]
    for i in range(n):
        scale[i] = mag[i] / np.sqrt(scale[i] + tiny)
    for i in range(n):
        s = scale[i]
        t_re, t_im = t[2 * i], t[2 * i + 1]
        new_re, new_im = Z[2 * i] * s, Z[2 * i + 1] * s
        Z[2 * i] = new_re - (t_re + m * (t_re - t_prev[2 * i]))
        Z[2 * i + 1] = new_im - (t_im + m * (t_im - t_prev[2 * i + 1]))
        t_prev[2 * i], t_prev[2 * i + 1] = t_re, t_im
        t[2 * i], t[2 * i + 1] = new_re, new_im


def project_step(Z: torch.Tensor, mag: torch.Tensor, t: torch.Tensor, t_prev: torch.Tensor,
                  momentum: float) -> torch.Tensor:
    """FGLA's magnitude projection for one group, as a change: returns t' − c, sets t_prev <- t, t <- t'.

    c = t + momentum·(t − t_prev) is what the buffer holds for these frames; t' = mag·Z/|Z| the
    projection of their consistent STFT Z onto the magnitude. Z is overwritten with the change.
    On the CPU a fused numba loop (no temporaries); elsewhere plain torch.
    """
    if Z.shape != mag.shape or t.shape != mag.shape or t_prev.shape != mag.shape:
        raise ValueError(f"shapes differ: Z {tuple(Z.shape)}, mag {tuple(mag.shape)}, t {tuple(t.shape)}, "
                         f"t_prev {tuple(t_prev.shape)}")
    if Z.device.type == "cpu" and all(x.is_contiguous() for x in (Z, mag, t, t_prev)):
        _project_step_numba(_flat(Z), _flat(mag), _flat(t), _flat(t_prev), momentum)
        return Z
    new = Z * (mag / Z.abs().clamp_min(1e-30))
    Z.copy_(new - (t + momentum * (t - t_prev)))
    t_prev.copy_(t)
    t.copy_(new)
    return Z


def _flat(x: torch.Tensor) -> np.ndarray:
    """A contiguous CPU tensor as a flat numpy view (complex: interleaved re, im)."""
    return (torch.view_as_real(x) if x.is_complex() else x).reshape(-1).numpy()


# ---- the iteration ---------------------------------------------------------------------------


class State:
    """FGLA's iterate: per group the last two magnitude projections t, t_prev (B, n_g, F) complex,
    and their ISTFTs as buffers ``buf`` = ISTFT(t), ``buf_prev`` = ISTFT(t_prev).

    Starts from ``phase`` (B, n_time, F), frame order; or, given ``buf`` instead (another sweep's
    buffer, e.g. over another coset of the same frames), from the phase of its STFT at this
    sweep's frames.
    """

    def __init__(self, sweep: Sweep, mag: torch.Tensor, phase: torch.Tensor | None = None,
                 buf: torch.Tensor | None = None):
        if (phase is None) == (buf is None):
            raise ValueError("give exactly one of phase and buf")
        self.sweep = sweep
        self.mag = sweep.split(mag)  # (B, T, F) frame order -> per group
        if phase is not None:
            self.t = [polar(m, p) for m, p in zip(self.mag, sweep.split(phase))]
            self.buf = sweep.synthesise(self.t)
        else:  # the buffer's own STFT, whose ISTFT is the buffer: no synthesis needed
            self.t = [sweep.analyse(buf, g).clone() for g in range(sweep.groups)]
            self.buf = buf.clone()
        self.t_prev = [t.clone() for t in self.t]
        self.buf_prev = self.buf.clone()
        # the numba step's arguments made once (views: they follow in-place changes of t, t_prev);
        # converting them at every call cost 7 % of the zebra finch benchmark's time
        self.flat = ([(_flat(z), _flat(m), _flat(t), _flat(tp)) for z, m, t, tp in
                      zip(sweep.coefs, self.mag, self.t, self.t_prev)] if sweep.cpu else None)

    def resynthesise(self) -> None:
        """Recompute both buffers from t and t_prev (after they were changed directly)."""
        self.buf = self.sweep.synthesise(self.t)
        self.buf_prev = self.sweep.synthesise(self.t_prev)


def sweeps(state: State, n_iter: int, momentum: float, last_magnitude: bool = False) -> torch.Tensor | None:
    """n_iter FGLA iterations on ``state``, each a sweep over the frame groups.

    Each sweep first extrapolates, c = t + momentum·(t − t_prev) (on the buffers: the ISTFT is
    linear), then, group after group, projects the group's frames of the buffer's STFT onto the
    magnitude and overlap-adds the change, so later groups see earlier groups' update (with one
    group, exactly Perraudin et al.'s FGLA).

    Returns:
        with ``last_magnitude`` the magnitude (B, T, F), frame order, of the STFT each group was
        projected from in the last sweep (None otherwise, or when n_iter is 0).
    """
    sweep = state.sweep
    parts = []
    for i in range(n_iter):
        step = state.buf - state.buf_prev
        state.buf_prev.copy_(state.buf)
        state.buf.add_(step, alpha=momentum)
        for g in range(sweep.groups):
            Z = sweep.analyse(state.buf, g)
            if last_magnitude and i == n_iter - 1:
                parts.append(Z.abs())
            if state.flat is not None:
                _project_step_numba(*state.flat[g], momentum)
            else:
                project_step(Z, state.mag[g], state.t[g], state.t_prev[g], momentum)
            sweep.add(Z, state.buf, g)
    return sweep.join(parts) if parts else None


def griffin_lim(mag: torch.Tensor, n_fft: int, hop_length: int, win_length: int, n_iter: int = 32,
                momentum: float = 0.99, init_phase: torch.Tensor | str | None = None,
                length: int | None = None, seed: int = 0, groups: int = 1, cosets: int = 1) -> torch.Tensor:
    """Fast Griffin-Lim (Perraudin et al. 2013): alternating projections with momentum.

    Each iteration projects onto consistent spectrograms (istft then stft) and back onto the given
    magnitude; the step is extrapolated by ``momentum`` (0 gives classic Griffin-Lim). With
    ``groups`` G > 1 the projection runs on one group of frames at a time (frames t with
    t % G == g), each group analysed from a signal that already holds the earlier groups' update
    (a Gauss-Seidel sweep, in the spirit of Le Roux et al. 2010's in-place updates): the same FFT
    work per iteration, fewer iterations to the same error. With ``cosets`` C > 1 the frames are
    split into C cosets (frames t with t % C == c: an STFT with C times the hop and 1/C of the
    FFT work), solved one after the other as problems of their own, each with
    n_iter - CLOSING_SWEEPS sweeps from the signal the previous one left; the last CLOSING_SWEEPS
    iterations then sweep all frames. The FFT work of ``n_iter`` iterations in all; on an STFT
    whose cosets still overlap 4-fold (window = 8 hops, C = 2) 0.5-1.5 dB better SC than as
    many sweeps over all frames (``reconstruct`` uses both groups and cosets).

    Args:
        mag: (B, F, T) or (F, T) STFT magnitude, F = n_fft // 2 + 1 (tensor or array).
        n_fft, hop_length, win_length: the STFT that produced ``mag``.
        n_iter: iterations (each the FFT work of one stft + one istft of all frames).
        momentum: the inertial factor alpha (Perraudin et al. recommend 0.99).
        init_phase: (B, F, T) or (F, T) starting phase in radians, "random" (default, seeded)
            or "zeros" (with cosets, the first coset's frames are used).
        length: samples of the output; None gives (T - 1) * hop_length.
        seed: seed of the random starting phase.
        groups: frame groups per iteration (frame t in group t % G; a coset holds G / C of
            them); 1 is Perraudin et al.'s FGLA.
        cosets: frame cosets solved in turn before the closing sweeps (at most T); 1 sweeps
            all frames throughout.
    Returns:
        (B, length) waveform (the ISTFT of the last magnitude projection), or (length,) for an
        unbatched ``mag``.
    """
    mag_b, batched = as_batch(mag)
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
    cosets = max(1, min(int(cosets), n_time))
    coset_iter = max(0, n_iter - CLOSING_SWEEPS) if cosets > 1 else 0
    # (stride, offset, sweeps): each coset in turn, then all frames
    stages = [(cosets, c, coset_iter) for c in range(cosets) if coset_iter] + [(1, 0, n_iter - coset_iter)]
    mag_t, phase_t = mag_b.transpose(1, 2), phase.transpose(1, 2)  # (B, T, F): the layout of Sweep
    with one_cpu_thread(mag_b.device.type == "cpu"):
        buf = None
        for stride, offset, n_sweeps in stages:
            # a coset holds the groups g = offset (mod stride): its frames stay G hops apart
            sweep = Sweep(n_fft, hop_length, win_length, n_time, inner, max(1, groups // stride), B, mag_b.device,
                          mag_b.dtype, stride=stride, offset=offset)
            if buf is None:
                state = State(sweep, mag_t[:, offset::stride], phase_t[:, offset::stride])
            else:  # from the signal the last stage left
                state = State(sweep, mag_t[:, offset::stride], buf=buf)
            sweeps(state, n_sweeps, momentum)
            buf = state.buf
        y = crop_or_pad(sweep.signal(buf), length)
    return y if batched else y[0]
