"""The hierarchical space's network: stem conv 3x3 + BN, then `stages` cells with a separable
conv 3x3 of stride 2 (channels doubled, + BN + ReLU) between them, global pool, linear.

A cell and a motif are the same kind of module: a DAG whose node 0 is its input, whose other
nodes sum their incoming edges, and whose last node is its output (zeros when nothing reaches
it). A motif's edges are primitives; a cell's edges are motifs. Convolutions are followed by
batch-norm and ReLU, as in Liu et al. 2018.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


def primitive(name: str, c: int) -> nn.Module:
    """A channel- and resolution-keeping op (the grammar space's primitives use these too)."""
    if name in ("conv1x1", "conv3x3"):
        k = int(name[-1])
        return nn.Sequential(
            nn.Conv2d(c, c, k, padding=k // 2, bias=False), nn.BatchNorm2d(c), nn.ReLU()
        )
    if name == "dw3x3":
        return nn.Sequential(
            nn.Conv2d(c, c, 3, padding=1, groups=c, bias=False), nn.BatchNorm2d(c), nn.ReLU()
        )
    if name == "sep3x3":
        return nn.Sequential(
            nn.Conv2d(c, c, 3, padding=1, groups=c, bias=False),
            nn.Conv2d(c, c, 1, bias=False),
            nn.BatchNorm2d(c),
            nn.ReLU(),
        )
    if name == "max3x3":
        return nn.MaxPool2d(3, 1, 1)
    if name == "avg3x3":
        return nn.AvgPool2d(3, 1, 1, count_include_pad=False)
    if name == "id":
        return nn.Identity()
    raise ValueError(f"unknown primitive {name}")


def reduction(c: int) -> nn.Sequential:
    """Between stages: a separable conv 3x3 of stride 2 that doubles the channels, BN, ReLU."""
    return nn.Sequential(
        nn.Conv2d(c, c, 3, stride=2, padding=1, groups=c, bias=False),
        nn.Conv2d(c, 2 * c, 1, bias=False),
        nn.BatchNorm2d(2 * c),
        nn.ReLU(),
    )


class Dag(nn.Module):
    """Args: pairs ((from, to) per edge), ops (the module of each edge, None for none), nodes."""

    def __init__(
        self, pairs: Sequence[tuple[int, int]], ops: Sequence[nn.Module | None], nodes: int
    ) -> None:
        super().__init__()
        self.nodes = nodes
        kept = [(p, op) for p, op in zip(pairs, ops, strict=True) if op is not None]
        self.pairs = [p for p, _ in kept]
        self.ops = nn.ModuleList(op for _, op in kept)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        values: list[torch.Tensor | None] = [x] + [None] * (self.nodes - 1)
        for (j, i), op in zip(self.pairs, self.ops, strict=True):  # edges are ordered by `to`
            if values[j] is None:
                continue
            out = op(values[j])
            values[i] = out if values[i] is None else values[i] + out
        last = values[-1]
        return last if last is not None else x * 0.0


def motif_dag(ops: Sequence[str], pairs, nodes: int, c: int) -> Dag:
    return Dag(pairs, [None if op == "none" else primitive(op, c) for op in ops], nodes)


class HierarchicalNetwork(nn.Module):
    def __init__(
        self,
        motifs: Sequence[Sequence[str]],
        cell: Sequence[str],
        motif_names: Sequence[str],
        motif_pairs: Sequence[tuple[int, int]],
        cell_pairs: Sequence[tuple[int, int]],
        in_channels: int,
        num_classes: int,
        channels: int = 16,
        stages: int = 3,
    ) -> None:
        super().__init__()
        motif_nodes = 1 + max(i for _, i in motif_pairs)
        cell_nodes = 1 + max(i for _, i in cell_pairs)
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels)
        )
        layers: list[nn.Module] = []
        c = channels
        for s in range(stages):
            edge_ops = [
                None
                if m == "none"
                else motif_dag(motifs[list(motif_names).index(m)], motif_pairs, motif_nodes, c)
                for m in cell
            ]
            layers.append(Dag(cell_pairs, edge_ops, cell_nodes))
            if s < stages - 1:
                layers.append(reduction(c))
                c *= 2
        self.body = nn.Sequential(*layers)
        self.classifier = nn.Linear(c, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.body(self.stem(x))
        return self.classifier(x.mean((2, 3)))
