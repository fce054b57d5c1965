"""NAS-Bench-201's skeleton with a mixed op on every edge of its cell."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from nascli.nn.layers import Zero
from nascli.nn.supernet import CellPlan, MixedEdge, SearchCell, Supernet
from nascli.spaces.nb201.net import make_op, skeleton


class NB201SearchCell(SearchCell):
    def __init__(self, ops: Sequence[str], edges: Sequence[tuple[int, int]], c: int, partial: int):
        mixed = []
        for _ in edges:
            candidates = [
                Zero(1) if name == "none" else make_op(name, c // partial, affine=False)
                for name in ops
            ]
            mixed.append(MixedEdge(candidates, ops.index("none"), partial, 1))
        super().__init__(mixed, [s for _, s in edges], [t for t, _ in edges])

    def forward(self, x: torch.Tensor, plan: CellPlan) -> torch.Tensor:
        return self.run([x], plan)[-1]


class NB201Supernet(Supernet):
    """NAS-Bench-201's skeleton with a mixed op on each of the cell's 6 edges (one shared alpha)."""

    cell_types = ("cell",)

    def __init__(
        self,
        ops: Sequence[str],
        edges: Sequence[tuple[int, int]],
        input_shape: Sequence[int],
        num_classes: int,
        channels: int = 16,
        cells_per_stage: int = 5,
        partial: int = 1,
    ) -> None:
        super().__init__()
        if channels % partial:
            raise ValueError(
                f"space.channels={channels} must be a multiple of strategy.partial={partial}"
            )
        self.primitives, self.n_ops = tuple(ops), len(ops)
        self.none = self.primitives.index("none")
        self.stem, layers, self.head, self.classifier = skeleton(
            lambda c: NB201SearchCell(ops, edges, c, partial),
            input_shape[0],
            num_classes,
            channels,
            cells_per_stage,
        )
        self.cells = nn.ModuleList(layers)
        self._init_arch({"cell": (len(edges), self.n_ops)}, [t for t, _ in edges], partial)

    def edge_rows(self) -> list[tuple[MixedEdge, str, int]]:
        return [
            (edge, "cell", e)
            for layer in self.cells
            if isinstance(layer, NB201SearchCell)
            for e, edge in enumerate(layer.edges)
        ]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        plan = self.plans()["cell"]
        x = self.stem(x)
        for layer in self.cells:
            x = self.run_cell(layer, x, plan) if isinstance(layer, NB201SearchCell) else layer(x)
        return self.classifier(self.head(x))
