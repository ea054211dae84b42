"""Continuum quality on held-out units: gaia-audio (tuned, untuned) against a WORLD morph and a cross-fade.

For each corpus, on pairs of held-out units (never trained on) from different recordings, makes
16-step continua by up to five methods in the same run and scores them on their waveforms
(benchmarks/continuum_measures.py):

  * gaia-audio tuned: ``morph_pair(..., spacing="equal", tune_steps=N)`` (per-pair tuning, issue 14 §1,
    with the endpoints' residual detail added back: gaia_audio.morph.detail), and the same without the
    detail (``TuneSettings(detail=False)``);
  * gaia-audio untuned: the same with ``tune_steps=0`` (today's morph);
  * WORLD: harvest + CheapTrick + D4C, log f0 / log envelope / aperiodicity interpolated, linear time
    normalisation (pyworld: ``pip install 'gaia-audio[bench]'``);
  * cross-fade: the two [0, 1] spectrograms mixed (1 − α, α), inverted with the recipe's chain.

Columns: endpoint fidelity (dB, median over pairs, first and last step against the recordings), the
front end's ceiling (tile → untile → invert of the units, no model), midpoint AUC (a fresh critic,
real unit tiles vs the tiles of steps 7 and 8, mean ± sd over critic seeds), step CV
(consecutive-step perceptual distances), intermediateness (SoundMorpher's, MFCC distances, steps 7
and 8), steady steps (% of steps farther from the first and nearer to the last than the one
before) and seconds per continuum (median). Then the verdict per target of issue 21.

Corpora (``--corpus``; each fetched and cut into ``--data-dir`` on first use):
  * zebra_finch: the SAP songs' held-out syllables (manifest_heldout.csv, rows i % 3 == 2), which the
    shipped ``birdsong`` model never trained on;
  * bengalese: every syllable of vocalpy's Bengalese finch song bl26lb16, a species ``birdsong`` never saw;
  * speech: held-out words of Asterisk's English prompts at 16 kHz (``gaia-audio prepare asterisk``),
    for the shipped ``speech`` model;
  * speech_fr: every word of the French prompts, another speaker in another language.

    python benchmarks/continuum_quality.py --quick --corpus zebra_finch
    python benchmarks/continuum_quality.py --corpus all --pairs 8 --out continuum_quality.md
    python benchmarks/continuum_quality.py --corpus zebra_finch --model runs/my_run
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the measures beside this script
import continuum_measures as cq  # noqa: E402

from gaia_audio.analysis.evaluate import critic_auc
from gaia_audio.errors import GaiaError
from gaia_audio.io import audio
from gaia_audio.io import manifest as manifests
from gaia_audio.morph.model import load_model, make_endpoint
from gaia_audio.morph.series import morph_pair
from gaia_audio.morph.tune import TuneSettings

REPO = Path(__file__).resolve().parent.parent
STEPS = 16
METHODS = ("gaia-audio tuned", "gaia-audio tuned, no detail", "gaia-audio untuned", "WORLD", "cross-fade")


@dataclass(frozen=True)
class Corpus:
    """One corpus of the benchmark: where its units are, which shipped model it measures, its targets."""

    folder: str            # under --data-dir
    manifest: str          # the units paired: a held-out split, or every unit of a corpus never trained on
    model: str             # the shipped model measured (--model / --speech-model override)
    f0_range: tuple[float, float]  # harvest's f0 range for WORLD
    auc_target: float      # midpoint critic AUC target (issue 21)
    same_source: bool = False  # pairs may come from one recording (a corpus of one song)


#: zebra finch stacks sit at ~400-900 Hz, above pyworld's default f0 ceiling (800 Hz); speech keeps its defaults
BIRD_F0, SPEECH_F0 = (200.0, 1600.0), (71.0, 800.0)
CORPORA = {
    "zebra_finch": Corpus("zebra_finch", "manifest_heldout.csv", "birdsong", BIRD_F0, 0.65),
    "bengalese": Corpus("bengalese", "manifest.csv", "birdsong", BIRD_F0, 0.65, same_source=True),
    "speech": Corpus("asterisk_en", "manifest_heldout.csv", "speech", SPEECH_F0, 0.70),
    "speech_fr": Corpus("asterisk_fr", "manifest.csv", "speech", SPEECH_F0, 0.70),
}
#: issue 21's targets for a shipped model
FIDELITY_DB, CV_MAX, INTER_MAX, SECONDS_MAX = -20.0, 0.2, 0.1, 15.0


# ---- data and models ---------------------------------------------------------------------------------


def split_heldout(root: Path) -> None:
    """Write manifest_train.csv and manifest_heldout.csv (rows i % 3 == 2) beside manifest.csv, if absent."""
    if (root / "manifest_train.csv").is_file() and (root / "manifest_heldout.csv").is_file():
        return
    manifests.write_split(manifests.read_manifest(root / "manifest.csv"), root)


def prepare_corpus(name: str, root: Path) -> None:
    """Fetch and cut corpus ``name`` into ``root`` unless it is there: the SAP songs, the Bengalese finch
    song bl26lb16 (vocalpy's wheel, never trained on), or Asterisk's 16 kHz prompts (en, fr)."""
    if (root / "manifest.csv").is_file():
        return
    from gaia_audio.data.examples import asterisk, zebra_finch

    if name == "zebra_finch":
        zebra_finch.prepare(root)
    elif name == "bengalese":
        song = zebra_finch.fetch_example_songs(root / "raw", songs=("bl26lb16.wav",))
        zebra_finch.prepare(root, source=song[0].parent, preset="bengalese_finch")
    else:
        asterisk.prepare(root, language="fr" if name == "speech_fr" else "en")


def pick_pairs(rows: list[dict], n: int, seed: int = 0, same_source: bool = False) -> list[tuple[dict, dict]]:
    """``n`` pairs (fixed seed) of units from different recordings (song types, prompts), or any two
    different units with ``same_source``."""
    candidates = [(i, j) for i in range(len(rows)) for j in range(i + 1, len(rows))
                  if same_source or rows[i]["source"] != rows[j]["source"]]
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
    steady: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    middles: list[np.ndarray] = field(default_factory=list)
    auc: tuple[float, float] | None = None


def method_runs(vm, corpus: Corpus, tune_steps: int, methods: tuple[str, ...] = METHODS):
    """{method: function(a, b) -> waveforms} for each of ``methods``."""
    inv = vm.config.inversion

    def gaia(steps_tuned, detail=True):
        def run(a, b):
            return morph_pair(vm, a, b, STEPS, spacing="equal", tune_steps=steps_tuned,
                              tune=TuneSettings(detail=detail)).waveforms
        return run

    f0_floor, f0_ceil = corpus.f0_range
    runs = {
        "gaia-audio tuned": gaia(tune_steps),
        "gaia-audio tuned, no detail": gaia(tune_steps, detail=False),
        "gaia-audio untuned": gaia(0),
        "WORLD": lambda a, b: cq.world_morph(a.y, b.y, vm.sr, STEPS, f0_floor=f0_floor, f0_ceil=f0_ceil),
        "cross-fade": lambda a, b: cq.crossfade_morph(vm.frontend, a.y, b.y, STEPS, method=inv.method,
                                                      n_iter=inv.n_iter, momentum=inv.momentum),
    }
    return {name: runs[name] for name in methods}


def score_corpus(corpus: Corpus, model, root: Path, n_pairs: int, tune_steps: int, critic_seeds: int,
                 methods: tuple[str, ...] = METHODS) -> tuple[dict[str, Scores], float, int]:
    """Run each method on the corpus's pairs; returns (scores by method, ceiling dB, pairs)."""
    from gaia_audio.morph.perceptual import mfcc_distance, perceptual_distance

    vm = load_model(model)
    held = manifests.read_manifest(root / corpus.manifest)
    pairs = pick_pairs(held, n_pairs, same_source=corpus.same_source)
    endpoint = {}

    def unit(row):
        if row["path"] not in endpoint:
            y, sr = audio.load(root / row["path"])
            endpoint[row["path"]] = make_endpoint(vm, y, sr, Path(row["path"]).stem)
        return endpoint[row["path"]]

    runs = method_runs(vm, corpus, tune_steps, methods)
    scores = {name: Scores() for name in methods}
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
            s.steady.append(cq.steadiness(waves, vm.sr, perceptual_distance))
            s.middles += [waves[k] for k in cq.middle_steps(STEPS)]
        print(f"{corpus.folder}: {a.name} -> {b.name} done", file=sys.stderr)
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


def _pct(values: list[float]) -> float | None:
    """Mean of per-pair fractions, in %."""
    return 100 * float(np.mean(values)) if values else None


def _fmt(value: float | None, spec: str = ".1f") -> str:
    return "n/a" if value is None else format(value, spec)


def table(scores: dict[str, Scores], ceiling: float) -> str:
    """The markdown table: one row per method."""
    lines = ["| method | fidelity first (dB) | fidelity last (dB) | ceiling (dB) | midpoint AUC | step CV | "
             "intermediateness | steady steps | s / continuum |", "|---|---|---|---|---|---|---|---|---|"]
    for name, s in scores.items():
        auc = "n/a" if s.auc is None else f"{s.auc[0]:.2f} ± {s.auc[1]:.2f}"
        lines.append(f"| {name} | {_fmt(_med(s.first))} | {_fmt(_med(s.last))} | {ceiling:.1f} | {auc} | "
                     f"{_fmt(_med(s.cv), '.2f')} | {_fmt(_med(s.inter), '.3f')} | {_fmt(_pct(s.steady))} | "
                     f"{_fmt(_med(s.seconds))} |")
    return "\n".join(lines)


def verdicts(scores: dict[str, Scores], auc_target: float = 0.65) -> list[str]:
    """One line per target of issue 21, "met" or "NOT met", from the measured numbers."""
    judged, untuned = scores["gaia-audio tuned"], scores["gaia-audio untuned"]

    def say(ok: bool, text: str) -> str:
        return f"- {'met' if ok else 'NOT met'}: {text}"

    fid = max(_med(judged.first), _med(judged.last))
    noise = 2 * max(judged.auc[1], untuned.auc[1])
    out = ["judged row: gaia-audio tuned",
           say(fid <= FIDELITY_DB, f"ends <= {FIDELITY_DB:g} dB median (worse end {fid:.1f} dB)"),
           say(judged.auc[0] <= auc_target and judged.auc[0] <= untuned.auc[0] + noise,
               f"midpoint AUC <= {auc_target:g} and no worse than untuned beyond 2 sd ({judged.auc[0]:.2f} vs "
               f"{untuned.auc[0]:.2f} + {noise:.2f})"),
           say(_med(judged.cv) <= CV_MAX, f"step CV <= {CV_MAX:g} ({_med(judged.cv):.2f})"),
           say(_med(judged.inter) <= INTER_MAX, f"intermediateness <= {INTER_MAX:g} ({_med(judged.inter):.3f})"),
           f"- steady steps (farther from a and nearer to b than the one before): {_pct(judged.steady):.0f} %",
           say(_med(judged.seconds) <= SECONDS_MAX,
               f"tuned 16-step continuum <= {SECONDS_MAX:g} s ({_med(judged.seconds):.1f} s)")]
    for peer in ("WORLD", "cross-fade"):
        if peer not in scores:
            continue
        p = scores[peer]
        fid_ok = (_med(judged.first) + _med(judged.last)) < (_med(p.first) + _med(p.last))
        auc_ok, cv_ok = judged.auc[0] < p.auc[0], _med(judged.cv) < _med(p.cv)
        which = ", ".join(n for n, ok in (("fidelity", fid_ok), ("realism", auc_ok), ("evenness", cv_ok)) if not ok)
        out.append(say(fid_ok and auc_ok and cv_ok, f"better than {peer} on fidelity, realism and evenness at once"
                       + (f" (not on {which})" if which else "")))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", nargs="+", choices=(*CORPORA, "all"), default=["all"],
                        help="corpora to measure (default all): held-out units of the shipped models' own "
                             "corpora (zebra_finch, speech) and corpora they never saw (bengalese, speech_fr)")
    parser.add_argument("--pairs", type=int, default=8, help="pairs of units per corpus (default 8)")
    parser.add_argument("--quick", action="store_true", help="2 pairs per corpus, 1 critic seed (a smoke test)")
    parser.add_argument("--model", default=None, help="birdsong model: a shipped name or a run folder "
                                                      "(default: the shipped birdsong)")
    parser.add_argument("--speech-model", default=None, help="speech model (default: the shipped speech)")
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS),
                        help="methods to run (default all; the tuned row is always judged)")
    parser.add_argument("--tune-steps", type=int, default=None, help="tuning steps (default: morph_pair's)")
    parser.add_argument("--critic-seeds", type=int, default=3, help="critics trained per AUC (default 3)")
    parser.add_argument("--data-dir", type=Path, default=REPO / "data", help="holds one folder per corpus")
    parser.add_argument("--out", type=Path, help="also write the tables and verdicts as markdown here")
    args = parser.parse_args()
    n_pairs, seeds = (2, 1) if args.quick else (args.pairs, args.critic_seeds)
    tune_steps = TuneSettings().steps if args.tune_steps is None else args.tune_steps
    methods = tuple(m for m in METHODS if m in args.methods or m in ("gaia-audio tuned", "gaia-audio untuned"))
    report = [f"# continuum quality ({STEPS} steps, {os.cpu_count()} CPUs, tune_steps: {tune_steps})"]
    try:
        for name in CORPORA if "all" in args.corpus else args.corpus:
            corpus = CORPORA[name]
            root = args.data_dir / corpus.folder
            prepare_corpus(name, root)
            split_heldout(root)  # a folder prepared before the split was written
            model = (args.speech_model if corpus.model == "speech" else args.model) or corpus.model
            scores, ceiling, n = score_corpus(corpus, model, root, n_pairs, tune_steps, seeds, methods)
            section = [f"\n## {name}: {n} pairs of units from {corpus.manifest}, model {model}\n",
                       table(scores, ceiling), "", *verdicts(scores, corpus.auc_target)]
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
