"""What a supernet's batches are, per task: how a batch makes a loss, what an epoch reports, what
ENAS's controller is rewarded with, and how a (derived) architecture is scored.

- `Classification` (images, sequences): logits of a batch, accuracy; the score is `val_acc`.
- `LanguageModelling`: BPTT chunks with the hidden state carried from one chunk to the next of
  the same stream (weights, architecture, scoring, each its own rows of text), reset every
  epoch; perplexity; the score is `val_ppl`; ENAS's reward is 80 / perplexity (Pham et al.).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from nascli.lit.evaluation import accuracy, recalibrate_bn

Batch = tuple[torch.Tensor, torch.Tensor]


class Classification:
    metric = "val_acc"
    maximise = True

    def reset(self) -> None:
        """A new epoch starts."""

    def forward(
        self, net, batch: Batch, stream: str, carry: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = batch
        logits = net(x)
        return F.cross_entropy(logits, y), logits

    def tally(self, sums: dict[str, list[float]], split: str, loss, outputs, y) -> None:
        n = y.numel()
        s = sums.setdefault(split, [0.0, 0.0, 0.0])
        s[0] += loss.item() * n
        s[1] += (outputs.argmax(1) == y).sum().item()
        s[2] += n

    def metrics(self, sums: dict[str, list[float]]) -> dict[str, float]:
        out = {}
        for split, (loss_sum, correct, n) in sums.items():
            out[f"{split}_loss"], out[f"{split}_acc"] = loss_sum / n, correct / n
        return out

    def reward(self, loss, outputs, y) -> torch.Tensor:
        return (outputs.argmax(1) == y).float().mean()

    def score(self, net, loader) -> float:
        return accuracy(net, loader)

    def calibrate(self, net, loader, batches: int) -> None:
        recalibrate_bn(net, loader, batches)


class LanguageModelling:
    metric = "val_ppl"
    maximise = False
    #: ENAS's reward is this over the perplexity of the sampled cell (c = 80 in the paper)
    reward_scale = 80.0

    def __init__(self) -> None:
        self.hidden: dict[str, torch.Tensor] = {}

    def reset(self) -> None:
        self.hidden.clear()

    def forward(
        self, net, batch: Batch, stream: str, carry: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """`carry=False`: a look-ahead pass (DARTS's unrolled step) that leaves the stream's
        state where it was."""
        x, y = batch
        state = self.hidden.get(stream)
        if state is not None and state.size(0) != x.size(0):
            state = None
        logits, state = net(x, state)
        if carry:
            self.hidden[stream] = state.detach()
        return F.cross_entropy(logits.reshape(-1, logits.size(-1)), y.reshape(-1)), logits

    def tally(self, sums: dict[str, list[float]], split: str, loss, outputs, y) -> None:
        s = sums.setdefault(split, [0.0, 0.0])
        s[0] += loss.item() * y.numel()
        s[1] += y.numel()

    def metrics(self, sums: dict[str, list[float]]) -> dict[str, float]:
        out = {}
        for split, (loss_sum, n) in sums.items():
            out[f"{split}_loss"] = loss_sum / n
            out[f"{split}_ppl"] = math.exp(min(loss_sum / n, 700.0))
        return out

    def reward(self, loss, outputs, y) -> torch.Tensor:
        return self.reward_scale / loss.detach().clamp(max=700.0).exp()

    @torch.no_grad()
    def score(self, net, loader) -> float:
        """Perplexity over the loader's stream, the state carried from chunk to chunk."""
        was_training = net.training
        net.eval()
        device = next(net.parameters()).device
        state, total, n = None, 0.0, 0
        for x, y in loader:
            logits, state = net(x.to(device), state)
            total += float(
                F.cross_entropy(
                    logits.reshape(-1, logits.size(-1)), y.to(device).reshape(-1), reduction="sum"
                )
            )
            n += y.numel()
        net.train(was_training)
        return math.exp(min(total / max(n, 1), 700.0))

    @torch.no_grad()
    def calibrate(self, net, loader, batches: int) -> None:
        """Batch-norm statistics for the current path from `batches` chunks, state carried."""
        norms = [m for m in net.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
        saved = [m.momentum for m in norms]
        for m in norms:
            m.reset_running_stats()
            m.momentum = None  # cumulative average
        net.train()
        state = None
        for i, (x, _) in enumerate(loader):
            if i >= batches:
                break
            _, state = net(x, state)
        for m, momentum in zip(norms, saved, strict=True):
            m.momentum = momentum


def oneshot_task(name: str) -> Any:
    """The one-shot handling of a task (nascli.tasks names them)."""
    return LanguageModelling() if name == "language_model" else Classification()
