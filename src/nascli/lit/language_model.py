"""Language-model training: next-token cross-entropy over BPTT chunks, perplexity as the score.

The hidden state is carried from one chunk to the next within an epoch (detached, so gradients
stop at the chunk: truncated backpropagation through time) and reset at the start of each
epoch and each evaluation pass, as the DARTS and AWD-LSTM code does. Perplexity is exp of the
mean loss per predicted token over the whole pass.

The DARTS/AWD-LSTM retrain also adds, to the training loss only, activation regularisation
(`ar` x the mean square of the cell's dropped outputs) and temporal activation regularisation
(`tar` x the mean square of their change from one step to the next; DARTS: ar 0, tar 1e-3),
scales each step's learning rate by its chunk's length over `bptt` (variable-length chunks),
and trains with NT-ASGD (nascli.lit.ntasgd), whose averaged weights are evaluated and kept.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from nascli.core.errors import NascliError
from nascli.lit.module import DivergedError, EpochModule
from nascli.lit.ntasgd import NTASGD

log = logging.getLogger(__name__)


class LanguageModel(EpochModule):
    """Train `net` (tokens, hidden) -> (logits, hidden) with `optimizer(params)` and an optional
    `scheduler(optimizer)` stepped per epoch. Metrics per split: loss (nats per token) and ppl."""

    def __init__(
        self,
        net: nn.Module,
        optimizer: Callable[..., torch.optim.Optimizer],
        scheduler: Callable[..., Any] | None = None,
        ar: float = 0.0,
        tar: float = 0.0,
        bptt: int | None = None,
    ) -> None:
        super().__init__(net, optimizer, scheduler)
        if (ar or tar) and not hasattr(net, "forward_with_states"):
            raise NascliError(
                "recipe.ar and recipe.tar regularise a recurrent cell's outputs; this model has "
                "none: set them to 0 (or use space=rnn_cell)"
            )
        self.ar, self.tar, self.bptt = float(ar), float(tar), bptt
        self._hidden: dict[str, torch.Tensor] = {}  # per split: the state the next chunk continues
        self._sums: dict[str, list[float]] = {}
        self._chunk = 0  # the length of the training chunk being stepped on
        self._averaged: Any = None  # NT-ASGD's swap of averaged weights, while evaluating

    def forward(self, tokens: torch.Tensor, hidden: torch.Tensor | None = None) -> Any:
        return self.net(tokens, hidden)

    def _step(self, split: str, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        x, y = batch
        carried = self._hidden.get(split)
        if carried is not None and carried.size(0) != x.size(0):
            carried = None
        penalty = None
        if split == "train" and (self.ar or self.tar):
            logits, hidden, out, dropped = self.net.forward_with_states(x, carried)
            penalty = self.ar * dropped.pow(2).mean()
            if out.size(0) > 1:  # a one-token chunk has no step-to-step change
                penalty = penalty + self.tar * (out[1:] - out[:-1]).pow(2).mean()
        else:
            logits, hidden = self(x, carried)
        self._hidden[split] = hidden.detach()
        loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), y.reshape(-1))
        total = self._sums.setdefault(split, [0.0, 0.0])
        total[0] += float(loss.detach()) * y.numel()
        total[1] += y.numel()
        self._chunk = x.size(1)
        return loss if penalty is None else loss + penalty

    def optimizer_step(self, epoch, batch_idx, optimizer, optimizer_closure=None) -> None:
        """A chunk of n tokens steps at lr x n / bptt (with variable-length chunks)."""
        if not self.bptt:
            return super().optimizer_step(epoch, batch_idx, optimizer, optimizer_closure)
        rates = [group["lr"] for group in optimizer.param_groups]

        # The closure (forward, backward, clipping) runs inside step: the chunk is known after.
        def closure():
            out = optimizer_closure()
            for group, lr in zip(optimizer.param_groups, rates, strict=True):
                group["lr"] = lr * self._chunk / self.bptt
            return out

        try:
            optimizer.step(closure=closure)
        finally:
            for group, lr in zip(optimizer.param_groups, rates, strict=True):
                group["lr"] = lr

    def _ntasgd(self) -> NTASGD | None:
        optimizers = self.trainer.optimizers if self._trainer is not None else []
        return next((o for o in optimizers if isinstance(o, NTASGD)), None)

    def _swap_in_averages(self) -> None:
        optimizer = self._ntasgd()
        if optimizer is not None and optimizer.averaging:
            self._averaged = contextlib.ExitStack()
            self._averaged.enter_context(optimizer.averaged())

    def _swap_back(self) -> None:
        if self._averaged is not None:
            self._averaged.close()
            self._averaged = None

    def training_step(
        self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int
    ) -> torch.Tensor:
        loss = self._step("train", batch)
        if not math.isfinite(loss.item()):
            raise DivergedError(
                f"training loss is {loss.item()} at epoch {self.current_epoch}, batch {batch_idx}"
            )
        return loss

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._step("val", batch)

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._step("test", batch)

    def _log_epoch(self, split: str) -> None:
        total = self._sums.pop(split, None)
        if not total or not total[1]:
            return
        loss = total[0] / total[1]
        ppl = math.exp(min(loss, 700.0))  # a diverged model's perplexity is huge, not an overflow
        self.epoch_metrics.update({f"{split}/loss": loss, f"{split}/ppl": ppl})
        self.log(f"{split}/loss", loss)
        self.log(f"{split}/ppl", ppl)

    def on_train_epoch_start(self) -> None:
        self._hidden.pop("train", None)

    def on_validation_epoch_start(self) -> None:
        self._hidden.pop("val", None)
        self._swap_in_averages()

    def on_validation_epoch_end(self) -> None:
        self._swap_back()
        self._log_epoch("val")
        optimizer = self._ntasgd()
        loss = self.epoch_metrics.get("val/loss")
        fitting = optimizer is not None and loss is not None and not self.trainer.sanity_checking
        if fitting and optimizer.observe(loss):
            log.info(
                "epoch %d: validation stalled; averaging weights (NT-ASGD)", self.current_epoch
            )

    def on_test_epoch_start(self) -> None:
        self._hidden.pop("test", None)
        self._swap_in_averages()

    def on_test_epoch_end(self) -> None:
        self._swap_back()
        self._log_epoch("test")

    def on_train_end(self) -> None:
        """The averaged weights are the model from here on (tested, exported)."""
        optimizer = self._ntasgd()
        if optimizer is not None:
            optimizer.keep_averages()
