"""Which front end the speech model trains on: training cost against inversion ceiling, at 16 kHz.

For each candidate front end, on held-out words of the Asterisk English prompts
(``gaia-audio prepare asterisk``), prints:

* the tile shape and the seconds of one GAIA training step of the ``small`` networks (batch 16,
  one torch thread: what a run on one core of this machine pays), best of 3;
* the tile ceiling: median fidelity (dB) of tile → untile → invert of each word (what a model
  that decodes one tile per word can at best reach in the middle of a continuum);
* the whole-spectrogram ceiling: median fidelity of the word's own spectrogram inverted (what a
  continuum's ends reach, where detail transfer restores the recording's spectrogram).

    python benchmarks/speech_frontend.py --data data/asterisk_en --words 16
"""
from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from gaia_audio.inversion import invert
from gaia_audio.io import audio
from gaia_audio.io import manifest as manifests
from gaia_audio.models import build_model
from gaia_audio.spectral.metrics import fidelity_db
from gaia_audio.spectral.presets import make_frontend
from gaia_audio.training.objectives import make_objective

CANDIDATES = {
    "speech_16k as published (512-point, 4 ms hop, 128 frames)": dict(preset="speech_16k"),
    "linear 256-point, 2 ms hop, 64 frames (speech_wideband)": dict(preset="speech_16k", n_fft=256, win_length=256,
                                                                      hop_length=32, fmin=100.0, n_frames=64),
    "linear 256-point, 2 ms hop, 96 frames": dict(preset="speech_16k", n_fft=256, win_length=256, hop_length=32,
                                                  fmin=100.0, n_frames=96),
    "mel 64 bands, 512-point, 64 frames": dict(preset="speech_16k", kind="mel", n_mels=64, fmin=50.0, n_frames=64),
    "mel 80 bands, 512-point, 96 frames": dict(preset="speech_16k", kind="mel", n_mels=80, fmin=50.0, n_frames=96),
}


def step_seconds(tile_shape: tuple[int, int], repeats: int = 3) -> float:
    """Best seconds of a batch-16 GAIA training step of the small networks on this tile."""
    torch.manual_seed(0)
    model = build_model((1, *tile_shape), kind="gaia", size="small")
    objective = make_objective(model, lr_max=1e-3)
    x, noise = torch.rand(16, 1, *tile_shape), torch.Generator().manual_seed(0)
    objective.step(x, noise)  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        objective.step(x, noise)
        times.append(time.perf_counter() - start)
    return min(times)


@torch.no_grad()
def ceilings(frontend, words: list[np.ndarray]) -> tuple[float, float]:
    """(tile ceiling, whole-spectrogram ceiling): median fidelity in dB over ``words``."""
    tiled, whole = [], []
    for y in words:
        S = frontend(torch.as_tensor(y))                                   # (1, n_freq, T)
        tiles, n_frames = frontend.tile(S)
        tiled.append(fidelity_db(frontend, y, invert(frontend, frontend.untile(tiles, n_frames), length=len(y))[0]
                                 .cpu().numpy()))
        whole.append(fidelity_db(frontend, y, invert(frontend, S, length=len(y))[0].cpu().numpy()))
    return statistics.median(tiled), statistics.median(whole)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path("data/asterisk_en"),
                        help="gaia-audio prepare asterisk's folder")
    parser.add_argument("--words", type=int, default=16, help="held-out words measured (default 16)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = manifests.read_manifest(args.data / "manifest_heldout.csv")
    picked = rows[:: max(1, len(rows) // args.words)][: args.words]
    words = [audio.load(args.data / r["path"], sr=16000)[0] for r in picked]
    print(f"\n{len(words)} held-out words, one torch thread\n")
    print("| front end (16 kHz) | tile | s / step | tile → untile → invert (dB) | whole spectrogram inverted (dB) |")
    print("|---|---|---|---|---|")
    for name, settings in CANDIDATES.items():
        frontend = make_frontend(**settings)
        tile, whole = ceilings(frontend, words)
        shape = tuple(frontend.tile_shape)
        seconds = step_seconds(shape)
        print(f"| {name} | {shape[0]} × {shape[1]} | {seconds:.2f} | {tile:.1f} | {whole:.1f} |", flush=True)


if __name__ == "__main__":
    main()
