"""The DARTS cell space (Liu et al., ICLR 2019): a normal and a reduction cell, 4 intermediate
nodes each summing two ops applied to earlier nodes, outputs concatenated.

Architectures are the DARTS code base's `Genotype(...)` text; published cells are accepted by
name (DARTS_V2, PC_DARTS, ...). The searchable space excludes `none` (the DARTS derivation never
keeps it) and concatenates nodes 2..5; named cells outside it (NASNet, AmoebaNet) still build.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from nascli.core.space import ArchError, Space
from nascli.spaces.darts.genotype import ALL_OPS, Genotype, format_genotype, parse_genotype
from nascli.spaces.darts.genotypes import NAMED

# The DARTS search primitives are the first eight ops the code base can build, in its order.
PRIMITIVES = ALL_OPS[:8]
CHOICE_OPS = PRIMITIVES[1:]
STEPS = 4
CONCAT = (2, 3, 4, 5)


# The search cell's edges, node by node: node k has 2 + k incoming edges, from nodes 0 .. k+1.
EDGE_OFFSET = [sum(2 + i for i in range(k)) for k in range(STEPS)]
EDGE_SOURCE = [src for k in range(STEPS) for src in range(2 + k)]


def _darts_cell(weights: Sequence[Sequence[float]], banned: set[int]) -> list[tuple[int, int]]:
    """(edge, op) pairs the DARTS rule keeps, strongest edge of each node first; `banned` edges may
    not pick skip_connect."""
    none, skip = PRIMITIVES.index("none"), PRIMITIVES.index("skip_connect")
    chosen = []
    for k in range(STEPS):
        best = []
        for e in range(EDGE_OFFSET[k], EDGE_OFFSET[k] + 2 + k):
            w = weights[e]
            ops = [j for j in range(len(w)) if j != none and not (e in banned and j == skip)]
            op = max(ops, key=lambda j: w[j])
            best.append((w[op], e, op))
        best.sort(key=lambda t: -t[0])  # stable: the lower edge wins a tie
        chosen += [(e, op) for _, e, op in best[:2]]
    return chosen


def resolve(arch: str) -> Genotype:
    """A genotype from its text or from a published name (case-insensitive)."""
    if isinstance(arch, str):
        named = NAMED.get(arch.strip().upper())
        if named is not None:
            return parse_genotype(named)
    try:
        return parse_genotype(arch)
    except ArchError as exc:
        if isinstance(arch, str) and "(" not in arch:
            raise ArchError(
                f"darts arch '{arch}' is neither Genotype(...) text nor a known name ({', '.join(sorted(NAMED))})"
            ) from exc
        raise


class DartsSpace(Space):
    """Evaluation network settings: `channels` C, `layers` cells, `auxiliary` head, and the
    ImageNet-mobile stem when `imagenet_stem` (C=48, 14 cells in the paper)."""

    name = "darts"

    def __init__(
        self,
        channels: int = 36,
        layers: int = 20,
        auxiliary: bool = True,
        imagenet_stem: bool = False,
        search_channels: int = 16,
        search_layers: int = 8,
    ) -> None:
        self.channels, self.layers = channels, layers
        self.auxiliary, self.imagenet_stem = auxiliary, imagenet_stem
        self.search_channels, self.search_layers = search_channels, search_layers

    # -- weight sharing ---------------------------------------------------------------------------
    def supernet(self, input_shape: Sequence[int], num_classes: int, partial: int = 1) -> Any:
        from nascli.spaces.darts.supernet import DartsSupernet

        return DartsSupernet(
            PRIMITIVES,
            input_shape,
            num_classes,
            self.search_channels,
            self.search_layers,
            STEPS,
            partial,
        )

    def derive(self, weights: dict[str, list[list[float]]], max_skip: int | None = None) -> str:
        """The DARTS rule: per node, the two incoming edges whose strongest non-`none` op weighs
        most, each with that op. `max_skip` caps skip connections in the normal cell (P-DARTS):
        the weakest surplus skip gives way to its edge's next-best op, and the edges are re-ranked."""
        skip = PRIMITIVES.index("skip_connect")
        indices: list[int] = []
        for cell in ("normal", "reduce"):
            banned: set[int] = set()
            while True:
                chosen = _darts_cell(weights[cell], banned)
                skips = [e for e, op in chosen if op == skip]
                if cell != "normal" or max_skip is None or len(skips) <= max_skip:
                    break
                banned.add(min(skips, key=lambda e: weights[cell][e][skip]))
            for e, op in chosen:
                indices += [EDGE_SOURCE[e], CHOICE_OPS.index(PRIMITIVES[op])]
        return self.format(indices)

    def path(self, arch: str) -> dict[str, list[list[int]]]:
        idx = self.parse(arch)
        out = {}
        for c, cell in enumerate(("normal", "reduce")):
            edges: list[list[int]] = [[] for _ in EDGE_SOURCE]
            part = idx[c * 4 * STEPS : (c + 1) * 4 * STEPS]
            for node in range(STEPS):
                for src, op in (part[4 * node : 4 * node + 2], part[4 * node + 2 : 4 * node + 4]):
                    edges[EDGE_OFFSET[node] + src].append(PRIMITIVES.index(CHOICE_OPS[op]))
            out[cell] = edges
        return out

    def normal_ops(self, arch: str) -> list[str]:
        return [op for op, _ in resolve(arch).cell(False)[0]]

    @property
    def cardinalities(self) -> Sequence[int]:
        # Per cell, per node k: (input a, op a, input b, op b); node k chooses among 2 + k inputs.
        per_cell = [
            n for k in range(STEPS) for n in (2 + k, len(CHOICE_OPS), 2 + k, len(CHOICE_OPS))
        ]
        return per_cell * 2

    def parse(self, text: str) -> tuple[int, ...]:
        g = resolve(text)
        indices: list[int] = []
        for field, (edges, concat) in (("normal", g.cell(False)), ("reduce", g.cell(True))):
            if len(edges) != 2 * STEPS or tuple(concat) != CONCAT:
                raise ArchError(
                    f"darts arch: the {field} cell has {len(edges) // 2} nodes concatenated as {list(concat)}; the searchable "
                    f"space has {STEPS} nodes concatenated as {list(CONCAT)} (it still builds: nas inspect/train accept it)"
                )
            for op, src in edges:
                if op not in CHOICE_OPS:
                    raise ArchError(
                        f"darts arch: op '{op}' in the {field} cell is outside the searchable ops {', '.join(CHOICE_OPS)}"
                    )
                indices += [src, CHOICE_OPS.index(op)]
        return tuple(indices)

    def format(self, indices: Sequence[int]) -> str:
        half = len(indices) // 2
        cells = []
        for part in (indices[:half], indices[half:]):
            cells.append(
                tuple((CHOICE_OPS[part[k + 1]], int(part[k])) for k in range(0, len(part), 2))
            )
        return format_genotype(Genotype(cells[0], CONCAT, cells[1], CONCAT))

    def canonical(self, text: str) -> str:
        """Names and any valid genotype (inside the searchable space or not) become Genotype text."""
        return format_genotype(resolve(text))

    def graphs(self, arch: str) -> list[dict[str, Any]]:
        g = resolve(arch)
        out = []
        for title, reduction in (("normal cell", False), ("reduction cell", True)):
            edges, concat = g.cell(reduction)
            names = ["c_{k-2}", "c_{k-1}"] + [str(i) for i in range(len(edges) // 2)] + ["c_{k}"]
            drawn = [(names[src], names[2 + k // 2], op) for k, (op, src) in enumerate(edges)]
            drawn += [(names[i], "c_{k}", "") for i in concat]
            kinds = {"c_{k-2}": "input", "c_{k-1}": "input", "c_{k}": "output"}
            out.append({"title": title, "nodes": names, "edges": drawn, "kinds": kinds})
        return out

    # -- cells that grow one node at a time (strategy=progressive) ------------------------------
    def cell_size(self, arch: str) -> int:
        """The intermediate nodes of `arch`'s normal cell (4 in the searchable space)."""
        return len(resolve(arch).cell(False)[0]) // 2

    grows_cells = True
    max_cell_size = STEPS

    def _node(self, k: int, rng) -> list[tuple[str, int]]:
        """Node k's two edges, sorted so that one node has one text."""
        return sorted((rng.choice(CHOICE_OPS), rng.randrange(2 + k)) for _ in range(2))

    def smallest(self, rng) -> str:
        """Normal and reduction cells of one node each."""
        return format_genotype(Genotype(self._node(0, rng), [2], self._node(0, rng), [2]))

    def grow(self, arch: str, rng) -> str:
        """`arch` with one more node in both cells (every node concatenated, as DARTS does)."""
        g = resolve(arch)
        normal, reduce = list(g.cell(False)[0]), list(g.cell(True)[0])
        k = len(normal) // 2
        if k >= STEPS or len(reduce) // 2 != k:
            raise ArchError(f"darts arch: cannot grow a cell of {k} nodes (at most {STEPS})")
        normal += self._node(k, rng)
        reduce += self._node(k, rng)
        concat = list(range(2, k + 3))
        return format_genotype(Genotype(normal, concat, reduce, concat))

    encodings = ("onehot",)

    def features(self, arch: str, encoding: str = "onehot") -> list[float]:
        """One-hot per edge (input, op) of nodes 0..3 of both cells; the nodes a smaller cell
        lacks are zeros, so that cells of every size share one encoding."""
        if encoding != "onehot":
            return super().features(arch, encoding)
        g = resolve(arch)
        out: list[float] = []
        for reduction in (False, True):
            edges = g.cell(reduction)[0]
            for k in range(STEPS):
                for e in (2 * k, 2 * k + 1):
                    op, src = edges[e] if e < len(edges) else (None, None)
                    out += [1.0 if src == i else 0.0 for i in range(2 + k)]
                    out += [1.0 if op == o else 0.0 for o in CHOICE_OPS]
        return out

    def build(self, arch: str, input_shape: Sequence[int], num_classes: int) -> Any:
        from nascli.spaces.darts.net import build_network

        return build_network(
            resolve(arch),
            input_shape,
            num_classes,
            channels=self.channels,
            layers=self.layers,
            auxiliary=self.auxiliary,
            imagenet_stem=self.imagenet_stem,
        )
