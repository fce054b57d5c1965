"""Bayesian optimisation over the space's categorical encoding: through Optuna's ask-and-tell API
(TPE by default, its Gaussian process as an option), or with any of nascli's performance
predictors as the surrogate (sampler=predictor: expected improvement over uniform candidates)."""

from __future__ import annotations

import logging
from typing import Any

from nascli.core.errors import NascliError
from nascli.strategies.base import Strategy

SAMPLERS = ("tpe", "gp", "predictor")


def categorical_distributions(space) -> dict[str, Any]:
    """One Optuna categorical parameter `d<i>` per decision of the space."""
    from optuna.distributions import CategoricalDistribution

    return {
        f"d{i}": CategoricalDistribution(list(range(n))) for i, n in enumerate(space.cardinalities)
    }


class BayesianOptimisation(Strategy):
    """Each decision of the space is one categorical parameter.

    The state is the list of told results: every ask rebuilds the study from it with a sampler
    seeded by (seed, number told), so a resumed search proposes exactly what an uninterrupted one
    would. A proposal already evaluated is told its known result and asked again (`retries` times),
    then replaced by a random unseen architecture: no duplicates while the space has unseen ones.

    Args:
        sampler: tpe | gp (Optuna's) | predictor (`predictor`, fitted each ask).
        predictor: the surrogate of sampler=predictor (predictor= chooses it).
        candidates: sampler=predictor: uniform candidates scored per ask.
        startup_trials: random proposals before the surrogate takes over.
        objective: the metric to maximise.
    """

    def __init__(
        self,
        space,
        seed: int = 0,
        sampler: str = "tpe",
        startup_trials: int = 10,
        objective: str = "val_acc",
        retries: int = 10,
        predictor: Any = None,
        candidates: int = 200,
    ) -> None:
        super().__init__(space, seed)
        if sampler not in SAMPLERS:
            raise NascliError(
                f"strategy.sampler={sampler} is not known; choose one of {', '.join(SAMPLERS)}"
            )
        self.sampler_name, self.startup_trials = sampler, startup_trials
        self.objective, self.retries = objective, retries
        self.told: list[tuple[list[int], float | None]] = []  # (encoding, value or None if failed)
        self.seen: set[str] = set()
        self.model = None
        if sampler == "predictor":
            from nascli.strategies.model_based import PredictorSearch

            self.model = PredictorSearch(
                space, seed, predictor, objective, initial=max(2, startup_trials),
                candidates="random", pool=candidates, batch=1, acquisition="ei",
            )  # fmt: skip

    def _distributions(self) -> dict[str, Any]:
        return categorical_distributions(self.space)

    def _study(self):
        import optuna
        from optuna.trial import TrialState, create_trial

        optuna.logging.set_verbosity(logging.WARNING)
        seed = self.seed * 1_000_003 + len(self.told)
        if self.sampler_name == "gp":
            sampler = optuna.samplers.GPSampler(seed=seed, n_startup_trials=self.startup_trials)
        else:
            sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=self.startup_trials)
        study = optuna.create_study(direction="maximize", sampler=sampler)
        dists = self._distributions()
        for encoding, value in self.told:
            params = {f"d{i}": v for i, v in enumerate(encoding)}
            state = TrialState.COMPLETE if value is not None else TrialState.FAIL
            study.add_trial(
                create_trial(params=params, distributions=dists, value=value, state=state)
            )
        return study, dists

    def ask(self) -> str:
        if self.model is not None:
            return self.model.ask()
        from optuna.trial import TrialState

        study, dists = self._study()
        known = {self.space.format(enc): value for enc, value in self.told}
        for _ in range(self.retries):
            trial = study.ask(dists)
            arch = self.space.decode([trial.params[f"d{i}"] for i in range(len(dists))])
            if arch not in self.seen:
                self.seen.add(arch)
                return arch
            # Already proposed: tell the surrogate what it is worth so that it looks elsewhere.
            value = known.get(arch)
            if value is None:
                study.tell(trial, state=TrialState.FAIL)
            else:
                study.tell(trial, value)
        for _ in range(100):
            arch = self.space.sample(self.rng)
            if arch not in self.seen:
                break
        self.seen.add(arch)
        return arch

    def tell(self, arch: str, metrics: dict[str, Any] | None) -> None:
        if self.model is not None:
            self.model.tell(arch, metrics)
            return
        self.seen.add(arch)
        value = None if metrics is None else float(metrics[self.objective])
        self.told.append((self.space.encode(arch), value))

    def state_dict(self) -> dict[str, Any]:
        if self.model is not None:
            return {"model": self.model.state_dict()}
        return {
            **super().state_dict(),
            "told": [[enc, value] for enc, value in self.told],
            "seen": sorted(self.seen),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.model is not None:
            self.model.load_state_dict(state["model"])
            return
        super().load_state_dict(state)
        self.told = [(list(enc), value) for enc, value in state["told"]]
        self.seen = set(state["seen"])
