"""An ensemble of trained networks as one module.

`nas train run=<search> ensemble.top_k=k` trains k members; `nascli.load` and `nas evaluate`
see them as one network, and the bundle's model.onnx is this module exported.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn


class Ensemble(nn.Module):
    """Averages its members' softmax probabilities.

    `forward` returns the logarithm of the averaged probabilities, so that whatever reads logits
    reads the ensemble right: `argmax` picks the class with the highest mean probability,
    `softmax` gives back the mean probabilities and `cross_entropy` is the ensemble's log loss.
    It is computed as a log-sum-exp of the members' log-softmax, which stays finite where a
    member's probability underflows to zero.
    """

    def __init__(self, members: Sequence[nn.Module]) -> None:
        super().__init__()
        if not members:
            raise ValueError("an ensemble needs at least one member")
        self.members = nn.ModuleList(members)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logs = torch.stack([torch.log_softmax(m(x), dim=1) for m in self.members])
        return torch.logsumexp(logs, dim=0) - math.log(len(self.members))
