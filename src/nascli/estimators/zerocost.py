"""Zero-cost proxies: score an untrained network from one minibatch (Abdelfattah et al. 2021;
Mellor et al. 2021). Higher is better for every proxy here."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from nascli.core.errors import NascliError
from nascli.estimators.base import Estimator


def _logits(out: Any) -> torch.Tensor:
    return out[0] if isinstance(out, tuple) else out


def _weights(net: nn.Module) -> list[nn.Parameter]:
    """Conv and linear weights: the parameters the pruning-at-init proxies are defined over."""
    return [m.weight for m in net.modules() if isinstance(m, nn.Conv2d | nn.Linear)]


def grad_norm(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Sum over layers of the gradient's Euclidean norm, on one minibatch."""
    net.zero_grad()
    F.cross_entropy(_logits(net(x)), y).backward()
    with torch.no_grad():
        return float(sum(w.grad.norm() for w in _weights(net) if w.grad is not None))


def snip(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Connection sensitivity: sum of |dL/dw * w| (Lee et al. 2019)."""
    net.zero_grad()
    F.cross_entropy(_logits(net(x)), y).backward()
    with torch.no_grad():
        return float(sum((w.grad * w).abs().sum() for w in _weights(net) if w.grad is not None))


def synflow(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Synaptic flow (Tanaka et al. 2020): all weights made positive, an all-ones input in double
    precision, score = sum of |dR/dw * w| where R is the summed output. Batch-norm runs in eval mode
    with fresh statistics, i.e. as the identity, standing in for the data-free setting."""
    net = copy.deepcopy(net).double().eval()
    with torch.no_grad():
        for p in net.parameters():
            p.abs_()
    net.zero_grad()
    ones = torch.ones((1, *x.shape[1:]), dtype=torch.float64)
    _logits(net(ones)).sum().backward()
    with torch.no_grad():
        return float(sum((w.grad * w).abs().sum() for w in _weights(net) if w.grad is not None))


def jacob_cov(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Correlation of input Jacobians across the minibatch (Mellor et al., first version):
    -sum(log(v + k) + 1 / (v + k)) over the correlation matrix's eigenvalues v, k = 1e-5."""
    x = x.clone().requires_grad_(True)
    net.zero_grad()
    _logits(net(x)).sum().backward()
    # No gradient reaches the input when the output ignores it (cells of `none` only): a zero Jacobian.
    grad = x.grad if x.grad is not None else torch.zeros_like(x)
    jacobians = grad.reshape(len(x), -1).double()
    corr = torch.corrcoef(jacobians)
    corr = torch.nan_to_num(corr, nan=0.0)
    eigenvalues = torch.linalg.eigvalsh(corr)
    k = 1e-5
    return float(
        -torch.sum(torch.log(eigenvalues.clamp_min(0) + k) + 1.0 / (eigenvalues.clamp_min(0) + k))
    )


def naswot(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """NAS without training (Mellor et al. 2021): log-determinant of the kernel of ReLU activation
    patterns, K[i, j] = number of units on which samples i and j agree.

    GELU units count too: GELU(z) > 0 exactly when z > 0, so their on/off code is the ReLU's.
    A network with neither has no activation pattern, and is refused rather than scored 0."""
    kernel = torch.zeros(len(x), len(x), dtype=torch.float64)

    def hook(module: nn.Module, inputs: Any, output: torch.Tensor) -> None:
        codes = (output.detach().reshape(len(x), -1) > 0).double()
        kernel.add_(codes @ codes.t() + (1 - codes) @ (1 - codes).t())

    units = [m for m in net.modules() if isinstance(m, (nn.ReLU, nn.GELU))]
    if not units:
        raise NascliError(
            "estimator.proxy=naswot reads ReLU activation patterns and this network has no ReLU "
            "or GELU units; choose estimator.proxy=synflow, snip, grad_norm or jacob_cov"
        )
    handles = [m.register_forward_hook(hook) for m in units]
    try:
        with torch.no_grad():
            net(x)
    finally:
        for h in handles:
            h.remove()
    # A tiny ridge keeps the log-determinant finite when no unit tells two samples apart.
    return float(torch.linalg.slogdet(kernel + 1e-6 * torch.eye(len(x), dtype=torch.float64))[1])


PROXIES: dict[str, Callable[[nn.Module, torch.Tensor, torch.Tensor], float]] = {
    "synflow": synflow,
    "snip": snip,
    "grad_norm": grad_norm,
    "jacob_cov": jacob_cov,
    "naswot": naswot,
}


def score(proxy: str, net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    if proxy not in PROXIES:
        raise NascliError(
            f"estimator.proxy={proxy} is not known; choose one of {', '.join(PROXIES)}"
        )
    was_training = net.training
    net.train()
    try:
        return PROXIES[proxy](net, x, y)
    finally:
        net.zero_grad(set_to_none=True)
        net.train(was_training)


def first_batch(data: Any, batch_size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """One seeded training minibatch."""
    loader = data.train_dataloader(seed_offset=seed)
    loader.batch_size = batch_size
    return next(iter(loader))


class ZeroCostEstimator(Estimator):
    """Score each architecture with `proxy` on one training minibatch, without training.

    The metric is `score` (higher is better); `conf/estimator/zerocost.yaml` makes it the objective.
    """

    metrics = ("score", "epochs")

    def check_task(self, task: Any) -> None:
        from nascli.core.errors import NascliError

        if task.name == "language_model":
            raise NascliError(
                "estimator=zerocost: its proxies score classifiers on one labelled batch; none "
                "is defined for language models here (use estimator=train or hyperband)"
            )

    def __init__(
        self, proxy: str = "synflow", batch_size: int = 64, trainer: dict[str, Any] | None = None
    ) -> None:
        # `trainer` is accepted like every estimator's; scoring one minibatch needs no Trainer.
        if proxy not in PROXIES:
            raise NascliError(
                f"estimator.proxy={proxy} is not known; choose one of {', '.join(PROXIES)}"
            )
        self.proxy, self.batch_size = proxy, batch_size

    def estimate(self, arch, net, data, seed, *, space, logger=None, rung=0) -> dict[str, Any]:
        return self.evaluate(net, data, seed)

    def evaluate(
        self, net: nn.Module, data: Any, seed: int, logger: Any = None
    ) -> dict[str, float]:
        x, y = first_batch(data, self.batch_size, seed)
        return {"score": score(self.proxy, net, x, y), "epochs": 0}
