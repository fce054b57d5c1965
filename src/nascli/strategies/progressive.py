"""Progressive neural architecture search (PNAS: Liu et al., ECCV 2018), sequential model-based
search over cells that grow one node at a time.

Stage 1 evaluates `beam` random cells of one node. Each later stage fits the predictor on every
cell evaluated so far (of every size), grows each of the `beam` best cells of the last stage by
one node in `expansions` random ways, ranks all the children by the predictor's mean, and
evaluates the best `beam`. From full size on, the best full cells are grown no further but
mutated, ranked the same way. PNAS enumerates every expansion of a cell; here a random
`expansions` of them are ranked (the darts space has tens of thousands per cell).

With several workers, a proposal asked while a stage's results are still running is the next
child of the same ranking (the stage evaluates more than `beam`), so no worker waits.

Works on spaces whose cells grow: space=darts (cells of 1 to 4 nodes).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nascli.core.errors import NascliError
from nascli.strategies.model_based import PredictorGuided


class ProgressiveSearch(PredictorGuided):
    """Args: predictor (predictor= chooses it), objective, beam (K: cells kept per stage),
    expansions (children ranked per kept cell)."""

    def __init__(
        self,
        space,
        seed: int = 0,
        predictor: Any = None,
        objective: str = "val_acc",
        beam: int = 8,
        expansions: int = 100,
    ) -> None:
        super().__init__(space, seed, predictor, objective)
        if not space.grows_cells:
            raise NascliError(
                f"strategy=progressive grows cells one node at a time; space={space.name} has "
                "no such cells: use space=darts"
            )
        if int(beam) < 2 or int(expansions) < 1:
            raise NascliError(
                f"strategy.beam={beam} must be 2 or more, strategy.expansions={expansions} 1 or more"
            )
        self.beam, self.expansions = int(beam), int(expansions)
        self.size = 1  # the cell size of the current stage
        self.parent_size = 0  # the size of the cells it grows (or, at full size, mutates)
        self.queue: list[str] = []  # the stage's ranked children still to propose
        self.stage: list[str] = []  # proposed in this stage

    def ask(self) -> str:
        if not self.queue and not self.pending and self._stage_done():
            self._next_stage()
        if not self.queue:  # results still running: widen the stage
            self.queue = self._ranked(self.beam)
        arch = self.queue.pop(0)
        self.stage.append(arch)
        self.pending.append(arch)
        return arch

    # -- stages -----------------------------------------------------------------------------------
    def _stage_done(self) -> bool:
        return len(self.stage) >= self.beam or not self.stage

    def _next_stage(self) -> None:
        if self.stage:  # a finished stage: the next grows its best cells
            self.parent_size = self.size
            self.size = min(self.size + 1, self.space.max_cell_size)
        self.stage = []
        self.queue = self._ranked(self.beam)

    def _fresh(self, n: int) -> list[str]:
        """`n` new cells of one node."""
        out: dict[str, None] = {}
        for _ in range(n * 50):
            arch = self.space.smallest(self.rng)
            if self._is_new(arch):
                out.setdefault(arch, None)
            if len(out) >= n:
                break
        return list(out)

    def _ranked(self, n: int) -> list[str]:
        """The `n` children of the best cells of the last stage, best predicted first (the
        first stage: `n` random one-node cells)."""
        parents = self._best(self.parent_size) if self.parent_size else []
        if not parents:
            return self._fresh(n)
        children: dict[str, None] = {}
        for parent in parents:
            for _ in range(self.expansions):
                if self.space.cell_size(parent) < self.size:
                    child = self.space.grow(parent, self.rng)
                else:  # full size: mutate instead of growing
                    child = self.space.mutate(self.space.canonical(parent), self.rng)
                if self._is_new(child):
                    children.setdefault(child, None)
        pool = list(children)
        if not pool:
            return self._fresh(n)
        scored = [a for a, v in self.told.items() if v is not None]
        if len(scored) >= 2:
            self.predictor.fit(self._x(scored), np.array([self.told[a] for a in scored]))
            mean, _ = self.predictor.predict(self._x(pool))
            order = sorted(range(len(pool)), key=lambda i: -mean[i])
            pool = [pool[i] for i in order]
        return pool[:n]

    def _best(self, size: int) -> list[str]:
        """The `beam` best cells of `size` nodes evaluated so far."""
        cells = [
            a for a, v in self.told.items() if v is not None and self.space.cell_size(a) == size
        ]
        return sorted(cells, key=lambda a: -self.told[a])[: self.beam]

    def _is_new(self, arch: str) -> bool:
        return arch not in self.told and arch not in self.pending and arch not in self.queue

    # -- state ------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            **super().state_dict(),
            "size": self.size,
            "parent_size": self.parent_size,
            "queue": list(self.queue),
            "stage": list(self.stage),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.size, self.parent_size = int(state["size"]), int(state["parent_size"])
        self.queue, self.stage = list(state["queue"]), list(state["stage"])
