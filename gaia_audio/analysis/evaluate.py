"""How good a trained model's morphs are, in numbers, on held-out tiles.

- Endpoint fidelity: how close G(x) is to x: spectral convergence in dB (on linear STFT
  magnitudes for audio, on pixel values for images) and mean absolute error of the tiles.
- Realism of midpoints, independent of the model's own discriminator: a small CNN critic is
  trained from scratch to tell real tiles from decoded midpoints G((z₁ + z₂)/2), on one half
  of both, and scored by ROC AUC on the other half (0.5 = indistinguishable, 1 = always told
  apart). The same is done for reconstructions G(x) as a reference point.
- Step uniformity: coefficient of variation (std / mean) of the distances between consecutive
  decoded steps of a uniform latent path (0 = perfectly even steps).
- Smoothness (perceptual-path-length style): E‖G(z(t)) − G(z(t + ε))‖² / ε² over random pairs
  and t, with the per-pixel mean square as the distance (lower = smoother path).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch
from torch import nn

from gaia_audio.analysis.embed import load_run
from gaia_audio.data.cache import split_holdout
from gaia_audio.errors import DataError
from gaia_audio.io.files import write_text
from gaia_audio.models import decode_line
from gaia_audio.morph.paths import step_cv
from gaia_audio.render import figures
from gaia_audio.training.report import write_run_page

#: fewer held-out tiles than this and the evaluation uses every tile (and says so)
MIN_HELD = 8


def roc_auc(scores_pos: np.ndarray, scores_neg: np.ndarray) -> float:
    """Area under the ROC curve of scores for positives vs negatives (ties count half; scikit-learn's).

    Args:
        scores_pos: (n_pos,) scores of the positive class.
        scores_neg: (n_neg,) scores of the negative class.
    Returns:
        AUC in [0, 1] (0.5 = no separation).
    """
    from sklearn.metrics import roc_auc_score  # ~1 s to import; only evaluation needs it

    pos, neg = np.asarray(scores_pos, np.float64), np.asarray(scores_neg, np.float64)
    if len(pos) == 0 or len(neg) == 0:
        raise DataError("ROC AUC needs at least one item of each class")
    labels = np.concatenate([np.ones(len(pos)), np.zeros(len(neg))])
    return float(roc_auc_score(labels, np.concatenate([pos, neg])))


class Critic(nn.Module):
    """A small CNN that scores how real a tile looks: (B, C, H, W) → (B,) logits."""

    def __init__(self, in_channels: int, width: int = 16):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(width, 2 * width, 3, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(2 * width, 2 * width, 3, 2, 1), nn.LeakyReLU(0.2),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2 * width, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)[:, 0]


def critic_auc(real: np.ndarray, fake: np.ndarray, steps: int = 300, batch_size: int = 32, seed: int = 0) -> float:
    """Train a fresh :class:`Critic` on half of ``real`` vs ``fake``; ROC AUC on the other half.

    Args:
        real: (N, C, H, W) real tiles.
        fake: (M, C, H, W) generated tiles (same shape per tile).
        steps: Adam steps (lr 1e-3, binary cross-entropy, balanced batches).
        batch_size: tiles of each class per step.
        seed: seed of the split, the initialisation and the batches.
    Returns:
        AUC of the critic's scores on the held-out halves (real = positive).
    """
    real, fake = np.asarray(real, np.float32), np.asarray(fake, np.float32)
    if len(real) < 4 or len(fake) < 4:
        raise DataError(f"the critic needs at least 4 real and 4 generated tiles, got {len(real)} and {len(fake)}")
    rng = np.random.default_rng(seed)
    r, f = rng.permutation(len(real)), rng.permutation(len(fake))
    r_train, r_test = real[r[:len(r) // 2]], real[r[len(r) // 2:]]
    f_train, f_test = fake[f[:len(f) // 2]], fake[f[len(f) // 2:]]
    torch.manual_seed(seed)
    critic = Critic(real.shape[1])
    opt = torch.optim.Adam(critic.parameters(), lr=1e-3)
    loss_fn = nn.BCEWithLogitsLoss()
    with torch.enable_grad():  # callers may be inside no_grad
        _train_critic(critic, opt, loss_fn, r_train, f_train, rng, steps, batch_size)
    with torch.no_grad():
        return roc_auc(critic(torch.from_numpy(r_test)).numpy(), critic(torch.from_numpy(f_test)).numpy())


def _train_critic(critic, opt, loss_fn, r_train, f_train, rng, steps: int, batch_size: int) -> None:
    for _ in range(steps):
        xr = torch.from_numpy(r_train[rng.integers(len(r_train), size=batch_size)])
        xf = torch.from_numpy(f_train[rng.integers(len(f_train), size=batch_size)])
        logits = critic(torch.cat([xr, xf]))
        loss = loss_fn(logits, torch.cat([torch.ones(batch_size), torch.zeros(batch_size)]))
        opt.zero_grad()
        loss.backward()
        opt.step()


@torch.no_grad()
def _batched(fn, x: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
    return torch.cat([fn(c).float() for c in x.split(batch_size)])


def spectral_convergence_per_tile(x: np.ndarray, x_hat: np.ndarray, frontend=None) -> np.ndarray:
    """Spectral convergence 20·log10(‖x − x̂‖ / ‖x‖) in dB of each tile.

    Args:
        x: (N, C, H, W) real tiles in [0, 1].
        x_hat: the same shape, reconstructions.
        frontend: a spectrogram front end: compare linear STFT magnitudes; None: compare values.
    Returns:
        (N,) dB (lower is better).
    """
    if frontend is not None:
        with torch.no_grad():
            x = frontend.to_magnitude(torch.as_tensor(x[:, 0]).float()).double().numpy()
            x_hat = frontend.to_magnitude(torch.as_tensor(x_hat[:, 0]).float()).double().numpy()
    x, x_hat = np.asarray(x, np.float64), np.asarray(x_hat, np.float64)
    axes = tuple(range(1, x.ndim))
    err = np.sqrt(((x - x_hat) ** 2).sum(axis=axes)) / np.maximum(np.sqrt((x ** 2).sum(axis=axes)), 1e-12)
    return 20 * np.log10(err + 1e-12)


@torch.no_grad()
def evaluate_model(model: nn.Module, tiles: np.ndarray, frontend=None, n_pairs: int = 256, n_steps: int = 16,
                   epsilon: float = 1e-2, critic_steps: int = 300, seed: int = 0) -> dict:
    """Every metric of the module docstring for a model on a set of (held-out) tiles.

    Args:
        model: any model kind (``encode``/``decode``).
        tiles: (N, C, H, W) tiles in [0, 1], N >= 4.
        frontend: the audio front end (spectral convergence on linear magnitudes), or None.
        n_pairs: random pairs of distinct tiles for the path metrics and the midpoints.
        n_steps: decoded steps per path for the step uniformity.
        epsilon: the α step of the smoothness estimate.
        critic_steps: training steps of each critic.
        seed: seed of the pairs, the α draws and the critics.
    Returns:
        A flat dict of floats: ``spectral_convergence_db``, ``l1``, ``critic_auc_midpoints``,
        ``critic_auc_reconstructions``, ``step_cv``, ``smoothness_ppl``, and the counts used.
    """
    tiles = np.asarray(tiles, np.float32)
    if len(tiles) < 4:
        raise DataError(f"evaluation needs at least 4 tiles, got {len(tiles)}")
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    x = torch.from_numpy(tiles).to(device)
    z = _batched(model.encode, x)                                                # (N, code_dim)
    x_hat = _batched(model.decode, z).cpu().numpy()                              # G(x)
    rng = np.random.default_rng(seed)
    a = rng.integers(len(tiles), size=n_pairs)
    b = (a + rng.integers(1, len(tiles), size=n_pairs)) % len(tiles)             # distinct partners
    za, zb = z[torch.from_numpy(a).to(device)], z[torch.from_numpy(b).to(device)]
    midpoints = _batched(model.decode, (za + zb) / 2).cpu().numpy()
    # Step uniformity along uniform lerp paths
    alpha = torch.linspace(0, 1, n_steps, device=device)[None, :, None]
    path = (1 - alpha) * za[:, None] + alpha * zb[:, None]                       # (P, n_steps, code_dim)
    frames = _batched(model.decode, path.reshape(-1, z.shape[1])).reshape(n_pairs, n_steps, -1)
    steps = (frames[:, 1:] - frames[:, :-1]).norm(dim=-1)                         # (P, n_steps − 1)
    cv = np.array([step_cv(row) for row in steps.cpu().numpy()])
    # PPL-style smoothness: mean squared pixel change per ε², at random t
    t = torch.from_numpy(rng.uniform(0, 1 - epsilon, size=(n_pairs, 1))).float().to(device)
    g0 = _batched(model.decode, (1 - t) * za + t * zb)
    g1 = _batched(model.decode, (1 - t - epsilon) * za + (t + epsilon) * zb)
    ppl = ((g1 - g0) ** 2).flatten(1).mean(dim=1).cpu().numpy() / epsilon ** 2
    sc = spectral_convergence_per_tile(tiles, x_hat, frontend)
    model.train(was_training)
    return {
        "spectral_convergence_db": float(np.mean(sc)), "l1": float(np.abs(tiles - x_hat).mean()),
        "critic_auc_midpoints": critic_auc(tiles, midpoints, critic_steps, seed=seed),
        "critic_auc_reconstructions": critic_auc(tiles, x_hat, critic_steps, seed=seed),
        "step_cv": float(np.mean(cv)), "smoothness_ppl": float(np.mean(ppl)),
        "n_tiles": int(len(tiles)), "n_pairs": int(n_pairs),
    }


METRIC_LABELS = {
    "spectral_convergence_db": "G(x) spectral convergence (dB, lower better)",
    "l1": "G(x) L1 (lower better)",
    "critic_auc_midpoints": "critic AUC real vs midpoints (0.5 best)",
    "critic_auc_reconstructions": "critic AUC real vs G(x) (0.5 best)",
    "step_cv": "step uniformity CV (lower better)",
    "smoothness_ppl": "path length, PPL-style (lower smoother)",
}


def markdown_table(results: dict[str, dict]) -> str:
    """A markdown table with one column per model: {name: evaluate_model's dict} → text."""
    names = list(results)
    out = ["| metric | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for key, label in METRIC_LABELS.items():
        out.append(f"| {label} | " + " | ".join(f"{results[n][key]:.4g}" for n in names) + " |")
    out.append("| held-out tiles | " + " | ".join(str(results[n]["n_tiles"]) for n in names) + " |")
    return "\n".join(out)


def evaluate_run(run: str | os.PathLike, out_dir: str | os.PathLike | None = None, data_root: str | None = None,
                 n_pairs: int = 256, critic_steps: int = 300, seed: int = 0, progress: bool = False) -> dict:
    """Evaluate a trained run on its held-out tiles; write ``evaluation.json`` and ``evaluation.md``.

    Args:
        run: run folder or ``model.safetensors``.
        out_dir: where to write (default: the run folder).
        data_root: the dataset folder, if it moved since training (default: the run's ``data.root``).
        n_pairs: random pairs for the path metrics.
        critic_steps: training steps of each critic.
        seed: seed of the pairs and critics.
        progress: show a progress bar if the tile cache must be built.
    Returns:
        The metrics dict (also ``held_out``: whether only held-out tiles were used).
    """
    model, config, frontend, tiles = load_run(run, data_root, progress)
    _, held = split_holdout(tiles, config.data.holdout)
    held_out = len(held) >= MIN_HELD
    index = np.sort(held) if held_out else np.arange(len(tiles))
    result = evaluate_model(model, np.asarray(tiles.tiles[index], np.float32), frontend, n_pairs=n_pairs,
                            critic_steps=critic_steps, seed=seed)
    result.update({"held_out": held_out, "model": config.model.kind, "run": str(run)})
    run_dir = Path(run) if Path(run).is_dir() else Path(run).parent
    out_dir = Path(out_dir) if out_dir is not None else run_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    write_text(out_dir / "evaluation.json", json.dumps(result, indent=2) + "\n")
    write_text(out_dir / "evaluation.md", markdown_table({config.model.kind: result}) + "\n")
    if out_dir.resolve() == run_dir.resolve():
        write_run_page(run_dir)  # the run's page shows its evaluation
    return result


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
    model, config, _, tiles = load_run(run, data_root)
    train_idx, held_idx = split_holdout(tiles, config.data.holdout)
    order = np.concatenate([np.sort(held_idx), np.sort(train_idx)])
    x = torch.from_numpy(np.asarray(tiles.tiles[order[:max(n_show, 2)]], np.float32))
    rows = model.reconstructions(x)
    rng = np.random.default_rng(seed)
    alpha = torch.linspace(0, 1, n_steps)[:, None, None, None]
    for k in range(n_pairs):
        i, j = rng.choice(len(x), size=2, replace=False)
        rows.append((f"latent {k + 1}", decode_line(model, x[i], x[j], n=n_steps)))
        rows.append((f"pixels {k + 1}", (1 - alpha) * x[i][None] + alpha * x[j][None]))
    return figures.tile_grid(rows, out, f"{config.name}: reconstructions, latent interpolations vs pixel cross-fades")
