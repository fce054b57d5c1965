"""Bayesian optimisation over the space's categorical encoding: through Optuna's ask-and-tell API
(TPE by default, its Gaussian process as an option), or with any of nascli's performance
predictors as the surrogate (sampler=predictor: expected improvement over uniform candidates)."""

from __future__ import annotations

import functools
import logging
from typing import Any

from nascli.core.errors import NascliError
from nascli.core.objectives import fitness_of
from nascli.strategies.base import Strategy, history_window

SAMPLERS = ("tpe", "gp", "predictor")


def categorical_distributions(space) -> dict[str, Any]:
    """One Optuna categorical parameter `d<i>` per decision of the space."""
    from optuna.distributions import CategoricalDistribution

    return {
        f"d{i}": CategoricalDistribution(list(range(n))) for i, n in enumerate(space.cardinalities)
    }


def known_space_tpe(distributions: dict[str, Any], **kwargs: Any):
    """Optuna's multivariate TPE sampler (`kwargs` its arguments), told its search space.

    Optuna's sampler infers the space at each ask as the intersection of every completed
    trial's distributions, cached per sampler instance; a sampler made afresh per ask (for
    seeded, resumable proposals) recomputes it over the whole history: 40 % of a 600-query
    search. Every told trial has every decision, so the intersection is the space itself: pass
    {} while no trial has completed, as the intersection would be. Single-valued decisions
    are left out and the order is by name, as Optuna's own.
    """
    import optuna

    known = {k: d for k, d in sorted(distributions.items()) if not d.single()}

    class KnownSpaceTPE(optuna.samplers.TPESampler):
        def infer_relative_search_space(self, study, trial):
            return dict(known)

    return KnownSpaceTPE(multivariate=True, **kwargs)


class BayesianOptimisation(Strategy):
    """Each decision of the space is one categorical parameter.

    The state is the list of told results: the study holds those (built once, added to
    as results arrive), and each ask gets a sampler seeded by (seed, number told), so a resumed
    search proposes exactly what an uninterrupted one would. A proposal already evaluated is
    asked again (`retries` times), then replaced by a random unseen architecture: no duplicates
    while the space has unseen ones.

    Args:
        sampler: tpe | gp (Optuna's) | predictor (`predictor`, fitted each ask).
        predictor: the surrogate of sampler=predictor (predictor= chooses it).
        candidates: sampler=predictor: uniform candidates scored per ask.
        history: the most told results the sampler or predictor sees (see `window`).
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
        history: int = 400,
    ) -> None:
        super().__init__(space, seed)
        if sampler not in SAMPLERS:
            raise NascliError(
                f"strategy.sampler={sampler} is not known; choose one of {', '.join(SAMPLERS)}"
            )
        if int(history) < 4:
            raise NascliError(f"strategy.history={history} is too small; use at least 4")
        self.sampler_name, self.startup_trials = sampler, startup_trials
        self.history = int(history)
        self.objective, self.retries = objective, retries
        self.told: list[tuple[list[int], float | None]] = []  # (encoding, value or None if failed)
        self.seen: set[str] = set()
        self._built = None  # the Optuna study of `window()`, made at the first ask
        self._built_from = 0  # the number of results the built study's window was cut at
        self.model = None
        if sampler == "predictor":
            from nascli.strategies.model_based import PredictorSearch

            self.model = PredictorSearch(
                space, seed, predictor, objective, initial=max(2, startup_trials),
                candidates="random", pool=candidates, batch=1, acquisition="ei",
                history=history,
            )  # fmt: skip

    @functools.cached_property
    def _distributions(self) -> dict[str, Any]:
        return categorical_distributions(self.space)

    def _study(self):
        """The study of everything told (built once, then added to by `tell`), with a fresh
        sampler seeded by (seed, number told): what it proposes depends on nothing else, so a
        study rebuilt on resume proposes what the uninterrupted one would."""
        import optuna

        optuna.logging.set_verbosity(logging.WARNING)
        cut, window = self.window()
        if self._built is None or self._built_from != cut:
            self._built, self._built_from = optuna.create_study(direction="maximize"), cut
            for encoding, value in window:
                self._add(encoding, value)
        seed = self.seed * 1_000_003 + len(self.told)
        if self.sampler_name == "gp":
            sampler = optuna.samplers.GPSampler(seed=seed, n_startup_trials=self.startup_trials)
        else:
            scored = any(value is not None for _, value in self.told)
            sampler = known_space_tpe(
                self._distributions if scored else {},
                seed=seed,
                n_startup_trials=self.startup_trials,
            )
        self._built.sampler = sampler
        return self._built, self._distributions

    def window(self) -> tuple[int, list[tuple[list[int], float | None]]]:
        """The cut and the told results the sampler sees (strategies.base.history_window): TPE's
        good group (at most the best 25) is then the best of all results, and only its density
        of the rest is estimated from a sample of them."""
        cut, kept = history_window([value for _, value in self.told], self.history)
        return cut, [self.told[i] for i in kept]

    def _add(self, encoding: list[int], value: float | None) -> None:
        from optuna.trial import TrialState, create_trial

        params = {f"d{i}": v for i, v in enumerate(encoding)}
        state = TrialState.COMPLETE if value is not None else TrialState.FAIL
        self._built.add_trial(
            create_trial(params=params, distributions=self._distributions, value=value, state=state)
        )

    def ask(self) -> str:
        if self.model is not None:
            return self.model.ask()
        from optuna.trial import TrialState

        study, dists = self._study()
        for _ in range(self.retries):
            trial = study.ask(dists)
            arch = self.space.decode([trial.params[f"d{i}"] for i in range(len(dists))])
            # Closed as failed, which the samplers ignore: the study holds only what was told.
            study.tell(trial, state=TrialState.FAIL)
            if arch not in self.seen:
                self.seen.add(arch)
                return arch
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
        value = None if metrics is None else fitness_of(metrics, self.objective)
        self.told.append((self.space.encode(arch), value))
        if self._built is not None:
            self._add(*self.told[-1])

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
        self._built = None
        self._built_from = 0
