"""The ask/tell contract every sample-based strategy keeps."""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

from nascli.core.space import Space


class NothingToAsk(Exception):
    """The strategy needs the results still running before it can propose again (raised by
    `ask` only while proposals are out: with several workers, the loop waits for one)."""


class Strategy(ABC):
    """Propose architectures (`ask`) and learn from their results (`tell`).

    Strategies never touch files: the search loop owns the run directory and saves `state_dict()`.
    `metrics` is None for a trial that failed.
    """

    #: proposals may be asked before earlier ones are told (search.workers > 1)
    asynchronous: bool = True
    #: children train from their parent's trained weights (`start_of`), which each trial of
    #: the search keeps in the run directory
    inherits_weights: bool = False

    def __init__(self, space: Space, seed: int = 0) -> None:
        self.space = space
        self.seed = seed
        self.rng = random.Random(seed)

    @abstractmethod
    def ask(self) -> str: ...

    @abstractmethod
    def tell(self, arch: str, metrics: dict[str, Any] | None) -> None: ...

    def start_of(self, arch: str) -> str | None:
        """The architecture whose trained weights `arch` (just asked) grows from; None: it
        trains from scratch."""
        return None

    def state_dict(self) -> dict[str, Any]:
        version, internal, gauss = self.rng.getstate()
        return {"seed": self.seed, "rng": [version, list(internal), gauss]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        version, internal, gauss = state["rng"]
        self.rng.setstate((version, tuple(internal), gauss))
        self.seed = state["seed"]


def history_window(values: Sequence[float | None], history: int) -> tuple[int, list[int]]:
    """The results a model-based strategy fits its model on, as (cut, indices into `values`).

    `values` are the told results in order (None: failed). While there are at most `history`,
    all of them (cut 0). Then, cut at the last multiple c of history/2: the best history/4 and
    the latest history/4 scored results before c, and every result since. The best results
    are always among them, the model's cost stops growing with the search (a new window every
    history/2 results), and the cut depends only on how many were told, so a resumed search
    sees what an uninterrupted one would.
    """
    n = len(values)
    if n <= history:
        return 0, list(range(n))
    half = history // 2
    cut = n // half * half
    scored = [i for i in range(cut) if values[i] is not None]
    best = sorted(scored, key=lambda i: -values[i])[: half // 2]  # type: ignore[operator]
    kept = sorted(set(best) | set(scored[-(half // 2) :]))
    return cut, kept + list(range(cut, n))


class ProposesFirst(Strategy):
    """`inner`, whose first proposals are `first` (a warm start's transferred architectures):
    it is told their results as it is told any others, then goes on proposing its own."""

    def __init__(self, inner: Strategy, first: Sequence[str]) -> None:
        super().__init__(inner.space, inner.seed)
        self.inner, self.first, self.given = inner, list(first), set(first)
        self.asynchronous, self.inherits_weights = inner.asynchronous, inner.inherits_weights

    def ask(self) -> str:
        return self.first.pop(0) if self.first else self.inner.ask()

    def tell(self, arch: str, metrics: dict[str, Any] | None) -> None:
        self.inner.tell(arch, metrics)

    def start_of(self, arch: str) -> str | None:
        return None if arch in self.given else self.inner.start_of(arch)

    def state_dict(self) -> dict[str, Any]:
        return {"inner": self.inner.state_dict(), "first": self.first}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.inner.load_state_dict(state["inner"])
        self.first = list(state["first"])
