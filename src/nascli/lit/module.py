"""What nascli's Lightning modules share: one network, an optimiser and an optional per-epoch
scheduler built from factories, and metrics accumulated over an epoch and logged once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytorch_lightning as pl
import torch
from torch import nn


class DivergedError(RuntimeError):
    """The training loss became NaN or infinite."""


class EpochModule(pl.LightningModule):
    """Train `net` with `optimizer(params)` and an optional `scheduler(optimizer)` stepped per
    epoch. Subclasses accumulate a split's sums in their steps and log them in `_log_epoch`,
    which also fills `epoch_metrics` (the last epoch's metrics as exact Python floats: logged
    values pass through float32)."""

    def __init__(
        self,
        net: nn.Module,
        optimizer: Callable[..., torch.optim.Optimizer],
        scheduler: Callable[..., Any] | None = None,
    ) -> None:
        super().__init__()
        self.net = net
        self.make_optimizer, self.make_scheduler = optimizer, scheduler
        self.epoch_metrics: dict[str, float] = {}

    def _log_epoch(self, split: str) -> None:
        raise NotImplementedError

    def on_train_epoch_end(self) -> None:
        self._log_epoch("train")

    def on_validation_epoch_end(self) -> None:
        self._log_epoch("val")

    def on_test_epoch_end(self) -> None:
        self._log_epoch("test")

    def configure_optimizers(self) -> Any:
        optimizer = self.make_optimizer(self.net.parameters())
        if self.make_scheduler is None:
            return optimizer
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": self.make_scheduler(optimizer), "interval": "epoch"},
        }
