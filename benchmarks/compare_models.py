"""GAIA against its baselines: train GAIA, AE and VAE with one budget on the real zebra finch
songs and print the evaluation metrics (gaia_audio/analysis/evaluate.py) side by side.

The claim under test: GAIA's reconstructions are as sharp as the AE's, and its midpoints more
realistic than both baselines' (a critic trained from scratch tells them from real tiles less
easily: ROC AUC nearer 0.5). Every model gets the same recipe, steps, batch and seed; a third
of the units is held out for the evaluation. Finished runs in --out are reused.

Usage:
    python benchmarks/compare_models.py --steps 800
    python benchmarks/compare_models.py --steps 200 --set model.width=8 --out runs/compare_small
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=800, help="training steps for every model (default 800)")
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "compare_models", help="folder of the runs")
    parser.add_argument("--kinds", default="gaia,ae,vae", help="models, comma-separated (default gaia,ae,vae)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="recipe override for every model (repeatable)")
    parser.add_argument("--holdout", type=float, default=0.3, help="fraction of units held out (default 0.3)")
    parser.add_argument("--pairs", type=int, default=256, help="random held-out pairs (default 256)")
    parser.add_argument("--critic-steps", type=int, default=300, help="critic training steps (default 300)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)

    from gaia_audio.analysis.evaluate import evaluate_run, markdown_table
    from gaia_audio.bench.run import train_kinds
    from gaia_audio.errors import GaiaError

    kinds = tuple(k.strip() for k in args.kinds.split(",") if k.strip())
    overrides = (f"data.holdout={args.holdout}", *args.overrides)
    try:
        runs = train_kinds(REPO / "recipes" / "zebra_finch.yaml", kinds, args.steps, args.out, overrides,
                            not args.quiet)
        results = {kind: evaluate_run(run, n_pairs=args.pairs, critic_steps=args.critic_steps)
                   for kind, run in runs.items()}
    except GaiaError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    table = markdown_table({kind.upper(): r for kind, r in results.items()})
    held = "held-out units" if all(r["held_out"] for r in results.values()) else "ALL units (too few held out)"
    header = (f"{args.steps} steps each on the zebra finch songs ({', '.join(args.overrides) or 'recipe defaults'}); "
              f"metrics on {held}.")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "compare.md").write_text(header + "\n\n" + table + "\n", encoding="utf-8")
    print(header)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
