"""A custom space's supernet: the user's builder called once with every layer choice mixed."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from nascli.nn.supernet import MixedEdge, MixedLayer, Supernet


class CustomSupernet(Supernet):
    """The user's builder called once with every layer choice as a MixedLayer; one alpha row per
    choice (label), over its candidates."""

    def __init__(self, body: nn.Module, layers: Sequence[MixedLayer], input_shape, num_classes):
        super().__init__()
        self.body = body
        self.layers = list(layers)  # registered through `body`; kept in declaration order
        self.cell_types = tuple(layer.label for layer in self.layers)
        self.primitives = tuple(
            f"{layer.label}:{i}" for layer in self.layers for i in range(len(layer.ops))
        )
        self.n_ops, self.none = max(len(layer.ops) for layer in self.layers), -1
        self._init_arch({layer.label: (1, len(layer.ops)) for layer in self.layers}, [], 1)
        try:
            with torch.no_grad():
                self.eval()(torch.zeros(2, *input_shape))
            self.train()
        except RuntimeError as exc:
            raise ValueError(
                "space=custom: for weight sharing every candidate of a layer choice must give "
                f"an output of the same shape ({str(exc).splitlines()[0]})"
            ) from exc

    def edge_rows(self) -> list[tuple[MixedEdge, str, int]]:
        return [(layer, layer.label, 0) for layer in self.layers]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        plans = self.plans()
        for layer in self.layers:
            layer.plan = plans[layer.label]
        return self.body(x)
