"""Look at and steer a trained latent space: UMAP embeddings, attribute vectors, attribute morphs.

- :func:`embed_run` encodes a dataset, projects the codes to 2-D with UMAP, saves the
  projection as CSV and draws it coloured by a manifest column; optionally strips of
  interpolations between nearest neighbours in the projection (GAIA's opening figure).
- :func:`fit_attribute_vectors` fits, by least squares, the direction in latent space along
  which a per-item label grows (numeric labels; categorical ones as one indicator per value),
  scaled to one standard deviation of the label; :func:`attributes_run` saves them as JSON.
- :func:`morph_attribute` moves one sound along such a direction (``gaia-audio morph
  a.wav --attribute NAME``).
"""
from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import numpy as np
import torch

from gaia_audio.errors import DataError, ModelError

ATTRIBUTES_FILE = "attributes.json"


@torch.no_grad()
def encode_all(model: torch.nn.Module, tiles: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """Codes of tiles: (N, C, H, W) in [0, 1] → (N, code_dim) float32."""
    device = next(model.parameters()).device
    out = [model.encode(torch.as_tensor(np.asarray(tiles[i:i + batch_size], np.float32), device=device)).float().cpu()
           for i in range(0, len(tiles), batch_size)]
    return torch.cat(out).numpy()


def umap_embedding(codes: np.ndarray, n_neighbors: int = 15, min_dist: float = 0.1, seed: int = 0) -> np.ndarray:
    """2-D UMAP projection of codes (N, code_dim) → (N, 2) float32 (deterministic for a seed)."""
    import umap

    codes = np.asarray(codes, np.float32)
    if len(codes) < 4:
        raise DataError(f"an embedding needs at least 4 items, got {len(codes)}")
    reducer = umap.UMAP(n_components=2, n_neighbors=max(2, min(n_neighbors, len(codes) - 1)), min_dist=min_dist,
                        random_state=seed, n_jobs=1, init="random" if len(codes) < 16 else "spectral")
    return reducer.fit_transform(codes).astype(np.float32)


def nearest_neighbours(xy: np.ndarray) -> np.ndarray:
    """(N,) index of each point's nearest other point in a (N, 2) projection."""
    from scipy.spatial import cKDTree

    _, index = cKDTree(xy).query(xy, k=2)
    return index[:, 1]


def _load(run, data_root):
    """The run's network, recipe, front end and tiles (the dataset folder may be overridden)."""
    import dataclasses

    from gaia_audio.bench import load_network
    from gaia_audio.train import load_data

    model, config, _ = load_network(run)
    if data_root is not None:
        config = dataclasses.replace(config, data=dataclasses.replace(config.data, root=str(data_root)))
    frontend, tiles = load_data(config, progress=False)
    return model, config, frontend, tiles


def _write_csv(path: Path, header: list[str], rows: list[list]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(header)
            writer.writerows(rows)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def embed_run(run: str | os.PathLike, out: str | os.PathLike, label: str = "label", neighbors: int = 0,
              data_root: str | None = None, n_neighbors: int = 15, seed: int = 0) -> dict[str, Path]:
    """Encode a run's dataset, project it with UMAP and draw it coloured by a manifest column.

    Args:
        run: run folder or model file.
        out: the scatter plot (.png); the projection goes beside it as ``<stem>.csv`` and the
            neighbour strips as ``<stem>_neighbors.png``.
        label: the manifest column that colours the points (absent → one colour).
        neighbors: how many strips of interpolations between nearest neighbours to draw.
        data_root: the dataset folder if it moved since training.
        n_neighbors: UMAP's neighbourhood size.
        seed: seed of UMAP and of the strips' choice.
    Returns:
        {"plot": path, "csv": path, and "neighbors": path when drawn}.
    """
    from gaia_audio import plots
    from gaia_audio.samples import decode_strip

    out = Path(out)
    model, config, _, tiles = _load(run, data_root)
    codes = encode_all(model, tiles.tiles)
    xy = umap_embedding(codes, n_neighbors, seed=seed)
    labels = [str(row.get(label, "")) for row in tiles.rows]
    out.parent.mkdir(parents=True, exist_ok=True)
    csv_path = out.with_suffix(".csv")
    _write_csv(csv_path, ["path", label, "umap_x", "umap_y"],
               [[row.get("path", i), lab, f"{x:.6g}", f"{y:.6g}"] for i, (row, lab, (x, y)) in
                enumerate(zip(tiles.rows, labels, xy))])
    written = {"csv": csv_path, "plot": plots.embedding_scatter(xy, labels, out, label, f"{config.name}: UMAP of codes")}
    if neighbors > 0:
        partner = nearest_neighbours(xy)
        chosen = np.random.default_rng(seed).choice(len(xy), size=min(neighbors, len(xy)), replace=False)
        rows = []
        with torch.no_grad():
            for i in chosen:
                a, b = (torch.as_tensor(np.asarray(tiles.tiles[k], np.float32)) for k in (i, partner[i]))
                strip = decode_strip(model, a, b, n=8).float().numpy()
                rows.append((f"{i}→{partner[i]}", strip[:, 0] if strip.shape[1] == 1 else strip))
        written["neighbors"] = plots.tile_grid(rows, out.with_name(f"{out.stem}_neighbors.png"),
                                               "interpolations between nearest neighbours in the projection")
    return written


def _as_numbers(values: list[str]) -> np.ndarray | None:
    """Float array of label strings, or None if any present value is not a number."""
    try:
        return np.array([float(v) if v.strip() != "" else np.nan for v in values])
    except ValueError:
        return None


def fit_attribute_vectors(codes: np.ndarray, labels: dict[str, list[str]]) -> dict[str, dict]:
    """Least-squares directions in latent space along which each label grows.

    For a numeric label y, fits z ≈ a + y·w over the items where y is present and returns
    w·std(y): moving a code by the vector moves the attribute by one standard deviation. A
    categorical label gives one indicator (0/1) attribute per value, named ``label=value``.

    Args:
        codes: (N, code_dim) codes.
        labels: column name → N label strings ("" = missing).
    Returns:
        name → {"vector": (code_dim,) list, "kind": "numeric" | "categorical", "n": items used,
        "std": the label's standard deviation, "r2": fraction of code variance the fit explains}.
    """
    codes = np.asarray(codes, np.float64)
    found: dict[str, dict] = {}
    for column, values in labels.items():
        if len(values) != len(codes):
            raise DataError(f"label column {column!r} has {len(values)} values for {len(codes)} codes")
        numbers = _as_numbers(values)
        if numbers is not None:
            targets = {column: (numbers, "numeric")}
        else:
            present = [v for v in values if v.strip() != ""]
            targets = {f"{column}={v}": (np.array([np.nan if s.strip() == "" else float(s == v) for s in values]),
                                         "categorical") for v in sorted(set(present))}
        for name, (y, kind) in targets.items():
            keep = np.isfinite(y)
            if keep.sum() < 3 or np.std(y[keep]) == 0:
                continue  # nothing to fit: too few items or a constant label
            design = np.stack([np.ones(keep.sum()), y[keep]], axis=1)                 # (n, 2)
            coef, *_ = np.linalg.lstsq(design, codes[keep], rcond=None)              # (2, code_dim)
            residual = codes[keep] - design @ coef
            total = ((codes[keep] - codes[keep].mean(axis=0)) ** 2).sum()
            std = float(np.std(y[keep]))
            found[name] = {"vector": (coef[1] * std).tolist(), "kind": kind, "n": int(keep.sum()), "std": std,
                           "r2": float(1 - (residual ** 2).sum() / max(total, 1e-30))}
    if not found:
        raise DataError("no label column has at least 3 labelled items with more than one value")
    return found


def read_labels(path: str | os.PathLike) -> tuple[list[str], dict[str, dict[str, str]]]:
    """A labels CSV (a ``path`` column plus label columns) → (label columns, path → row)."""
    path = Path(path)
    if not path.is_file():
        raise DataError("no such labels file", path)
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames or "path" not in reader.fieldnames:
            raise DataError("labels file needs a 'path' column (as in the manifest) and label columns", path)
        rows = {row["path"]: row for row in reader}
    columns = [c for c in reader.fieldnames if c != "path"]
    if not columns:
        raise DataError("labels file has no label columns besides 'path'", path)
    return columns, rows


def attributes_run(run: str | os.PathLike, labels_csv: str | os.PathLike | None = None,
                   columns: list[str] | None = None, out: str | os.PathLike | None = None,
                   data_root: str | None = None) -> Path:
    """Fit attribute vectors for a run from per-item labels and save them as JSON.

    Args:
        run: run folder or model file.
        labels_csv: CSV with ``path`` (matching the manifest's) and label columns; None uses
            the manifest's own columns named in ``columns``.
        columns: label columns to use (default: all of the labels file's).
        out: output JSON (default ``RUN/attributes.json``).
        data_root: the dataset folder if it moved since training.
    Returns:
        The JSON file written.
    """
    model, _, _, tiles = _load(run, data_root)
    if labels_csv is not None:
        available, by_path = read_labels(labels_csv)
        index = [i for i, row in enumerate(tiles.rows) if row.get("path") in by_path]
        if not index:
            raise DataError("no path in the labels file matches the run's manifest", labels_csv)
        rows = [by_path[tiles.rows[i]["path"]] for i in index]
    else:
        if not columns:
            raise DataError("give a labels file, or name the manifest's label columns (--column)", run)
        available, index, rows = [c for c in tiles.rows[0] if c != "path"], list(range(len(tiles))), tiles.rows
    columns = list(columns) if columns else available
    missing = [c for c in columns if c not in available]
    if missing:
        raise DataError(f"no label column {missing[0]!r} (have: {', '.join(available)})", labels_csv or run)
    codes = encode_all(model, np.asarray(tiles.tiles[np.asarray(index)]))
    found = fit_attribute_vectors(codes, {c: [str(r.get(c, "") or "") for r in rows] for c in columns})
    run_dir = Path(run) if Path(run).is_dir() else Path(run).parent
    out = Path(out) if out is not None else run_dir / ATTRIBUTES_FILE
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps({"code_dim": int(codes.shape[1]), "attributes": found}), encoding="utf-8")
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def load_attribute(path: str | os.PathLike, name: str, code_dim: int) -> np.ndarray:
    """One saved attribute vector (code_dim,) from an ``attributes.json``."""
    path = Path(path)
    if not path.is_file():
        raise ModelError("no attribute vectors for this model (run 'gaia-audio attributes' first)", path)
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
        found = saved["attributes"]
    except (ValueError, KeyError, TypeError):
        raise ModelError("not an attributes file", path) from None
    if name not in found:
        raise ModelError(f"no attribute {name!r} (have: {', '.join(sorted(found))})", path)
    vector = np.asarray(found[name]["vector"], np.float32)
    if vector.shape != (code_dim,):
        raise ModelError(f"attribute {name!r} has {vector.size} dimensions, the model's code {code_dim}", path)
    return vector


@torch.no_grad()
def morph_attribute(vm, a, vector: np.ndarray, name: str, extent: tuple[float, float] = (-3.0, 3.0),
                    steps: int = 9):
    """Move one sound along an attribute direction: codes z + e·vector for e across ``extent``.

    Args:
        vm: a loaded ``api.VocalModel``.
        a: the sound, from ``morph.make_endpoint`` (a single unit).
        vector: (code_dim,) attribute vector (one standard deviation of the label).
        name: the attribute's name (for the manifest).
        extent: first and last multiple of the vector.
        steps: sounds in the series.
    Returns:
        A ``morph.MorphResult``; rows carry ``alpha`` = the multiple e; the step at e = 0 (if
        any) is scored for fidelity to the input.
    """
    from gaia_audio.morph import _finish

    if a.n_frames > vm.max_unit_frames:
        raise DataError(f"{a.name}: attribute morphs take one vocal unit (up to "
                        f"{vm.max_unit_frames * vm.hop_length / vm.sr:.2f} s); segment longer sounds first")
    z = vm.encode_tiles(vm.to_tile(a.S)[None])[0]                                  # (code_dim,)
    multiples = np.linspace(extent[0], extent[1], steps)
    codes = z[None] + torch.as_tensor(multiples, dtype=z.dtype, device=z.device)[:, None] * \
        torch.as_tensor(vector, dtype=z.dtype, device=z.device)[None]
    tiles = vm.decode_codes(codes)
    n = len(a.y)
    spectrograms = [vm.from_tile(tiles[k], vm.frames_for(n)) for k in range(steps)]
    rows = [{"step": k, "alpha": float(e), "attribute": name} for k, e in enumerate(multiples)]
    targets = {k: a for k, e in enumerate(multiples) if abs(e) < 1e-9}
    return _finish(vm, tiles, spectrograms, [n] * steps, rows, targets, f"{a.name}_{name}", list(a.notes))


def attribute_maker(path: str, opts: dict, load_endpoint):
    """For the morph command: a ``make(vm)`` giving the series of one input along ``opts["attribute"]``.

    Args:
        path: the input sound file.
        opts: the morph command's options (``attribute``, ``extent``, ``steps``, ``channel``).
        load_endpoint: the CLI's ``(vm, path, channel) -> Endpoint`` reader.
    """

    def make(vm):
        vector = load_attribute(vm.path.parent / ATTRIBUTES_FILE, opts["attribute"], int(vm.model.code_dim))
        a = load_endpoint(vm, path, opts["channel"])
        return [morph_attribute(vm, a, vector, opts["attribute"], tuple(opts["extent"]), opts["steps"])]

    return make


@torch.no_grad()
def paper_grid(run: str | os.PathLike, out: str | os.PathLike, n_show: int = 8, n_pairs: int = 3, n_steps: int = 8,
               data_root: str | None = None, seed: int = 0) -> Path:
    """The paper's figure for a run: x, D(x), G(x), D(G(x)), then latent interpolations beside pixel cross-fades.

    Args:
        run: run folder or model file (GAIA shows its discriminator rows; AE/VAE only G(x)).
        out: the PNG to write.
        n_show: tiles per reconstruction row (held-out tiles first).
        n_pairs: interpolation pairs, each drawn as a latent row and a pixel cross-fade row.
        n_steps: steps per interpolation row, endpoints included.
        data_root: the dataset folder if it moved since training.
        seed: seed of the pair choice.
    Returns:
        The path written.
    """
    from gaia_audio import plots
    from gaia_audio.data import split_holdout
    from gaia_audio.samples import decode_strip

    model, config, _, tiles = _load(run, data_root)
    train_idx, held_idx = split_holdout(tiles, config.data.holdout)
    order = np.concatenate([np.sort(held_idx), np.sort(train_idx)])
    x = torch.from_numpy(np.asarray(tiles.tiles[order[:max(n_show, 2)]], np.float32))

    def show(t: torch.Tensor) -> np.ndarray:  # (N, H, W) spectrograms or (N, 3, H, W) images
        t = t.float().cpu().numpy()
        return t[:, 0] if t.shape[1] == 1 else t

    rows = [("x", show(x))]
    if hasattr(model, "discriminator"):
        g = model.generator(x)
        rows += [("D(x)", show(model.discriminator(x))), ("G(x)", show(g)), ("D(G(x))", show(model.discriminator(g)))]
    else:
        rows += [("G(x)", show(model(x)))]
    rng = np.random.default_rng(seed)
    alpha = torch.linspace(0, 1, n_steps)[:, None, None, None]
    for k in range(n_pairs):
        i, j = rng.choice(len(x), size=2, replace=False)
        rows.append((f"latent {k + 1}", show(decode_strip(model, x[i], x[j], n=n_steps))))
        rows.append((f"pixels {k + 1}", show((1 - alpha) * x[i][None] + alpha * x[j][None])))
    return plots.tile_grid(rows, out, f"{config.name}: reconstructions, latent interpolations vs pixel cross-fades")
