"""One-shot strategies as Hydra instantiates them: settings plus the module that trains them.

The search loop (nascli.commands.search.oneshot) owns data, files and the Trainer; a strategy says which
supernet it needs (`partial`), which Lightning module trains it, and how the final architecture is
chosen (`final`: the derived one, or SPOS's evolution on inherited weights).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from nascli.core.errors import NascliError
from nascli.core.space import Space
from nascli.oneshot.module import BilevelModule, EnasModule, OneShotModule, PathModule


class OneShotStrategy:
    """Args:
    epochs: supernet training epochs.
    batch_size: batch of each half (weights / architecture).
    optimizer, scheduler: the weight optimiser and its per-epoch schedule (partials).
    grad_clip: gradient-norm clip of the weight step (null: none).
    max_skip: cap on skip connections in the derived normal cell (P-DARTS); null: none.
    early_stop_skip: stop searching once the uncapped derived normal cell has max_skip skips (DARTS+).
    recompute: recompute cell activations in backward (a supernet that does not fit in memory).
    """

    #: PC-DARTS's partial channels: 1/partial of each edge's channels go through its ops.
    partial = 1
    #: the architecture is derived (and recorded) after every epoch; False: one search at the end.
    derives_per_epoch = True
    #: weight of the expected-latency term in the architecture loss (0: none).
    latency_weight = 0.0

    def __init__(
        self,
        space: Space,
        seed: int = 0,
        epochs: int = 50,
        batch_size: int = 64,
        optimizer: Callable[..., torch.optim.Optimizer] | None = None,
        scheduler: Callable[..., Any] | None = None,
        grad_clip: float | None = 5.0,
        max_skip: int | None = None,
        early_stop_skip: bool = False,
        recompute: bool = False,
    ) -> None:
        if optimizer is None:
            raise NascliError("strategy.optimizer is missing; one-shot strategies need one")
        if early_stop_skip and max_skip is None:
            raise NascliError(
                "strategy.early_stop_skip=true needs strategy.max_skip (the cap it stops at), e.g. strategy.max_skip=2"
            )
        if max_skip is not None and not space.caps_skips:
            raise NascliError(
                f"strategy.max_skip caps skip connections in a derived cell; space={space.name} "
                "has none (drop strategy.max_skip)"
            )
        self.space, self.seed = space, seed
        self.epochs, self.batch_size = epochs, batch_size
        self.optimizer, self.scheduler, self.grad_clip = optimizer, scheduler, grad_clip
        self.max_skip, self.early_stop_skip = max_skip, early_stop_skip
        self.recompute = recompute

    def module(self, net) -> OneShotModule:
        raise NotImplementedError

    def final(self, module: OneShotModule, score: Callable[[str], float], log_trial) -> str:
        """The architecture the search ends with."""
        return module.derive(self.max_skip)


class Darts(OneShotStrategy):
    """DARTS (Liu et al. 2019): softmax-relaxed ops, alternating architecture and weight steps.

    order: 1 (first-order approximation) or 2 (the unrolled second-order step).
    latency_weight: per ms of the expected latency on the hardware target, added to the
        architecture loss (ProxylessNAS); 0: accuracy alone.
    arch_optimizer: the architecture optimiser (Adam 3e-4, betas 0.5/0.999, wd 1e-3 in the paper).
    warmup_epochs: epochs of weight steps only before architecture steps begin.
    """

    method = "softmax"

    def __init__(
        self,
        space: Space,
        seed: int = 0,
        order: int = 1,
        arch_optimizer: Callable[..., torch.optim.Optimizer] | None = None,
        warmup_epochs: int = 0,
        latency_weight: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(space, seed, **kwargs)
        if order not in (1, 2):
            raise NascliError(f"strategy.order={order}: choose 1 (first order) or 2 (unrolled)")
        if latency_weight < 0:
            raise NascliError(f"strategy.latency_weight={latency_weight} must be 0 or more")
        if warmup_epochs >= self.epochs:
            raise NascliError(
                f"strategy.warmup_epochs={warmup_epochs} leaves no architecture step in "
                f"strategy.epochs={self.epochs}; lower it (e.g. strategy.warmup_epochs=0)"
            )
        self.order, self.arch_optimizer, self.warmup_epochs = order, arch_optimizer, warmup_epochs
        self.latency_weight = latency_weight

    def module_kwargs(self) -> dict[str, Any]:
        return {}

    def module(self, net) -> OneShotModule:
        return BilevelModule(
            net,
            self.space,
            self.optimizer,
            self.scheduler,
            self.arch_optimizer,
            method=self.method,
            order=self.order,
            grad_clip=self.grad_clip,
            warmup_epochs=self.warmup_epochs,
            epochs=self.epochs,
            seed=self.seed,
            **self.module_kwargs(),
        )


class PcDarts(Darts):
    """PC-DARTS (Xu et al. 2020): 1/K of the channels through each mixed op, edge normalisation."""

    def __init__(self, space: Space, seed: int = 0, partial: int = 4, **kwargs: Any) -> None:
        super().__init__(space, seed, **kwargs)
        if partial < 1:
            raise NascliError(f"strategy.partial={partial} must be at least 1 (PC-DARTS uses 4)")
        self.partial = partial


class Gdas(Darts):
    """GDAS (Dong & Yang 2019): one op per edge by hard Gumbel-softmax, tau from tau_max to tau_min."""

    method = "gumbel"

    def __init__(
        self, space: Space, seed: int = 0, tau_max: float = 10.0, tau_min: float = 0.1, **kwargs
    ) -> None:
        super().__init__(space, seed, **kwargs)
        if self.order != 1:
            raise NascliError(
                "strategy=gdas samples a new path per forward pass; set strategy.order=1"
            )
        if not 0 < tau_min <= tau_max:
            raise NascliError(
                f"strategy.tau_min={tau_min}, tau_max={tau_max}: need 0 < tau_min <= tau_max"
            )
        self.tau_max, self.tau_min = tau_max, tau_min

    def module_kwargs(self) -> dict[str, Any]:
        return {"tau_max": self.tau_max, "tau_min": self.tau_min}


class Spos(OneShotStrategy):
    """SPOS (Guo et al. 2020): train uniformly sampled single paths, then run regularized evolution
    on inherited weights, re-estimating batch-norm statistics before scoring each candidate.

    search_trials: candidates the evolution scores; population, sample_size: its settings.
    bn_batches: training batches used to recalibrate batch-norm statistics per candidate.
    """

    derives_per_epoch = False

    def __init__(
        self,
        space: Space,
        seed: int = 0,
        search_trials: int = 100,
        population: int = 20,
        sample_size: int = 5,
        bn_batches: int = 4,
        **kwargs: Any,
    ) -> None:
        super().__init__(space, seed, **kwargs)
        self.search_trials, self.population = search_trials, population
        self.sample_size, self.bn_batches = sample_size, bn_batches

    def module(self, net) -> OneShotModule:
        return PathModule(
            net, self.space, self.optimizer, self.scheduler, self.grad_clip, seed=self.seed
        )

    def final(self, module: OneShotModule, score: Callable[[str], float], log_trial) -> str:
        from nascli.strategies.evolution import RegularizedEvolution

        metric, sign = module.task.metric, 1.0 if module.task.maximise else -1.0
        evolution = RegularizedEvolution(
            self.space,
            seed=self.seed,
            population=self.population,
            sample_size=self.sample_size,
            objective=metric,
        )
        best: tuple[float, str] | None = None
        seen: dict[str, float] = {}
        for trial in range(self.search_trials):
            arch = evolution.ask()
            value = seen[arch] if arch in seen else score(arch)
            seen[arch] = value
            evolution.tell(arch, {metric: value})
            log_trial(trial, arch, value)
            if best is None or sign * value > sign * best[0]:
                best = (value, arch)
        assert best is not None
        return best[1]


class Enas(OneShotStrategy):
    """ENAS (Pham et al. 2018): child networks share the supernet's weights; an LSTM controller
    samples them and learns by REINFORCE from their accuracy on architecture batches.

    controller_optimizer: Adam for the controller (3.5e-4 in the paper).
    hidden: controller LSTM size; baseline_decay, entropy_weight: REINFORCE settings.
    """

    def __init__(
        self,
        space: Space,
        seed: int = 0,
        controller_optimizer: Callable[..., torch.optim.Optimizer] | None = None,
        hidden: int = 64,
        baseline_decay: float = 0.99,
        entropy_weight: float = 1e-4,
        **kwargs: Any,
    ) -> None:
        super().__init__(space, seed, **kwargs)
        if controller_optimizer is None:
            raise NascliError("strategy.controller_optimizer is missing; strategy=enas needs one")
        if self.max_skip is not None:
            raise NascliError(
                "strategy.max_skip caps a derivation from op weights; ENAS takes the controller's choice (drop max_skip)"
            )
        self.controller_optimizer, self.hidden = controller_optimizer, hidden
        self.baseline_decay, self.entropy_weight = baseline_decay, entropy_weight

    def module(self, net) -> OneShotModule:
        torch.manual_seed(self.seed)
        return EnasModule(
            net,
            self.space,
            self.optimizer,
            self.scheduler,
            self.controller_optimizer,
            hidden=self.hidden,
            baseline_decay=self.baseline_decay,
            entropy_weight=self.entropy_weight,
            grad_clip=self.grad_clip,
            seed=self.seed,
        )
