"""NSGA-II (Deb et al. 2002) for several objectives, through Optuna's NSGAIISampler and its
ask-and-tell API over the space's categorical encoding. Selection, crossover and mutation are
Optuna's; nothing here is hand-written evolution."""

from __future__ import annotations

import logging
from typing import Any

from nascli.core.errors import NascliError
from nascli.core.pareto import parse_objectives
from nascli.strategies.base import Strategy
from nascli.strategies.bo import categorical_distributions


def _state(values: list[float] | None):
    from optuna.trial import TrialState

    return TrialState.COMPLETE if values is not None else TrialState.FAIL


class NSGA2(Strategy):
    """Each decision of the space is one categorical parameter; every objective of
    `search.objectives` is one of the study's directions.

    As with strategy=bo, the state is the list of told results (with Optuna's per-trial generation
    records): every ask rebuilds the study with a sampler seeded by (seed, number told), so a
    resumed search proposes what an uninterrupted one would.

    Args:
        objectives: metric names, `:max`/`:min` suffixes optional (accuracies are maximised).
        population: the NSGA-II population (children per generation).
        crossover_prob: the probability that a child comes from crossover of two parents.
        retries: children asked for in a row when they repeat evaluated architectures; a
            repeat joins its generation with its known values and costs no trial.
    """

    def __init__(
        self,
        space,
        seed: int = 0,
        objectives: Any = None,
        population: int = 20,
        crossover_prob: float = 0.9,
        retries: int = 20,
    ) -> None:
        super().__init__(space, seed)
        if not objectives or len(objectives) < 2:
            raise NascliError(
                "strategy=nsga2 needs two or more objectives: search.objectives=[val_acc,latency_ms]"
            )
        if population < 2:
            raise NascliError(f"strategy.population={population} must be at least 2")
        if retries < 1:
            raise NascliError(f"strategy.retries={retries} must be at least 1")
        self.objectives = parse_objectives(list(objectives))
        self.population, self.crossover_prob, self.retries = population, crossover_prob, retries
        # (encoding, values or None if failed, Optuna's system attributes of the trial)
        self.told: list[tuple[list[int], list[float] | None, dict[str, Any]]] = []
        self.pending: dict[str, list[dict[str, Any]]] = {}

    def _study(self):
        import optuna
        from optuna.trial import TrialState, create_trial

        optuna.logging.set_verbosity(logging.WARNING)
        sampler = optuna.samplers.NSGAIISampler(
            # Proposals still being evaluated (search.workers > 1) count, so two asks in a row
            # differ; with one worker there are none and a resumed search repeats itself.
            seed=self.seed * 1_000_003 + len(self.told) + sum(map(len, self.pending.values())),
            population_size=self.population,
            crossover_prob=self.crossover_prob,
        )
        study = optuna.create_study(
            directions=["maximize" if d == "max" else "minimize" for _, d in self.objectives],
            sampler=sampler,
        )
        dists = categorical_distributions(self.space)
        for encoding, values, attrs in self.told:
            params = {f"d{i}": v for i, v in enumerate(encoding)}
            state = TrialState.COMPLETE if values is not None else TrialState.FAIL
            study.add_trial(
                create_trial(
                    params=params,
                    distributions=dists,
                    values=values,
                    state=state,
                    system_attrs=attrs,
                )
            )
        return study, dists

    def ask(self) -> str:
        study, dists = self._study()
        known = {self.space.format(enc): values for enc, values, _ in self.told}
        for attempt in range(self.retries):
            trial = study.ask(dists)
            arch = self.space.decode([trial.params[f"d{i}"] for i in range(len(dists))])
            attrs = dict(study.trials[-1].system_attrs)
            last = attempt == self.retries - 1
            if last or (arch not in known and not self.pending.get(arch)):
                # (the last try is proposed even if it repeats one: the sampler keeps to it)
                self.pending.setdefault(arch, []).append(attrs)
                return arch
            if arch in known:
                # A child that was evaluated already joins its generation with the values it has,
                # at no trial's cost (recorded, so that a rebuilt study holds it too).
                self.told.append((self.space.encode(arch), known[arch], attrs))
                study.tell(trial, known[arch], state=_state(known[arch]))
            else:  # being evaluated right now (search.workers > 1): ask again
                study.tell(trial, state=_state(None))
        raise AssertionError("unreachable: the last try returns")

    def tell(self, arch: str, metrics: dict[str, Any] | None) -> None:
        queue = self.pending.get(arch)
        attrs = queue.pop(0) if queue else {}
        values = None
        if metrics is not None:
            missing = [n for n, _ in self.objectives if n not in metrics]
            if missing:
                raise NascliError(
                    f"search.objectives: {missing[0]} is not a metric of this search ({', '.join(metrics)})"
                )
            values = [float(metrics[n]) for n, _ in self.objectives]
        self.told.append((self.space.encode(arch), values, attrs))

    def state_dict(self) -> dict[str, Any]:
        return {
            **super().state_dict(),
            "told": [[enc, values, attrs] for enc, values, attrs in self.told],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.told = [(list(enc), values, dict(attrs)) for enc, values, attrs in state["told"]]
