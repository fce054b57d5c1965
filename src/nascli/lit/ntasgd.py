"""Non-monotonically triggered averaged SGD (NT-ASGD: Merity et al. 2018, AWD-LSTM), the
optimiser of the DARTS and ENAS recurrent-cell retrains.

Plain SGD (with L2 weight decay) until the validation loss stalls: once an epoch's validation
loss is worse than the best of the epochs before the last `nonmono` ones, every later step also
keeps the running mean of the parameters since then, exactly as PyTorch's ASGD with t0=0 and
lambd=0 (what the reference code switches to) keeps its `ax`. The model is evaluated, and
finally kept, with the averaged parameters.

The module that trains with it calls `observe(val_loss)` after each validation pass, and
`averaged()` around evaluation (a context that swaps the averages in, and the trained weights
back after).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


class NTASGD(torch.optim.Optimizer):
    def __init__(self, params, lr: float, weight_decay: float = 0.0, nonmono: int = 5) -> None:
        if lr <= 0 or weight_decay < 0 or int(nonmono) < 1:
            raise ValueError(
                f"NT-ASGD needs lr > 0, weight_decay >= 0 and nonmono >= 1 (got {lr}, "
                f"{weight_decay}, {nonmono})"
            )
        super().__init__(params, {"lr": lr, "weight_decay": weight_decay})
        # In param_groups[0] so that a checkpoint's optimizer state carries them.
        self.param_groups[0].update(nonmono=int(nonmono), averaging=False, averaged_steps=0)
        self.param_groups[0]["val_losses"] = []

    @property
    def averaging(self) -> bool:
        return bool(self.param_groups[0]["averaging"])

    def observe(self, val_loss: float) -> bool:
        """Record an epoch's validation loss; start averaging if it stalled. True when it
        starts now."""
        group = self.param_groups[0]
        history, n = group["val_losses"], group["nonmono"]
        start = not group["averaging"] and len(history) > n and val_loss > min(history[:-n])
        history.append(float(val_loss))
        if start:
            group["averaging"] = True
        return start

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        first = self.param_groups[0]
        if first["averaging"]:
            first["averaged_steps"] += 1
        n = first["averaged_steps"]
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = p.grad
                if group["weight_decay"]:
                    grad = grad.add(p, alpha=group["weight_decay"])
                p.add_(grad, alpha=-group["lr"])
                if n:
                    # PyTorch's ASGD weights step n by 1 / max(1, n - 1): the average starts
                    # over at the second averaged step.
                    state = self.state[p]
                    if "ax" not in state or n <= 2:
                        state["ax"] = p.detach().clone()
                    else:
                        state["ax"].add_(p.sub(state["ax"]), alpha=1.0 / (n - 1))
        return loss

    @contextlib.contextmanager
    def averaged(self) -> Iterator[None]:
        """The averaged parameters in place of the trained ones, for the `with` block."""
        kept = {}
        if self.averaging:
            for group in self.param_groups:
                for p in group["params"]:
                    if "ax" in self.state[p]:
                        kept[p] = p.detach().clone()
                        p.data.copy_(self.state[p]["ax"])
        try:
            yield
        finally:
            for p, value in kept.items():
                p.data.copy_(value)

    def keep_averages(self) -> None:
        """Make the averaged parameters the model's for good (the end of training)."""
        if self.averaging:
            for group in self.param_groups:
                for p in group["params"]:
                    if "ax" in self.state[p]:
                        p.data.copy_(self.state[p]["ax"])
