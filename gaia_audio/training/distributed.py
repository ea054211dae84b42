"""Data-parallel training across processes (torchrun + DistributedDataParallel).

Every process draws the same global batch from the same seeded sampler and keeps its own
contiguous slice of it. GAIA's batch-level terms are then computed over the *global* batch on
every process, so N processes give one process's result at the same ``train.batch_size``:

  * the interpolation pairs the batch's two halves: the codes are all-gathered (differentiably)
    and each process decodes its slice of the interpolants;
  * the mean errors (Lr, Lfr, Lfs, the baselines' losses) are averaged over processes
    (differentiably) before sigmoid balancing, which is nonlinear in them;
  * the distance loss's B×B matrix is built from the all-gathered inputs and content codes.

Each process thus computes the same global loss. The collectives' backward passes sum the
gradients every process sends to a slice, and DDP averages parameter gradients over processes;
together that is exactly the one-process gradient. Launch with torchrun, which sets ``RANK``,
``LOCAL_RANK`` and ``WORLD_SIZE``::

    torchrun --standalone --nproc_per_node 4 -m gaia_audio train recipes/zebra_finch.yaml
"""
from __future__ import annotations

import datetime
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from gaia_audio.errors import TrainingError


@dataclass(frozen=True)
class Group:
    """This process's place in the training group (rank 0 of 1 when not distributed)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0 writes checkpoints, samples, logs and the exported model."""
        return self.rank == 0

    def local(self, batch: torch.Tensor) -> torch.Tensor:
        """This process's contiguous slice of a global batch: (B, ...) → (B / world_size, ...)."""
        if not self.distributed:
            return batch
        n = batch.shape[0] // self.world_size
        return batch[self.rank * n:(self.rank + 1) * n]

    def gather(self, t: torch.Tensor) -> torch.Tensor:
        """All processes' slices in rank order, (b, ...) → (world_size·b, ...); differentiable."""
        return _Gather.apply(t, self) if self.distributed else t

    def mean(self, t: torch.Tensor) -> torch.Tensor:
        """The mean over processes of a per-process scalar (equal slices: the global mean); differentiable."""
        return _Sum.apply(t) / self.world_size if self.distributed else t

    def broadcast(self, obj):
        """Rank 0's value of a small picklable object (e.g. the run folder it chose), on every process."""
        if not self.distributed:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    def wrap(self, module: torch.nn.Module, device: torch.device) -> torch.nn.Module:
        """``module`` under DistributedDataParallel (its gradients averaged over processes), or as is."""
        if not self.distributed:
            return module
        from torch.nn.parallel import DistributedDataParallel

        ids = [device.index] if device.type == "cuda" else None
        return DistributedDataParallel(module, device_ids=ids)


class _Gather(torch.autograd.Function):
    """All-gather whose backward hands each process the sum, over processes, of its slice's gradient."""

    @staticmethod
    def forward(ctx, t: torch.Tensor, group: Group) -> torch.Tensor:
        ctx.group = group
        parts = [torch.empty_like(t) for _ in range(group.world_size)]
        dist.all_gather(parts, t.contiguous())
        return torch.cat(parts, dim=0)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        grad = grad.contiguous()
        dist.all_reduce(grad)  # every process's loss reaches every slice
        return ctx.group.local(grad), None


class _Sum(torch.autograd.Function):
    """All-reduce sum whose backward sums the incoming gradients over processes too."""

    @staticmethod
    def forward(ctx, t: torch.Tensor) -> torch.Tensor:
        out = t.detach().clone()
        dist.all_reduce(out)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        grad = grad.contiguous().clone()
        dist.all_reduce(grad)
        return grad


def setup(device_name: str, batch_size: int) -> tuple[Group, str]:
    """Join the torchrun group named by the environment, if any.

    Args:
        device_name: ``train.device``; "auto" becomes ``cuda:LOCAL_RANK`` when CUDA is present.
        batch_size: the global batch, which must split evenly over the processes.
    Returns:
        (group, device name to use). Without ``WORLD_SIZE`` > 1: rank 0 of 1 and ``device_name``.
    Raises:
        TrainingError: the batch does not split evenly, or a CUDA process has no GPU of its own.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return Group(), device_name
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if batch_size % world_size:
        raise TrainingError(f"train.batch_size={batch_size} does not split evenly over {world_size} processes")
    use_cuda = torch.cuda.is_available() and device_name in ("auto", "cuda")
    if use_cuda:
        if local_rank >= torch.cuda.device_count():
            raise TrainingError(f"process {local_rank} on this node has no GPU ({torch.cuda.device_count()} present)")
        torch.cuda.set_device(local_rank)
        device_name = f"cuda:{local_rank}"
    elif device_name == "auto":
        device_name = "cpu"
    if not dist.is_initialized():
        dist.init_process_group("nccl" if use_cuda else "gloo", timeout=datetime.timedelta(hours=2))
    return Group(rank, world_size, local_rank), device_name


def teardown(group: Group, wait: bool = True) -> None:
    """Leave the process group, after every process has finished when ``wait``."""
    if group.distributed and dist.is_initialized():
        if wait:
            dist.barrier()
        dist.destroy_process_group()
