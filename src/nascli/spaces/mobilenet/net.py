"""The child network of the mobilenet space: ProxylessNAS's mobile skeleton around searched stages.

stem 3x3 conv (32, stride `stem_stride`) -> MBConv(e=1, k=3) to 16 -> 5 searched stages ->
MBConv(e=6, k=3) to 320 -> 1x1 conv to 1280 -> global pool -> linear. BN and ReLU6 throughout.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


def make_divisible(value: float, divisor: int = 8) -> int:
    """Round a width to a multiple of `divisor`, never below 90% of it (MobileNetV2's rule)."""
    out = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return out + divisor if out < 0.9 * value else out


def conv_bn_act(c_in: int, c_out: int, kernel: int, stride: int = 1, groups: int = 1, act=True):
    layers: list[nn.Module] = [
        nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, groups=groups, bias=False),
        nn.BatchNorm2d(c_out),
    ]
    if act:
        layers.append(nn.ReLU6(inplace=True))
    return nn.Sequential(*layers)


class MBConv(nn.Module):
    """Inverted residual: 1x1 expand (skipped when expansion is 1), depthwise k x k, 1x1 project;
    identity shortcut when the shape is kept."""

    def __init__(self, c_in: int, c_out: int, kernel: int, expansion: int, stride: int) -> None:
        super().__init__()
        mid = c_in * expansion
        layers: list[nn.Module] = []
        if expansion != 1:
            layers.append(conv_bn_act(c_in, mid, 1))
        layers.append(conv_bn_act(mid, mid, kernel, stride, groups=mid))
        layers.append(conv_bn_act(mid, c_out, 1, act=False))
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.body(x)
        return x + out if self.residual else out


def stem_layers(in_channels: int, width_mult: float, stem_stride: int) -> list[nn.Module]:
    """The fixed layers before the searched stages (shared with the supernet)."""
    w = lambda c: make_divisible(c * width_mult)  # noqa: E731
    return [conv_bn_act(in_channels, w(32), 3, stem_stride), MBConv(w(32), w(16), 3, 1, 1)]


def tail_layers(c_in: int, width_mult: float) -> tuple[list[nn.Module], int]:
    """The fixed layers after the searched stages, and their output width (shared)."""
    c = make_divisible(320 * width_mult)
    last = make_divisible(1280 * max(1.0, width_mult))
    return [MBConv(c_in, c, 3, 6, 1), conv_bn_act(c, last, 1)], last


class MobileNetNetwork(nn.Module):
    def __init__(
        self,
        stages: Sequence[Sequence[tuple[int, int]]],
        in_channels: int,
        num_classes: int,
        width_mult: float = 1.0,
        stem_stride: int = 2,
        widths: Sequence[int] = (24, 40, 80, 96, 192),
        strides: Sequence[int] = (2, 2, 2, 1, 2),
    ) -> None:
        super().__init__()
        w = lambda c: make_divisible(c * width_mult)  # noqa: E731
        layers = stem_layers(in_channels, width_mult, stem_stride)
        c = w(16)
        for blocks, width, stride in zip(stages, widths, strides, strict=True):
            for i, (kernel, expansion) in enumerate(blocks):
                layers.append(MBConv(c, w(width), kernel, expansion, stride if i == 0 else 1))
                c = w(width)
        tail, last = tail_layers(c, width_mult)
        self.features = nn.Sequential(*layers, *tail)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(last, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.pool(self.features(x)).flatten(1))
