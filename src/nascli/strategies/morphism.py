"""Network morphism hill climbing (NASH: Elsken et al. 2017): from the current best network,
make `children` children, each by a random sequence of 1 to `steps` function-preserving
morphisms; train each briefly from the weights it inherits (the estimator's epochs and
schedule; SGDR's cosine in NASH); the best of the parent and its children is the next parent.

The first trial trains the start network (`start`, or the space's own small one) from scratch;
every later trial starts from its parent's trained weights, which the search keeps in the run
directory. With several workers, a generation's children run side by side; the next generation
waits for the last of them.

With `guide=gp` (after Auto-Keras: Jin et al. 2019), a generation is chosen instead of drawn:
`candidates` random morphism sequences from the `parents` best networks so far are ranked by
a Gaussian process fitted to every result, with the kernel exp(-gamma x d), d the number of
morphisms between two networks (the L1 distance of the space's `morphism_features`; a Laplacian
kernel, positive definite, its gamma fitted with the GP), and the `children` with the best upper
confidence bound (mean + beta x std) are trained, each from its own parent's weights.

Works on spaces that grow by morphism: space=chain.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from nascli.core.errors import NascliError
from nascli.core.objectives import fitness_of
from nascli.strategies.base import NothingToAsk, Strategy


class MorphismSearch(Strategy):
    """Args: objective, children (per generation), steps (most morphisms per child), start (the
    first network; null: the space's smallest), guide (random: NASH's children of the best;
    gp: Auto-Keras-style, ranked by a GP over morphism distance), candidates, parents and beta
    (guide=gp: how many sequences are ranked, from how many of the best, and the weight of the
    GP's uncertainty)."""

    inherits_weights = True

    def __init__(
        self,
        space,
        seed: int = 0,
        objective: str = "val_acc",
        children: int = 8,
        steps: int = 3,
        start: str | None = None,
        guide: str = "random",
        candidates: int = 64,
        parents: int = 3,
        beta: float = 1.0,
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
        if guide not in ("random", "gp"):
            raise NascliError(f"strategy.guide={guide} is not random or gp")
        self.objective, self.children, self.steps = objective, int(children), int(steps)
        self.guide, self.candidates, self.parents = guide, int(candidates), int(parents)
        self.beta = float(beta)
        self.start = space.canonical(start) if start else space.morphism_start()
        self.trained: dict[str, float | None] = {}  # every network it trained: its fitness
        self.parent: str | None = None  # the best so far (None until the start is told)
        self.family: dict[str, str] = {}  # this generation: child -> the parent it grows from
        self.queue: list[str] = []  # of them, not yet asked
        self.pending: set[str] = set()  # asked, not yet told
        self.generations = 0

    def _best(self, k: int) -> list[str]:
        scored = [a for a, f in self.trained.items() if f is not None]
        return sorted(scored, key=lambda a: -self.trained[a])[:k]  # type: ignore[operator]

    def _grow(self, parent: str) -> str:
        child = parent
        for _ in range(self.rng.randint(1, self.steps)):
            child = self.space.morph(child, self.rng)
        return child

    def _next_generation(self) -> None:
        best = self._best(max(1, self.parents))
        self.parent = best[0] if best else self.start
        want = self.candidates if self.guide == "gp" and len(best) >= 1 else self.children
        sources = best if self.guide == "gp" and best else [self.parent]
        drawn: dict[str, str] = {}
        for _ in range(10 * want):
            if len(drawn) == want:
                break
            parent = self.rng.choice(sources)
            child = self._grow(parent)
            if child not in self.trained and child not in drawn:
                drawn[child] = parent
        if self.guide == "gp" and len(drawn) > self.children:
            ranked = self._ranked(list(drawn))
            drawn = {a: drawn[a] for a in ranked[: self.children]}
        if not drawn:  # nothing grows any more: the proposer stops a search of repeats
            drawn = {self.parent: self.parent}
        self.family, self.queue = drawn, list(reversed(drawn))
        self.generations += 1

    def _ranked(self, candidates: list[str]) -> list[str]:
        """`candidates` by the GP's upper confidence bound, best first (ties: drawn order)."""
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.gaussian_process import GaussianProcessRegressor
        from sklearn.gaussian_process.kernels import ConstantKernel, PairwiseKernel, WhiteKernel

        told = [(a, f) for a, f in self.trained.items() if f is not None]
        if len(told) < 2:
            return candidates
        x = np.array([self.space.morphism_features(a) for a, _ in told])
        y = np.array([f for _, f in told])
        kernel = ConstantKernel(1.0) * PairwiseKernel(
            gamma=0.5, gamma_bounds=(1e-3, 10.0), metric="laplacian"
        ) + WhiteKernel(0.1, noise_level_bounds=(1e-5, 1.0))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            gp = GaussianProcessRegressor(
                kernel, normalize_y=True, random_state=self.rng.randrange(2**31)
            ).fit(x, y)
        mean, std = gp.predict(
            np.array([self.space.morphism_features(a) for a in candidates]), return_std=True
        )
        score = mean + self.beta * std
        order = sorted(range(len(candidates)), key=lambda i: (-score[i], i))
        return [candidates[i] for i in order]

    def ask(self) -> str:
        if self.start not in self.trained:
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
        if arch not in self.pending:
            return
        self.pending.discard(arch)
        self.trained[arch] = None if metrics is None else fitness_of(metrics, self.objective)
        if arch == self.start and self.parent is None:
            self.parent = self.start

    def start_of(self, arch: str) -> str | None:
        """The parent `arch` grows from, if that parent trained (else: from scratch)."""
        parent = self.family.get(arch)
        if parent is None or parent == arch or self.trained.get(parent) is None:
            return None
        return parent

    def state_dict(self) -> dict[str, Any]:
        return {
            **super().state_dict(),
            "trained": [[a, f] for a, f in self.trained.items()],
            "parent": self.parent,
            "family": [[c, p] for c, p in self.family.items()],
            "queue": self.queue,
            "pending": sorted(self.pending),
            "generations": self.generations,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.trained = {a: f for a, f in state["trained"]}
        self.parent = state["parent"]
        self.family = {c: p for c, p in state["family"]}
        # Proposals still running when the state was saved (several workers) ended with the
        # process: they are asked again, first.
        lost = sorted((set(state["pending"]) - set(self.trained)) - {self.start}, reverse=True)
        self.queue, self.pending = [*state["queue"], *lost], set()
        self.generations = int(state["generations"])
