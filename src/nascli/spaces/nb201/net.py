"""NAS-Bench-201's child network, built to match the benchmark's parameter counts exactly."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from nascli.nn.layers import ReLUConvBN
from nascli.spaces.nb201.cell import EDGES


class ResidualBlock(nn.Module):
    """The reduction between stages: a ResNet basic block with an avg-pool + 1x1 conv shortcut."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, 2, 1)
        self.conv_b = ReLUConvBN(c_out, c_out, 3, 1, 1)
        self.shortcut = nn.Sequential(
            nn.AvgPool2d(2, stride=2), nn.Conv2d(c_in, c_out, 1, bias=False)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shortcut(x) + self.conv_b(self.conv_a(x))


def make_op(name: str, channels: int, affine: bool = True) -> nn.Module | None:
    """An edge's module; None for `none`, whose output is zero and is never computed.
    The supernet uses `affine=False` batch-norms, as NAS-Bench-201's search cells do."""
    if name == "none":
        return None
    if name == "skip_connect":
        return nn.Identity()
    if name == "nor_conv_1x1":
        return ReLUConvBN(channels, channels, 1, 1, 0, affine)
    if name == "nor_conv_3x3":
        return ReLUConvBN(channels, channels, 3, 1, 1, affine)
    if name == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    raise ValueError(f"unknown nb201 op {name}")


class Cell(nn.Module):
    def __init__(self, ops: Sequence[str], channels: int) -> None:
        super().__init__()
        self.edges = nn.ModuleList()
        self.wiring: list[tuple[int, int]] = []  # (target, source) of each kept edge
        for (target, source), name in zip(EDGES, ops, strict=True):
            op = make_op(name, channels)
            if op is not None:
                self.edges.append(op)
                self.wiring.append((target, source))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes: list[torch.Tensor | None] = [x, None, None, None]
        for op, (target, source) in zip(self.edges, self.wiring, strict=True):
            inp = nodes[source]
            if inp is None:  # a node whose inputs were all `none` is zero, and so is op(zero) here
                inp = torch.zeros_like(x)
            out = op(inp)
            nodes[target] = out if nodes[target] is None else nodes[target] + out
        return nodes[3] if nodes[3] is not None else torch.zeros_like(x)


def skeleton(make_cell, in_channels: int, num_classes: int, channels: int, cells_per_stage: int):
    """NAS-Bench-201's skeleton around `make_cell(c)`: (stem, the cells and reductions of the 3
    stages at C, 2C, 4C, head, classifier). Shared by the child network and the supernet."""
    stem = nn.Sequential(
        nn.Conv2d(in_channels, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels)
    )
    layers: list[nn.Module] = []
    c = channels
    for stage in range(3):
        if stage > 0:
            layers.append(ResidualBlock(c, 2 * c))
            c *= 2
        layers.extend(make_cell(c) for _ in range(cells_per_stage))
    head = nn.Sequential(
        nn.BatchNorm2d(c), nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d(1), nn.Flatten()
    )
    return stem, layers, head, nn.Linear(c, num_classes)


class NB201Network(nn.Module):
    """Stem conv3x3, 3 stages of N cells (C, 2C, 4C) with residual reductions, BN-ReLU, pool, linear."""

    def __init__(
        self,
        ops: Sequence[str],
        in_channels: int,
        num_classes: int,
        channels: int = 16,
        cells_per_stage: int = 5,
    ) -> None:
        super().__init__()
        self.stem, layers, self.head, self.classifier = skeleton(
            lambda c: Cell(ops, c), in_channels, num_classes, channels, cells_per_stage
        )
        self.cells = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.head(self.cells(self.stem(x))))
