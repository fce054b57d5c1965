"""The chain space's network: stem conv 3x3 + BN + ReLU, stages of layers with a 2x2 max-pool
between them, global average pool, linear.

A layer is conv k x k (bias-free) + BN, plus, with a skip, a bias-free 1x1 projection of its
input, then ReLU. Every layer's output is non-negative, which is what lets a deepening insert
an identity-initialised layer without changing the function (ReLU of a non-negative input is
that input). The parameter names do not depend on where a stage's `id` slots sit.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn


class ChainLayer(nn.Module):
    def __init__(self, c_in: int, width: int, kernel: int, skip: bool) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, width, kernel, padding=kernel // 2, bias=False)
        self.bn = nn.BatchNorm2d(width)
        self.proj = nn.Conv2d(c_in, width, 1, bias=False) if skip else None

    @property
    def width(self) -> int:
        return self.conv.out_channels

    @property
    def kernel(self) -> int:
        return self.conv.kernel_size[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn(self.conv(x))
        if self.proj is not None:
            out = out + self.proj(x)
        return F.relu(out)


class ChainNetwork(nn.Module):
    """Args: layers (per stage, the Slot of each layer), in_channels, num_classes, stem."""

    def __init__(
        self, layers: Sequence[Sequence], in_channels: int, num_classes: int, stem: int
    ) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, stem, 3, padding=1, bias=False),
            nn.BatchNorm2d(stem),
            nn.ReLU(),
        )
        stages, c = [], stem
        for stage in layers:
            built = []
            for slot in stage:
                built.append(ChainLayer(c, slot.width, slot.kernel, slot.skip))
                c = slot.width
            stages.append(nn.ModuleList(built))
        self.stages = nn.ModuleList(stages)
        self.classifier = nn.Linear(c, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for s, stage in enumerate(self.stages):
            if s:
                x = F.max_pool2d(x, 2, ceil_mode=True)
            for layer in stage:
                x = layer(x)
        return self.classifier(F.adaptive_avg_pool2d(x, 1).flatten(1))
