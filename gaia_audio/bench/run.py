"""Benchmarks that train GAIA and its baselines on one budget and score their interpolations.

``bench_lines`` is the lines benchmark of Berthelot et al. 2018, section 3.1 (Mean Distance and
Smoothness beside the published table); ``bench_stacks`` is its audio counterpart on a family
of synthetic harmonic stacks (:mod:`gaia_audio.bench.stacks`).
"""
from __future__ import annotations

import os
from pathlib import Path

from gaia_audio.bench import lines, stacks
from gaia_audio.config import load_config
from gaia_audio.errors import ConfigError
from gaia_audio.models.export import load_network
from gaia_audio.training.loop import train

#: Table 1 of Berthelot et al. 2018, "Understanding and Improving Interpolation in Autoencoders via an
#: Adversarial Regularizer" (Mean Distance ×10⁻³,
#: Smoothness); 262,144 steps of batch 64 there.
PUBLISHED = {
    "Baseline AE": (6.88, 0.44), "Dropout AE": (2.85, 0.74), "Denoising AE": (4.21, 0.66), "VAE": (1.21, 0.49),
    "AAE": (3.26, 0.14), "VQ-VAE": (5.41, 0.77), "ACAI": (0.24, 0.10),
}
KINDS = ("ae", "vae", "gaia")


def train_kinds(recipe: str, kinds: tuple[str, ...], steps: int, out_dir: Path, overrides: tuple[str, ...],
                 progress: bool) -> dict[str, Path]:
    """Train each model kind from one recipe with the same steps and overrides; reuse finished runs."""
    for kind in kinds:
        if kind not in KINDS:
            raise ConfigError(f"unknown model kind {kind!r} (choose from {', '.join(KINDS)})")
    runs = {}
    for kind in kinds:
        run_dir = out_dir / kind
        if not (run_dir / "model.safetensors").is_file():
            config = load_config(recipe, [*overrides, f"model.kind={kind}", f"train.steps={steps}",
                                          f"runs_dir={out_dir}", f"name={kind}"])
            resume = run_dir if run_dir.is_dir() and any((run_dir / "checkpoints").glob("step_*.pt")) else None
            train(config, run_dir=run_dir, resume=resume, progress=progress)
        runs[kind] = run_dir
    return runs


def bench_lines(steps: int = 300, out_dir: str | os.PathLike = "runs/bench_lines", kinds: tuple[str, ...] = KINDS,
                overrides: tuple[str, ...] = (), n_pairs: int = 500, seed: int = 1234,
                progress: bool = True) -> list[dict]:
    """Train AE, VAE and GAIA on ``recipes/lines.yaml`` with one budget and score them.

    Runs already finished in ``out_dir/<kind>`` are reused (delete them to retrain).

    Args:
        steps: training steps for every model.
        out_dir: folder of the runs.
        kinds: model kinds to train.
        overrides: ``--set`` overrides applied to every model (e.g. ``model.width=8``).
        n_pairs: random evaluation endpoint pairs (16 frames each).
        seed: seed of the evaluation pairs.
        progress: show progress bars.
    Returns:
        One row per model: {"model", "steps", "mean_distance", "smoothness", "n_paths"} plus the
        calibration rows "true path", "pixel cross-fade" and "abrupt switch".
    """
    out_dir = Path(out_dir)
    runs = train_kinds("lines", tuple(kinds), steps, out_dir, tuple(overrides), progress)
    pairs = lines.evaluation_pairs(n_pairs, seed)
    rows = []
    for kind, run_dir in runs.items():
        model, config, extra = load_network(run_dir)
        scores = lines.score_paths(lines.model_paths(model, pairs, size=config.data.image_size))
        rows.append({"model": kind.upper(), "steps": int(extra.get("step", steps)), **scores})
    for name, make in (("true path", lines.true_paths), ("pixel cross-fade", lines.crossfade_paths),
                       ("abrupt switch", lines.switch_paths)):
        rows.append({"model": name, "steps": 0, **lines.score_paths(make(pairs))})
    return rows


def format_lines_table(rows: list[dict], batch_size: int | None = None) -> str:
    """A markdown table of our scores beside the published ones (labelled as quoted)."""
    out = ["| model | steps | Mean Distance (×10⁻³) | Smoothness | source |", "|---|---|---|---|---|"]
    for r in rows:
        source = "calibration (exact paths)" if r["steps"] == 0 else "gaia-audio" + (
            f", batch {batch_size}" if batch_size else "")
        out.append(f"| {r['model']} | {r['steps'] or '–'} | {1e3 * r['mean_distance']:.2f} | {r['smoothness']:.3f} "
                   f"| {source} |")
    for name, (dist, smooth) in PUBLISHED.items():
        out.append(f"| {name} | 262144 | {dist:.2f} | {smooth:.2f} | as quoted in lines-benchmark.md |")
    return "\n".join(out)


def bench_stacks(steps: int = 300, out_dir: str | os.PathLike = "runs/bench_stacks", kinds: tuple[str, ...] = KINDS,
                 overrides: tuple[str, ...] = (), n_pairs: int = 200, seed: int = 1234, n_units: int = 256,
                 progress: bool = True) -> list[dict]:
    """The audio counterpart: train on synthetic harmonic stacks of varying pitch and score morphs.

    Writes ``n_units`` family members to ``out_dir/data`` (once), trains each kind on them with
    ``recipes/zebra_finch.yaml`` (no augmentation: a frequency shift would change the family
    parameter) and the same budget, and scores latent morphs between random members with the
    lines benchmark's two metrics (:mod:`gaia_audio.bench.stacks`). Finished runs are reused.

    Returns:
        Rows as :func:`bench_lines` returns, calibration rows included.
    """
    out_dir = Path(out_dir)
    data = out_dir / "data"
    if not (data / "manifest.csv").is_file():
        stacks.write_dataset(data, n_units)
    base = (f"data.root={data.resolve()}", "data.prepare=null", "data.augment=false", "frontend.preset=zebra_finch")
    runs = train_kinds("zebra_finch", tuple(kinds), steps, out_dir,
                        base + tuple(overrides), progress)
    pairs = stacks.evaluation_pairs(n_pairs, seed)
    rows = []
    for kind, run_dir in runs.items():
        model, _, extra = load_network(run_dir)
        rows.append({"model": kind.upper(), "steps": int(extra.get("step", steps)),
                     **stacks.score_paths(stacks.model_paths(model, pairs))})
    for name, make in (("true path", stacks.true_paths), ("spectrogram cross-fade", stacks.crossfade_paths),
                       ("abrupt switch", stacks.switch_paths)):
        rows.append({"model": name, "steps": 0, **stacks.score_paths(make(pairs))})
    return rows


def format_stacks_table(rows: list[dict]) -> str:
    """A markdown table of the harmonic-stack benchmark (no published figures exist for it)."""
    out = ["| model | steps | Mean Distance (×10⁻³) | Smoothness | source |", "|---|---|---|---|---|"]
    for r in rows:
        source = "calibration (exact paths)" if r["steps"] == 0 else "gaia-audio"
        out.append(f"| {r['model']} | {r['steps'] or '–'} | {1e3 * r['mean_distance']:.2f} | {r['smoothness']:.3f} "
                   f"| {source} |")
    return "\n".join(out)
