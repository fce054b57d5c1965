"""The DARTS search network: 8 cells of mixed edges over the DARTS primitives."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from nascli.nn.layers import ReLUConvBN
from nascli.nn.lean import run_stages, stages_of
from nascli.nn.supernet import CellPlan, MixedEdge, SearchCell, Supernet, use_stages
from nascli.spaces.darts.ops import OPS as DARTS_OPS
from nascli.spaces.darts.ops import FactorizedReduce


def _darts_search_op(name: str, c: int, stride: int) -> nn.Module:
    op = DARTS_OPS[name](c, stride, False)
    # The DARTS search cell follows its pools with a parameter-free batch-norm.
    return nn.Sequential(op, nn.BatchNorm2d(c, affine=False)) if "pool" in name else op


class DartsSearchCell(SearchCell):
    def __init__(
        self,
        primitives: Sequence[str],
        c_pp: int,
        c_p: int,
        c: int,
        reduction: bool,
        reduction_prev: bool,
        steps: int,
        partial: int,
    ) -> None:
        sources, targets, edges = [], [], []
        for node in range(steps):
            for src in range(2 + node):
                stride = 2 if reduction and src < 2 else 1
                ops = [_darts_search_op(p, c // partial, stride) for p in primitives]
                edges.append(MixedEdge(ops, primitives.index("none"), partial, stride))
                sources.append(src)
                targets.append(2 + node)
        super().__init__(edges, sources, targets)
        self.reduction, self.steps = reduction, steps
        self.preprocess0 = (
            FactorizedReduce(c_pp, c, affine=False)
            if reduction_prev
            else ReLUConvBN(c_pp, c, 1, 1, 0, affine=False)
        )
        self.preprocess1 = ReLUConvBN(c_p, c, 1, 1, 0, affine=False)
        self.pre_stages = [stages_of(p, False) for p in (self.preprocess0, self.preprocess1)]

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, plan: CellPlan) -> torch.Tensor:
        inputs = []
        for pre, stages, x in zip(
            (self.preprocess0, self.preprocess1), self.pre_stages, (s0, s1), strict=True
        ):
            inputs.append(run_stages(stages, x) if stages and use_stages(self, x) else pre(x))
        states = self.run(inputs, plan)
        return torch.cat(states[-self.steps :], dim=1)


class DartsSupernet(Supernet):
    """The DARTS search network: stem 3C, `layers` cells, reductions at 1/3 and 2/3 depth."""

    cell_types = ("normal", "reduce")

    def __init__(
        self,
        primitives: Sequence[str],
        input_shape: Sequence[int],
        num_classes: int,
        channels: int = 16,
        layers: int = 8,
        steps: int = 4,
        partial: int = 1,
    ) -> None:
        super().__init__()
        if channels % partial:
            raise ValueError(
                f"space.search_channels={channels} must be a multiple of strategy.partial={partial}"
            )
        self.primitives, self.n_ops = tuple(primitives), len(primitives)
        self.none = self.primitives.index("none")
        c_curr = 3 * channels
        self.stem = nn.Sequential(
            nn.Conv2d(input_shape[0], c_curr, 3, padding=1, bias=False), nn.BatchNorm2d(c_curr)
        )
        c_pp, c_p, c = c_curr, c_curr, channels
        self.cells = nn.ModuleList()
        reduction_prev = False
        for i in range(layers):
            reduction = i in (layers // 3, 2 * layers // 3)
            if reduction:
                c *= 2
            cell = DartsSearchCell(
                primitives, c_pp, c_p, c, reduction, reduction_prev, steps, partial
            )
            self.cells.append(cell)
            reduction_prev = reduction
            c_pp, c_p = c_p, steps * c
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_p, num_classes)
        first = self.cells[0]
        shape = (len(first.edges), self.n_ops)
        self._init_arch({t: shape for t in self.cell_types}, first.targets, partial)

    def edge_rows(self) -> list[tuple[MixedEdge, str, int]]:
        return [
            (edge, "reduce" if cell.reduction else "normal", e)
            for cell in self.cells
            for e, edge in enumerate(cell.edges)
        ]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        plans = self.plans()
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            s0, s1 = (
                s1,
                self.run_cell(cell, s0, s1, plans["reduce" if cell.reduction else "normal"]),
            )
        return self.classifier(self.pool(s1).flatten(1))
