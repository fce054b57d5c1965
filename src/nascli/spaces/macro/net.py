"""The child network of the macro space: a chain of layers with skip connections.

stem conv 3x3 + BN -> L layers -> ReLU, global pool, linear. A layer applies its op to the previous
layer's output and adds the outputs of the earlier layers it skips from (average-pooled to its
resolution), then batch-norms the sum. After layers L/3 - 1 and 2L/3 - 1 a 2x2 max-pool halves
the resolution.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from nascli.nn.layers import ReLUConvBN


def make_op(name: str, c: int) -> nn.Module:
    if name in ("conv_3x3", "conv_5x5"):
        k = int(name[-1])
        return ReLUConvBN(c, c, k, 1, k // 2)
    if name in ("sep_conv_3x3", "sep_conv_5x5"):
        k = int(name[-1])
        return nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(c, c, k, 1, k // 2, groups=c, bias=False),
            nn.Conv2d(c, c, 1, bias=False),
            nn.BatchNorm2d(c),
        )
    if name == "max_pool_3x3":
        return nn.MaxPool2d(3, 1, 1)
    if name == "avg_pool_3x3":
        return nn.AvgPool2d(3, 1, 1, count_include_pad=False)
    raise ValueError(f"unknown macro op {name}")


class MacroNetwork(nn.Module):
    def __init__(
        self,
        layers: Sequence[tuple[str, Sequence[int]]],
        in_channels: int,
        num_classes: int,
        channels: int = 36,
    ) -> None:
        super().__init__()
        n = len(layers)
        self.pool_after = {n // 3 - 1, 2 * n // 3 - 1} - {-1, n - 1}
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels)
        )
        self.ops = nn.ModuleList(make_op(op, channels) for op, _ in layers)
        self.skips = [list(skips) for _, skips in layers]
        self.norms = nn.ModuleList(
            nn.BatchNorm2d(channels) if skips else nn.Identity() for _, skips in layers
        )
        self.classifier = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        outputs: list[torch.Tensor] = []
        for i, (op, norm) in enumerate(zip(self.ops, self.norms, strict=True)):
            out = op(x)
            for j in self.skips[i]:
                earlier = outputs[j]
                if earlier.shape[-2:] != out.shape[-2:]:
                    earlier = F.adaptive_avg_pool2d(earlier, out.shape[-2:])
                out = out + earlier
            out = norm(out)
            outputs.append(out)
            x = F.max_pool2d(out, 2, ceil_mode=True) if i in self.pool_after else out
        return self.classifier(F.adaptive_avg_pool2d(F.relu(x), 1).flatten(1))
