"""Large corpora: preparation streams from disk within 2 GB, and the loader outpaces training.

1. Generates a synthetic corpus of bird-like unit WAVs (harmonic stacks with sweeps and
   envelopes, 50-300 ms, 22.05 kHz) and its manifest.csv: ``--hours`` of audio (10 by default).
2. Builds the tile cache (one pass, memory-mapped, progress bar) in a fresh subprocess and
   reports that process's peak resident memory (``ru_maxrss``) and its peak anonymous memory
   (sampled from /proc; file pages of the memory-mapped cache are reclaimable and excluded).
3. Measures the data loader (``BatchSampler`` with augmentation, reading from the memory-mapped
   cache) in tiles/s, against what a training step consumes (tiles/s of the small preset's GAIA
   ``train_step``), and prints both with their ratio (target: loader >= 5x).

Example:
    python benchmarks/large_corpus.py --hours 10 --work /data/large_corpus
    python benchmarks/large_corpus.py --hours 0.5 --work /tmp/lc --threads 1
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import soundfile as sf

SR = 22050
LIMIT_GB = 2.0


def synth_unit(rng: np.random.Generator, sr: int = SR) -> np.ndarray:
    """One bird-like unit: a 5-harmonic stack with a frequency sweep and a smooth envelope, (n,) float32."""
    dur = rng.uniform(0.05, 0.3)
    t = np.arange(int(dur * sr)) / sr
    f0 = rng.uniform(500.0, 1400.0)
    phase = 2 * np.pi * np.cumsum(f0 + rng.uniform(-0.4, 0.4) * f0 * t / dur) / sr
    y = sum(np.sin(k * phase) / k for k in range(1, 6)) * np.sin(np.pi * t / dur) ** 2
    y = 0.4 * y / np.abs(y).max() + rng.normal(0, 1e-4, t.size)
    return y.astype(np.float32)


def generate_corpus(root: Path, hours: float, seed: int = 0, per_folder: int = 1000) -> tuple[int, float]:
    """Write units until ``hours`` of audio are on disk, plus manifest.csv; reuse a finished corpus.

    Returns:
        (number of units, seconds of audio).
    """
    manifest = root / "manifest.csv"
    if manifest.is_file():
        lines = manifest.read_text().splitlines()[1:]
        return len(lines), sum(float(line.split(",")[5]) for line in lines)
    rng = np.random.default_rng(seed)
    rows, total, target = ["path,source,onset,offset,sr,duration,label"], 0.0, hours * 3600
    from tqdm import tqdm

    with tqdm(total=round(target), desc="writing corpus", unit="s audio") as bar:
        while total < target:
            i = len(rows) - 1
            folder = root / "units" / f"{i // per_folder:04d}"
            if i % per_folder == 0:
                folder.mkdir(parents=True, exist_ok=True)
            y = synth_unit(rng)
            name = f"units/{i // per_folder:04d}/u{i:07d}.wav"
            sf.write(root / name, y, SR, subtype="PCM_16")
            dur = y.size / SR
            rows.append(f"{name},song{i // 20}.wav,0,{dur:.6f},{SR},{dur:.6f},")
            total += dur
            bar.update(round(total) - bar.n)
    tmp = manifest.with_suffix(".tmp")
    tmp.write_text("\n".join(rows) + "\n")
    os.replace(tmp, manifest)
    return len(rows) - 1, total


def _anon_kb() -> int:
    """This process's anonymous resident memory in kB (Linux), or 0 where /proc is absent."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("RssAnon:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def build_cache_child(root: Path) -> None:
    """(Run in a fresh process.) Build the cache and print its peak memory as JSON."""
    from gaia_audio.data.cache import build_tile_cache
    from gaia_audio.spectral.presets import make_frontend

    peak_anon = [0]
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            peak_anon[0] = max(peak_anon[0], _anon_kb())
            time.sleep(0.05)

    threading.Thread(target=sample, daemon=True).start()
    start = time.perf_counter()
    tiles = build_tile_cache(root, make_frontend("zebra_finch"), cache_dir=root / "cache", progress=True)
    seconds = time.perf_counter() - start
    stop.set()
    peak_anon[0] = max(peak_anon[0], _anon_kb())
    print(json.dumps({"n_tiles": len(tiles), "tile_shape": list(tiles.tiles.shape[1:]), "seconds": seconds,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "peak_anon_mb": peak_anon[0] / 1024,
                      "cache_mb": sum(p.stat().st_size for p in (root / "cache").iterdir()) / 2**20}))


def loader_rate(root: Path, batch_size: int, n_batches: int) -> float:
    """Tiles/s that BatchSampler (with augmentation) delivers from the memory-mapped cache."""
    from gaia_audio.data.cache import build_tile_cache
    from gaia_audio.data.sampler import BatchSampler
    from gaia_audio.spectral.presets import make_frontend

    frontend = make_frontend("zebra_finch")
    tiles = build_tile_cache(root, frontend, cache_dir=root / "cache", progress=False)
    augment_args = {"max_shift_frames": 4, "max_gain_db": 6.0, "max_freq_shift_bins": 1,
                    "db_range": frontend.ref_db - frontend.min_db}
    sampler = BatchSampler(tiles.tiles, batch_size, seed=0, augment_args=augment_args)
    sampler.next()
    start = time.perf_counter()
    for _ in range(n_batches):
        sampler.next()
    return n_batches * batch_size / (time.perf_counter() - start)


def step_rate(tile_shape: tuple[int, int, int], batch_size: int, n_steps: int) -> float:
    """Tiles/s that the small preset's GAIA train_step consumes (best of n_steps after a warm-up)."""
    import torch

    from gaia_audio.config import Config
    from gaia_audio.models import build_model
    from gaia_audio.training.objectives import make_objective

    torch.manual_seed(0)
    config = Config()
    model = build_model(tile_shape, kind="gaia", size="small")
    objective = make_objective(model, config.train.lr_max, config.train.distance_weight)
    x = torch.rand(batch_size, *tile_shape)
    noise = torch.Generator().manual_seed(1)
    times = []
    for i in range(n_steps + 1):
        start = time.perf_counter()
        objective.step(x, noise)
        if i:
            times.append(time.perf_counter() - start)
    return batch_size / min(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=10.0, help="hours of audio to generate")
    parser.add_argument("--work", type=Path, default=Path("large_corpus"), help="corpus folder (reused if complete)")
    parser.add_argument("--batch-size", type=int, default=16, help="the recipes' batch size")
    parser.add_argument("--batches", type=int, default=200, help="loader batches to time")
    parser.add_argument("--steps", type=int, default=5, help="training steps to time")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        build_cache_child(args.work)
        return 0
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    n_units, seconds = generate_corpus(args.work, args.hours)
    print(f"corpus: {n_units} units, {seconds / 3600:.2f} h of audio in {args.work}")
    child = subprocess.run([sys.executable, __file__, "--child", "--work", str(args.work)],
                           stdout=subprocess.PIPE, text=True, check=True)
    build = json.loads(child.stdout.strip().splitlines()[-1])
    print(f"tile cache: {build['n_tiles']} tiles {tuple(build['tile_shape'])}, {build['cache_mb']:.0f} MB on disk, "
          f"built in {build['seconds']:.0f} s ({build['n_tiles'] / build['seconds']:.0f} units/s)")
    print(f"peak memory building it: {build['peak_rss_mb']:.0f} MB resident (max RSS), "
          f"{build['peak_anon_mb']:.0f} MB anonymous; limit {LIMIT_GB * 1024:.0f} MB")
    loader = loader_rate(args.work, args.batch_size, args.batches)
    consume = step_rate(tuple(build["tile_shape"]), args.batch_size, args.steps)
    print(f"data loader: {loader:.0f} tiles/s (BatchSampler + augmentation, memory-mapped cache)")
    print(f"training step consumes: {consume:.0f} tiles/s (small GAIA, batch {args.batch_size}, CPU)")
    print(f"ratio loader/consumption: {loader / consume:.1f}x (target >= 5x)")
    ok = build["peak_rss_mb"] < LIMIT_GB * 1024 and loader >= 5 * consume
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
