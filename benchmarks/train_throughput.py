"""Throughput of one full GAIA training step on this machine, against its fp32 matmul peak.

A step is what ``train.train_step`` does (the reference GAIA code): encode the batch with the generator,
decode it, decode the interpolations between its halves, run the discriminator on x, G(x) and
G(z_i), take each network's gradient of its own loss from that one forward pass, and apply one
Adam update per network. FLOPs are counted once per setting with
``torch.utils.flop_counter.FlopCounterMode`` (convolutions and matrix products, forward and
backward); the rest (norms, activations, padding, Adam) costs time but is not counted, so the
ratio to the matmul peak is the fraction of the machine's arithmetic the step really uses.

``--compare`` times the step as it was before issue 21 (``LegacyGAIAObjective``: a host sync
per loss term and per gradient tensor, per-tensor Adam, upsample-then-5×5-conv decoder blocks)
against today's, alternately in the same run, on the same model and batch.

Usage:
    python benchmarks/train_throughput.py                      # small and paper presets
    python benchmarks/train_throughput.py --sizes small --batch-size 16 --steps 10 --threads 2
    python benchmarks/train_throughput.py --compare --threads 1 --steps 8
"""
from __future__ import annotations

import argparse
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from gaia_audio.models import build_model, count_parameters
from gaia_audio.models.blocks import UpBlock
from gaia_audio.training.objectives import GAIAObjective, make_objective


class LegacyGAIAObjective(GAIAObjective):
    """GAIA's step as the loop ran it before issue 21, kept to time against (commit b1b40e8)."""

    def __init__(self, model, lr_max, distance_weight):
        super().__init__(model, lr_max, distance_weight)
        self.optimizers = {name: torch.optim.Adam(net.parameters(), lr=self.lr_max, eps=1e-8)
                           for name, net in self.networks().items()}

    def step(self, x, noise, lr_scale=1.0):
        terms, losses, lrs = self.terms(x, noise, self.lr_max * lr_scale)
        logged = {k: float(v.detach()) if torch.is_tensor(v) else float(v) for k, v in terms.items()}
        networks = self.networks()
        for name, loss in losses.items():
            params = [p for p in networks[name].parameters() if p.requires_grad]
            self.optimizers[name].zero_grad(set_to_none=True)
            torch.autograd.backward(loss.float(), inputs=params, retain_graph=True)
        grads = [p.grad for opt in self.optimizers.values() for group in opt.param_groups for p in group["params"]]
        if not all(g is None or torch.isfinite(g).all() for g in grads):
            return logged
        for name, optimizer in self.optimizers.items():
            for group in optimizer.param_groups:
                group["lr"] = float(terms[lrs[name]])
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        return logged


def compare(tile_shape: tuple[int, int, int], batch_size: int, steps: int) -> dict:
    """Best seconds per step of the legacy and today's step, timed alternately on one model and batch."""
    torch.manual_seed(0)
    model = build_model(tile_shape, kind="gaia", size="small")
    x = torch.rand(batch_size, *tile_shape)
    noise = torch.Generator().manual_seed(0)
    objectives = {"before": LegacyGAIAObjective(model, 1e-4, 5e-5), "now": make_objective(model, 1e-4, 5e-5)}
    upblock_forward = UpBlock.forward
    forwards = {"before": torch.nn.Sequential.forward, "now": upblock_forward}  # upsample, then the 5×5 conv
    times: dict[str, list[float]] = {k: [] for k in objectives}
    try:
        for i in range(steps + 1):
            for name, objective in objectives.items():
                UpBlock.forward = forwards[name]
                start = time.perf_counter()
                objective.step(x, noise)
                if i:  # the first round warms up
                    times[name].append(time.perf_counter() - start)
    finally:
        UpBlock.forward = upblock_forward
    return {k: min(v) for k, v in times.items()}


def default_tile_shape() -> tuple[int, int, int]:
    """(1, n_freq, n_frames) of the zebra_finch preset, or (1, 80, 64) if the front end is unavailable."""
    try:
        from gaia_audio.spectral.presets import make_frontend

        return (1, *make_frontend(preset="zebra_finch").tile_shape)
    except Exception:  # the front end is optional for this benchmark
        return (1, 80, 64)


def matmul_peak(sizes: tuple[int, ...] = (1024, 2048, 4096), repeats: int = 5) -> float:
    """Best fp32 GFLOP/s of a square ``torch.matmul`` over a few sizes: the arithmetic ceiling."""
    best = 0.0
    for n in sizes:
        a, b = torch.randn(n, n), torch.randn(n, n)
        torch.matmul(a, b)
        for _ in range(repeats):
            start = time.perf_counter()
            torch.matmul(a, b)
            best = max(best, 2 * n ** 3 / (time.perf_counter() - start) / 1e9)
    return best


def make_step(model: torch.nn.Module, x: torch.Tensor):
    """A closure doing one GAIA training step on batch ``x`` (B, C, H, W): the training loop's own step."""
    objective = make_objective(model, lr_max=1e-4, distance_weight=5e-5)
    noise = torch.Generator().manual_seed(0)

    def step() -> None:
        objective.step(x, noise)

    return step


def benchmark(size: str, tile_shape: tuple[int, int, int], batch_size: int, steps: int,
              channels_last: bool = False) -> dict:
    """Tiles/s and GFLOP/s of GAIA training steps for one size preset.

    Returns:
        dict with size, batch, parameters, GFLOP per step, seconds per step (best and median of
        ``steps``), and tiles/s and GFLOP/s at the best time (the least disturbed by other processes).
    """
    torch.manual_seed(0)
    model = build_model(tile_shape, kind="gaia", size=size)
    x = torch.rand(batch_size, *tile_shape)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    step = make_step(model, x)
    step()  # warm-up (allocations, oneDNN primitive creation)
    with FlopCounterMode(display=False) as counter:
        step()
    flops = counter.get_total_flops()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    sec, median = min(times), sorted(times)[len(times) // 2]
    return {"size": size, "batch": batch_size, "params_G": count_parameters(model.generator),
            "params_D": count_parameters(model.discriminator), "gflop": flops / 1e9, "sec": sec,
            "median": median, "tiles_s": batch_size / sec, "gflops": flops / sec / 1e9}


def main() -> None:
    """Print a markdown table of GAIA training throughput beside the machine's matmul peak."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["small", "paper"])
    parser.add_argument("--batch-size", type=int, default=16, help="batch for 'small'")
    parser.add_argument("--paper-batch-size", type=int, default=4, help="batch for 'paper' (slow on a CPU)")
    parser.add_argument("--steps", type=int, default=10, help="timed steps per setting (best and median reported)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    parser.add_argument("--channels-last", action="store_true", help="run convs in channels_last layout")
    parser.add_argument("--tile-shape", type=int, nargs=3, default=None, metavar=("C", "H", "W"))
    parser.add_argument("--compare", action="store_true",
                        help="time the step before issue 21 against today's, alternately (small preset)")
    args = parser.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    tile_shape = tuple(args.tile_shape) if args.tile_shape else default_tile_shape()
    if args.compare:
        best = compare(tile_shape, args.batch_size, args.steps)
        print(f"\nGAIA small, tile {tile_shape}, batch {args.batch_size}, {torch.get_num_threads()} threads, "
              f"best of {args.steps} alternated steps\n")
        print("| step | s/step | tiles/s |\n|---|---|---|")
        for name, sec in best.items():
            print(f"| {name} | {sec:.3f} | {args.batch_size / sec:.1f} |")
        print(f"\nspeed-up: {best['before'] / best['now']:.2f}x (target >= 1.5x)")
        return
    peak = matmul_peak()
    rows = [benchmark(size, tile_shape, args.paper_batch_size if size == "paper" else args.batch_size,
                      args.steps, args.channels_last) for size in args.sizes]
    print(f"\nGAIA training step, tile {tile_shape}, {torch.get_num_threads()} threads, torch {torch.__version__}, "
          f"fp32 matmul peak {peak:.1f} GFLOP/s\n")
    print("| preset | batch | params G / D | GFLOP/step | s/step best (median) | tiles/s | GFLOP/s "
          "| % of matmul peak |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['size']} | {r['batch']} | {r['params_G'] / 1e6:.2f}M / {r['params_D'] / 1e6:.2f}M | "
              f"{r['gflop']:.1f} | {r['sec']:.3f} ({r['median']:.3f}) | {r['tiles_s']:.1f} | {r['gflops']:.1f} | "
              f"{100 * r['gflops'] / peak:.0f}% |")


if __name__ == "__main__":
    main()
