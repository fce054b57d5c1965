"""MBConv stages where every block position mixes its kernel x expansion variants."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from nascli.nn.supernet import MixedEdge, Supernet


class MobileNetSupernet(Supernet):
    """Every block position holds all kernel x expansion MBConv variants (a mixed edge); each
    stage's output mixes its outputs after 2, 3 and 4 blocks (the depth choice). Alphas: "blocks"
    (positions x variants) and "depth" (stages x depths). Hard methods run only the chosen
    variant of each block and only the blocks the chosen depth keeps."""

    cell_types = ("blocks", "depth")

    def __init__(
        self,
        variants: Sequence[tuple[int, int]],
        depths: Sequence[int],
        input_shape: Sequence[int],
        num_classes: int,
        width_mult: float = 1.0,
        stem_stride: int = 2,
        widths: Sequence[int] = (24, 40, 80, 96, 192),
        strides: Sequence[int] = (2, 2, 2, 1, 2),
    ) -> None:
        from nascli.spaces.mobilenet.net import MBConv, make_divisible, stem_layers, tail_layers

        super().__init__()
        self.primitives = tuple(f"k{k}e{e}" for k, e in variants)
        self.n_ops, self.none, self.depths = len(variants), -1, tuple(depths)
        w = lambda c: make_divisible(c * width_mult)  # noqa: E731
        self.stem = nn.Sequential(*stem_layers(input_shape[0], width_mult, stem_stride))
        c = w(16)
        self.stages = nn.ModuleList()
        for width, stride in zip(widths, strides, strict=True):
            blocks = nn.ModuleList()
            for i in range(max(depths)):
                s = stride if i == 0 else 1
                ops = [MBConv(c, w(width), k, e, s) for k, e in variants]
                blocks.append(MixedEdge(ops, -1, 1, s))
                c = w(width)
            self.stages.append(blocks)
        tail, last = tail_layers(c, width_mult)
        self.tail = nn.Sequential(*tail)
        self.classifier = nn.Linear(last, num_classes)
        shapes = {
            "blocks": (len(widths) * max(depths), len(variants)),
            "depth": (len(widths), len(depths)),
        }
        self._init_arch(shapes, [], 1)

    def edge_rows(self) -> list[tuple[MixedEdge, str, int]]:
        blocks = [edge for stage in self.stages for edge in stage]
        return [(edge, "blocks", b) for b, edge in enumerate(blocks)]

    def expected_latency(self, table: dict[str, torch.Tensor]) -> torch.Tensor:
        """A block counts with the probability that the stage's depth keeps it."""
        p_op = F.softmax(self.alphas["blocks"], dim=-1)
        p_depth = F.softmax(self.alphas["depth"], dim=-1)
        per_block = (p_op * table["blocks"].to(p_op.device)).sum(-1)
        total, b = p_op.new_zeros(()), 0
        for s, stage in enumerate(self.stages):
            for i in range(len(stage)):
                kept = sum(p_depth[s, j] for j, d in enumerate(self.depths) if d > i)
                total = total + kept * per_block[b + i]
            b += len(stage)
        return total

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        plans = self.plans()
        blocks, depth = plans["blocks"], plans["depth"]
        x = self.stem(x)
        b = 0
        for s, stage in enumerate(self.stages):
            chosen = depth.choices[s][0] if depth.choices is not None else None
            keep = len(stage) if chosen is None else self.depths[chosen]
            outs = []
            for i, edge in enumerate(stage):
                if i < keep:
                    w = blocks.weights[b + i] if blocks.weights is not None else None
                    c = blocks.choices[b + i] if blocks.choices is not None else None
                    x = self.run_cell(edge, x, w, c)
                    outs.append(x)
            b += len(stage)
            if chosen is not None:
                x = outs[keep - 1]
                if depth.weights is not None:  # straight-through weight (value 1)
                    x = depth.weights[s][chosen] * x
            else:
                x = sum(depth.weights[s][j] * outs[d - 1] for j, d in enumerate(self.depths))
        return self.classifier(F.adaptive_avg_pool2d(self.tail(x), 1).flatten(1))
