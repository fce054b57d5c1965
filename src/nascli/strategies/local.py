"""Local search (hill climbing), as White et al. 2020 found strong on NAS benchmarks: try the
current architecture's neighbours in random order, move to the first that is better, and
restart from a random architecture at a local optimum."""

from __future__ import annotations

from typing import Any

from nascli.core.objectives import fitness_of
from nascli.strategies.base import Strategy


class LocalSearch(Strategy):
    """Args:
    objective: the metric to maximise.
    """

    def __init__(self, space, seed: int = 0, objective: str = "val_acc") -> None:
        super().__init__(space, seed)
        self.objective = objective
        self.current: str | None = None
        self.current_fitness = float("-inf")
        self.queue: list[str] = []
        self.seen: set[str] = set()
        self.restarts = 0

    def _fresh(self) -> str:
        arch = self.space.sample(self.rng)
        for _ in range(100):
            if arch not in self.seen:
                break
            arch = self.space.sample(self.rng)
        return arch

    def ask(self) -> str:
        while self.queue:
            arch = self.queue.pop()
            if arch not in self.seen:
                self.seen.add(arch)
                return arch
        if self.current is not None:  # every neighbour tried: a local optimum
            self.restarts += 1
            self.current, self.current_fitness = None, float("-inf")
        arch = self._fresh()
        self.seen.add(arch)
        return arch

    def _move_to(self, arch: str, fitness: float) -> None:
        self.current, self.current_fitness = arch, fitness
        self.queue = self.space.neighbours(arch)
        self.rng.shuffle(self.queue)

    def tell(self, arch: str, metrics: dict[str, Any] | None) -> None:
        self.seen.add(arch)
        if metrics is None:
            return
        fitness = fitness_of(metrics, self.objective)
        if self.current is None or fitness > self.current_fitness:
            self._move_to(arch, fitness)

    def state_dict(self) -> dict[str, Any]:
        return {
            **super().state_dict(),
            "current": self.current,
            "current_fitness": self.current_fitness if self.current is not None else None,
            "queue": self.queue,
            "seen": sorted(self.seen),
            "restarts": self.restarts,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.current = state["current"]
        fitness = state["current_fitness"]
        self.current_fitness = float("-inf") if fitness is None else fitness
        self.queue, self.seen, self.restarts = (
            list(state["queue"]),
            set(state["seen"]),
            state["restarts"],
        )
