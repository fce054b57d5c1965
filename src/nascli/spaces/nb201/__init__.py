"""NAS-Bench-201 (Dong & Yang, ICLR 2020): the cell space and its arch strings.

A cell has nodes 0..3; node j sums one op applied to each earlier node, so there are 6 edges.
Arch strings list the edges node by node: `|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

from nascli.core.space import ArchError, Space
from nascli.spaces.nb201.cell import EDGES, OPS


def parse_ops(text: str) -> tuple[str, ...]:
    """Strictly parse an arch string into its 6 op names (edge order of EDGES)."""
    if not isinstance(text, str):
        raise ArchError(f"nb201 arch must be a string, got {type(text).__name__}")
    s = text.strip()
    nodes = s.split("+")
    if len(nodes) != 3:
        raise ArchError(
            f"nb201 arch '{text}': expected 3 node groups joined by '+', found {len(nodes)}"
        )
    ops: list[str] = []
    for j, group in enumerate(nodes, start=1):
        if not (group.startswith("|") and group.endswith("|")) or len(group) < 2:
            raise ArchError(
                f"nb201 arch '{text}': node {j} group '{group}' must start and end with '|'"
            )
        tokens = group[1:-1].split("|")
        if len(tokens) != j:
            raise ArchError(
                f"nb201 arch '{text}': node {j} needs {j} edge(s), found {len(tokens)} in '{group}'"
            )
        for i, token in enumerate(tokens):
            op, sep, src = token.partition("~")
            if not sep or op not in OPS:
                raise ArchError(
                    f"nb201 arch '{text}': bad edge '{token}' at node {j}; ops are {', '.join(OPS)}"
                )
            if src != str(i):
                raise ArchError(
                    f"nb201 arch '{text}': edge '{token}' at node {j} must come from node {i} (write '{op}~{i}')"
                )
            ops.append(op)
    return tuple(ops)


def format_ops(ops: Sequence[str]) -> str:
    groups, k = [], 0
    for j in (1, 2, 3):
        groups.append("|" + "|".join(f"{ops[k + i]}~{i}" for i in range(j)) + "|")
        k += j
    return "+".join(groups)


def cap_skips(weights: Sequence[Sequence[float]], skip: int, max_skip: int | None) -> list[int]:
    """Argmax op per edge; while more than `max_skip` edges pick skip, the one with the weakest
    skip weight is denied skip and takes its next-best op (P-DARTS)."""
    banned: set[int] = set()
    while True:
        choice = [
            max((j for j in range(len(w)) if not (e in banned and j == skip)), key=lambda j: w[j])
            for e, w in enumerate(weights)
        ]
        skips = [e for e, j in enumerate(choice) if j == skip]
        if max_skip is None or len(skips) <= max_skip:
            return choice
        banned.add(min(skips, key=lambda e: weights[e][skip]))


def iso_key(ops: Sequence[str]) -> str:
    """The cell as an expression of its input, so that isomorphic cells get the same key.

    NAS-Bench-201's rule: a `none` edge, or any edge out of a node that is exactly zero, adds a
    zero term; `skip_connect` passes its input's expression through; any other op wraps it; a node
    is the sorted sum of its terms (written `(input)@op`, the benchmark's own notation, on which
    the order of the sorted terms depends). The 15,625 cells have 6,466 keys, the count the
    benchmark publishes.
    """
    expr = {0: "0"}
    for node in (1, 2, 3):
        terms = []
        for (target, source), op in zip(EDGES, ops, strict=True):
            if target != node:
                continue
            if op == "none" or expr[source] == "#":
                terms.append("#")
            elif op == "skip_connect":
                terms.append(expr[source])
            else:
                terms.append(f"({expr[source]})@{op}")
        expr[node] = "+".join(sorted(terms))
    return expr[3]


def _paths(node: int) -> list[list[tuple[int, int]]]:
    """Every path of edges (target, source) from node 0 to `node`."""
    if node == 0:
        return [[]]
    return [
        [*path, (node, source)]
        for target, source in EDGES
        if target == node
        for path in _paths(source)
    ]


# BANANAS's path encoding: one feature per sequence of ops along a path from the input to the
# output (none breaks a path, so it is not an op there): 4 + 16 + 64 = 84 features.
_PATH_OPS = OPS[1:]
_OP_SEQUENCES = [seq for n in (1, 2, 3) for seq in itertools.product(_PATH_OPS, repeat=n)]
_SEQUENCE_INDEX = {seq: i for i, seq in enumerate(_OP_SEQUENCES)}


def path_encoding(ops: Sequence[str]) -> list[float]:
    """1 for each op sequence some input-to-output path of the cell carries, else 0."""
    edge_op = dict(zip(EDGES, ops, strict=True))
    out = [0.0] * len(_OP_SEQUENCES)
    for path in _paths(3):
        seq = tuple(edge_op[edge] for edge in path)
        if "none" not in seq:
            out[_SEQUENCE_INDEX[seq]] = 1.0
    return out


class NB201Space(Space):
    """NAS-Bench-201's cell inside its macro skeleton (`channels` C, `cells_per_stage` N)."""

    name = "nb201"
    encodings = ("onehot", "path")

    def features(self, arch: str, encoding: str = "onehot") -> list[float]:
        if encoding == "path":
            return path_encoding(parse_ops(arch))
        return super().features(arch, encoding)

    def iso_key(self, arch: str) -> str:
        return iso_key(parse_ops(arch))

    def __init__(self, channels: int = 16, cells_per_stage: int = 5) -> None:
        self.channels = channels
        self.cells_per_stage = cells_per_stage

    @property
    def cardinalities(self) -> Sequence[int]:
        return (len(OPS),) * len(EDGES)

    def parse(self, text: str) -> tuple[int, ...]:
        return tuple(OPS.index(op) for op in parse_ops(text))

    def format(self, indices: Sequence[int]) -> str:
        return format_ops([OPS[i] for i in indices])

    def decisions(self) -> list[tuple[str, list[str]]]:
        return [(f"edge {src}->{dst}", list(OPS)) for dst, src in EDGES]

    def graphs(self, arch: str) -> list[dict[str, Any]]:
        ops = parse_ops(arch)
        edges = [
            (str(src), str(dst), op)
            for (dst, src), op in zip(EDGES, ops, strict=True)
            if op != "none"
        ]
        kinds = {"0": "input", "3": "output"}
        return [
            {"title": "nb201 cell", "nodes": ["0", "1", "2", "3"], "edges": edges, "kinds": kinds}
        ]

    def supernet(self, input_shape: Sequence[int], num_classes: int, partial: int = 1) -> Any:
        from nascli.spaces.nb201.supernet import NB201Supernet

        return NB201Supernet(
            OPS, EDGES, input_shape, num_classes, self.channels, self.cells_per_stage, partial
        )

    def derive(self, weights: dict[str, list[list[float]]], max_skip: int | None = None) -> str:
        """Argmax per edge (NAS-Bench-201's rule for DARTS-style search); with `max_skip`, the
        weakest skip connections beyond the cap give way to their edge's next-best op."""
        return self.format(cap_skips(weights["cell"], OPS.index("skip_connect"), max_skip))

    def path(self, arch: str) -> dict[str, list[list[int]]]:
        return {"cell": [[i] for i in self.parse(arch)]}

    def normal_ops(self, arch: str) -> list[str]:
        return list(parse_ops(arch))

    def build(self, arch: str, input_shape: Sequence[int], num_classes: int) -> Any:
        from nascli.spaces.nb201.net import NB201Network

        return NB201Network(
            parse_ops(arch), input_shape[0], num_classes, self.channels, self.cells_per_stage
        )
