"""How long a whole `gaia-audio morph` process takes, against the floor of importing the library.

Times, in the same run and interleaved, several repeats of:
  * ``import gaia_audio``: a Python process that only imports the package. gaia_audio imports
    torch lazily (so that ``gaia-audio --help`` and the light commands start at once), so this
    process loads neither torch nor numpy: no process that reads a WAV and runs a network can
    come near it, and it is shown for reference;
  * a Python process that only runs ``import torch`` (what any process running the model pays);
  * the floor: a Python process that only runs ``from gaia_audio import load_model``, i.e.
    ``import gaia_audio`` with the library that runs a model loaded (torch and the model code,
    no model read): what ``import gaia_audio`` costs a package that imports its model eagerly;
  * ``gaia-audio morph a.wav b.wav --steps 16 --tune-steps 0`` (untuned), with ``--spacing uniform``
    and with the default equal spacing, by the shipped birdsong model on its example pair (two
    held-out syllables), writing the WAVs, manifest, provenance and continuum.png. ``--model
    train`` trains a throwaway small model on 80-290 ms synthetic units instead.

Prints a markdown table (wall time, and the CPU time the process used, which a busy machine
inflates less) and, best of the repeats, the ratio of each morph to ``import torch`` (target:
<= 1.5x with the default equal spacing) and to the floor. The morph draws continuum.png in a second process that
imports matplotlib while the first imports torch (figures.Worker), so on a machine whose second
core is busy it loses that overlap: run it on a quiet machine.

    python benchmarks/morph_latency.py                      # the shipped birdsong model
    python benchmarks/morph_latency.py --model runs/zebra_finch --inputs a.wav b.wav --repeats 7
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent


def syllable(sr: int, dur: float, f0: float, sweep: float, seed: int) -> np.ndarray:
    """A zebra-finch-like syllable: a harmonic stack with a frequency sweep and a smooth envelope."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(dur * sr)) / sr
    phase = 2 * np.pi * np.cumsum(f0 + sweep * f0 * t / dur) / sr
    y = sum(np.sin(k * phase + rng.uniform(0, 6.28)) / k for k in range(1, 7))
    y = y * np.sin(np.pi * t / dur) ** 2
    return (0.4 * y / np.abs(y).max() + rng.normal(0, 1e-4, len(t))).astype(np.float32)


def make_inputs(folder: Path, sr: int = 44100) -> list[Path]:
    """Two syllable-length WAVs (120 ms and 160 ms)."""
    import soundfile as sf

    paths = [folder / "a.wav", folder / "b.wav"]
    sf.write(paths[0], syllable(sr, 0.12, 700, 0.3, 1), sr)
    sf.write(paths[1], syllable(sr, 0.16, 1000, -0.2, 2), sr)
    return paths


def train_small_model(folder: Path) -> Path:
    """A `small`-preset GAIA trained for a few steps on synthetic 80-290 ms units (its weights do not matter here)."""
    import soundfile as sf

    from gaia_audio.config import load_config
    from gaia_audio.training.loop import train

    data = folder / "data"
    (data / "units").mkdir(parents=True)
    lines = ["path,source,onset,offset,sr,duration,label"]
    for k in range(16):
        dur = 0.08 + 0.03 * (k % 8)  # 80-290 ms, like the zebra finch syllables (44-286 ms)
        sf.write(data / "units" / f"u{k:02d}.wav", syllable(44100, dur, 500 + 60 * k, 0.3 - 0.04 * k, k), 44100)
        lines.append(f"units/u{k:02d}.wav,synthetic,0,{dur},44100,{dur},")
    (data / "manifest.csv").write_text("\n".join(lines) + "\n")
    config = load_config(REPO / "recipes" / "zebra_finch.yaml", [
        f"data.root={data}", "data.prepare=null", "train.steps=2", "train.batch_size=4",
        "train.sample_every=0", "train.checkpoint_every=1000", f"runs_dir={folder / 'runs'}", "model.size=small"])
    return train(config, run_dir=folder / "runs" / "small", progress=False)


def wall(cmd: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds: user + system) a command takes, start to exit; fails loudly if it fails."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        sys.exit(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-2000:]}")
    return elapsed, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="birdsong",
                        help="a shipped model's name, a run folder or model.safetensors (default: birdsong); "
                             "'train' trains a throwaway small model")
    parser.add_argument("--inputs", nargs=2, type=Path, default=None,
                        help="two syllable WAVs (default: the shipped birdsong model's example pair, held out "
                             "of its training; synthetic with --model train)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=16)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="gaia-morph-latency-"))
    try:
        model = train_small_model(work) if args.model == "train" else args.model
        inputs = args.inputs or (make_inputs(work) if args.model == "train" else example_pair())
        cli = Path(sys.executable).with_name("gaia-audio")
        gaia = [str(cli)] if cli.is_file() else [sys.executable, "-m", "gaia_audio"]
        commands = {
            "python -c 'import gaia_audio'": [sys.executable, "-c", "import gaia_audio"],
            "python -c 'import torch'": [sys.executable, "-c", "import torch"],
            "python -c 'from gaia_audio import load_model' (floor)": [
                sys.executable, "-c", "from gaia_audio import load_model"],
            # untuned (--tune-steps 0): the morph itself; per-pair tuning is timed by continuum_quality.py
            f"gaia-audio morph ({args.steps} steps, --tune-steps 0, --spacing uniform)": gaia + [
                "morph", *map(str, inputs), "--steps", str(args.steps), "--tune-steps", "0", "--spacing", "uniform",
                "--model", str(model), "--out", str(work / "out"), "--overwrite"],
            f"gaia-audio morph ({args.steps} steps, --tune-steps 0; spacing equal, the default)": gaia + [
                "morph", *map(str, inputs), "--steps", str(args.steps), "--tune-steps", "0",
                "--model", str(model), "--out", str(work / "out"), "--overwrite"],
        }
        wall(commands[list(commands)[-1]])  # warm-up: file caches, numba's on-disk cache
        times: dict[str, list[float]] = {name: [] for name in commands}
        cpu: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.repeats):
            for name, cmd in commands.items():
                elapsed, used = wall(cmd)
                times[name].append(elapsed)
                cpu[name].append(used)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    names = list(commands)
    floor = statistics.median(times[names[2]])
    load = " / ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"\nmorph latency, {args.repeats} repeats, {Path(sys.executable).name} on this machine "
          f"({os.cpu_count()} CPUs, load average after the run {load})\n")
    print("| process | median (s) | min (s) | max (s) | × floor | CPU median (s) |")
    print("|---|---|---|---|---|---|")
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"| {name} | {med:.3f} | {min(ts):.3f} | {max(ts):.3f} | {med / floor:.2f} | "
              f"{statistics.median(cpu[name]):.2f} |")
    best = {name: min(ts) for name, ts in times.items()}
    torch_only = best[names[1]]
    for name in names[-2:]:
        ratio = best[name] / torch_only
        print(f"\n{name}: best of {args.repeats} / best import torch = {ratio:.2f}× "
              f"({'meets' if ratio <= 1.5 else 'misses'} the ≤ 1.5× target); "
              f"/ floor {best[name] / best[names[2]]:.2f}×")


def example_pair() -> list[Path]:
    """The shipped birdsong model's example pair (two syllables held out of its training)."""
    from gaia_audio import pretrained

    folder = pretrained.model_dir("birdsong")
    example = pretrained.card("birdsong")["example"]
    return [folder / example["a"], folder / example["b"]]


if __name__ == "__main__":
    main()
