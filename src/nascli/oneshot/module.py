"""Lightning modules that train a supernet with manual optimisation.

`BilevelModule` (DARTS, PC-DARTS, GDAS) alternates per batch: an architecture step on a batch of
the architecture half, then a weight step on a batch of the weight half. `order=2` replaces the
architecture gradient with the paper's unrolled one (finite-difference Hessian-vector product).
`PathModule` (SPOS) trains uniformly sampled single paths and has no architecture step.
`EnasModule` trains paths sampled by an LSTM controller, and the controller by REINFORCE on the
accuracy of its samples on the architecture half.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterable
from typing import Any

import pytorch_lightning as pl
import torch
import torch.nn.functional as F

from nascli.core.space import Space
from nascli.lit.classifier import DivergedError
from nascli.nn.lean import no_grad_for
from nascli.nn.supernet import Supernet
from nascli.oneshot.tasks import Classification

Batch = tuple[torch.Tensor, torch.Tensor]


class OneShotModule(pl.LightningModule):
    """Shared parts: the weight optimiser (never holding architecture parameters), its per-epoch
    schedule, gradient clipping, and per-epoch metric sums (`epoch_metrics` after each epoch).
    `task` (nascli.oneshot.tasks) turns batches into losses and scores: classification unless
    the search sets another. Batches come in streams: "weights" (the weight half) and "arch"
    (the architecture half), which a language model's hidden state follows separately."""

    def __init__(
        self,
        net: Supernet,
        space: Space,
        optimizer: Callable[..., torch.optim.Optimizer],
        scheduler: Callable[..., Any] | None,
        grad_clip: float | None = 5.0,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.automatic_optimization = False
        self.net, self.space = net, space
        self.make_optimizer, self.make_scheduler = optimizer, scheduler
        self.grad_clip = grad_clip
        self.rng = random.Random(seed)
        self._sums: dict[str, list[float]] = {}
        self.channels_last = False
        self.rank_checks = 0  # data-parallel: architecture steps after which all ranks agreed
        self._schedule_stepped: int | None = None  # the epoch whose end stepped the schedule
        self.task: Any = Classification()

    def use_channels_last(self) -> None:
        """Keep the supernet and its inputs in the NHWC memory layout (faster convolutions on
        CPU and GPU alike; the values are the same)."""
        self.channels_last = True
        self.net.to(memory_format=torch.channels_last)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    # -- optimisers --------------------------------------------------------------------------
    def arch_optimizers(self) -> list[torch.optim.Optimizer]:
        return []

    def configure_optimizers(self) -> Any:
        weights = self.make_optimizer(self.net.weight_parameters())
        optimizers = [weights, *self.arch_optimizers()]
        if self.make_scheduler is None:
            return optimizers
        return optimizers, [self.make_scheduler(weights)]

    def weight_step(self, batch: Batch, stream: str = "weights") -> None:
        opt = self.optimizers()
        opt = opt[0] if isinstance(opt, list) else opt
        opt.zero_grad(set_to_none=True)
        with no_grad_for(self.net.arch_parameters()):
            loss, logits = self.loss(batch, stream)
            self.manual_backward(loss)
        if self.grad_clip:
            torch.nn.utils.clip_grad_norm_(self.net.weight_parameters(), self.grad_clip)
        opt.step()
        self.accumulate("train", loss, logits, batch[1])

    def check_ranks_agree(self, params: Iterable[torch.Tensor]) -> None:
        """Data-parallel training: raise unless `params` are identical on every rank (DDP averages
        their gradients, so they must be; a rank that drifted would derive another architecture)."""
        trainer = self._trainer
        if trainer is None or trainer.world_size < 2:
            return
        flat = torch.cat([p.detach().flatten() for p in params])
        gathered = self.all_gather(flat)
        if not bool((gathered == gathered[0]).all()):
            worst = float((gathered - gathered[0]).abs().max())
            raise RuntimeError(
                f"architecture parameters differ between ranks by up to {worst:.3g} at step "
                f"{trainer.global_step}; every rank must run the same steps on its share of the batch"
            )
        self.rank_checks += 1

    def on_train_epoch_start(self) -> None:
        self._sums = {}
        self.task.reset()

    def on_train_epoch_end(self) -> None:
        self.step_schedule()

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """The random streams go into the checkpoint with the weights (GDAS's Gumbel noise,
        SPOS's paths, dropout all draw from them), so that a resumed search draws what an
        uninterrupted one would. Tensors and tuples of ints only: a weights_only load reads them."""
        checkpoint["nascli_rng"] = {
            "torch": torch.get_rng_state(),
            "python": random.getstate(),
            "module": self.rng.getstate(),  # SPOS's path sampler
        }
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            checkpoint["nascli_rng"]["cuda"] = torch.cuda.get_rng_state_all()
        generator = getattr(self, "generator", None)
        if isinstance(generator, torch.Generator):
            checkpoint["nascli_rng"]["generator"] = generator.get_state()

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        rng = checkpoint.get("nascli_rng")
        if not rng:  # a checkpoint written before the streams were saved
            return
        torch.set_rng_state(rng["torch"])
        for stream, key in ((random, "python"), (self.rng, "module")):
            if key in rng:
                version, state, gauss = rng[key]
                stream.setstate((version, tuple(state), gauss))
        if "cuda" in rng and torch.cuda.is_available():  # as many devices as both runs have
            for device, state in enumerate(rng["cuda"][: torch.cuda.device_count()]):
                torch.cuda.set_rng_state(state, device)
        generator = getattr(self, "generator", None)
        if "generator" in rng and isinstance(generator, torch.Generator):
            generator.set_state(rng["generator"])

    def step_schedule(self) -> None:
        """Step the weights' learning-rate schedule once per epoch, at its end. The search's
        recorder calls it before writing the epoch's checkpoint, so that a resumed search starts
        the next epoch at the next rate; the module's own hook then finds it done."""
        epoch = self.trainer.current_epoch
        if self._schedule_stepped == epoch:
            return
        self._schedule_stepped = epoch
        scheduler = self.lr_schedulers()
        if scheduler is not None:
            scheduler.step()

    @property
    def epoch_metrics(self) -> dict[str, float]:
        """This epoch's mean losses and accuracies (perplexities) so far: train_* (weight
        steps), arch_* (architecture steps)."""
        return self.task.metrics(self._sums)

    # -- helpers -------------------------------------------------------------------------------
    def loss(
        self, batch: Batch, stream: str = "weights", carry: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = batch
        if self.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        loss, logits = self.task.forward(self.net, (x, y), stream, carry)
        diverged = not math.isfinite(loss.item())
        trainer = self._trainer
        if trainer is not None and trainer.world_size > 1:  # every rank stops, or none waits
            diverged = trainer.strategy.reduce_boolean_decision(diverged, all=False)
        if diverged:
            raise DivergedError(
                f"supernet loss is {loss.item()} at epoch {self.current_epoch} (on some rank)"
            )
        return loss, logits

    def accumulate(self, split: str, loss: torch.Tensor, logits: torch.Tensor, y: torch.Tensor):
        self.task.tally(self._sums, split, loss, logits, y)

    def weight_lr(self) -> float:
        opt = self.optimizers()
        opt = opt[0] if isinstance(opt, list) else opt
        return opt.param_groups[0]["lr"]

    # -- what each method defines ----------------------------------------------------------------
    def derive(self, max_skip: int | None = None) -> str:
        raise NotImplementedError

    def diagnostics(self) -> dict[str, Any]:
        """Per-epoch state worth recording (alphas, probabilities, temperature, entropy)."""
        return {}

    def eval_setup(self, arch: str) -> None:
        """Put the supernet in the mode its val accuracy is measured in for `arch`."""
        self.net.method, self.net.path = "path", self.space.path(arch)

    def train_setup(self) -> None:
        """Restore the training mode after eval_setup."""


def entropy(weights: torch.Tensor) -> float:
    """Mean entropy (nats) of the rows of a probability matrix."""
    return float(-(weights * weights.clamp_min(1e-12).log()).sum(-1).mean())


class BilevelModule(OneShotModule):
    """DARTS (`method="softmax"`), PC-DARTS (softmax with `partial>1` supernet) and GDAS
    (`method="gumbel"`, temperature annealed linearly from tau_max to tau_min)."""

    def __init__(
        self,
        net: Supernet,
        space: Space,
        optimizer: Callable[..., torch.optim.Optimizer],
        scheduler: Callable[..., Any] | None,
        arch_optimizer: Callable[..., torch.optim.Optimizer],
        method: str = "softmax",
        order: int = 1,
        grad_clip: float | None = 5.0,
        warmup_epochs: int = 0,
        epochs: int = 50,
        tau_max: float = 10.0,
        tau_min: float = 0.1,
        seed: int = 0,
    ) -> None:
        super().__init__(net, space, optimizer, scheduler, grad_clip, seed)
        if order not in (1, 2):
            raise ValueError(f"strategy.order must be 1 or 2, got {order}")
        self.make_arch_optimizer, self.method, self.order = arch_optimizer, method, order
        self.warmup_epochs, self.epochs = warmup_epochs, epochs
        self.tau_max, self.tau_min = tau_max, tau_min
        net.method = method
        # ProxylessNAS's latency term (set_latency): weight x expected latency of the distribution.
        self.latency_weight, self.latency_table = 0.0, None

    def set_latency(self, table: dict[str, torch.Tensor], weight: float) -> None:
        """Add `weight` x the expected latency (ms, from `table`) to every architecture loss."""
        self.latency_table, self.latency_weight = table, weight

    def on_fit_start(self) -> None:
        # Data-parallel: every rank timed its own table; all use rank 0's (the one saved).
        if self.latency_table is not None and self.trainer.world_size > 1:
            self.latency_table = self.trainer.strategy.broadcast(self.latency_table, src=0)

    def arch_optimizers(self) -> list[torch.optim.Optimizer]:
        return [self.make_arch_optimizer(self.net.arch_parameters())]

    def on_train_epoch_start(self) -> None:
        super().on_train_epoch_start()
        if self.method == "gumbel":
            self.net.tau = self.tau_at(self.current_epoch)

    def tau_at(self, epoch: int) -> float:
        """GDAS's temperature: linear from tau_max at the first epoch to tau_min at the last."""
        span = max(1, self.epochs - 1)
        return self.tau_max - (self.tau_max - self.tau_min) * epoch / span

    def training_step(self, batch: tuple[Batch, Batch], batch_idx: int) -> None:
        train, val = batch
        if self.current_epoch >= self.warmup_epochs:
            arch_opt = self.optimizers()[1]
            arch_opt.zero_grad(set_to_none=True)
            if self.order == 2:
                loss, logits = self.unrolled_backward(train, val)
            else:
                with no_grad_for(self.net.weight_parameters()):
                    loss, logits = self.loss(val, "arch")
                    self.manual_backward(loss)
            if self.latency_table is not None:  # its gradient adds to the accuracy one
                latency = self.net.expected_latency(self.latency_table)
                self.manual_backward(self.latency_weight * latency)
            arch_opt.step()
            self.check_ranks_agree(self.net.arch_parameters())
            self.accumulate("arch", loss, logits, val[1])
        self.weight_step(train)

    def unrolled_backward(self, train: Batch, val: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        return unrolled_backward(
            self.net,
            lambda b: self.loss(b, "weights", carry=False),
            self.optimizers()[0],
            train,
            val,
            val_loss_fn=lambda b: self.loss(b, "arch"),
        )

    def op_weights(self) -> dict[str, torch.Tensor]:
        """softmax(alpha) per cell type, scaled per edge by the normalised beta (PC-DARTS)."""
        out = {}
        with torch.no_grad():
            for t, alpha in self.net.alphas.items():
                w = F.softmax(alpha, dim=-1)
                betas = self.net.edge_betas(t)
                out[t] = w if betas is None else w * betas[:, None]
        return out

    def derive(self, max_skip: int | None = None) -> str:
        return self.space.derive({t: w.tolist() for t, w in self.op_weights().items()}, max_skip)

    def diagnostics(self) -> dict[str, Any]:
        with torch.no_grad():
            probs = {t: F.softmax(a, dim=-1) for t, a in self.net.alphas.items()}
            out: dict[str, Any] = {
                "entropy": round(entropy(probs[self.net.cell_types[0]]), 6),
                "alphas": {
                    t: [[round(v, 6) for v in row] for row in a.tolist()]
                    for t, a in self.net.alphas.items()
                },
                "primitives": list(self.net.primitives),
            }
            if len(self.net.betas):
                out["betas"] = {
                    t: [round(v, 6) for v in b.tolist()] for t, b in self.net.betas.items()
                }
        if self.method == "gumbel":
            out["tau"] = round(self.net.tau, 6)
        if self.latency_table is not None:
            with torch.no_grad():
                latency = self.net.expected_latency(self.latency_table)
            out["expected_latency_ms"] = round(float(latency), 6)
        return out

    def eval_setup(self, arch: str) -> None:
        if self.method == "gumbel":  # GDAS scores its argmax architecture
            super().eval_setup(arch)
        else:
            self.net.method = "softmax"

    def train_setup(self) -> None:
        self.net.method, self.net.path = self.method, None


class PathModule(OneShotModule):
    """SPOS: each weight step trains one uniformly sampled path. Batches come from the whole
    training split (the paired loader's two halves each make a step)."""

    def training_step(self, batch: tuple[Batch, Batch], batch_idx: int) -> None:
        self.net.method = "path"
        for half, stream in zip(batch, ("weights", "arch"), strict=True):
            self.net.path = self.space.path(self.space.sample(self.rng))
            self.weight_step(half, stream)

    def derive(self, max_skip: int | None = None) -> str:
        raise NotImplementedError("SPOS derives its architecture by evolution after training")


class EnasModule(OneShotModule):
    """ENAS (Pham et al. 2018): per batch, one REINFORCE step of the LSTM controller on the
    accuracy of its sample on an architecture batch (moving-average baseline, entropy bonus), then
    one weight step of a fresh sample on a weight batch. The derived architecture is the
    controller's most likely one."""

    def __init__(
        self,
        net: Supernet,
        space: Space,
        optimizer: Callable[..., torch.optim.Optimizer],
        scheduler: Callable[..., Any] | None,
        controller_optimizer: Callable[..., torch.optim.Optimizer],
        hidden: int = 64,
        baseline_decay: float = 0.99,
        entropy_weight: float = 1e-4,
        grad_clip: float | None = 5.0,
        seed: int = 0,
    ) -> None:
        from nascli.strategies.reinforce import Controller

        super().__init__(net, space, optimizer, scheduler, grad_clip, seed)
        self.controller = Controller(list(space.cardinalities), hidden)
        self.make_controller_optimizer = controller_optimizer
        self.baseline_decay, self.entropy_weight = baseline_decay, entropy_weight
        self.register_buffer("baseline", torch.tensor(float("nan")))
        self.generator = torch.Generator().manual_seed(seed)
        net.method = "path"

    def arch_optimizers(self) -> list[torch.optim.Optimizer]:
        return [self.make_controller_optimizer(self.controller.parameters())]

    def _sample(self):
        choices, log_prob, entropy = self.controller(generator=self.generator)
        self.net.path = self.space.path(self.space.format(choices))
        return log_prob, entropy

    def training_step(self, batch: tuple[Batch, Batch], batch_idx: int) -> None:
        train, val = batch
        opt = self.optimizers()[1]
        log_prob, entropy = self._sample()
        with torch.no_grad():
            loss, logits = self.loss(val, "arch")
        reward = self.task.reward(loss, logits, val[1])
        if torch.isnan(self.baseline):
            self.baseline.copy_(reward)
        advantage = reward - self.baseline
        self.baseline.mul_(self.baseline_decay).add_((1 - self.baseline_decay) * reward)
        opt.zero_grad(set_to_none=True)
        self.manual_backward(-advantage * log_prob - self.entropy_weight * entropy)
        opt.step()
        self.check_ranks_agree(self.controller.parameters())
        self.accumulate("arch", loss, logits, val[1])
        with torch.no_grad():
            self._sample()
        self.weight_step(train)

    def derive(self, max_skip: int | None = None) -> str:
        # The controller's choices; a skip cap applies through the space's own derivation rule
        # only for weight-based methods, so ENAS reports the greedy choice as it is.
        return self.space.format(self.controller.greedy()[0])

    def diagnostics(self) -> dict[str, Any]:
        _, probs = self.controller.greedy()
        ent = [-sum(p * math.log(max(p, 1e-12)) for p in row) for row in probs]
        return {
            "entropy": round(sum(ent) / len(ent), 6),
            "controller_probabilities": [[round(p, 6) for p in row] for row in probs],
            "baseline": round(float(self.baseline), 6),
        }


def unrolled_backward(
    net: Supernet,
    loss_fn: Callable[[Batch], tuple[torch.Tensor, torch.Tensor]],
    opt: torch.optim.Optimizer,
    train: Batch,
    val: Batch,
    epsilon: float = 0.01,
    val_loss_fn: Callable[[Batch], tuple[torch.Tensor, torch.Tensor]] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Set alpha.grad to d L_val(w', alpha) / d alpha with w' = w - xi * (SGD step on L_train)
    (DARTS eq. 7): xi is the current weight learning rate, and the second-order term
    -xi * d2 L_train / (d alpha d w) . dL_val/dw' comes from the finite difference
    (dL_train/dalpha at w + r dw' - at w - r dw') / 2r, r = epsilon / |dw'| (DARTS eq. 8, where
    epsilon is 0.01). The weights end as they started. Returns the val loss and logits at w'.
    `val_loss_fn` scores the architecture batch where it differs from `loss_fn` (a language
    model's streams: the look-ahead passes on the weight batch leave its state alone)."""
    weights, alphas = net.weight_parameters(), net.arch_parameters()
    group = opt.param_groups[0]
    xi, momentum, decay = group["lr"], group.get("momentum", 0.0), group.get("weight_decay", 0.0)
    saved = [w.detach().clone() for w in weights]
    loss_t, _ = loss_fn(train)
    grads = torch.autograd.grad(loss_t, weights, allow_unused=True)
    with torch.no_grad():  # the virtual step, with the optimiser's momentum and weight decay
        for w, g in zip(weights, grads, strict=True):
            step = decay * w if g is None else g + decay * w
            buf = opt.state.get(w, {}).get("momentum_buffer")
            if buf is not None:
                step = step + momentum * buf
            w.sub_(xi * step)
    loss_v, logits = (val_loss_fn or loss_fn)(val)
    grads = torch.autograd.grad(loss_v, [*alphas, *weights], allow_unused=True)
    d_alpha = [torch.zeros_like(a) if g is None else g for a, g in zip(alphas, grads, strict=False)]
    d_w = [
        torch.zeros_like(w) if g is None else g
        for w, g in zip(weights, grads[len(alphas) :], strict=True)
    ]
    r = epsilon / torch.cat([g.flatten() for g in d_w]).norm().clamp_min(1e-12)
    sides = []
    for sign in (1.0, -1.0):
        with torch.no_grad():
            for w, w0, g in zip(weights, saved, d_w, strict=True):
                w.copy_(w0 + sign * r * g)
        loss, _ = loss_fn(train)
        sides.append(torch.autograd.grad(loss, alphas, allow_unused=True))
    with torch.no_grad():
        for w, w0 in zip(weights, saved, strict=True):
            w.copy_(w0)
        for a, da, gp, gm in zip(alphas, d_alpha, *sides, strict=True):
            gp = torch.zeros_like(a) if gp is None else gp
            gm = torch.zeros_like(a) if gm is None else gm
            a.grad = da - xi * (gp - gm) / (2 * r)
    return loss_v.detach(), logits.detach()
