"""Training previews: PNG grids of x, D(x), G(x), D(G(x)) and interpolation strips, and WAVs of
decoded interpolations, written to ``RUN/samples/`` every ``train.sample_every`` steps."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from gaia_audio.config import Config
from gaia_audio.data.cache import TileSet
from gaia_audio.data.sources import source_for
from gaia_audio.inversion import invert
from gaia_audio.io import audio
from gaia_audio.models import decode_line
from gaia_audio.render import figures


@torch.no_grad()
def write_previews(model: torch.nn.Module, frontend, held: TileSet, out_dir: Path, step: int,
                  config: Config, n_show: int = 6) -> list[Path]:
    """Write ``step_XXXXXXX.png`` (reconstruction grid + strip) and ``step_XXXXXXX.wav`` (strip audio).

    Args:
        model: the model being trained (put back in training mode afterwards).
        frontend: the ``spectral.frontend.Spectrogram`` the tiles came from (for inversion); None for
            images and lines.
        held: held-out tiles to show (at least 2).
        out_dir: the run's samples folder.
        step: training step, for file names.
        config: the run's recipe (inversion settings).
        n_show: tiles per grid row.
    Returns:
        The files written.
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    x = torch.from_numpy(np.asarray(held.tiles[:n_show], dtype=np.float32)).to(device)  # (N, 1, H, W)
    strip = decode_line(model, x[0], x[1], n=8)
    png = out_dir / f"step_{step:07d}.png"
    figures.tile_grid(model.reconstructions(x) + [("interpolation", strip)], png,
                      title=f"{config.name} step {step}")
    if not source_for(config).has_sound:  # images and lines: no sound to write
        model.train(was_training)
        return [png]
    # The strip as sound: durations go linearly from one endpoint's to the other's.
    n_a, n_b = int(held.n_frames_orig[0]), int(held.n_frames_orig[1])
    gap = np.zeros(int(0.1 * frontend.sr), np.float32)
    pieces = []
    for k, tile in enumerate(strip):
        n_frames = max(1, round(n_a + (n_b - n_a) * k / (len(strip) - 1)))
        S = frontend.untile(tile.float().cpu()[None], n_frames)
        y = invert(frontend, S, method=config.inversion.method, n_iter=config.inversion.n_iter,
                   momentum=config.inversion.momentum)
        pieces += [audio.apply_ramps(np.asarray(y, np.float32).reshape(-1), frontend.sr, 5.0), gap]
    wav = out_dir / f"step_{step:07d}.wav"
    y = np.concatenate(pieces)
    audio.save(wav, 0.9 * y / max(np.abs(y).max(), 1e-9), frontend.sr)
    model.train(was_training)
    return [png, wav]
