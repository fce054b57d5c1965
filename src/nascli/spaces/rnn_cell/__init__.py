"""The DARTS recurrent-cell space (Liu et al., ICLR 2019) for language models.

A cell has 8 nodes after its first state; node k takes one of nodes 0..k-1 through one of
`tanh relu sigmoid identity`, and the cell's output is the mean of nodes 1..8:
4^8 x 8! = 2,642,411,520 cells. Architectures are `Genotype(recurrent=[...], concat=[...])`
text or a published name (DARTS_V1, DARTS_V2, ENAS; ENAS's 11-node cell is built and trained
by name but is not in the searchable space).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from nascli.core.space import ArchError, Space
from nascli.spaces.rnn_cell.genotype import (
    OPS,
    RecurrentGenotype,
    format_genotype,
    parse_genotype,
    resolve,
)

STEPS = 8


class RNNCellSpace(Space):
    """Args: hidden (embedding = hidden size of the model built), the AWD-LSTM dropouts,
    `search_hidden` (the weight-sharing supernet's size) and `search_dropoute` (the supernet's
    word dropout: 0 in the DARTS search; its other dropouts are the model's)."""

    name = "rnn_cell"
    encodings = ("onehot",)
    #: the cell has no skip connections for strategy.max_skip to cap
    caps_skips = False

    def __init__(
        self,
        hidden: int = 850,
        dropout: float = 0.75,
        dropouth: float = 0.25,
        dropoutx: float = 0.75,
        dropouti: float = 0.2,
        dropoute: float = 0.1,
        search_hidden: int = 300,
        search_dropoute: float = 0.0,
    ) -> None:
        self.hidden, self.search_hidden, self.search_dropoute = (
            hidden,
            search_hidden,
            search_dropoute,
        )
        self.dropouts = {
            "dropout": dropout,
            "dropouth": dropouth,
            "dropoutx": dropoutx,
            "dropouti": dropouti,
            "dropoute": dropoute,
        }

    @property
    def cardinalities(self) -> Sequence[int]:
        """Per node k = 1..8: its op, then its input (one of nodes 0..k-1)."""
        out: list[int] = []
        for k in range(1, STEPS + 1):
            out += [len(OPS), k]
        return out

    def parse(self, text: str) -> tuple[int, ...]:
        g = resolve(text)
        if g.steps != STEPS or g.concat != tuple(range(1, STEPS + 1)):
            raise ArchError(
                f"rnn_cell arch has {g.steps} nodes averaging {list(g.concat)}; the searchable "
                f"space's cells have {STEPS} nodes averaging nodes 1..{STEPS} (a cell outside it, "
                "such as ENAS, can be trained by name but not searched)"
            )
        out: list[int] = []
        for op, src in g.recurrent:
            out += [OPS.index(op), src]
        return tuple(out)

    def format(self, indices: Sequence[int]) -> str:
        edges = tuple((OPS[int(indices[2 * k])], int(indices[2 * k + 1])) for k in range(STEPS))
        return format_genotype(RecurrentGenotype(edges, tuple(range(1, STEPS + 1))))

    def canonical(self, text: str) -> str:
        """A name or any spelling of a genotype -> its one text (also for cells outside the
        searchable space, which `build` takes)."""
        g = resolve(text)
        return format_genotype(g) if g.steps != STEPS else self.format(self.parse(text))

    def normal_ops(self, arch: str) -> list[str]:
        return [op for op, _ in resolve(arch).recurrent]

    def graphs(self, arch: str) -> list[dict[str, Any]]:
        """The cell as nascli.ui.draw draws it: x_t and h_{t-1} make node 0 (the gated first
        state), node k takes one earlier node through its activation, h_t averages `concat`."""
        g = resolve(arch)
        names = ["x_{t}", "h_{t-1}"] + [str(i) for i in range(len(g.recurrent) + 1)] + ["h_{t}"]
        edges = [("x_{t}", "0", ""), ("h_{t-1}", "0", "")]
        edges += [(str(src), str(k + 1), op) for k, (op, src) in enumerate(g.recurrent)]
        edges += [(str(i), "h_{t}", "") for i in g.concat]
        kinds = {"x_{t}": "input", "h_{t-1}": "input", "h_{t}": "output"}
        return [{"title": "recurrent cell", "nodes": names, "edges": edges, "kinds": kinds}]

    def build(self, arch: str, input_shape: Sequence[int], num_classes: int) -> Any:
        """The language model with `arch`'s cell; `num_classes` is the vocabulary's size."""
        from nascli.spaces.rnn_cell.net import RNNLanguageModel

        return RNNLanguageModel(num_classes, resolve(arch), self.hidden, **self.dropouts)

    # -- weight sharing ------------------------------------------------------------------------
    def supernet(self, input_shape: Sequence[int], num_classes: int, partial: int = 1) -> Any:
        """The DARTS recurrent search network (nascli.spaces.rnn_cell.supernet) of
        `search_hidden` units over a vocabulary of `num_classes` tokens."""
        if partial != 1:
            raise ValueError(
                "partial channels (strategy=pcdarts) split a convolution's channels; "
                "space=rnn_cell has none: use strategy=darts"
            )
        from nascli.spaces.rnn_cell.supernet import RNNCellSupernet

        dropouts = {**self.dropouts, "dropoute": self.search_dropoute}
        return RNNCellSupernet(num_classes, STEPS, self.search_hidden, **dropouts)

    def derive(self, weights: dict[str, list[list[float]]], max_skip: int | None = None) -> str:
        """The DARTS rule: node k takes the earlier node whose edge has the largest weight on an
        op other than `none`, through that edge's best such op (ties: the earliest)."""
        rows = weights["recurrent"]
        edges = []
        for k in range(1, STEPS + 1):
            into = rows[k * (k - 1) // 2 : k * (k + 1) // 2]
            src = max(range(k), key=lambda j: (max(into[j][1:]), -j))
            op = max(range(1, len(into[src])), key=lambda i: (into[src][i], -i))
            edges.append((OPS[op - 1], src))
        return format_genotype(RecurrentGenotype(tuple(edges), tuple(range(1, STEPS + 1))))

    def path(self, arch: str) -> dict[str, list[list[int]]]:
        """Per edge (node by node, from node 0 up) the supernet op it runs: the chosen input's
        edge runs its op (index in none + OPS), every other edge nothing."""
        indices = self.parse(arch)
        path: list[list[int]] = []
        for k in range(1, STEPS + 1):
            op, src = indices[2 * (k - 1)], indices[2 * (k - 1) + 1]
            path += [[op + 1] if j == src else [] for j in range(k)]
        return {"recurrent": path}


__all__ = ["RNNCellSpace", "parse_genotype"]
