"""Networks of the grammar space: the derived expression as a module, inside a skeleton.

A zero (`zero`, `none`) makes a `sequential` zero, drops out of a `branch`, leaves a `residual`
its input and is an absent edge of a `cell4`; an expression that is zero altogether outputs
zeros. `cell4` keeps NAS-Bench-201's module layout, so that with its primitives and the nb201
skeleton the network's parameters are NAS-Bench-201's, name for name.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from nascli.spaces.hierarchical.net import primitive, reduction
from nascli.spaces.nb201.cell import EDGES
from nascli.spaces.nb201.net import make_op as nb201_op
from nascli.spaces.nb201.net import skeleton as nb201_skeleton


def _primitive(name: str, c: int) -> nn.Module | None:
    if name in ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"):
        return nb201_op(name, c)
    return None if name == "zero" else primitive(name, c)


class Branch(nn.Module):
    def __init__(self, paths: Sequence[nn.Module]) -> None:
        super().__init__()
        self.paths = nn.ModuleList(paths)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.paths[0](x)
        for path in self.paths[1:]:
            out = out + path(x)
        return out


class Residual(nn.Module):
    def __init__(self, body: nn.Module) -> None:
        super().__init__()
        self.body = body

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class Cell4(nn.Module):
    """NAS-Bench-201's four-node cell over any edge modules (None: an absent edge)."""

    def __init__(self, ops: Sequence[nn.Module | None]) -> None:
        super().__init__()
        kept = [(edge, op) for edge, op in zip(EDGES, ops, strict=True) if op is not None]
        self.edges = nn.ModuleList(op for _, op in kept)
        self.wiring = [edge for edge, _ in kept]  # (target, source)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes: list[torch.Tensor | None] = [x, None, None, None]
        for op, (target, source) in zip(self.edges, self.wiring, strict=True):
            inp = nodes[source]
            out = op(inp if inp is not None else torch.zeros_like(x))
            nodes[target] = out if nodes[target] is None else nodes[target] + out
        return nodes[3] if nodes[3] is not None else torch.zeros_like(x)


class Zeros(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(x)


def module_of(tree, c: int) -> nn.Module | None:
    """The module an expression computes at `c` channels (None: it is zero)."""
    if isinstance(tree, str):
        return _primitive(tree, c)
    name, children = tree
    parts = [module_of(child, c) for child in children]
    if name == "cell4":
        return Cell4(parts)
    if name == "branch":
        kept = [p for p in parts if p is not None]
        return Branch(kept) if kept else None
    if any(p is None for p in parts):  # sequential or residual through a zero
        return None if name == "sequential" else nn.Identity()
    body = parts[0] if len(parts) == 1 else nn.Sequential(*parts)
    return Residual(body) if name == "residual" else body


def _block(tree, c: int) -> nn.Module:
    module = module_of(tree, c)
    return module if module is not None else Zeros()


class GrammarNetwork(nn.Module):
    def __init__(
        self,
        tree,
        skeleton: str,
        in_channels: int,
        num_classes: int,
        channels: int = 16,
        cells_per_stage: int = 1,
        stages: int = 3,
    ) -> None:
        super().__init__()
        if skeleton == "nb201":
            # NAS-Bench-201's layout (stem, cells, head, classifier), attribute for attribute.
            self.stem, layers, self.head, self.classifier = nb201_skeleton(
                lambda c: _block(tree, c), in_channels, num_classes, channels, cells_per_stage
            )
            self.cells = nn.Sequential(*layers)
            return
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(),
        )
        layers, c = [], channels
        for s in range(stages):
            layers.append(_block(tree, c))
            if s < stages - 1:
                layers.append(reduction(c))
                c *= 2
        self.cells = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.classifier = nn.Linear(c, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.head(self.cells(self.stem(x))))
