"""The low band of a Griffin-Lim estimate: sign walls, found and flipped away on a decimated STFT.

A real signal's content below about two main-lobe widths of the window (a DC offset, rumble,
mains hum) has its positive- and negative-frequency parts overlapping inside each frame, so the
STFT magnitude there pins the low band's phase up to a *sign*, not up to a continuous rotation
as higher up. Griffin-Lim then settles into a local minimum in which the low band equals the true
one in some stretches and its negative in others, joined by "walls" (a phase slip of pi over a
few frames). A continuous rotation cannot undo a sign, so more iterations do not remove them
(on the Bengalese finch song of benchmarks/inversion.py: -30.7 dB SC after 32 or 200 FGLA
iterations, -41.9 dB after flipping the walls found with the true signal, then 16 iterations).

A wall leaves the consistent estimate's low-band energy below the target's for a few frames.
:func:`wall_signs` flips the low band of every frame after each such dip (a sign per frame); the
iterations that follow heal the flipped wall, which is no longer protected by the sign symmetry.

Layout: (B, T, F), frames in time order. :func:`solve_low_band` runs it after PGHI on a decimated
STFT of the low band alone, at a fraction of a full iteration's cost.
"""
from __future__ import annotations

import torch

from gaia_audio.inversion.sweeps import State, Sweep, one_cpu_thread, sweeps

WALL_RATIO = 0.7  # a dip of the estimate's low-band energy below this fraction of the target's marks a wall
MIN_ENERGY = 0.05  # solve the low band apart only where it holds this share of the energy (13% in the
# Bengalese finch song of benchmarks/inversion.py, 1.4% in the mouse USV clip, < 0.1% in the others)
MIN_SHARE = 0.5  # look for walls only where the low band holds at least this share of the inconsistency
QUIET = 1e-3  # ignore dips in frames whose target low-band energy is below this fraction of the loudest frame's
# the low-band sub-problem solved after PGHI : FGLA iterations per stage,
# a wall flip between stages; on the decimated STFT (bengalese_finch: D = 32) all three cost about
# 1.5 full iterations
LOW_BAND_STAGES = (12, 12, 12)


def low_band_bins(n_fft: int, win_length: int) -> int:
    """Bins 0..K-1 in which a real signal's positive and negative frequencies meet: K = 4 n_fft / win + 1.

    A Hann window's main lobe is 2 n_fft / win_length bins either side; a component at bin f
    overlaps its mirror at -f while 2 f is within the main lobe's full width (up to 2 main-lobe
    half-widths from DC).
    """
    return 4 * n_fft // win_length + 1


def low_band_share(est_mag: torch.Tensor, mag: torch.Tensor, n_low: int) -> torch.Tensor:
    """Share of the inconsistency ``|| |Z| - mag ||^2`` that lies in bins 0..n_low-1.

    Args:
        est_mag: (B, T, F) magnitude of the consistent estimate |STFT(ISTFT(c))|.
        mag: (B, T, F) target magnitude.
    Returns:
        (B,) shares in [0, 1] (0 where the estimate is exact).
    """
    err = (est_mag - mag).square()
    total = err.sum(dim=(1, 2))
    return torch.where(total > 0, err[..., :n_low].sum(dim=(1, 2)) / total.clamp_min(1e-30), torch.zeros_like(total))


def wall_signs(est_mag: torch.Tensor, mag: torch.Tensor, n_low: int, ratio: float = WALL_RATIO) -> torch.Tensor:
    """A sign per frame that flips the low band after each wall (a dip of its energy ratio).

    A wall is a frame m where the estimate's low-band energy over the target's is a local minimum
    (<= the previous frame, < the next) below ``ratio``, in a frame whose target low-band energy
    is not negligible. Frames after an odd number of walls get -1.

    Args:
        est_mag: (B, T, F) magnitude of the consistent estimate |STFT(ISTFT(c))|.
        mag: (B, T, F) target magnitude.
        n_low: bins 0..n_low-1 form the low band (:func:`low_band_bins`).
        ratio: the energy ratio below which a dip counts as a wall.
    Returns:
        (B, T) tensor of +1 / -1 in the dtype of ``mag``.
    """
    target = mag[..., :n_low].square().sum(-1)  # (B, T)
    r = (est_mag[..., :n_low].square().sum(-1) + 1e-30) / (target + 1e-30)
    wall = torch.zeros_like(r, dtype=torch.bool)
    if r.shape[1] >= 3:
        inner = r[:, 1:-1]
        loud = target[:, 1:-1] > QUIET * target.amax(dim=1, keepdim=True)
        wall[:, 1:-1] = (inner < ratio) & (inner <= r[:, :-2]) & (inner < r[:, 2:]) & loud
    odd = torch.cumsum(wall.to(torch.int64), dim=1) % 2  # walls at or before each frame
    return (1 - 2 * odd).to(mag.dtype)


def solve_low_band(mag: torch.Tensor, phase: torch.Tensor, n_fft: int, hop_length: int, win_length: int,
                   momentum: float = 0.9, stages: tuple[int, ...] = LOW_BAND_STAGES) -> torch.Tensor | None:
    """Re-solve the phase of the low band (bins where a real signal's +f and -f meet), free of sign walls.

    The lowest ``n_fft // (2 D) + 1`` bins are treated as the STFT of the signal decimated by D
    (window, hop and n_fft divided by D, magnitudes by D; D the largest power of 2 that divides
    them and leaves at least 2 K - 1 bins, K = :func:`low_band_bins`: the low band and
    about as many bins again), solved by FGLA in ``stages`` with the low band's sign walls flipped
    between stages (:func:`wall_signs`), at about 1/D of a full iteration's cost.
    Runs only where the low band holds at least ``MIN_ENERGY`` of the energy and,
    after the first stage, ``MIN_SHARE`` of the inconsistency; elsewhere it costs
    nothing (or one stage).

    Args:
        mag: (B, F, T) STFT magnitude; phase: (B, F, T) starting phase (e.g. PGHI's).
    Returns:
        (B, F, T) phase with bins 0..K-1 replaced where the sub-problem ran, or None where it
        ran for no item (signal without a strong low band, or an STFT that cannot be decimated).
    """
    n_low = low_band_bins(n_fft, win_length)
    D = 1
    left = (n_fft - win_length) // 2  # the window's offset in the frame must decimate too
    while (hop_length % (2 * D) == 0 and n_fft % (2 * D) == 0 and win_length % (2 * D) == 0
           and left % (2 * D) == 0 and n_fft // (2 * D) // 2 + 1 >= 2 * n_low - 1):
        D *= 2
    if D == 1 or not stages:
        return None
    energy = mag.square().sum(dim=-1)  # (B, F)
    strong = energy[:, :n_low].sum(-1) >= MIN_ENERGY * energy.sum(-1).clamp_min(1e-30)
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
                strong &= low_band_share(est, mag_d, n_low) >= MIN_SHARE
                if not bool(strong.any()):
                    return None
            if i < len(stages) - 1:
                flip = wall_signs(est, mag_d, n_low)[..., None].to(mag_d.dtype)
                state.t[0][..., :n_low] *= flip  # the estimate and the momentum's memory alike
                state.t_prev[0][..., :n_low] *= flip
                state.resynthesise()
    out = phase.clone()
    low = torch.angle(state.t[0][..., :n_low]).transpose(1, 2)  # (B, n_low, T)
    out[:, :n_low] = torch.where(strong[:, None, None], low.to(out.dtype), out[:, :n_low])
    return out
