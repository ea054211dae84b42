"""The series a morph walks, and the one path that renders a step: decode → untile → invert.

Every kind of morph is a :class:`Series`: it decodes tiles at some positions along it
(:meth:`Series.decode`) and turns one decoded tile back into a spectrogram at the step's own
duration (:meth:`Series.untile`). :meth:`Series.render` is then the only place a step is made
into sound; the step spacing (``paths.equal_alphas``), the tuning's fidelity check
(``tune.endpoint_fidelity``) and the finished series (``finish.finish_series``) all call it.

Positions are what place a step on the series:

- :class:`UnitPair`, :class:`AlignedPair`: α (0 is the first endpoint, 1 the second), shape (S,);
- :class:`WeightedMix`: rows of mixing weights over N endpoints, shape (S, N);
- :class:`AttributeLine`: multiples of the attribute vector, shape (S,).
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np
import torch

from gaia_audio.morph.align import aligned_windows, dtw_path, overlap_add
from gaia_audio.morph.detail import add_detail, residual
from gaia_audio.morph.model import Endpoint, VocalModel
from gaia_audio.morph.paths import interpolate

#: Decoded tiles one pass of :meth:`Series.render` holds (with their spectrograms and waveforms);
#: a 20 s pair of recordings has about 430 aligned windows per step (benchmarks/morph_memory.py).
RENDER_TILES = 256


@dataclass
class Rendered:
    """Steps made into sound.

    Attributes:
        tiles: (S, ..., 1, n_freq, n_frames) decoded tiles (``...``: W windows of an aligned pair).
        spectrograms: S arrays (n_freq, T_k) in [0, 1], each at its step's duration.
        waveforms: S float32 arrays (n_k,) at the model's rate.
    """

    tiles: torch.Tensor
    spectrograms: list[np.ndarray]
    waveforms: list[np.ndarray]


class Series(ABC):
    """Steps decoded at positions along a morph (see the module docstring for each kind's positions).

    Attributes:
        vm: the model the series decodes with (a pair's is the tuned copy once it is tuned).
    """

    vm: VocalModel

    @abstractmethod
    def decode(self, positions: np.ndarray) -> torch.Tensor:
        """(S, ..., 1, n_freq, n_frames) decoded tiles at ``positions`` (S of them)."""

    @abstractmethod
    def untile(self, tiles: torch.Tensor, position) -> tuple[np.ndarray, int]:
        """One step's (n_freq, T) spectrogram from its decoded tiles, and its length in samples."""

    #: decoded tiles that make one step (an aligned pair's windows; one for the rest)
    tiles_per_step = 1

    @torch.no_grad()
    def render(self, positions: np.ndarray, method: str | None = None) -> Rendered:
        """Decode, untile and invert the steps at ``positions``.

        Steps go through in groups of at most ``RENDER_TILES`` decoded tiles (one step at a time
        for a pair of long recordings), so memory does not grow with the inputs' length.

        Args:
            positions: (S,) or (S, N), as the series takes them.
            method: phase reconstruction (None: the recipe's; "pghi" alone is what spacing measures with).
        """
        positions = np.asarray(positions)
        group = max(1, RENDER_TILES // self.tiles_per_step)
        parts = [self._render(positions[i:i + group], method) for i in range(0, len(positions), group)]
        if len(parts) == 1:
            return parts[0]
        return Rendered(torch.cat([p.tiles for p in parts]), [S for p in parts for S in p.spectrograms],
                        [y for p in parts for y in p.waveforms])

    def _render(self, positions: np.ndarray, method: str | None) -> Rendered:
        tiles = self.decode(positions)
        built = [self.untile(tile, position) for tile, position in zip(tiles, positions)]
        spectrograms = [S for S, _ in built]
        waveforms = self.vm.invert_many(spectrograms, [n for _, n in built], method=method)
        return Rendered(tiles, spectrograms, waveforms)


def lerp_length(n_a: int, n_b: int, alpha: float) -> int:
    """Samples of a step: linear in α between the endpoints' lengths (at least 1)."""
    return max(1, int(round(n_a + alpha * (n_b - n_a))))


class UnitPair(Series):
    """Steps between two single units: one time-normalised tile per step, duration interpolated."""

    def __init__(self, vm: VocalModel, a: Endpoint, b: Endpoint, path: str):
        self.vm, self.a, self.b, self.path = vm, a, b, path
        self.x = torch.stack([vm.to_tile(a.S), vm.to_tile(b.S)])   # (2, 1, n_freq, n_frames)
        self.z = vm.encode_tiles(self.x)                            # (2, D)
        self.residuals = None                                       # R_a, R_b once details are kept

    def keep_detail(self) -> None:
        """Add back from now on what the decoder misses of each endpoint (:mod:`gaia_audio.morph.detail`)."""
        tiles = self.decode(np.array([0.0, 1.0]))
        self.residuals = [residual(e.S.cpu().numpy(), self.vm.from_tile(tile, e.S.shape[1]))
                          for e, tile in zip((self.a, self.b), tiles)]

    def pivots(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """The endpoints' codes (1, D) each and tiles (1, 1, n_freq, n_frames) each, for tuning."""
        return self.z[:1], self.z[1:], self.x[:1], self.x[1:]

    def retune(self, vm: VocalModel, z_a: torch.Tensor, z_b: torch.Tensor) -> None:
        """Decode from now on with ``vm`` (a tuned decoder) at pivots ``z_a``, ``z_b`` (1, D)."""
        self.vm, self.z = vm, torch.cat([z_a, z_b])

    def decode(self, positions: np.ndarray) -> torch.Tensor:
        """(S, 1, n_freq, n_frames) decoded tiles at α = ``positions``."""
        return self.vm.decode_codes(interpolate(self.z[0], self.z[1], positions, self.path))

    def untile(self, tiles: torch.Tensor, position) -> tuple[np.ndarray, int]:
        """The step's (n_freq, T) spectrogram at its interpolated duration, and its length in samples."""
        alpha = float(position)
        n = lerp_length(len(self.a.y), len(self.b.y), alpha)
        S = self.vm.from_tile(tiles, self.vm.frames_for(n))
        return (S if self.residuals is None else add_detail(S, alpha, *self.residuals)), n


class AlignedPair(Series):
    """Steps between two long inputs: DTW-aligned windows, interpolated pairwise, overlap-added."""

    def __init__(self, vm: VocalModel, a: Endpoint, b: Endpoint, path: str):
        self.vm, self.a, self.b, self.path = vm, a, b, path
        S_a, S_b = a.S.cpu().numpy(), b.S.cpu().numpy()
        self.windows = aligned_windows(dtw_path(S_a, S_b, source=f"{a.name}, {b.name}"), vm.n_frames)
        tiles_a = torch.stack([vm.to_tile(a.S[:, i0:i1]) for i0, i1, _, _ in self.windows])
        tiles_b = torch.stack([vm.to_tile(b.S[:, j0:j1]) for _, _, j0, j1 in self.windows])
        self.z_a, self.z_b = vm.encode_tiles(tiles_a), vm.encode_tiles(tiles_b)  # (W, D) each
        self.x_a, self.x_b = tiles_a, tiles_b                                    # (W, 1, n_freq, n_frames)
        self.residuals = None                                # per window (R_a, R_b) once details are kept
        self.tiles_per_step = len(self.windows)

    def keep_detail(self) -> None:
        """Add back from now on what the decoder misses of each endpoint's windows, on each window's
        own frames (:mod:`gaia_audio.morph.detail`)."""
        tiles = self.decode(np.array([0.0, 1.0]))                               # (2, W, 1, n_freq, n_frames)
        S_a, S_b = self.a.S.cpu().numpy(), self.b.S.cpu().numpy()
        self.residuals = [(residual(S_a[:, i0:i1], self.vm.from_tile(t_a, i1 - i0)),
                           residual(S_b[:, j0:j1], self.vm.from_tile(t_b, j1 - j0)))
                          for t_a, t_b, (i0, i1, j0, j1) in zip(tiles[0], tiles[1], self.windows)]

    def pivots(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """The aligned windows' codes (W, D) and tiles (W, 1, n_freq, n_frames) of each endpoint."""
        return self.z_a, self.z_b, self.x_a, self.x_b

    def retune(self, vm: VocalModel, z_a: torch.Tensor, z_b: torch.Tensor) -> None:
        """Decode from now on with ``vm`` (a tuned decoder) at pivots ``z_a``, ``z_b`` (W, D)."""
        self.vm, self.z_a, self.z_b = vm, z_a, z_b

    def decode(self, positions: np.ndarray) -> torch.Tensor:
        """(S, W, 1, n_freq, n_frames) decoded window tiles at α = ``positions``."""
        z = interpolate(self.z_a, self.z_b, positions, self.path)                # (S, W, D)
        tiles = self.vm.decode_codes(z.reshape(-1, z.shape[-1]))
        return tiles.reshape(z.shape[0], z.shape[1], *tiles.shape[1:])

    def untile(self, tiles: torch.Tensor, position) -> tuple[np.ndarray, int]:
        """Overlap-add the decoded windows on the time axis warped by α = ``position``."""
        alpha = float(position)
        n = lerp_length(len(self.a.y), len(self.b.y), alpha)
        total = self.vm.frames_for(n)
        pieces, offsets = [], []
        for w, (tile, (i0, i1, j0, j1)) in enumerate(zip(tiles, self.windows)):
            start = round((1 - alpha) * i0 + alpha * j0)
            length = max(1, round((1 - alpha) * (i1 - i0) + alpha * (j1 - j0)))
            piece = self.vm.from_tile(tile, length)
            pieces.append(piece if self.residuals is None else add_detail(piece, alpha, *self.residuals[w]))
            offsets.append(int(min(max(start, 0), total - 1)))
        return overlap_add(pieces, offsets, total), n


class WeightedMix(Series):
    """Sounds at weighted mixtures of N single units' codes (bilinear grids, barycentric lattices);
    a sound's duration is the same mixture of the units' durations."""

    def __init__(self, vm: VocalModel, endpoints: list[Endpoint]):
        self.vm, self.endpoints = vm, endpoints
        self.z = vm.encode_tiles(torch.stack([vm.to_tile(e.S) for e in endpoints]))  # (N, D)
        self.lengths = np.array([len(e.y) for e in endpoints], dtype=np.float64)

    def decode(self, positions: np.ndarray) -> torch.Tensor:
        """(S, 1, n_freq, n_frames) decoded tiles at weight rows ``positions`` (S, N)."""
        w = torch.as_tensor(np.asarray(positions, np.float64), dtype=self.z.dtype, device=self.z.device)
        return self.vm.decode_codes(w @ self.z)

    def untile(self, tiles: torch.Tensor, position) -> tuple[np.ndarray, int]:
        n = max(1, int(round(float(np.dot(position, self.lengths)))))
        return self.vm.from_tile(tiles, self.vm.frames_for(n)), n


class AttributeLine(Series):
    """One unit moved along an attribute direction: codes z + e · vector; every step keeps its duration."""

    def __init__(self, vm: VocalModel, a: Endpoint, vector: np.ndarray):
        self.vm, self.a = vm, a
        self.z = vm.encode_tiles(vm.to_tile(a.S)[None])[0]                                  # (D,)
        self.vector = torch.as_tensor(np.asarray(vector), dtype=self.z.dtype, device=self.z.device)

    def decode(self, positions: np.ndarray) -> torch.Tensor:
        """(S, 1, n_freq, n_frames) decoded tiles at multiples ``positions`` (S,) of the vector."""
        e = torch.as_tensor(np.asarray(positions, np.float64), dtype=self.z.dtype, device=self.z.device)
        return self.vm.decode_codes(self.z[None] + e[:, None] * self.vector[None])

    def untile(self, tiles: torch.Tensor, position) -> tuple[np.ndarray, int]:
        n = len(self.a.y)
        return self.vm.from_tile(tiles, self.vm.frames_for(n)), n
