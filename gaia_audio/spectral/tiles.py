"""Fixed-size tiles: spectrograms resized in time to the model's width, and back to their length.

A vocal unit of any duration becomes one tile by linear interpolation in time (antialiased when
shrinking); the same resize with the unit's own frame count undoes it. The frequency axis is
never resized.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def stretch(S: torch.Tensor, n_frames: int) -> torch.Tensor:
    """Resize spectrograms in time to ``n_frames`` frames.

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
