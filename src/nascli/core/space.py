"""What every search space offers, for spaces whose architectures are fixed-length categorical choices.

An architecture crosses every boundary as its canonical text (`format`/`parse`); inside, it is a
tuple of choice indices, one per decision, and the generic operations below work on that tuple.
"""

from __future__ import annotations

import math
import random
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

from nascli.core.errors import NascliError


class ArchError(NascliError, ValueError):
    """An architecture string that the space cannot read; the message names the bad part."""


class Space(ABC):
    name: str = ""
    #: whether `build` makes a network (a space searched only on a benchmark's tables: False;
    #: then nothing is built, and constraints apply to the metrics the table records).
    builds_networks: bool = True
    #: whether building it runs Python code named by its config (a custom space's builder file):
    #: such a space is rebuilt from a bundle only when the caller says it trusts the author.
    runs_code: bool = False

    # -- what a subclass defines ---------------------------------------------------------------
    @property
    @abstractmethod
    def cardinalities(self) -> Sequence[int]:
        """How many options each decision has."""

    @abstractmethod
    def parse(self, text: str) -> tuple[int, ...]:
        """Canonical text -> choice indices; raises ArchError naming the bad part."""

    @abstractmethod
    def format(self, indices: Sequence[int]) -> str:
        """Choice indices -> canonical text."""

    @abstractmethod
    def build(self, arch: str, input_shape: Sequence[int], num_classes: int) -> Any:
        """The child network (an nn.Module) for `arch` on inputs of `input_shape` (C, H, W)."""

    def graphs(self, arch: str) -> list[dict[str, Any]]:
        """The cell(s) of `arch` as graphs for nascli.ui.draw (empty where a space has no cell picture)."""
        return []

    def decisions(self) -> list[tuple[str, list[str]]]:
        """(name, the option labels) per decision, for reports of what mattered (a space that
        knows its decisions' meaning names them; by default d0, d1, ... with options 0, 1, ...)."""
        return [(f"d{k}", [str(i) for i in range(n)]) for k, n in enumerate(self.cardinalities)]

    def describe(self, arch: str) -> dict[str, Any]:
        """What `nas inspect` adds about `arch` beyond its text (a hierarchical space: the flat
        DAG its motifs expand to)."""
        return {}

    # -- weight sharing (spaces that have a supernet override these) ----------------------------
    #: whether derived cells have skip connections that strategy.max_skip can cap
    caps_skips = True

    def supernet(self, input_shape: Sequence[int], num_classes: int, partial: int = 1) -> Any:
        """The weight-sharing search network (nascli.nn.supernet) over every choice."""
        raise NascliError(
            f"space={self.name} has no weight-sharing supernet; one-shot strategies need "
            "space=darts, nb201, mobilenet, rnn_cell or custom"
        )

    def derive(self, weights: dict[str, list[list[float]]], max_skip: int | None = None) -> str:
        """The discrete architecture that op weights {cell type: [edge][op]} select."""
        raise NascliError(f"space={self.name} cannot derive an architecture from op weights")

    def path(self, arch: str) -> dict[str, list[list[int]]]:
        """The supernet's single path for `arch`: per cell type, per edge, the op indices it runs."""
        raise NascliError(f"space={self.name} has no supernet paths")

    def normal_ops(self, arch: str) -> list[str]:
        """The op names of the normal cell of `arch` (what collapse diagnostics count)."""
        return []

    # -- cells that grow a node at a time (strategy=progressive; spaces that have them override) --
    #: whether `smallest`, `grow` and `cell_size` work
    grows_cells: bool = False
    max_cell_size: int = 0

    def smallest(self, rng: random.Random) -> str:
        """A random architecture whose cells have one node."""
        raise NascliError(f"space={self.name} has no cells that grow")

    def grow(self, arch: str, rng: random.Random) -> str:
        """`arch` with one more node, chosen at random, in its cells."""
        raise NascliError(f"space={self.name} has no cells that grow")

    def cell_size(self, arch: str) -> int:
        """How many nodes the cells of `arch` have."""
        raise NascliError(f"space={self.name} has no cells that grow")

    # -- network morphism (strategy=morphism; spaces that have morphisms override these) -------
    #: whether `morphism_start`, `morph` and `inherit` work
    grows_by_morphism: bool = False

    def morphism_start(self) -> str:
        """The small architecture a morphism search grows from."""
        raise NascliError(f"space={self.name} has no network morphisms")

    def morph(self, arch: str, rng: random.Random) -> str:
        """`arch` after one random function-preserving morphism."""
        raise NascliError(f"space={self.name} has no network morphisms")

    def morphism_features(self, arch: str) -> list[float]:
        """`arch` as numbers whose L1 distance between two architectures counts the morphisms
        that separate them (a guided morphism search's GP kernel reads it)."""
        raise NascliError(f"space={self.name} has no network morphisms")

    def inherit(self, parent: str, parent_net: Any, child: str, rng: random.Random) -> Any:
        """The network of `child` grown from `parent`'s trained network by morphisms (the
        same function as `parent_net`, before training)."""
        raise NascliError(f"space={self.name} has no network morphisms")

    # -- generic operations over the index tuple ----------------------------------------------
    @property
    def size(self) -> int:
        return math.prod(self.cardinalities)

    def canonical(self, text: str) -> str:
        return self.format(self.parse(text))

    def iso_key(self, arch: str) -> str:
        """Equal for architectures that compute the same function (a benchmark trains one of
        them); spaces that know their isomorphisms override it."""
        return self.canonical(arch)

    def count_unique(self) -> int | None:
        """How many architectures compute different functions (None: too many to count)."""
        if self.size > 200_000:
            return None
        return len({self.iso_key(arch) for arch in self.enumerate()})

    def enumerate(self) -> Any:
        """Every architecture, in index order (only sensible for small spaces)."""
        import itertools

        for indices in itertools.product(*(range(n) for n in self.cardinalities)):
            yield self.format(indices)

    def encode(self, arch: str) -> list[int]:
        return list(self.parse(arch))

    def decode(self, indices: Sequence[int]) -> str:
        if len(indices) != len(self.cardinalities):
            raise ArchError(
                f"{self.name}: expected {len(self.cardinalities)} choices, got {len(indices)}"
            )
        for pos, (i, n) in enumerate(zip(indices, self.cardinalities, strict=True)):
            if not 0 <= int(i) < n:
                raise ArchError(f"{self.name}: choice {pos} is {i}, outside 0..{n - 1}")
        return self.format([int(i) for i in indices])

    def vector(self, arch: str) -> list[float]:
        """One-hot encoding, concatenated over decisions (fixed length for model-based strategies)."""
        out: list[float] = []
        for i, n in zip(self.parse(arch), self.cardinalities, strict=True):
            out.extend(1.0 if j == i else 0.0 for j in range(n))
        return out

    #: the encodings `features` provides; a cell space adds "path" (BANANAS's path encoding)
    encodings: tuple[str, ...] = ("onehot",)

    def features(self, arch: str, encoding: str = "onehot") -> list[float]:
        """`arch` as a fixed-length vector for a predictor: `onehot` (each decision's choice),
        or another of `encodings`."""
        if encoding == "onehot":
            return self.vector(arch)
        raise NascliError(
            f"space={self.name} has no {encoding} encoding; choose from {', '.join(self.encodings)}"
        )

    def sample(self, rng: random.Random) -> str:
        return self.format([rng.randrange(n) for n in self.cardinalities])

    def mutate(self, arch: str, rng: random.Random) -> str:
        """Change one decision to a different option (decisions with one option are never picked)."""
        idx = list(self.parse(arch))
        mutable = [p for p, n in enumerate(self.cardinalities) if n > 1]
        pos = rng.choice(mutable)
        idx[pos] = rng.choice([j for j in range(self.cardinalities[pos]) if j != idx[pos]])
        return self.format(idx)

    def neighbours(self, arch: str) -> list[str]:
        """Every architecture one decision away, in a fixed order."""
        base = self.parse(arch)
        out = []
        for pos, n in enumerate(self.cardinalities):
            for j in range(n):
                if j != base[pos]:
                    idx = list(base)
                    idx[pos] = j
                    out.append(self.format(idx))
        return out

    def crossover(self, a: str, b: str, rng: random.Random) -> str:
        """Uniform crossover: each decision from either parent."""
        return self.format(
            [
                x if rng.random() < 0.5 else y
                for x, y in zip(self.parse(a), self.parse(b), strict=True)
            ]
        )
