"""Language-model training: next-token cross-entropy over BPTT chunks, perplexity as the score.

The hidden state is carried from one chunk to the next within an epoch (detached, so gradients
stop at the chunk: truncated backpropagation through time) and reset at the start of each
epoch and each evaluation pass, as the DARTS and AWD-LSTM code does. Perplexity is exp of the
mean loss per predicted token over the whole pass.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from nascli.lit.module import DivergedError, EpochModule


class LanguageModel(EpochModule):
    """Train `net` (tokens, hidden) -> (logits, hidden) with `optimizer(params)` and an optional
    `scheduler(optimizer)` stepped per epoch. Metrics per split: loss (nats per token) and ppl."""

    def __init__(
        self,
        net: nn.Module,
        optimizer: Callable[..., torch.optim.Optimizer],
        scheduler: Callable[..., Any] | None = None,
    ) -> None:
        super().__init__(net, optimizer, scheduler)
        self._hidden: dict[str, torch.Tensor] = {}  # per split: the state the next chunk continues
        self._sums: dict[str, list[float]] = {}

    def forward(self, tokens: torch.Tensor, hidden: torch.Tensor | None = None) -> Any:
        return self.net(tokens, hidden)

    def _step(self, split: str, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        x, y = batch
        carried = self._hidden.get(split)
        if carried is not None and carried.size(0) != x.size(0):
            carried = None
        logits, hidden = self(x, carried)
        self._hidden[split] = hidden.detach()
        loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), y.reshape(-1))
        total = self._sums.setdefault(split, [0.0, 0.0])
        total[0] += float(loss.detach()) * y.numel()
        total[1] += y.numel()
        return loss

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

    def on_test_epoch_start(self) -> None:
        self._hidden.pop("test", None)
