"""The low band (inversion/low_band.py): finding the sign walls Griffin-Lim leaves there."""
from __future__ import annotations

import pytest
import torch

from gaia_audio.inversion import low_band as phase_walls


def test_low_band_bins_span_two_main_lobes():
    assert phase_walls.low_band_bins(512, 512) == 5  # Hann main lobe: 2 bins either side
    assert phase_walls.low_band_bins(1024, 256) == 17


def test_wall_signs_flip_after_each_dip():
    mag = torch.ones(1, 9, 4)
    est = mag.clone()
    est[0, 3, :2] = 0.3  # a dip in the low band (bins 0-1) at frame 3
    signs = phase_walls.wall_signs(est, mag, n_low=2)
    assert signs.tolist() == [[1, 1, 1, -1, -1, -1, -1, -1, -1]]
    assert phase_walls.low_band_share(est, mag, 2).item() == pytest.approx(1.0)


def test_wall_signs_ignore_shallow_dips_and_quiet_frames():
    mag = torch.ones(1, 9, 4)
    mag[0, 6, :2] = 1e-3  # a frame whose low band is almost silent
    est = mag.clone()
    est[0, 3, :2] = 0.9  # energy ratio 0.81: above WALL_RATIO, no wall
    est[0, 6, :2] = 0.0  # a deep dip, but in a quiet frame
    assert phase_walls.wall_signs(est, mag, n_low=2).tolist() == [[1] * 9]
    assert phase_walls.low_band_share(mag, mag, 2).item() == 0.0  # exact estimate: no share
