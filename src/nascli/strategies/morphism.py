"""Network morphism hill climbing (NASH: Elsken et al. 2017): from the current best network,
make `children` children, each by a random sequence of 1 to `steps` function-preserving
morphisms; train each briefly from the weights it inherits (the estimator's epochs and
schedule; SGDR's cosine in NASH); the best of the parent and its children is the next parent.

The first trial trains the start network (`start`, or the space's own small one) from scratch;
every later trial starts from its parent's trained weights, which the search keeps in the run
directory. With several workers, a generation's children run side by side; the next generation
waits for the last of them.

Works on spaces that grow by morphism: space=chain.
"""

from __future__ import annotations

from typing import Any

from nascli.core.errors import NascliError
from nascli.core.objectives import fitness_of
from nascli.strategies.base import NothingToAsk, Strategy


class MorphismSearch(Strategy):
    """Args: objective, children (per generation), steps (most morphisms per child), start (the
    first network; null: the space's smallest)."""

    inherits_weights = True

    def __init__(
        self,
        space,
        seed: int = 0,
        objective: str = "val_acc",
        children: int = 8,
        steps: int = 3,
        start: str | None = None,
    ) -> None:
        super().__init__(space, seed)
        if not space.grows_by_morphism:
            raise NascliError(
                f"strategy=morphism grows networks by function-preserving morphisms; "
                f"space={space.name} has none: use space=chain"
            )
        if int(children) < 1 or int(steps) < 1:
            raise NascliError(
                f"strategy.children={children} and strategy.steps={steps} must be 1 or more"
            )
        self.objective, self.children, self.steps = objective, int(children), int(steps)
        self.start = space.canonical(start) if start else space.morphism_start()
        self.parent: str | None = None  # None until the start network has been told
        self.parent_fitness: float | None = (
            None  # None: the parent failed (its children train from scratch)
        )
        self.family: list[str] = []  # this generation's children
        self.queue: list[str] = []  # of them, not yet asked
        self.pending: set[str] = set()  # asked, not yet told
        self.scores: dict[str, float | None] = {}  # told children of this generation
        self.generations = 0

    def _next_generation(self) -> None:
        """The best of the parent and the children told becomes the parent; then new children."""
        told = {a: f for a, f in self.scores.items() if f is not None}
        if told:
            best = max(told, key=told.get)
            if self.parent_fitness is None or told[best] > self.parent_fitness:
                self.parent, self.parent_fitness = best, told[best]
        assert self.parent is not None
        family: list[str] = []
        for _ in range(10 * self.children):
            if len(family) == self.children:
                break
            child = self.parent
            for _ in range(self.rng.randint(1, self.steps)):
                child = self.space.morph(child, self.rng)
            if child != self.parent and child not in family:
                family.append(child)
        if not family:  # nothing grows any more: the proposer stops a search of repeats
            family = [self.parent]
        self.family, self.queue, self.scores = family, list(reversed(family)), {}
        self.generations += 1

    def ask(self) -> str:
        if self.parent is None:
            if self.pending:
                raise NothingToAsk()
            self.pending.add(self.start)
            return self.start
        if not self.queue:
            if self.pending:
                raise NothingToAsk()
            self._next_generation()
        arch = self.queue.pop()
        self.pending.add(arch)
        return arch

    def tell(self, arch: str, metrics: dict[str, Any] | None) -> None:
        """Results of architectures it did not propose (a warm start's) change nothing: a
        morphism search grows only what it trained."""
        self.pending.discard(arch)
        fitness = None if metrics is None else fitness_of(metrics, self.objective)
        if self.parent is None and arch == self.start:
            self.parent, self.parent_fitness = self.start, fitness
        elif self.parent is not None and arch in self.family:
            self.scores[arch] = fitness

    def start_of(self, arch: str) -> str | None:
        if self.parent is not None and self.parent_fitness is not None and arch in self.family:
            return self.parent
        return None

    def state_dict(self) -> dict[str, Any]:
        return {
            **super().state_dict(),
            "parent": self.parent,
            "parent_fitness": self.parent_fitness,
            "family": self.family,
            "queue": self.queue,
            "pending": sorted(self.pending),
            "scores": self.scores,
            "generations": self.generations,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.parent, self.parent_fitness = state["parent"], state["parent_fitness"]
        self.family, self.queue = list(state["family"]), list(state["queue"])
        self.pending, self.scores = set(state["pending"]), dict(state["scores"])
        self.generations = int(state["generations"])
