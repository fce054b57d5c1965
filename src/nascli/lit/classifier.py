"""Child-network training: any classifier nn.Module, cross-entropy, accuracies as fractions."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from nascli.lit.module import DivergedError, EpochModule


class Classifier(EpochModule):
    """Train `net` with `optimizer(params)` and an optional `scheduler(optimizer)` stepped per epoch.

    A net that returns (logits, aux_logits) in training (the DARTS auxiliary head) adds
    `auxiliary_weight` x the auxiliary loss.

    Metrics are accumulated over the epoch and logged once (train/loss, train/acc, val/acc,
    test/acc): a log call per step costs more than a tiny child's step.
    """

    def __init__(
        self,
        net: nn.Module,
        optimizer: Callable[..., torch.optim.Optimizer],
        scheduler: Callable[..., Any] | None = None,
        channels_last: bool = False,
        auxiliary_weight: float = 0.4,
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__(
            net.to(memory_format=torch.channels_last) if channels_last else net,
            optimizer,
            scheduler,
        )
        self.auxiliary_weight, self.label_smoothing = auxiliary_weight, label_smoothing
        self.channels_last = channels_last
        self._sums: dict[str, torch.Tensor] = {}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.channels_last and x.dim() == 4:  # images; sequences keep their layout
            x = x.contiguous(memory_format=torch.channels_last)
        return self.net(x)

    def _accumulate(
        self, split: str, loss: torch.Tensor, logits: torch.Tensor, y: torch.Tensor
    ) -> None:
        n = y.numel()
        stats = torch.stack(
            [
                loss.detach().double() * n,
                (logits.argmax(1) == y).sum().double(),
                torch.tensor(float(n), dtype=torch.float64),
            ]
        )
        self._sums[split] = self._sums[split] + stats if split in self._sums else stats

    def _log_epoch(self, split: str) -> None:
        stats = self._sums.pop(split, None)
        if stats is None:
            return
        loss_sum, correct, n = stats.double().tolist()
        self.epoch_metrics.update({f"{split}/loss": loss_sum / n, f"{split}/acc": correct / n})
        self.log(f"{split}/loss", loss_sum / n)
        self.log(f"{split}/acc", correct / n)

    def training_step(
        self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int
    ) -> torch.Tensor:
        x, y = batch
        out = self(x)
        logits, aux = out if isinstance(out, tuple) else (out, None)
        loss = F.cross_entropy(logits, y, label_smoothing=self.label_smoothing)
        if aux is not None:
            loss = loss + self.auxiliary_weight * F.cross_entropy(
                aux, y, label_smoothing=self.label_smoothing
            )
        if not math.isfinite(loss.item()):
            raise DivergedError(
                f"training loss is {loss.item()} at epoch {self.current_epoch}, batch {batch_idx}"
            )
        self._accumulate("train", loss, logits, y)
        return loss

    def _eval_step(self, split: str, batch: tuple[torch.Tensor, torch.Tensor]) -> None:
        x, y = batch
        logits = self(x)
        self._accumulate(split, F.cross_entropy(logits, y), logits, y)

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._eval_step("val", batch)

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._eval_step("test", batch)
