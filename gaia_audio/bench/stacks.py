"""The audio counterpart of the lines benchmark: a family of harmonic stacks varying in pitch.

Every member is the same 90 ms vocal unit (four harmonics, smooth onset and offset) at a
fundamental f0 = f_lo·(f_hi/f_lo)^p, with the family parameter p in [0, 1]. The right morph
between two members is a member at an intermediate p, never a mixture of both stacks. Morphs
are scored exactly as lines are (:mod:`gaia_audio.lines`), on the front end's [0, 1] tiles:

- Mean Distance: cosine distance of each decoded step to its nearest of 1,000 reference
  members (p evenly spaced).
- Smoothness: the largest step of the recovered p along the path over its total change, minus
  the ideal 1/15.
"""
from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np
import torch

from gaia_audio.bench.lines import N_FRAMES, smoothness_of_angles
from gaia_audio.errors import DataError
from gaia_audio.io import audio
from gaia_audio.io.manifest import write_manifest
from gaia_audio.spectral.presets import make_frontend

SR = 22050  #: sample rate of the members (the zebra_finch preset's)
DURATION = 0.09  #: seconds of every member
F_RANGE = (700.0, 1400.0)  #: f0 at p = 0 and p = 1 (Hz)
HARMONICS = (1.0, 0.5, 0.3, 0.2)  #: amplitude of harmonics 1…4
N_REFERENCE = 1000  #: reference members for the metrics


def synthesize(p: np.ndarray, sr: int = SR, duration: float = DURATION) -> np.ndarray:
    """Waveforms of family members.

    Args:
        p: (N,) family parameters in [0, 1] (0 = lowest pitch).
        sr: sample rate.
        duration: seconds.
    Returns:
        (N, n) float32 samples, peak 0.5.
    """
    p = np.asarray(p, np.float64).reshape(-1)
    if np.any((p < 0) | (p > 1)):
        raise DataError("family parameters p must lie in [0, 1]")
    t = np.arange(int(round(duration * sr))) / sr                                     # (n,)
    f0 = F_RANGE[0] * (F_RANGE[1] / F_RANGE[0]) ** p                                  # (N,)
    y = sum(a * np.sin(2 * np.pi * (k + 1) * f0[:, None] * t[None]) for k, a in enumerate(HARMONICS))
    ramp = np.clip(np.minimum(t, duration - t) / 0.015, 0, 1)                         # 15 ms raised-cosine ramps
    y = y * (np.sin(np.pi / 2 * ramp) ** 2)[None]
    return (0.5 * y / np.abs(y).max(axis=1, keepdims=True)).astype(np.float32)


def default_frontend():
    """The zebra_finch preset front end that the family is tiled with."""
    return make_frontend(preset="zebra_finch")


@torch.no_grad()
def family_tiles(p: np.ndarray, frontend=None, chunk: int = 256) -> np.ndarray:
    """Front-end tiles of family members: (N,) p → (N, 1, n_freq, n_frames) float32 in [0, 1]."""
    frontend = frontend or default_frontend()
    y = synthesize(p, sr=int(frontend.sr))
    out = [frontend.tile(frontend(torch.from_numpy(y[i:i + chunk])))[0].float().numpy()
           for i in range(0, len(y), chunk)]
    return np.concatenate(out)


@functools.lru_cache(maxsize=1)
def reference_set(n: int = N_REFERENCE) -> tuple[np.ndarray, np.ndarray]:
    """(p (n,), unit-norm flattened tiles (n, n_freq·n_frames)) of the reference members."""
    p = np.linspace(0, 1, n)
    flat = family_tiles(p).reshape(n, -1)
    return p, flat / np.maximum(np.linalg.norm(flat, axis=1, keepdims=True), 1e-12)


def score_paths(paths: np.ndarray) -> dict[str, float]:
    """Mean Distance and Smoothness of morph paths against the family.

    Args:
        paths: (P, n_steps, n_freq, n_frames) decoded tiles in [0, 1] (zebra_finch preset).
    Returns:
        {"mean_distance", "smoothness", "n_paths"}.
    """
    paths = np.asarray(paths, np.float32)
    if paths.ndim != 4 or paths.shape[1] < 2:
        raise DataError(f"paths must be (P, n_steps >= 2, n_freq, n_frames), got {paths.shape}")
    p_ref, ref = reference_set()
    if paths.shape[2] * paths.shape[3] != ref.shape[1]:
        raise DataError(f"paths' tiles have {paths.shape[2:]} bins×frames; the family's have another shape")
    flat = paths.reshape(-1, ref.shape[1])
    sim = (flat @ ref.T) / np.maximum(np.linalg.norm(flat, axis=1, keepdims=True), 1e-12)
    best = sim.argmax(axis=1)
    distance = 1 - sim[np.arange(len(best)), best]
    p_hat = p_ref[best].reshape(paths.shape[:2])
    return {"mean_distance": float(distance.mean()), "smoothness": float(smoothness_of_angles(p_hat).mean()),
            "n_paths": int(len(paths))}


def evaluation_pairs(n_pairs: int, seed: int = 1234) -> np.ndarray:
    """(n_pairs, 2) endpoint parameters, independent and uniform on [0, 1]."""
    return np.random.default_rng(seed).uniform(0, 1, (n_pairs, 2))


def true_paths(pairs: np.ndarray, n_steps: int = N_FRAMES) -> np.ndarray:
    """Members at evenly spaced intermediate p: (P, n_steps, n_freq, n_frames)."""
    alpha = np.linspace(0, 1, n_steps)
    p = pairs[:, :1] + alpha[None] * (pairs[:, 1:] - pairs[:, :1])
    tiles = family_tiles(p.reshape(-1))
    return tiles[:, 0].reshape(len(pairs), n_steps, *tiles.shape[-2:])


def crossfade_paths(pairs: np.ndarray, n_steps: int = N_FRAMES) -> np.ndarray:
    """Cross-fades of the endpoint tiles (1 − α)·S₁ + α·S₂: (P, n_steps, n_freq, n_frames)."""
    ends = family_tiles(np.asarray(pairs).reshape(-1))[:, 0].reshape(len(pairs), 2, -1)
    alpha = np.linspace(0, 1, n_steps, dtype=np.float32)[None, :, None]
    out = (1 - alpha) * ends[:, :1] + alpha * ends[:, 1:]
    return out.reshape(len(pairs), n_steps, *family_tiles(pairs[:1, 0])[0, 0].shape)


def switch_paths(pairs: np.ndarray, n_steps: int = N_FRAMES) -> np.ndarray:
    """Abrupt switches from the first endpoint to the second halfway: (P, n_steps, n_freq, n_frames)."""
    ends = family_tiles(np.asarray(pairs).reshape(-1))[:, 0].reshape(len(pairs), 2, -1)
    second = (np.arange(n_steps) >= n_steps // 2)[None, :, None]
    out = np.where(second, ends[:, 1:], ends[:, :1])
    return out.reshape(len(pairs), n_steps, *family_tiles(pairs[:1, 0])[0, 0].shape)


@torch.no_grad()
def model_paths(model: torch.nn.Module, pairs: np.ndarray, n_steps: int = N_FRAMES,
                batch_size: int = 128) -> np.ndarray:
    """Decoded latent interpolations between encoded endpoint members: (P, n_steps, n_freq, n_frames)."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    x = torch.from_numpy(family_tiles(np.asarray(pairs).reshape(-1))).to(device)
    z = torch.cat([model.encode(c) for c in x.split(batch_size)]).float().reshape(len(pairs), 2, -1)
    alpha = torch.linspace(0, 1, n_steps, device=device)[None, :, None]
    codes = ((1 - alpha) * z[:, :1] + alpha * z[:, 1:]).reshape(-1, z.shape[-1])
    frames = torch.cat([model.decode(c).float().cpu() for c in codes.split(batch_size)])
    model.train(was_training)
    return frames[:, 0].numpy().reshape(len(pairs), n_steps, *frames.shape[-2:])


def write_dataset(root: str | os.PathLike, n: int = 256, seed: int = 0) -> Path:
    """Write ``n`` random family members as WAVs with a manifest (``label`` = p) for training.

    Returns:
        The manifest's path (written last, so a partial folder has none).
    """
    root = Path(root)
    (root / "units").mkdir(parents=True, exist_ok=True)
    p = np.random.default_rng(seed).uniform(0, 1, n)
    y = synthesize(p)
    rows = []
    for i in range(n):
        name = f"units/stack_{i:04d}.wav"
        audio.save(root / name, y[i], SR)
        rows.append({"path": name, "source": "stacks", "onset": 0.0, "offset": DURATION, "sr": SR,
                     "duration": DURATION, "label": f"{p[i]:.6f}"})
    return write_manifest(rows, root / "manifest.csv")
