"""The ask/tell contract every sample-based strategy keeps."""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from typing import Any

from nascli.core.space import Space


class Strategy(ABC):
    """Propose architectures (`ask`) and learn from their results (`tell`).

    Strategies never touch files: the search loop owns the run directory and saves `state_dict()`.
    `metrics` is None for a trial that failed.
    """

    #: proposals may be asked before earlier ones are told (search.workers > 1)
    asynchronous: bool = True

    def __init__(self, space: Space, seed: int = 0) -> None:
        self.space = space
        self.seed = seed
        self.rng = random.Random(seed)

    @abstractmethod
    def ask(self) -> str: ...

    @abstractmethod
    def tell(self, arch: str, metrics: dict[str, Any] | None) -> None: ...

    def state_dict(self) -> dict[str, Any]:
        version, internal, gauss = self.rng.getstate()
        return {"seed": self.seed, "rng": [version, list(internal), gauss]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        version, internal, gauss = state["rng"]
        self.rng.setstate((version, tuple(internal), gauss))
        self.seed = state["seed"]
