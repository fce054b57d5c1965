"""Regularized (aging) evolution, Real et al. 2019: tournament selection, mutation, and the oldest
member leaves the population each time a child joins. With `pareto`, the tournament compares
members by how many of the population dominate them over several objectives, so the population
spreads along the Pareto front instead of climbing one metric."""

from __future__ import annotations

from collections import deque
from typing import Any

from nascli.core.errors import NascliError
from nascli.core.objectives import fitness_of
from nascli.core.pareto import as_costs, dominates, parse_objectives
from nascli.strategies.base import Strategy


class RegularizedEvolution(Strategy):
    """Proposals are random until `population` of them have finished (a failed or rejected one
    does not count); after that each proposal mutates the fittest of `sample_size` members drawn at
    random. With probability `crossover`, the child first takes each
    decision from one of two tournament winners.

    Args:
        objective: the metric to maximise.
        pareto: compare members over `objectives` (two or more) instead: a tournament is won by
            the contender dominated by the fewest population members, ties drawn at random.
        objectives: the metrics of a Pareto tournament, as search.objectives.
    """

    def __init__(
        self,
        space,
        seed: int = 0,
        population: int = 10,
        sample_size: int = 3,
        crossover: float = 0.0,
        objective: str = "val_acc",
        pareto: bool = False,
        objectives: Any = None,
    ) -> None:
        super().__init__(space, seed)
        if population < 1 or not 1 <= sample_size <= population:
            raise NascliError(
                f"strategy.sample_size={sample_size} must be between 1 and strategy.population={population}"
            )
        self.population_size, self.sample_size = population, sample_size
        self.crossover, self.objective = crossover, objective
        self.objectives: list[tuple[str, str]] | None = None
        if pareto:
            if not objectives or len(objectives) < 2:
                raise NascliError(
                    "strategy.pareto=true needs two or more search.objectives, "
                    "e.g. search.objectives=[val_acc,latency_ms]"
                )
            self.objectives = parse_objectives(list(objectives))
        # (arch, fitness): the objective's value, or the objectives as costs to minimise.
        self.population: deque[tuple[str, Any]] = deque()
        self.asked = 0

    def _tournament(self) -> str:
        contenders = self.rng.sample(list(self.population), self.sample_size)
        if self.objectives is None:
            return max(contenders, key=lambda member: member[1])[0]
        members = [m[1] for m in self.population]
        dominated_by = [sum(dominates(o, c[1]) for o in members) for c in contenders]
        fewest = min(dominated_by)
        return self.rng.choice(
            [c for c, n in zip(contenders, dominated_by, strict=True) if n == fewest]
        )[0]

    def ask(self) -> str:
        self.asked += 1
        if len(self.population) < self.population_size:
            return self.space.sample(self.rng)
        parent = self._tournament()
        if self.crossover > 0 and self.rng.random() < self.crossover:
            parent = self.space.crossover(parent, self._tournament(), self.rng)
        return self.space.mutate(parent, self.rng)

    def tell(self, arch: str, metrics: dict[str, Any] | None) -> None:
        if metrics is None:  # a failed child never joins
            return
        if self.objectives is None:
            fitness: Any = fitness_of(metrics, self.objective)
        else:
            fitness = as_costs(metrics, self.objectives)
        self.population.append((arch, fitness))
        if len(self.population) > self.population_size:
            self.population.popleft()  # the oldest dies, however fit

    def state_dict(self) -> dict[str, Any]:
        return {
            **super().state_dict(),
            "population": [list(m) for m in self.population],
            "asked": self.asked,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.population = deque(
            (arch, tuple(fitness) if isinstance(fitness, list) else fitness)
            for arch, fitness in state["population"]
        )
        self.asked = state["asked"]
