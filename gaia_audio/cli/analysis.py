"""``gaia-audio bench``, ``evaluate``, ``embed`` and ``attributes``: benchmarks, evaluation and
latent analysis of trained models."""
from __future__ import annotations

import os
from pathlib import Path

import click

from gaia_audio.cli.options import SEED, one_line_errors


def _check_writable(folder: str | os.PathLike) -> None:
    """Refuse, before any slow work, an output folder that cannot be written (read-only, no permission).

    The folder itself, or its nearest existing parent where it is still to be made, must be
    writable (``os.access`` reports a read-only file system even to root).
    """
    from gaia_audio.errors import DataError

    folder = Path(folder)
    existing = next((p for p in (folder, *folder.parents) if p.exists()), Path("."))
    if not existing.is_dir():
        raise DataError("output path exists and is not a folder", existing)
    if not os.access(existing, os.W_OK | os.X_OK):
        raise DataError("cannot write the output folder here (read-only, or no permission)", folder)

# ---- benchmarks, evaluation and latent analysis ------------------------------------------------


@click.command()
@click.argument("name", type=click.Choice(["lines", "stacks"]))
@click.option("--steps", type=click.IntRange(1, None), default=300, show_default=True,
              help="Training steps for each model (the paper: 262144).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Folder of the runs [default: runs/bench_NAME]; finished runs there are reused.")
@click.option("--kinds", default="ae,vae,gaia", show_default=True, help="Models to train, comma-separated.")
@click.option("--pairs", "n_pairs", type=click.IntRange(1, 100_000), default=500, show_default=True,
              help="Random endpoint pairs to interpolate.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a recipe key for every model, e.g. --set model.width=8 (repeatable).")
@click.option("--quiet", is_flag=True, help="No progress bars.")
@one_line_errors
def bench(name, steps, out_dir, kinds, n_pairs, overrides, quiet):
    """Train AE, VAE and GAIA on one budget and score their interpolations (NAME: lines | stacks).

    lines: the ACAI lines benchmark (Mean Distance ×10⁻³ and Smoothness, lower is better),
    printed beside the published table. stacks: its audio counterpart, synthetic harmonic
    stacks whose pitch varies, scored the same way.

    \b
    Example:
      gaia-audio bench lines --steps 2000
      gaia-audio bench stacks --steps 300 --set model.width=8
    """
    from gaia_audio.bench import run as benchmarks
    from gaia_audio.io.files import write_text

    kinds = tuple(k.strip() for k in kinds.split(",") if k.strip())
    out_dir = out_dir or f"runs/bench_{name}"
    run = benchmarks.bench_lines if name == "lines" else benchmarks.bench_stacks
    rows = run(steps=steps, out_dir=out_dir, kinds=kinds, overrides=overrides, n_pairs=n_pairs, progress=not quiet)
    table = benchmarks.format_lines_table(rows) if name == "lines" else benchmarks.format_stacks_table(rows)
    write_text(Path(out_dir) / "results.md", table + "\n")  # atomic, the umask's mode; creates out_dir
    click.echo(table)


@click.command()
@click.argument("run", type=click.Path())
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Folder for evaluation.json and evaluation.md [default: RUN].")
@click.option("--data", "data_root", type=click.Path(file_okay=False), default=None,
              help="The dataset folder, if it moved since training [default: the run's data.root].")
@click.option("--pairs", "n_pairs", type=click.IntRange(4, 100_000), default=256, show_default=True,
              help="Random held-out pairs for the path metrics and midpoints.")
@click.option("--critic-steps", type=click.IntRange(1, 100_000), default=300, show_default=True,
              help="Training steps of the independent critic.")
@click.option("--seed", type=SEED, default=0, show_default=True)
@click.option("--grid", type=click.Path(dir_okay=False), default=None,
              help="Also draw the paper's figure here: x, D(x), G(x), D(G(x)), latent interpolations beside "
                   "pixel cross-fades (as RUN/evaluation_grid.png it also shows on RUN/index.html).")
@one_line_errors
def evaluate(run, out_dir, data_root, n_pairs, critic_steps, seed, grid):
    """Score a trained RUN on its held-out data and write evaluation.json and evaluation.md.

    Endpoint fidelity of G(x) (spectral convergence dB, L1); realism of decoded midpoints by a
    separately trained small critic (ROC AUC, 0.5 = indistinguishable from real); step
    uniformity (CV of consecutive-step distances); PPL-style path smoothness.

    \b
    Example:
      gaia-audio evaluate runs/zebra_finch
    """
    from gaia_audio.analysis.evaluate import evaluate_run, markdown_table

    _check_writable(out_dir or (run if Path(run).is_dir() else Path(run).parent))
    result = evaluate_run(run, out_dir, data_root, n_pairs=n_pairs, critic_steps=critic_steps, seed=seed)
    if not result["held_out"]:
        click.echo("note: too few held-out tiles; every tile was used (training tiles included)", err=True)
    click.echo(markdown_table({result["model"]: result}))
    if grid:
        from gaia_audio.analysis.evaluate import paper_grid
        from gaia_audio.training.report import write_run_page

        drawn = paper_grid(run, grid, data_root=data_root, seed=seed)
        run_dir = Path(run) if Path(run).is_dir() else Path(run).parent
        if drawn.resolve() == (run_dir / "evaluation_grid.png").resolve():
            write_run_page(run_dir)
        click.echo(f"wrote {drawn}")


@click.command()
@click.argument("run", type=click.Path())
@click.option("--out", "-o", "out", type=click.Path(dir_okay=False), default="embed.png", show_default=True,
              help="The scatter plot; the projection is saved beside it as .csv.")
@click.option("--label", default="label", show_default=True, help="Manifest column that colours the points.")
@click.option("--neighbors", type=click.IntRange(0, None), default=0, show_default=True,
              help="Also draw this many strips of interpolations between nearest neighbours (OUT_neighbors.png).")
@click.option("--data", "data_root", type=click.Path(file_okay=False), default=None,
              help="The dataset folder, if it moved since training.")
@click.option("--seed", type=SEED, default=0, show_default=True)
@click.option("--overwrite", is_flag=True, help="Replace OUT and the files beside it if they exist.")
@one_line_errors
def embed(run, out, label, neighbors, data_root, seed, overwrite):
    """Encode RUN's dataset, project the codes to 2-D with UMAP and draw them coloured by a label.

    Writes OUT (.png, .pdf or .svg), OUT's stem as .csv beside it and, with --neighbors, OUT's stem
    + _neighbors.png; none of them is replaced without --overwrite, and all are checked first.

    \b
    Example:
      gaia-audio embed runs/zebra_finch --out embed.png --label source --neighbors 6
    """
    from pathlib import Path

    from gaia_audio.analysis.embed import embed_run
    from gaia_audio.errors import ConfigError

    out_path = Path(out)
    if out_path.suffix.lower() not in (".png", ".pdf", ".svg"):
        raise ConfigError(f"cannot draw the embedding as '{out_path.suffix or out_path.name}' (use .png, .pdf or "
                          ".svg; the projection goes beside it as .csv)", out)
    targets = [out_path, out_path.with_suffix(".csv")] + (
        [out_path.with_name(f"{out_path.stem}_neighbors.png")] if neighbors else [])
    existing = [t for t in targets if t.exists()]
    if existing and not overwrite:
        raise ConfigError("exists; give --overwrite to replace it (embed writes " +
                          ", ".join(t.name for t in targets) + ")", existing[0])

    written = embed_run(run, out, label=label, neighbors=neighbors, data_root=data_root, seed=seed)
    click.echo("wrote " + ", ".join(str(p) for p in written.values()))


@click.command()
@click.argument("run", type=click.Path())
@click.argument("labels", type=click.Path(dir_okay=False), required=False)
@click.option("--column", "columns", multiple=True,
              help="Label column to fit (repeatable) [default: every column of LABELS].")
@click.option("--out", "-o", "out", type=click.Path(dir_okay=False), default=None,
              help="Output JSON [default: RUN/attributes.json, where morph --attribute looks].")
@click.option("--data", "data_root", type=click.Path(file_okay=False), default=None,
              help="The dataset folder, if it moved since training.")
@one_line_errors
def attributes(run, labels, columns, out, data_root):
    """Fit least-squares attribute directions in RUN's latent space from per-item LABELS.

    LABELS is a CSV with a 'path' column (as in the manifest) and one column per label, numeric
    or categorical (each value of a categorical label becomes an attribute 'label=value').
    Without LABELS the manifest's own --column(s) are used. Each vector is one standard
    deviation of its label; move a sound along one with morph --attribute.

    \b
    Example:
      gaia-audio attributes runs/zebra_finch labels.csv
      gaia-audio morph a.wav --attribute age -m runs/zebra_finch -o older --extent -3 3 --steps 9
    """
    import json

    from gaia_audio.analysis.attributes import attributes_run

    path = attributes_run(run, labels, list(columns) or None, out, data_root)
    found = json.loads(path.read_text())["attributes"]
    for name, info in found.items():
        click.echo(f"{name}: {info['kind']}, {info['n']} items, R² {info['r2']:.3f}")
    click.echo(f"wrote {path}")
