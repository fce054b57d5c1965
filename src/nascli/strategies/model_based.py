"""Search guided by a learned performance predictor (sequential model-based optimisation).

Each round fits the predictor on every architecture told so far, makes candidates, scores them
with an acquisition function on the predicted mean and spread, and proposes the best `batch`
of them one by one before fitting again (BANANAS: White et al., AAAI 2021). Candidates are
mutations of the best architectures so far (what makes BANANAS work, by the analysis of
"Mutation is all you need", 2021) or uniform samples (plain Bayesian optimisation).

The state is what was told, the round's queue and the random generator: a resumed search refits
the same predictor on the same results and proposes what an uninterrupted one would.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from nascli.core.errors import NascliError
from nascli.core.objectives import fitness_of
from nascli.strategies.base import Strategy, history_window

ACQUISITIONS = ("its", "ucb", "ei", "mean")
CANDIDATES = ("mutation", "random")


def acquire(
    kind: str, mean: np.ndarray, std: np.ndarray, best: float, rng: np.random.Generator, beta: float
) -> np.ndarray:
    """The acquisition value of each candidate (higher: propose it first).

    its: independent Thompson sampling, one draw from each candidate's predicted normal;
    ucb: mean + beta * std; ei: expected improvement over the best score told; mean: greedy."""
    if kind == "its":
        return mean + std * rng.standard_normal(len(mean))
    if kind == "ucb":
        return mean + beta * std
    if kind == "ei":
        from scipy.stats import norm

        s = np.maximum(std, 1e-12)
        z = (mean - best) / s
        return (mean - best) * norm.cdf(z) + s * norm.pdf(z)
    return mean


class PredictorGuided(Strategy):
    """What every predictor-guided strategy keeps: the predictor, the objective, every result
    told (None: failed), the proposals still running, and each architecture's features."""

    def __init__(self, space, seed: int, predictor: Any, objective: str) -> None:
        super().__init__(space, seed)
        if predictor is None or not hasattr(predictor, "fit"):
            raise NascliError(
                "strategy.predictor must be a predictor; choose one with predictor=mlp"
            )
        self.predictor, self.objective = predictor, objective
        self.told: dict[str, float | None] = {}
        self.pending: list[str] = []  # asked, not yet told
        self._features: dict[str, list[float]] = {}

    def tell(self, arch: str, metrics: dict[str, Any] | None) -> None:
        if arch in self.pending:
            self.pending.remove(arch)
        value = None if metrics is None else fitness_of(metrics, self.objective)
        self.told[arch] = value if value is not None and math.isfinite(value) else None

    def _x(self, archs: list[str]) -> np.ndarray:
        """The predictor's encodings of `archs` (each computed once)."""
        for arch in archs:
            if arch not in self._features:
                self._features[arch] = self.space.features(arch, self.predictor.encoding)
        return np.array([self._features[a] for a in archs])

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "told": [[a, v] for a, v in self.told.items()]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.told = {a: v for a, v in state["told"]}
        self.pending = []  # asked and never told: trials the interruption ended


class PredictorSearch(PredictorGuided):
    """Args:
    predictor: a nascli.predictors Predictor (predictor= chooses it).
    objective: the metric to maximise.
    initial: uniform samples before the first fit.
    candidates: mutation (of the `parents` best so far) | random.
    pool: candidates made per round.
    batch: proposals per round (one fit each `batch` proposals).
    parents: how many of the best architectures mutations start from.
    acquisition: its | ucb | ei | mean.
    beta: ucb's weight on the spread.
    history: the most told results a round fits on (strategies.base.history_window).
    """

    def __init__(
        self,
        space,
        seed: int = 0,
        predictor: Any = None,
        objective: str = "val_acc",
        initial: int = 10,
        candidates: str = "mutation",
        pool: int = 100,
        batch: int = 10,
        parents: int = 10,
        acquisition: str = "its",
        beta: float = 1.0,
        history: int = 400,
    ) -> None:
        super().__init__(space, seed, predictor, objective)
        if acquisition not in ACQUISITIONS:
            raise NascliError(
                f"strategy.acquisition={acquisition} is not known; choose from {', '.join(ACQUISITIONS)}"
            )
        if candidates not in CANDIDATES:
            raise NascliError(
                f"strategy.candidates={candidates} is not known; choose from {', '.join(CANDIDATES)}"
            )
        for key, value in (
            ("initial", initial),
            ("pool", pool),
            ("batch", batch),
            ("parents", parents),
            ("history", history),
        ):
            least = {"initial": 2, "history": 4}.get(key, 1)
            if int(value) < least:
                raise NascliError(
                    f"strategy.{key}={value} is too small (initial >= 2, history >= 4, others >= 1)"
                )
        self.initial, self.candidates, self.pool = int(initial), candidates, int(pool)
        self.batch, self.parents, self.history = int(batch), int(parents), int(history)
        self.acquisition, self.beta = acquisition, float(beta)
        self.queue: list[str] = []  # this round's proposals still to make

    # -- ask/tell -----------------------------------------------------------------------------
    def ask(self) -> str:
        scored = [a for a, v in self.told.items() if v is not None]
        if len(scored) < self.initial:
            arch = self._unseen(lambda: self.space.sample(self.rng))
        else:
            self.queue = [a for a in self.queue if self._is_new(a)]
            if not self.queue:
                self.queue = self._round(scored)
            arch = (
                self.queue.pop(0)
                if self.queue
                else self._unseen(lambda: self.space.sample(self.rng))
            )
        self.pending.append(arch)
        return arch

    # -- one round ------------------------------------------------------------------------------
    def _round(self, scored: list[str]) -> list[str]:
        """Fit on what was told (at most `history` results), and rank fresh candidates by the
        acquisition."""
        told = list(self.told.items())
        _, kept = history_window([v for _, v in told], self.history)
        fit_on = [told[i][0] for i in kept if told[i][1] is not None]
        self.predictor.fit(self._x(fit_on), np.array([self.told[a] for a in fit_on]))
        y = np.array([self.told[a] for a in scored])
        pool = self._make_candidates(scored, y)
        if not pool:
            return []
        mean, std = self.predictor.predict(self._x(pool))
        gen = np.random.default_rng(self.rng.getrandbits(64))
        value = acquire(self.acquisition, mean, std, float(y.max()), gen, self.beta)
        order = sorted(range(len(pool)), key=lambda i: -value[i])
        return [pool[i] for i in order[: self.batch]]

    def _make_candidates(self, scored: list[str], y: np.ndarray) -> list[str]:
        out: dict[str, None] = {}
        if self.candidates == "mutation":
            best = [scored[i] for i in np.argsort(-y, kind="stable")[: self.parents]]
            make = lambda k: self._mutant(best[k % len(best)])  # noqa: E731
        else:
            make = lambda k: self.space.sample(self.rng)  # noqa: E731
        for k in range(self.pool * 10):  # tries; a small space may run out of new ones
            arch = make(k)
            if self._is_new(arch):
                out.setdefault(arch, None)
            if len(out) >= self.pool:
                break
        return list(out)

    def _mutant(self, parent: str) -> str:
        """One mutation, and with probability 1/2 each a further one."""
        arch = self.space.mutate(parent, self.rng)
        while self.rng.random() < 0.5:
            arch = self.space.mutate(arch, self.rng)
        return arch

    # -- helpers --------------------------------------------------------------------------------
    def _is_new(self, arch: str) -> bool:
        return arch not in self.told and arch not in self.pending

    def _unseen(self, draw) -> str:
        arch = draw()
        for _ in range(100):
            if self._is_new(arch):
                break
            arch = draw()
        return arch

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "pending": list(self.pending), "queue": list(self.queue)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.queue = list(state["queue"])


class Bananas(PredictorSearch):
    """BANANAS (White, Neiswanger & Savani, AAAI 2021): an ensemble of MLPs, independent
    Thompson sampling, candidates by mutating the best architectures so far."""
