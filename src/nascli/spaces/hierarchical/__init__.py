"""Liu et al.'s hierarchical space (ICLR 2018): motifs built from motifs.

Level 1 is six primitives: `conv1x1`, `dw3x3` (depthwise), `sep3x3` (separable), `max3x3`,
`avg3x3` (pools, stride 1) and `id`. Level 2 is `motifs` (6) small DAGs of `motif_nodes` (4)
nodes whose edges are primitives or `none`. Level 3 is the cell: a DAG of `cell_nodes` (5)
nodes whose edges are level-2 motifs or `none`. Node 0 of a DAG is its input, its last node its
output, and every other node the sum of its incoming edges (Liu et al. concatenate them
depthwise; a sum keeps every motif's width fixed without a 1x1 projection per node). Each
motif used on an edge has its own weights.

One decision per edge (of every motif and of the cell), so the generic operators apply: a
mutation changes one edge at level 2 or at level 3, which is the paper's mutation (a level,
a motif of it, an edge, a new op from the level below).

Text: motifs `m1..m6` and then the cell, each its edges in the order (0,1), (0,2), (1,2),
(0,3), (1,3), (2,3), ...:

    m1=sep3x3,none,id,...;m2=...;...;m6=...;cell=m1,none,m4,...

Edges off every path from a DAG's input to its output compute nothing the output sees: they are
not built, and `flat(arch)`, which expands the cell into one DAG of primitives (what `nas
inspect` also prints), leaves them out. `iso_key` is the flat DAG, so two architectures that
build the same network are one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from nascli.core.space import ArchError, Space

PRIMITIVES = ("conv1x1", "dw3x3", "sep3x3", "max3x3", "avg3x3", "id")
NONE = "none"


def edges(nodes: int) -> list[tuple[int, int]]:
    """A DAG's edges (from, to) in the text's order."""
    return [(j, i) for i in range(1, nodes) for j in range(i)]


def alive(pairs: Sequence[tuple[int, int]], ops: Sequence[str], nodes: int) -> list[bool]:
    """Which edges are on a path from the input (node 0) to the output (the last node): the
    others compute nothing the output sees, and are not built."""
    live = [op != NONE for op in ops]
    reached, reaching = {0}, {nodes - 1}
    for (j, i), on in zip(pairs, live, strict=True):  # ordered by `to`
        if on and j in reached:
            reached.add(i)
    for (j, i), on in reversed(list(zip(pairs, live, strict=True))):
        if on and i in reaching:
            reaching.add(j)
    return [on and j in reached and i in reaching for (j, i), on in zip(pairs, live, strict=True)]


class HierarchicalSpace(Space):
    """Args: motifs (level-2 motifs), motif_nodes, cell_nodes, channels (the first stage's),
    stages (cells, a separable conv of stride 2 doubling the channels between them)."""

    name = "hierarchical"

    def __init__(
        self,
        motifs: int = 6,
        motif_nodes: int = 4,
        cell_nodes: int = 5,
        channels: int = 16,
        stages: int = 3,
    ) -> None:
        self.motifs, self.motif_nodes, self.cell_nodes = (
            int(motifs),
            int(motif_nodes),
            int(cell_nodes),
        )
        self.channels, self.stages = int(channels), int(stages)
        if self.motifs < 1 or self.motif_nodes < 2 or self.cell_nodes < 2 or self.stages < 1:
            raise ArchError(
                f"space.motifs={motifs} must be 1 or more, space.motif_nodes={motif_nodes} and "
                f"space.cell_nodes={cell_nodes} 2 or more, space.stages={stages} 1 or more"
            )
        self.motif_edges = edges(self.motif_nodes)
        self.cell_edges = edges(self.cell_nodes)
        self.motif_names = tuple(f"m{k + 1}" for k in range(self.motifs))
        self.level2 = (NONE, *PRIMITIVES)  # what a motif's edge may be
        self.level3 = (NONE, *self.motif_names)  # what the cell's edge may be

    @property
    def cardinalities(self) -> Sequence[int]:
        return [len(self.level2)] * (self.motifs * len(self.motif_edges)) + [
            len(self.level3)
        ] * len(self.cell_edges)

    # -- text ------------------------------------------------------------------------------
    def parse(self, text: str) -> tuple[int, ...]:
        if not isinstance(text, str):
            raise ArchError(f"hierarchical arch must be a string, got {type(text).__name__}")
        parts = [p.strip() for p in text.strip().split(";")]
        names = [*self.motif_names, "cell"]
        if len(parts) != len(names):
            raise ArchError(
                f"hierarchical arch: expected {len(names)} parts joined by ';' "
                f"({', '.join(names)}), found {len(parts)}"
            )
        out: list[int] = []
        for name, part in zip(names, parts, strict=True):
            label, sep, body = part.partition("=")
            if label.strip() != name or not sep:
                raise ArchError(f"hierarchical arch: part '{part[:40]}' should start '{name}='")
            options, count = (
                (self.level3, len(self.cell_edges))
                if name == "cell"
                else (self.level2, len(self.motif_edges))
            )
            ops = [o.strip() for o in body.split(",")]
            if len(ops) != count:
                raise ArchError(f"hierarchical arch: {name} has {len(ops)} edges, expected {count}")
            for k, op in enumerate(ops):
                if op not in options:
                    raise ArchError(
                        f"hierarchical arch: {name} edge {k} '{op}' is not one of {', '.join(options)}"
                    )
                out.append(options.index(op))
        return tuple(out)

    def format(self, indices: Sequence[int]) -> str:
        per = len(self.motif_edges)
        parts = [
            f"{name}=" + ",".join(self.level2[i] for i in indices[k * per : (k + 1) * per])
            for k, name in enumerate(self.motif_names)
        ]
        cell = indices[self.motifs * per :]
        parts.append("cell=" + ",".join(self.level3[i] for i in cell))
        return ";".join(parts)

    def structure(self, arch: str, pruned: bool = False) -> tuple[list[list[str]], list[str]]:
        """(per motif, the op of each edge; the cell's edges), in the text's edge order; with
        `pruned`, edges off every input-to-output path are `none` (and so is a cell edge whose
        motif connects nothing)."""
        idx, per = self.parse(arch), len(self.motif_edges)
        motifs = [
            [self.level2[i] for i in idx[k * per : (k + 1) * per]] for k in range(self.motifs)
        ]
        cell = [self.level3[i] for i in idx[self.motifs * per :]]
        if not pruned:
            return motifs, cell
        motifs = [
            [
                op if on else NONE
                for op, on in zip(ops, alive(self.motif_edges, ops, self.motif_nodes), strict=True)
            ]
            for ops in motifs
        ]
        connected = {
            name
            for name, ops in zip(self.motif_names, motifs, strict=True)
            if any(o != NONE for o in ops)
        }
        cell = [m if m in connected else NONE for m in cell]
        cell = [
            m if on else NONE
            for m, on in zip(cell, alive(self.cell_edges, cell, self.cell_nodes), strict=True)
        ]
        return motifs, cell

    def flat(self, arch: str) -> list[tuple[int, int, str]]:
        """The cell as one DAG of primitives: (from, to, primitive) edges, node 0 the input and
        the highest-numbered node the output. Each motif on a cell edge becomes its own copy of
        that motif's inner nodes; `id` edges stay (they are the network's skip connections)."""
        motifs, cell = self.structure(arch, pruned=True)
        # Cell nodes first (0..cell_nodes-1), then the inner nodes of each motif copy.
        out: list[tuple[int, int, str]] = []
        fresh = self.cell_nodes
        for (j, i), motif in zip(self.cell_edges, cell, strict=True):
            if motif == NONE:
                continue
            ops = motifs[self.motif_names.index(motif)]
            inner = {0: j, self.motif_nodes - 1: i}
            for n in range(1, self.motif_nodes - 1):
                inner[n] = fresh
                fresh += 1
            out += [
                (inner[a], inner[b], op)
                for (a, b), op in zip(self.motif_edges, ops, strict=True)
                if op != NONE
            ]
        # Number the nodes in topological order (ties by their order above): the cell's input
        # is 0, its output (a sink) the last.
        last = self.cell_nodes - 1
        nodes = {n for e in out for n in e[:2]} | {0, last}
        preds = {n: {a for a, b, _ in out if b == n} for n in nodes}
        order: list[int] = []
        while preds:
            ready = min([n for n, p in preds.items() if not p and n != last] or [last])
            order.append(ready)
            del preds[ready]
            for p in preds.values():
                p.discard(ready)
        rename = {n: k for k, n in enumerate(order)}
        return sorted((rename[a], rename[b], op) for a, b, op in out)

    def iso_key(self, arch: str) -> str:
        return self.flat_text(arch)

    def flat_text(self, arch: str) -> str:
        return " ".join(f"{a}>{b}:{op}" for a, b, op in self.flat(arch))

    def describe(self, arch: str) -> dict[str, Any]:
        flat = self.flat(arch)
        nodes = 1 + max((b for _, b, _ in flat), default=0)
        return {"flat": self.flat_text(arch), "flat_nodes": nodes, "flat_edges": len(flat)}

    def graphs(self, arch: str) -> list[dict[str, Any]]:
        motifs, cell = self.structure(arch)

        def dag(title: str, nodes: int, labels: list[str], pairs) -> dict[str, Any]:
            names = ["in", *(str(n) for n in range(1, nodes - 1)), "out"]
            drawn = [
                (names[j], names[i], op)
                for (j, i), op in zip(pairs, labels, strict=True)
                if op != NONE
            ]
            return {"title": title, "nodes": names, "edges": drawn,
                    "kinds": {"in": "input", "out": "output"}}  # fmt: skip

        used = sorted({m for m in cell if m != NONE}, key=self.motif_names.index)
        out = [dag("cell (level 3)", self.cell_nodes, cell, self.cell_edges)]
        for m in used:
            ops = motifs[self.motif_names.index(m)]
            out.append(dag(f"motif {m} (level 2)", self.motif_nodes, ops, self.motif_edges))
        return out

    def build(self, arch: str, input_shape: Sequence[int], num_classes: int) -> Any:
        from nascli.spaces.hierarchical.net import HierarchicalNetwork

        motifs, cell = self.structure(arch, pruned=True)
        return HierarchicalNetwork(
            motifs, cell, self.motif_names, self.motif_edges, self.cell_edges,
            input_shape[0], num_classes, self.channels, self.stages,
        )  # fmt: skip
