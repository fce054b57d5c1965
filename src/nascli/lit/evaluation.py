"""Scoring a network on a loader: accuracy, loss, and batch-norm statistics for one path."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F


@torch.inference_mode()
def score(net: torch.nn.Module, loader: Any) -> dict[str, float]:
    """Accuracy (a fraction) and mean cross-entropy of `net` over `loader`."""
    correct = total = 0
    loss = 0.0
    for x, y in loader:
        logits = net(x)
        loss += float(F.cross_entropy(logits, y, reduction="sum"))
        correct += int((logits.argmax(1) == y).sum())
        total += len(y)
    return {"acc": correct / total, "loss": loss / total, "images": total}


@torch.inference_mode()
def perplexity(net: torch.nn.Module, loader: Any) -> dict[str, float]:
    """Perplexity and mean cross-entropy per token of a language model over a BPTT `loader`,
    the hidden state carried from chunk to chunk as in training's evaluation."""
    import math

    hidden, loss, total = None, 0.0, 0
    for x, y in loader:
        logits, hidden = net(x, hidden)
        loss += float(
            F.cross_entropy(logits.reshape(-1, logits.size(-1)), y.reshape(-1), reduction="sum")
        )
        total += y.numel()
    mean = loss / total
    return {"ppl": math.exp(min(mean, 700.0)), "loss": mean, "tokens": total}


@torch.no_grad()
def accuracy(net: torch.nn.Module, loader) -> float:
    was_training = net.training
    net.eval()
    device = next(net.parameters()).device  # batches come on the CPU; the net may be on a GPU
    correct = total = 0
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        correct += int((net(x).argmax(1) == y).sum())
        total += y.numel()
    net.train(was_training)
    return correct / max(total, 1)


@torch.no_grad()
def recalibrate_bn(net: torch.nn.Module, loader, batches: int) -> None:
    """Re-estimate batch-norm running statistics for the current path (SPOS): reset them, then
    average over `batches` training batches in train mode."""
    norms = [m for m in net.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    saved = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average
    net.train()
    for i, (x, _) in enumerate(loader):
        if i >= batches:
            break
        net(x)
    for m, momentum in zip(norms, saved, strict=True):
        m.momentum = momentum
