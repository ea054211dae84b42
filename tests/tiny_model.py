"""A tiny trained model and synthetic inputs for the morph, API and CLI tests (a few seconds)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf
from conftest import make_synthetic_song

REPO = Path(__file__).resolve().parent.parent


def synthetic_unit(seed: int, k: int = 0, sr: int = 44100) -> np.ndarray:
    """Unit ``k`` (60-180 ms harmonic stack with a sweep) of synthetic song ``seed``: (n,) float32."""
    y, sr, units = make_synthetic_song(sr=sr, seed=seed)
    onset, offset = units[k]
    return y[int(onset * sr):int(offset * sr)].copy()


def write_tiny_dataset(root: Path) -> Path:
    """Twelve synthetic bird-like units (22.05 kHz WAVs) and their manifest in ``root``."""
    (root / "units").mkdir(parents=True, exist_ok=True)
    lines = ["path,source,onset,offset,sr,duration,label"]
    for seed in range(3):
        y, sr, units = make_synthetic_song(sr=22050, seed=seed)
        for k, (onset, offset) in enumerate(units):
            name = f"units/s{seed}_u{k}.wav"
            sf.write(root / name, y[int(onset * sr):int(offset * sr)], sr)
            lines.append(f"{name},song{seed}.wav,{onset:.4f},{offset:.4f},{sr},{offset - onset:.4f},")
    (root / "manifest.csv").write_text("\n".join(lines) + "\n")
    return root


def train_tiny_model(root: Path, kind: str = "gaia") -> Path:
    """Train a very small model for 4 steps on 12 synthetic units; return its run folder.

    Its weights are far from converged: the tests that use it check the machinery (shapes,
    files, columns, errors), never sound quality. Training runs on one thread: on a shared,
    busy 2-core machine torch's second thread makes these tiny steps many times slower.
    """
    import torch

    from gaia_audio.config import load_config
    from gaia_audio.training.loop import train

    data = write_tiny_dataset(root / "data")
    config = load_config(REPO / "recipes" / "zebra_finch.yaml", [
        f"data.root={data}", "data.prepare=null", "train.steps=4", "train.batch_size=4", f"model.kind={kind}",
        "model.width=4", "model.n_res=1", "model.style_dim=8", "model.mlp_dim=8", "model.latent_dim=8",
        "train.sample_every=0", "train.checkpoint_every=100", "inversion.n_iter=4", f"runs_dir={root / 'runs'}"])
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return train(config, run_dir=root / "runs" / kind, progress=False)
    finally:
        torch.set_num_threads(threads)


def write_wav(path: Path, y: np.ndarray, sr: int) -> Path:
    """Write samples ((n,) or (n, channels)) as a 16-bit WAV and return the path."""
    sf.write(path, y, sr, subtype="PCM_16")
    return path
