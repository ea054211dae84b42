"""One training step's gradients, in float64, from every process of a torchrun group.

Run by tests/test_distributed.py as ``torchrun --nproc_per_node N tests/ddp_harness.py OUT.npz``:
rank 0 saves each network's averaged parameter gradients and the logged terms for GAIA, AE and
VAE, so one process and N can be compared to float64 precision (no optimizer in between, so a
gradient that is off by a constant factor shows too).
"""
import sys

import numpy as np
import torch

from gaia_audio.models import build_model
from gaia_audio.training import distributed
from gaia_audio.training.objectives import make_objective


class Recorder(torch.optim.SGD):
    """An optimizer whose step only keeps the gradients it was given."""

    def step(self, closure=None):
        self.grads = [p.grad.detach().clone() for g in self.param_groups for p in g["params"]]


def main(out: str) -> None:
    torch.set_default_dtype(torch.float64)
    torch.set_num_threads(1)
    group, _ = distributed.setup("cpu", 8)
    saved = {}
    for kind in ("gaia", "ae", "vae"):
        torch.manual_seed(0)
        model = build_model((1, 32, 16), kind=kind, size="small", width=4, n_res=1, style_dim=8, mlp_dim=8,
                            latent_dim=8).double()
        x = group.local(torch.rand(8, 1, 32, 16, generator=torch.Generator().manual_seed(3)))
        objective = make_objective(model, 1e-3, 5e-5, 1.0, group=group)
        objective.optimizers = {name: Recorder(net.parameters(), lr=0.0) for name, net in objective.networks().items()}
        terms = objective.step(x, torch.Generator().manual_seed(1))
        for name, optimizer in objective.optimizers.items():
            saved[f"{kind}/{name}"] = torch.cat([g.flatten() for g in optimizer.grads]).numpy()
        saved[f"{kind}/terms"] = np.array([terms[k] for k in sorted(terms)])
    if group.is_main:
        np.savez(out, **saved)
    distributed.teardown(group)


if __name__ == "__main__":
    main(sys.argv[1])
