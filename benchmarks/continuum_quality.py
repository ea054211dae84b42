"""Continuum quality on held-out units: gaia-audio (tuned, untuned) against a WORLD morph and a cross-fade.

For each corpus, on pairs of held-out units (never trained on) from different recordings, makes
16-step continua by five methods in the same run and scores them on their waveforms
(gaia_audio.bench.continuum):

  * gaia-audio tuned: ``morph_pair(..., spacing="equal", tune_steps=N)`` (per-pair tuning, issue 14 §1,
    with the endpoints' residual detail added back: gaia_audio.morph.detail), and the same without the
    detail (``TuneSettings(detail=False)``);
  * gaia-audio untuned: the same with ``tune_steps=0`` (today's morph);
  * WORLD: harvest + CheapTrick + D4C, log f0 / log envelope / aperiodicity interpolated, linear time
    normalisation (pyworld: ``pip install 'gaia-audio[bench]'``);
  * cross-fade: the two [0, 1] spectrograms mixed (1 − α, α), inverted with the recipe's chain.

Columns: endpoint fidelity (dB, median over pairs, first and last step against the recordings), the
front end's ceiling (tile → untile → invert of the units, no model), midpoint AUC (a fresh critic,
real held-out unit tiles vs the tiles of steps 7 and 8, mean ± sd over critic seeds), step CV
(consecutive-step perceptual distances), intermediateness (SoundMorpher's, MFCC distances, steps 7
and 8) and seconds per continuum (median). Then the verdict per target of issue 14.

Corpora:
  * zebra_finch: data/zebra_finch (``gaia-audio prepare zebra_finch``); rows i % 3 == 2 of
    manifest.csv are held out (manifest_heldout.csv), the model trains on the rest
    (manifest_train.csv) with the zebra_finch recipe, unless ``--model`` is given;
  * speech: Debian's asterisk-core-sounds-en-wav (one studio voice, 8 kHz; ``apt-get download`` and
    ``dpkg-deb -x``, or ``--speech-source`` a folder of its WAVs), cut into words by energy at its own
    rate (``gaia-audio prepare speech`` refuses 8 kHz: every preset's band reaches 8 kHz), held out
    the same way, model trained with benchmarks/recipes/asterisk_speech.yaml unless ``--speech-model``.

    python benchmarks/continuum_quality.py --quick --corpus zebra_finch --model runs/zf_heldout
    python benchmarks/continuum_quality.py --corpus both --pairs 8 --out continuum_quality.md
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gaia_audio.analysis.evaluate import critic_auc
from gaia_audio.bench import continuum as cq
from gaia_audio.config import load_config
from gaia_audio.data import segment
from gaia_audio.errors import GaiaError
from gaia_audio.io import audio
from gaia_audio.io import manifest as manifests
from gaia_audio.morph.model import load_model, make_endpoint
from gaia_audio.morph.series import morph_pair
from gaia_audio.morph.tune import TuneSettings

REPO = Path(__file__).resolve().parent.parent
STEPS = 16
METHODS = ("gaia-audio tuned", "gaia-audio tuned, no detail", "gaia-audio untuned", "WORLD", "cross-fade")
#: harvest's f0 range per corpus: zebra finch harmonic stacks sit at ~400-900 Hz, above pyworld's
#: default ceiling (800 Hz); speech keeps pyworld's defaults
F0_RANGE = {"zebra_finch": (200.0, 1600.0), "speech": (71.0, 800.0)}
RECIPES = {"zebra_finch": "zebra_finch", "speech": str(REPO / "benchmarks" / "recipes" / "asterisk_speech.yaml")}


# ---- data and models ---------------------------------------------------------------------------------


def split_heldout(root: Path) -> None:
    """Write manifest_train.csv and manifest_heldout.csv (rows i % 3 == 2) beside manifest.csv, if absent."""
    if (root / "manifest_train.csv").is_file() and (root / "manifest_heldout.csv").is_file():
        return
    rows = manifests.read_manifest(root / "manifest.csv")
    manifests.write_manifest([r for i, r in enumerate(rows) if i % 3 != 2], root / "manifest_train.csv")
    manifests.write_manifest([r for i, r in enumerate(rows) if i % 3 == 2], root / "manifest_heldout.csv")


def prepare_zebra_finch(root: Path) -> None:
    """The SAP example songs cut into syllables (what ``gaia-audio prepare zebra_finch`` does), if absent."""
    if not (root / "manifest.csv").is_file():
        from gaia_audio.data.examples import zebra_finch

        zebra_finch.prepare(root)


def prepare_asterisk(root: Path, source: Path | None) -> None:
    """Asterisk's English prompts cut into words at their own 8 kHz, if ``root`` has no manifest yet.

    Without ``source``, fetches the Debian package with ``apt-get download`` into root/raw and unpacks
    it there. Units: the speech preparation's energy segmentation (``speech_16k`` settings: 100 Hz
    high-pass, pauses >= 50 ms, 50 ms-1 s units), as ``datasets/speech/prepare.py`` does.
    """
    if (root / "manifest.csv").is_file():
        return
    if source is None:
        raw = root / "raw"
        raw.mkdir(parents=True, exist_ok=True)
        if not list(raw.glob("asterisk-core-sounds-en-wav_*.deb")):
            subprocess.run(["apt-get", "download", "asterisk-core-sounds-en-wav"], cwd=raw, check=True)
        deb = sorted(raw.glob("asterisk-core-sounds-en-wav_*.deb"))[-1]
        subprocess.run(["dpkg-deb", "-x", str(deb), str(raw / "extracted")], check=True)
        source = raw / "extracted" / "usr" / "share" / "asterisk" / "sounds"
    params = segment.segmentation_params("speech_16k")
    rows = []
    for path in segment.find_recordings(source, (".wav",)):
        if "silence" in path.relative_to(source).parts:
            continue
        y, sr = audio.load(path)
        units = segment.detect_units(y, sr, **params)
        rows += segment.write_units(y, sr, units, root / "units", path.relative_to(source).as_posix(), root=root)
    manifests.write_manifest(rows, root / "manifest.csv")


def trained_model(corpus: str, root: Path, run_dir: Path) -> Path:
    """The corpus's model trained on manifest_train.csv at the recipe's budget (reused when already there)."""
    if not (run_dir / "model.safetensors").is_file():
        from gaia_audio.training.loop import train

        config = load_config(RECIPES[corpus], [f"data.root={root}", "data.manifest=manifest_train.csv",
                                               "data.prepare=null", f"runs_dir={run_dir.parent}"])
        print(f"training the {corpus} model in {run_dir} ({config.train.steps} steps)", file=sys.stderr)
        train(config, run_dir=run_dir, progress=False)
    return run_dir


def pick_pairs(rows: list[dict], n: int, seed: int = 0) -> list[tuple[dict, dict]]:
    """``n`` pairs (fixed seed) of held-out units from different recordings (song types, prompts)."""
    candidates = [(i, j) for i in range(len(rows)) for j in range(i + 1, len(rows))
                  if rows[i]["source"] != rows[j]["source"]]
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(candidates), size=min(n, len(candidates)), replace=False)
    return [(rows[candidates[c][0]], rows[candidates[c][1]]) for c in chosen]


# ---- one corpus ----------------------------------------------------------------------------------------


@dataclass
class Scores:
    """Per-pair numbers of one method, and the middle steps' waveforms for the critic."""

    first: list[float] = field(default_factory=list)
    last: list[float] = field(default_factory=list)
    cv: list[float] = field(default_factory=list)
    inter: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    middles: list[np.ndarray] = field(default_factory=list)
    auc: tuple[float, float] | None = None


def method_runs(vm, corpus: str, tune_steps: int):
    """{method: function(a, b) -> waveforms}."""
    inv = vm.config.inversion

    def gaia(steps_tuned, detail=True):
        def run(a, b):
            return morph_pair(vm, a, b, STEPS, spacing="equal", tune_steps=steps_tuned,
                              tune=TuneSettings(detail=detail)).waveforms
        return run

    f0_floor, f0_ceil = F0_RANGE[corpus]
    return {
        "gaia-audio tuned": gaia(tune_steps),
        "gaia-audio tuned, no detail": gaia(tune_steps, detail=False),
        "gaia-audio untuned": gaia(0),
        "WORLD": lambda a, b: cq.world_morph(a.y, b.y, vm.sr, STEPS, f0_floor=f0_floor, f0_ceil=f0_ceil),
        "cross-fade": lambda a, b: cq.crossfade_morph(vm.frontend, a.y, b.y, STEPS, method=inv.method,
                                                      n_iter=inv.n_iter, momentum=inv.momentum),
    }


def score_corpus(corpus: str, model: Path, root: Path, n_pairs: int, tune_steps: int,
                 critic_seeds: int) -> tuple[dict[str, Scores], float, int]:
    """Run every method on the corpus's pairs; returns (scores by method, ceiling dB, pairs)."""
    from gaia_audio.morph.perceptual import mfcc_distance, perceptual_distance

    vm = load_model(model)
    held = manifests.read_manifest(root / "manifest_heldout.csv")
    pairs = pick_pairs(held, n_pairs)
    endpoint = {}

    def unit(row):
        if row["path"] not in endpoint:
            y, sr = audio.load(root / row["path"])
            endpoint[row["path"]] = make_endpoint(vm, y, sr, Path(row["path"]).stem)
        return endpoint[row["path"]]

    runs = method_runs(vm, corpus, tune_steps)
    scores = {name: Scores() for name in METHODS}
    for row_a, row_b in pairs:
        a, b = unit(row_a), unit(row_b)
        for name, run in runs.items():
            start = time.perf_counter()
            waves = run(a, b)
            s = scores[name]
            s.seconds.append(time.perf_counter() - start)
            first, last = cq.endpoint_fidelity(vm.frontend, a.y, b.y, waves)
            s.first.append(first)
            s.last.append(last)
            s.cv.append(cq.step_cv(cq.consecutive_distances(waves, vm.sr, perceptual_distance)))
            s.inter.append(cq.intermediateness(waves, vm.sr, mfcc_distance))
            s.middles += [waves[k] for k in cq.middle_steps(STEPS)]
        print(f"{corpus}: {a.name} -> {b.name} done", file=sys.stderr)
    inv = vm.config.inversion
    units = [unit(r) for pair in pairs for r in pair]
    ceiling = statistics.median(cq.ceiling_db(vm.frontend, u.y, inv.method, inv.n_iter, inv.momentum)
                                for u in {u.name: u for u in units}.values())
    real = cq.unit_tiles(vm.frontend, [unit(r).y for r in held])
    for s in scores.values():
        if s.middles:
            aucs = [critic_auc(real, cq.unit_tiles(vm.frontend, s.middles), seed=seed) for seed in range(critic_seeds)]
            s.auc = (float(np.mean(aucs)), float(np.std(aucs)))
    return scores, ceiling, len(pairs)


# ---- table and verdicts -----------------------------------------------------------------------------------


def _med(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _fmt(value: float | None, spec: str = ".1f") -> str:
    return "n/a" if value is None else format(value, spec)


def table(scores: dict[str, Scores], ceiling: float) -> str:
    """The markdown table: one row per method."""
    lines = ["| method | fidelity first (dB) | fidelity last (dB) | ceiling (dB) | midpoint AUC | step CV | "
             "intermediateness | s / continuum |", "|---|---|---|---|---|---|---|---|"]
    for name, s in scores.items():
        auc = "n/a" if s.auc is None else f"{s.auc[0]:.2f} ± {s.auc[1]:.2f}"
        lines.append(f"| {name} | {_fmt(_med(s.first))} | {_fmt(_med(s.last))} | {ceiling:.1f} | {auc} | "
                     f"{_fmt(_med(s.cv), '.2f')} | {_fmt(_med(s.inter), '.3f')} | {_fmt(_med(s.seconds))} |")
    return "\n".join(lines)


def verdicts(scores: dict[str, Scores]) -> list[str]:
    """One line per target of issue 14 §3, "met" or "NOT met", from the measured numbers."""
    tuned, untuned = scores["gaia-audio tuned"], scores["gaia-audio untuned"]
    judged = tuned

    def say(ok: bool, text: str) -> str:
        return f"- {'met' if ok else 'NOT met'}: {text}"

    fid = max(_med(judged.first), _med(judged.last))
    noise = 2 * max(judged.auc[1], untuned.auc[1])
    out = ["judged row: gaia-audio tuned",
           say(fid <= -15, f"endpoint fidelity <= -15 dB median (worse end {fid:.1f} dB)"),
           say(judged.auc[0] <= 0.7 and judged.auc[0] <= untuned.auc[0] + noise,
               f"midpoint AUC <= 0.7 and no worse than untuned beyond 2 sd ({judged.auc[0]:.2f} vs "
               f"{untuned.auc[0]:.2f} + {noise:.2f})"),
           say(_med(judged.cv) <= 0.2, f"step CV <= 0.2 with --spacing equal ({_med(judged.cv):.2f})"),
           say(_med(judged.inter) <= 0.1, f"intermediateness <= 0.1 ({_med(judged.inter):.3f})")]
    out.append(say(_med(tuned.seconds) <= 20, f"tuned 16-step continuum <= 20 s ({_med(tuned.seconds):.1f} s)"))
    for peer in ("WORLD", "cross-fade"):
        p = scores[peer]
        fid_ok = (_med(judged.first) + _med(judged.last)) < (_med(p.first) + _med(p.last))
        auc_ok, cv_ok = judged.auc[0] < p.auc[0], _med(judged.cv) < _med(p.cv)
        which = ", ".join(n for n, ok in (("fidelity", fid_ok), ("realism", auc_ok), ("evenness", cv_ok)) if not ok)
        out.append(say(fid_ok and auc_ok and cv_ok, f"better than {peer} on fidelity, realism and evenness at once"
                       + (f" (not on {which})" if which else "")))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", choices=("zebra_finch", "speech", "both"), default="both")
    parser.add_argument("--pairs", type=int, default=8, help="pairs of held-out units per corpus (default 8)")
    parser.add_argument("--quick", action="store_true", help="2 pairs per corpus, 1 critic seed (a smoke test)")
    parser.add_argument("--model", type=Path, help="zebra finch run folder (default: train one)")
    parser.add_argument("--speech-model", type=Path, help="speech run folder (default: train one)")
    parser.add_argument("--tune-steps", type=int, default=None, help="tuning steps (default: morph_pair's)")
    parser.add_argument("--critic-seeds", type=int, default=3, help="critics trained per AUC (default 3)")
    parser.add_argument("--data-dir", type=Path, default=REPO / "data", help="holds zebra_finch/ and asterisk/")
    parser.add_argument("--speech-source", type=Path, help="folder of the asterisk WAVs (default: apt-get download)")
    parser.add_argument("--runs-dir", type=Path, default=REPO / "runs" / "continuum_quality")
    parser.add_argument("--out", type=Path, help="also write the tables and verdicts as markdown here")
    args = parser.parse_args()
    n_pairs, seeds = (2, 1) if args.quick else (args.pairs, args.critic_seeds)
    tune_steps = TuneSettings().steps if args.tune_steps is None else args.tune_steps
    report = [f"# continuum quality ({STEPS} steps, {os.cpu_count()} CPUs, tune_steps: {tune_steps})"]
    try:
        for corpus in ("zebra_finch", "speech") if args.corpus == "both" else (args.corpus,):
            root = args.data_dir / ("zebra_finch" if corpus == "zebra_finch" else "asterisk")
            if corpus == "zebra_finch":
                prepare_zebra_finch(root)
            else:
                prepare_asterisk(root, args.speech_source)
            split_heldout(root)
            model = args.model if corpus == "zebra_finch" else args.speech_model
            model = model or trained_model(corpus, root, args.runs_dir / corpus)
            scores, ceiling, n = score_corpus(corpus, model, root, n_pairs, tune_steps, seeds)
            section = [f"\n## {corpus}: {n} pairs of held-out units, model {model}\n", table(scores, ceiling), "",
                       *verdicts(scores)]
            print("\n".join(section), flush=True)
            report += section
    except (GaiaError, ImportError) as err:
        sys.exit(f"error: {err}")
    load = " / ".join(f"{v:.1f}" for v in os.getloadavg())
    report.append(f"\nload average after the run: {load} (seconds per continuum grow with it)")
    print(report[-1])
    if args.out:
        args.out.write_text("\n".join(report) + "\n")


if __name__ == "__main__":
    main()
