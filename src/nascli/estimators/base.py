"""The contract between the search loop and an estimator: every capability the loop uses is
declared here with its default, so the loop never has to guess what an estimator can do."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class Promotion:
    """A multi-fidelity estimator's request: train `arch` again, at rung `rung`."""

    arch: str
    rung: int


class Estimator(ABC):
    """Score one architecture for a search (`estimate`), and say how the loop should treat it."""

    #: the metrics a finished trial reports; None: unknown until a trial ends.
    metrics: tuple[str, ...] | None = None
    #: the budget (search.seconds) counts the training seconds the estimator charges
    #: (`simulated_seconds` in its metrics) instead of the wall clock: benchmark tables.
    simulated: bool = False
    #: params, FLOPs and latency come with the estimate: the loop builds and measures nothing.
    provides_cost: bool = False
    #: epochs of each rung of a multi-fidelity estimator; None: one fidelity.
    rungs: list[int] | None = None
    #: with an integer n, the loop keeps the best of n proposals by `prefilter_proxy`.
    prefilter: int | None = None
    prefilter_proxy: str = "synflow"
    #: the minibatch size a prefilter scores with.
    batch_size: int = 64
    #: trains the network it is given, as it is (strategy=morphism's inherited weights count).
    trains_given_network: bool = False

    @property
    def parallel(self) -> bool:
        """Whether trials may run in worker processes (search.workers, executor=ray): not for a
        multi-fidelity estimator (promotions need the rung's results) or one that prepares state
        in this process (workers never run `prepare`)."""
        return not self.rungs and type(self).prepare is Estimator.prepare

    @property
    def coverage(self) -> float:
        """The share of the space's architectures it can answer (a sampled table: less than 1)."""
        return 1.0

    def check_space(
        self, space_name: str, space_config: dict[str, Any], dataset: str | None = None
    ) -> None:
        """Refuse, with a NascliError, a space or dataset the estimator cannot score."""
        return None

    def prepare(self, space: Any, data: Any, seed: int, run_dir: Path) -> None:
        """Work done once before the first trial (a shared supernet trains or loads here)."""
        return None

    def missing(self, arch: str, space: Any) -> str | None:
        """Why `arch` cannot be estimated (it is then never proposed), or None."""
        return None

    def reports(self, task: Any) -> tuple[str, ...] | None:
        """The metrics a finished trial reports when the dataset's task is `task`
        (nascli.tasks.Task); by default `metrics`, whatever the task."""
        return self.metrics

    def check_task(self, task: Any) -> None:
        """Refuse, with a NascliError, a task the estimator cannot score."""
        return None

    def check_objective(self, objective: str, objectives: list[str] | None) -> None:
        """Refuse, with a NascliError, an objective the estimator cannot serve."""
        return None

    def heard(self, record: dict[str, Any]) -> None:
        """A finished trial's record (every one, in order, also those a resume reads back)."""
        return None

    def next_promotion(self, history: list[dict[str, Any]], objective: str) -> Promotion | None:
        """A multi-fidelity estimator's next promotion; None: the strategy proposes."""
        return None

    def entries(self, space: Any, seed: int = 0) -> list[tuple[str, dict[str, Any]]] | None:
        """Every architecture it can answer with its metrics, when it is a benchmark table
        (`nas predict` fits and tests predictors on them); None otherwise."""
        return None

    @classmethod
    def optimum(cls, config: dict[str, Any]) -> float | None:
        """The best test accuracy of the benchmark this estimator answers from, read from the
        files `config` (the estimator's config) names, never with code from them (pickles with
        weights_only=True); None for an estimator that is no benchmark."""
        return None

    @abstractmethod
    def estimate(
        self,
        arch: str,
        net: Any,
        data: Any,
        seed: int,
        *,
        space: Any,
        logger: Any = None,
        rung: int = 0,
    ) -> dict[str, Any]:
        """The metrics of `arch`; `net` is its freshly built network (None when
        `provides_cost`)."""
