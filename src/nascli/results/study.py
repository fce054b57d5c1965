"""A search's trials mirrored into an Optuna study (`search.storage`), for optuna-dashboard and
anything else that reads Optuna's storages.

One study per run, named after the run directory (its absolute path), so a sweep's jobs are
separate studies in one file. Each history record becomes one Optuna trial as it is written:

- params: the architecture's decisions, `d<k>` = the chosen option's index, each with its
  categorical distribution (the space's options by index);
- values: the objective, or `search.objectives` in order, with their directions;
- state: COMPLETE, FAIL for a failed trial, PRUNED for one stopped early by learning-curve
  extrapolation;
- intermediate values: the objective at the epochs it was trained for (a learning curve over a
  multi-fidelity search's rungs, one Optuna trial per rung);
- user attributes: `arch`, `trial` (the history's number), `status`, `seconds`, the costs
  (params, FLOPs, latency, memory), `rung`, `parent`, `error`.

A resumed search adds only the trials the study does not hold (by `trial`), so none is
mirrored twice, and a trial written to the history just before a kill is mirrored on resume.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

from nascli.core.errors import NascliError
from nascli.core.objectives import maximised

log = logging.getLogger("nascli.search")

COSTS = ("params", "flops", "latency_ms", "memory_mb")


def absolute_url(url: str) -> str:
    """A SQLite URL with a relative path made absolute (the run's config keeps it, so that
    `nas dashboard <run dir>` finds the file from anywhere); other URLs as they are."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and url != prefix + ":memory:":
        return prefix + str(Path(url[len(prefix) :]).expanduser().resolve())
    return url


class StudyMirror:
    def __init__(
        self,
        url: str,
        run_dir: Path,
        space: Any,
        objectives: list[tuple[str, str]],
        history: list[dict[str, Any]],
    ) -> None:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.space, self.objectives = space, objectives
        self.name = str(Path(run_dir).resolve())
        try:
            self.study = optuna.create_study(
                storage=url,
                study_name=self.name,
                directions=["maximize" if d == "max" else "minimize" for _, d in objectives],
                load_if_exists=True,
            )
        except Exception as exc:  # a URL Optuna cannot open: the key and an example
            raise NascliError(
                f"search.storage={url} cannot be opened as an Optuna storage "
                f"({type(exc).__name__}: {str(exc).splitlines()[0][:160]}); e.g. "
                "search.storage=sqlite:///study.db"
            ) from None
        self.distributions = {
            f"d{k}": optuna.distributions.CategoricalDistribution(tuple(range(n)))
            for k, n in enumerate(space.cardinalities)
        }
        self.mirrored = {t.user_attrs.get("trial") for t in self.study.get_trials(deepcopy=False)}
        for record in history:  # a resumed search: whatever the study lacks
            self.add(record)

    def add(self, record: dict[str, Any]) -> None:
        """Mirror one history record (once: a trial the study holds is left alone). A trial the
        storage refuses (a locked file, a lost server) is logged, and the search goes on: the
        history is the record, and a resume mirrors what is missing."""
        if record["trial"] in self.mirrored:
            return
        try:
            self.study.add_trial(self._trial(record))
        except Exception as exc:
            log.warning(
                "search.storage: trial %s not mirrored (%s: %s)",
                record["trial"],
                type(exc).__name__,
                str(exc).splitlines()[0][:160] if str(exc) else "",
            )
            return
        self.mirrored.add(int(record["trial"]))

    def _trial(self, record: dict[str, Any]) -> Any:
        from optuna.trial import TrialState, create_trial

        metrics = record.get("metrics") or {}
        main = self.objectives[0][0]
        values = [metrics.get(name) for name, _ in self.objectives]
        complete = all(isinstance(v, int | float) and math.isfinite(v) for v in values)
        state = TrialState.COMPLETE
        if record["status"] != "ok" or not complete:
            state = TrialState.FAIL
        elif metrics.get("stopped_early"):
            state = TrialState.PRUNED
        curve = {}
        if isinstance(metrics.get(main), int | float) and math.isfinite(metrics[main]):
            curve = {int(metrics.get("epochs") or 1): float(metrics[main])}
        attrs = {"arch": record["arch"], "trial": int(record["trial"]), "status": record["status"]}
        attrs |= {
            k: metrics[k]
            for k in COSTS
            if isinstance(metrics.get(k), int | float) and math.isfinite(metrics[k])
        }
        attrs |= {
            k: record[k]
            for k in ("seconds", "rung", "parent", "error")
            if record.get(k) is not None
        }
        params = dict(zip(self.distributions, self.space.encode(record["arch"]), strict=True))
        return create_trial(
            state=state,
            values=[float(v) for v in values] if state == TrialState.COMPLETE else None,
            params=params,
            distributions=self.distributions,
            user_attrs=attrs,
            intermediate_values=curve,
        )


def objectives_of(cfg: Any, objective: str) -> list[tuple[str, str]]:
    """(metric, 'max' | 'min') per objective of the search."""
    from nascli.core.pareto import parse_objectives

    given = list(cfg.search.get("objectives") or [])
    if len(given) >= 2:
        return [(name, direction) for name, direction in parse_objectives(given)]
    return [(objective, "max" if maximised(objective) else "min")]
