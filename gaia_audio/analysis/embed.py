"""Look at a trained latent space: encode a run's dataset and draw its UMAP embedding.

:func:`embed_run` encodes a dataset, projects the codes to 2-D with UMAP, saves the projection as
CSV and draws it coloured by a manifest column; optionally strips of interpolations between
nearest neighbours in the projection (GAIA's opening figure). :func:`load_run` opens a trained
run for every analysis command.
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
import torch

from gaia_audio.data.sources import load_data
from gaia_audio.errors import DataError
from gaia_audio.io.files import write_csv
from gaia_audio.models import decode_line
from gaia_audio.models.export import load_network
from gaia_audio.render import figures


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


def load_run(run: str | os.PathLike, data_root: str | os.PathLike | None = None, progress: bool = False):
    """A trained run's network, recipe, front end and tiles, for commands that read a model.

    The model file may come from anyone, so its stored data settings are not trusted: they never
    fetch data or write a tile cache (``load_data(trusted=False)``).

    Args:
        run: run folder or model file.
        data_root: the dataset folder, if it moved since training (default: the stored ``data.root``).
        progress: show a progress bar while tiling.
    Returns:
        (model in eval mode, config, front end or None, tiles).
    """
    model, config, _ = load_network(run)
    if data_root is not None:
        config = dataclasses.replace(config, data=dataclasses.replace(config.data, root=str(data_root)))
    frontend, tiles = load_data(config, progress=progress, trusted=False)
    return model, config, frontend, tiles


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
    out = Path(out)
    model, config, _, tiles = load_run(run, data_root)
    codes = encode_all(model, tiles.tiles)
    xy = umap_embedding(codes, n_neighbors, seed=seed)
    labels = [str(row.get(label, "")) for row in tiles.rows]
    out.parent.mkdir(parents=True, exist_ok=True)
    csv_path = out.with_suffix(".csv")
    write_csv(csv_path, ["path", label, "umap_x", "umap_y"],
               [[row.get("path", i), lab, f"{x:.6g}", f"{y:.6g}"] for i, (row, lab, (x, y)) in
                enumerate(zip(tiles.rows, labels, xy))])
    written = {"csv": csv_path,
               "plot": figures.embedding_scatter(xy, labels, out, label, f"{config.name}: UMAP of codes")}
    if neighbors > 0:
        partner = nearest_neighbours(xy)
        chosen = np.random.default_rng(seed).choice(len(xy), size=min(neighbors, len(xy)), replace=False)
        rows = []
        with torch.no_grad():
            for i in chosen:
                a, b = (torch.as_tensor(np.asarray(tiles.tiles[k], np.float32)) for k in (i, partner[i]))
                rows.append((f"{i}→{partner[i]}", decode_line(model, a, b, n=8)))
        written["neighbors"] = figures.tile_grid(rows, out.with_name(f"{out.stem}_neighbors.png"),
                                               "interpolations between nearest neighbours in the projection")
    return written


