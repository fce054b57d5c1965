"""Multi-fidelity estimation: asynchronous successive halving (ASHA, Li et al. 2020) over epochs.

Rungs train for min_epochs * eta^k epochs up to max_epochs. Each trial either promotes an
architecture that ranks in the top 1/eta of its rung to the next rung, or starts a new one at
rung 0: most candidates get a few epochs, the promising ones more.
"""

from __future__ import annotations

from typing import Any

from nascli.core.errors import NascliError
from nascli.core.objectives import fitness_of
from nascli.estimators.base import Promotion
from nascli.estimators.train import TrainEstimator

__all__ = ["HyperbandEstimator", "Promotion", "rung_epochs"]


def rung_epochs(min_epochs: int, max_epochs: int, eta: int) -> list[int]:
    if min_epochs < 1 or max_epochs < min_epochs or eta < 2:
        raise NascliError(
            f"estimator.min_epochs={min_epochs}, max_epochs={max_epochs}, eta={eta}: need 1 <= min_epochs <= max_epochs and eta >= 2"
        )
    rungs = [min_epochs]
    while rungs[-1] * eta <= max_epochs:
        rungs.append(rungs[-1] * eta)
    return rungs


class HyperbandEstimator(TrainEstimator):
    """Train like `estimator=train`, for as many epochs as the trial's rung says.

    The search loop asks `next_promotion(history)` before each trial: a Promotion says which
    architecture to retrain (from scratch) at which rung; None means a new architecture at rung 0.
    """

    trains_given_network = False  # a promotion retrains from scratch

    def __init__(
        self, min_epochs: int = 1, max_epochs: int = 9, eta: int = 3, **train_kwargs: Any
    ) -> None:
        self.rungs = rung_epochs(min_epochs, max_epochs, eta)
        self.eta = eta
        train_kwargs.pop("epochs", None)  # the rungs decide
        super().__init__(epochs=self.rungs[0], **train_kwargs)

    def next_promotion(self, history: list[dict[str, Any]], objective: str) -> Promotion | None:
        """The best not-yet-promoted architecture in the top 1/eta of the highest possible rung."""
        for rung in reversed(range(len(self.rungs) - 1)):
            done = [r for r in history if r.get("rung", 0) == rung and r["status"] == "ok"]
            top = sorted(done, key=lambda r: (-fitness_of(r["metrics"], objective), r["trial"]))[
                : len(done) // self.eta
            ]
            promoted = {r["arch"] for r in history if r.get("rung", 0) == rung + 1}
            for record in top:
                if record["arch"] not in promoted:
                    return Promotion(record["arch"], rung + 1)
        return None
