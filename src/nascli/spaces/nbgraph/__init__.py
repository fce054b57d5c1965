"""NAS-Bench-Graph's macro space (Qin et al., NeurIPS 2022 Datasets & Benchmarks track).

A GNN of four computing nodes: node k (1..4) applies one op to one earlier node (0 is the
graph's input features), and the nodes that no other node reads are summed into the output.
Text: the four input indices, a colon, the four ops joined by '-':

    0123:fc-gat-fc-gin     (a chain: node 1 reads the input, node k reads node k-1)

Many texts describe the same network: the nodes can be numbered in another order, and a `skip`
node that is only passed through changes nothing. Every text is read into one canonical form,
the benchmark's own: the links relabelled to one of its nine patterns, transparent skips moved
to the front, interchangeable nodes sorted by op. The canonical forms are the 26,206 networks
the benchmark trained (2,021 with the five ops of its proteins tables).
"""

from __future__ import annotations

import functools
import itertools
import random
import re
from collections.abc import Iterator, Sequence
from typing import Any

from nascli.core.errors import NascliError
from nascli.core.space import ArchError, Space

NODES = 4
# The benchmark's op order: it sorts interchangeable nodes and numbers its table rows by it.
OPS = ("gat", "gcn", "gin", "cheb", "sage", "arma", "graph", "fc", "skip")
PROTEINS_OPS = ("gcn", "sage", "arma", "fc", "skip")
# The nine link patterns every network is written in, in the benchmark's row-number order.
PATTERNS = (
    (0, 0, 0, 0),
    (0, 0, 0, 1),
    (0, 0, 1, 1),
    (0, 0, 1, 2),
    (0, 0, 1, 3),
    (0, 1, 1, 1),
    (0, 1, 1, 2),
    (0, 1, 2, 2),
    (0, 1, 2, 3),
)
_TEXT = re.compile(r"^([0-9]{4}):([a-z]+)-([a-z]+)-([a-z]+)-([a-z]+)$")
_ORDERS = tuple(itertools.permutations(range(NODES)))
_RANK = {op: i for i, op in enumerate(OPS)}

Graph = tuple[tuple[int, ...], tuple[str, ...]]  # (links, ops)


def _renumber(links: Sequence[int], order: Sequence[int]) -> tuple[int, ...] | None:
    """The links after placing old node order[p] at position p; None when a node would read
    a node placed after it."""
    new_number = {0: 0, **{old + 1: p + 1 for p, old in enumerate(order)}}
    out = tuple(new_number[links[old]] for old in order)
    return out if all(src <= p for p, src in enumerate(out)) else None


@functools.cache
def _pattern_order(links: tuple[int, ...]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(pattern, order): the first numbering that writes `links` in one of the nine patterns."""
    for order in _ORDERS:
        new = _renumber(links, order)
        if new in PATTERNS:
            return new, order
    raise AssertionError(f"no pattern for links {links}")  # every DAG of 4 nodes has one


@functools.cache
def _twin_orders(links: tuple[int, ...]) -> tuple[tuple[int, ...], ...]:
    """The numberings that keep the pattern `links` as it is (its interchangeable nodes)."""
    return tuple(order for order in _ORDERS if _renumber(links, order) == links)


def _in_a_pattern(links: tuple[int, ...], ops: tuple[str, ...]) -> Graph:
    """The same network written in one of the nine patterns."""
    pattern, order = _pattern_order(links)
    return pattern, tuple(ops[old] for old in order)


def _only_skips_above(k: int, links: Sequence[int], ops: Sequence[str]) -> bool:
    """Whether node k+1 and every node on its path back to the input are skips (its features
    are the input's own)."""
    while k >= 0:
        if ops[k] != "skip":
            return False
        k = links[k] - 1
    return True


def _skip_to_front(k: int, links: list[int], ops: list[str]) -> tuple[list[int], list[str]]:
    """Move skip node k+1 to position 0: it reads the input and stands in for it, and the
    nodes that read it read its own input instead."""
    src = links[k]

    def renumber(f: int) -> int:
        if f == k + 1:
            return src + 1
        return f + 1 if f <= k else f

    rest = [renumber(f) for i, f in enumerate(links) if i != k]
    return [0, *rest], [ops[k], *(op for i, op in enumerate(ops) if i != k)]


def _skips_to_front(links: tuple[int, ...], ops: tuple[str, ...]) -> Graph:
    """The benchmark's rule for skips, node by node from the first: a skip moves to the front
    when another node reads it, when no other node shares its input, or when it only passes the
    input on."""
    lk, op = list(links), list(ops)
    for k in range(NODES):
        if op[k] != "skip":
            continue
        read = any(f == k + 1 for f in lk)
        shared = any(j != k and f == lk[k] for j, f in enumerate(lk) if f != k + 1)
        if read or not shared or _only_skips_above(k, lk, op):
            lk, op = _skip_to_front(k, lk, op)
    return _in_a_pattern(tuple(lk), tuple(op))


def _sorted_twins(links: tuple[int, ...], ops: tuple[str, ...]) -> Graph:
    """Among the numberings that keep the pattern (nodes that are interchangeable), the one whose
    ops come first in the benchmark's op order."""
    candidates = (tuple(ops[old] for old in order) for order in _twin_orders(links))
    return links, min(candidates, key=lambda c: [_RANK[o] for o in c])


def canonical(links: Sequence[int], ops: Sequence[str]) -> Graph:
    """The benchmark's one form of the network (links, ops)."""
    return _canonical(tuple(links), tuple(ops))


@functools.lru_cache(maxsize=1 << 18)  # every (links, ops) there is: 24 x 9**4 = 157,464
def _canonical(links: tuple[int, ...], ops: tuple[str, ...]) -> Graph:
    graph = _in_a_pattern(links, ops)
    graph = _skips_to_front(*graph)
    return _sorted_twins(*graph)


def row_number(links: Sequence[int], ops: Sequence[str]) -> int:
    """The benchmark's table key of a canonical network: its pattern, then its ops, in base 10."""
    key = PATTERNS.index(tuple(links))
    for op in ops:
        key = key * (len(OPS) + 1) + _RANK[op]
    return key


def _text(links: Sequence[int], ops: Sequence[str]) -> str:
    return "".join(map(str, links)) + ":" + "-".join(ops)


class NBGraphSpace(Space):
    """Args: ops (null: the benchmark's nine; a dataset's tables may have fewer, proteins five)."""

    name = "nbgraph"
    builds_networks = False

    def __init__(self, ops: Sequence[str] | None = None) -> None:
        self.ops = tuple(ops) if ops else OPS
        unknown = [o for o in self.ops if o not in OPS]
        if unknown or len(set(self.ops)) != len(self.ops) or "skip" not in self.ops:
            raise NascliError(
                f"space.ops={list(self.ops)}: choose distinct ops from {', '.join(OPS)}, with skip"
            )
        self._unique: list[str] | None = None

    # -- text ---------------------------------------------------------------------------------
    @property
    def cardinalities(self) -> Sequence[int]:
        # decision k < 4: node k+1's input (0..k); then one op per node
        return [k + 1 for k in range(NODES)] + [len(self.ops)] * NODES

    def parse(self, text: str) -> tuple[int, ...]:
        if not isinstance(text, str):
            raise ArchError(f"nbgraph arch must be a string, got {type(text).__name__}")
        m = _TEXT.match(text.strip())
        if not m:
            shown = text if len(text) <= 80 else text[:77] + "..."
            raise ArchError(
                f"nbgraph arch '{shown}': expected four input indices, ':' and four ops joined "
                "by '-', e.g. 0123:fc-gat-fc-gin"
            )
        links = [int(c) for c in m.group(1)]
        for k, src in enumerate(links):
            if src > k:
                raise ArchError(
                    f"nbgraph arch '{text}': node {k + 1} reads node {src}; it can read 0..{k}"
                )
        ops = m.groups()[1:]
        for op in ops:
            if op not in self.ops:
                raise ArchError(
                    f"nbgraph arch '{text}': unknown op '{op}'; ops are {', '.join(self.ops)}"
                )
        # Four skips parse (a strategy composing choices one by one may reach them, and must
        # be told they failed), but name no network: `canonical` refuses them.
        return (*links, *(self.ops.index(op) for op in ops))

    def canonical(self, text: str) -> str:
        indices = self.parse(text)
        if not self._valid(indices):
            raise ArchError(
                f"nbgraph arch '{text}': four skips compute nothing; the benchmark has no such network"
            )
        return self.format(indices)

    def _graph(self, indices: Sequence[int]) -> Graph:
        links = tuple(int(i) for i in indices[:NODES])
        return canonical(links, tuple(self.ops[int(i)] for i in indices[NODES:]))

    def format(self, indices: Sequence[int]) -> str:
        return _text(*self._graph(indices))

    def table_key(self, arch: str) -> int:
        """The row of `arch` in the benchmark's tables."""
        return row_number(*self._graph(self.parse(arch)))

    def build(self, arch: str, input_shape: Sequence[int], num_classes: int) -> Any:
        raise NascliError(
            "space=nbgraph is searched on NAS-Bench-Graph's tables (estimator=nbgraph); "
            "training its GNNs on graph data is not supported yet"
        )

    def graphs(self, arch: str) -> list[dict[str, Any]]:
        """The network as a graph: each node's op labels the edge into it; unread nodes feed
        the output sum."""
        links, ops = self._graph(self.parse(arch))
        name = {0: "in", **{k + 1: str(k + 1) for k in range(NODES)}}
        edges = [(name[src], name[k + 1], ops[k]) for k, src in enumerate(links)]
        edges += [(name[k + 1], "out", "") for k in range(NODES) if k + 1 not in links]
        return [
            {
                "title": f"nbgraph {arch}",
                "nodes": ["in", "1", "2", "3", "4", "out"],
                "edges": edges,
                "kinds": {"in": "input", "out": "output"},
            }
        ]

    # -- the unique networks ------------------------------------------------------------------
    def enumerate(self) -> Iterator[str]:
        """Every unique network, in the benchmark's row order."""
        if self._unique is None:
            seen: dict[int, Graph] = {}
            for links in PATTERNS:
                for ops in itertools.product(self.ops, repeat=NODES):
                    if any(op != "skip" for op in ops):
                        graph = canonical(links, ops)
                        seen.setdefault(row_number(*graph), graph)
            self._unique = [_text(*seen[k]) for k in sorted(seen)]
        yield from self._unique

    def count_unique(self) -> int | None:
        return sum(1 for _ in self.enumerate())

    # -- moves that never leave the benchmark -------------------------------------------------
    def _valid(self, indices: Sequence[int]) -> bool:
        return any(self.ops[i] != "skip" for i in indices[NODES:])

    def sample(self, rng: random.Random) -> str:
        while True:
            indices = [rng.randrange(n) for n in self.cardinalities]
            if self._valid(indices):
                return self.format(indices)

    def mutate(self, arch: str, rng: random.Random) -> str:
        """A different network that one changed link or op reaches."""
        options = self.neighbours(arch)
        return rng.choice(options) if options else arch

    def neighbours(self, arch: str) -> list[str]:
        """The distinct networks one changed link or op away, in a fixed order."""
        base = self.parse(arch)
        own = self.format(base)
        out: dict[str, None] = {}
        for pos, n in enumerate(self.cardinalities):
            for j in range(n):
                if j != base[pos]:
                    idx = list(base)
                    idx[pos] = j
                    if self._valid(idx) and (text := self.format(idx)) != own:
                        out.setdefault(text, None)
        return list(out)

    def crossover(self, a: str, b: str, rng: random.Random) -> str:
        pa, pb = self.parse(a), self.parse(b)
        while True:
            child = [x if rng.random() < 0.5 else y for x, y in zip(pa, pb, strict=True)]
            if self._valid(child):
                return self.format(child)
