"""Reading run and sweep directories back into rows, for `nas report`.

A job is any folder with Hydra's `.hydra/` record. Its row takes the group choices and overrides it
was started with (the settings), its `summary.json` (status, seconds, trials, best) and its best
architecture's metrics. A job that died before writing a summary is a failed row, never a missing
one. Everything here is read as data: no space is rebuilt and no target of a run is built.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from nascli.core.errors import NascliError
from nascli.core.records import best_one
from nascli.core.targets import check_target
from nascli.results.run_dir import BEST, CONFIG, HISTORY, SUMMARY, find_jobs
from nascli.tasks import task

log = logging.getLogger("nascli.report")

# Config groups whose choice is a setting of the job (what a sweep varies).
GROUPS = ("space", "strategy", "estimator", "dataset", "hardware", "trainer", "recipe")
METRICS = ("val_acc", "test_acc", "val_ppl", "test_ppl", "params", "flops", "latency_ms")


@dataclass
class Row:
    path: Path
    command: str
    status: str
    settings: dict[str, str]
    arch: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    seconds: float | None = None
    trials: int | None = None
    error: str | None = None
    space_config: Any = None
    history: list[dict[str, Any]] = field(default_factory=list)
    # A multi-objective search's objectives, reference point and constraints.
    objectives: list[str] | None = None
    objective: str = "val_acc"  # what a single-objective search maximised (search.objective)
    reference: dict[str, Any] | None = None
    constraints: dict[str, Any] = field(default_factory=dict)

    @property
    def objective_names(self) -> list[str]:
        """The metrics this run optimised, without their directions (`latency_ms:min` ->
        `latency_ms`)."""
        return [o.split(":")[0] for o in (self.objectives or [self.objective])]


def _objective(config: dict[str, Any]) -> str:
    """The run's search.objective. A job that stopped before its config was resolved left only
    Hydra's raw copy, where the default is still an interpolation: its dataset's task says it
    (interpolations in files read are never resolved)."""
    given = (config.get("search") or {}).get("objective")
    if given and "${" not in str(given):
        return str(given)
    try:
        return task((config.get("dataset") or {}).get("task")).objective
    except NascliError:
        return "val_acc"


def _load_yaml(path: Path) -> Any:
    try:
        return OmegaConf.to_container(OmegaConf.load(path)) if path.is_file() else None
    except Exception:  # a damaged record is reported through the row, not raised
        return None


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
    except ValueError:
        return None


def _history(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue  # a torn last line
    return out


def read_job(
    path: Path, budgets: list[float] | None = None, queries: list[int] | None = None
) -> Row:
    hydra_yaml = _load_yaml(path / ".hydra" / "hydra.yaml") or {}
    runtime = (hydra_yaml.get("hydra") or {}).get("runtime") or {}
    job = (hydra_yaml.get("hydra") or {}).get("job") or {}
    choices = runtime.get("choices") or {}
    settings = {g: str(choices[g]) for g in GROUPS if choices.get(g) is not None}
    for line in _load_yaml(path / ".hydra" / "overrides.yaml") or []:
        key, _, value = str(line).partition("=")
        key = key.lstrip("+~")
        if key.startswith("hydra.") or key in ("format", "arch", "run", "resume"):
            continue
        if key not in GROUPS:  # a group's choice is already there, from the runtime choices
            settings[key] = value
    summary = _load_json(path / SUMMARY)
    best = (summary or {}).get("best") or _load_json(path / BEST)
    if path.joinpath("evaluate.json").is_file() and summary:
        best = {"arch": summary.get("arch"), "metrics": summary.get("metrics", {})}
    command = (summary or {}).get("command") or str(job.get("name") or "")
    if summary is None:
        status, error = "failed", "no summary.json: the job stopped before finishing (see its log)"
    else:
        status, error = str(summary.get("status", "unknown")), summary.get("error")
    config = _load_yaml(path / CONFIG) or _load_yaml(path / ".hydra" / "config.yaml") or {}
    row = Row(
        path=path,
        command=command,
        status=status,
        settings=settings,
        arch=(best or {}).get("arch"),
        metrics=dict((best or {}).get("metrics") or {}),
        seconds=(summary or {}).get("seconds"),
        trials=(summary or {}).get("trials"),
        error=error,
        space_config=config.get("space"),
        history=_history(path / HISTORY) if command == "search" else [],
    )
    search_cfg = config.get("search") or {}
    if command == "search":  # what the search could choose from: best.json's rule
        row.constraints = config.get("constraints") or {}
    if command == "search" and len(search_cfg.get("objectives") or []) >= 2:
        row.objectives = [str(o) for o in search_cfg["objectives"]]
        row.reference = search_cfg.get("reference_point")
    if "ensemble" in (summary or {}):
        row.metrics["ensemble_test_acc"] = summary["ensemble"]["test_acc"]
    objective = _objective(config)
    row.objective = objective
    add_regret(row, config, budgets or [], objective, queries or [])
    return row


def benchmark_optimum(estimator: dict[str, Any]) -> float | None:
    """The best test accuracy of the benchmark a run's estimator answers from (None: the
    estimator is no benchmark, or its file is not here). Asked of the estimator's class, which
    is resolved and checked like any target (Estimator.optimum)."""
    from nascli.estimators.base import Estimator

    target = estimator.get("_target_")
    if not target:
        return None
    key = json.dumps(estimator, sort_keys=True, default=str)
    if key not in _OPTIMA:
        try:
            cls = check_target(target, "estimator")
        except NascliError as exc:
            log.warning("%s; no regret for this run", exc)
            return None
        _OPTIMA[key] = cls.optimum(estimator) if issubclass(cls, Estimator) else None
    return _OPTIMA[key]


_OPTIMA: dict[str, float | None] = {}


def add_regret(
    row: Row,
    config: dict[str, Any],
    budgets: list[float],
    objective: str,
    queries: list[int] | None = None,
) -> None:
    """For a search on a benchmark table: the test accuracy of the architecture it would have
    chosen (best `objective` so far) after each budget of simulated seconds and after each
    number of queries (trials), and its regret to the table's optimum; after each number of
    queries also the chosen architecture's `objective`."""
    if not row.history:
        return
    optimum = benchmark_optimum(config.get("estimator") or {})
    if optimum is None:
        return
    row.metrics["table_optimum"] = optimum
    times = [*budgets, math.inf]
    for budget, best in zip(
        times, chosen_at(row.history, times, objective, row.constraints), strict=True
    ):
        name = "final" if budget == math.inf else f"{budget:g}s"
        test = None if best is None else best.get("test_acc")
        row.metrics[f"test_acc@{name}"] = test
        row.metrics[f"regret@{name}"] = None if test is None else optimum - test
    for q in queries or []:
        # A search that ended before q queries (a small space, exhausted) keeps its choice.
        enough = len(row.history) >= q or row.status == "completed"
        best = best_one(row.history[:q], objective, row.constraints) if enough else None
        test = None if best is None else best["metrics"].get("test_acc")
        row.metrics[f"test_acc@{q}q"] = test
        row.metrics[f"regret@{q}q"] = None if test is None else optimum - test
        # What the search itself optimised: apart from the test score, it tells how well the
        # strategy searched from how well validation picked.
        row.metrics[f"{objective}@{q}q"] = None if best is None else best["metrics"].get(objective)


def add_hypervolumes(
    rows: list[Row], given: dict[str, Any] | None = None
) -> dict[str, dict[str, float]]:
    """Multi-objective searches get the hypervolume of their front against one reference point
    shared by every run with the same objectives, so the numbers compare: `given` (the report's
    reference_point) where it names exactly those objectives, else the runs' own
    search.reference_point when they all state the same one, else each objective's worst value
    over all their trials pushed out by 10 % of its range (one slow outlier moves that last one
    far: state a point to compare sweeps). Returns the points used."""
    from nascli.core import pareto
    from nascli.core.constraints import satisfies

    by_objectives: dict[tuple[str, ...], list[Row]] = {}
    for r in rows:
        if r.objectives and r.history:
            by_objectives.setdefault(tuple(r.objectives), []).append(r)
    used: dict[str, dict[str, float]] = {}
    matched = False
    for names, runs in by_objectives.items():
        objectives = pareto.parse_objectives(list(names))
        use_given = bool(given) and set(given) == {n for n, _ in objectives}
        matched = matched or use_given
        costs = {
            id(r): [
                pareto.as_costs(h["metrics"], objectives)
                for h in r.history
                if h.get("status") == "ok"
                and all(n in (h.get("metrics") or {}) for n, _ in objectives)
                and satisfies(h["metrics"], r.constraints)
            ]
            for r in runs
        }
        every = [c for cs in costs.values() for c in cs]
        if not every:
            continue
        stated = {json.dumps(r.reference, sort_keys=True) for r in runs}
        if use_given:
            reference = pareto.reference_costs(given, objectives, key="reference_point")
        elif len(stated) == 1 and runs[0].reference:
            reference = pareto.reference_costs(runs[0].reference, objectives)
        else:
            reference = pareto.reference_point(every)
        for r in runs:
            mine = costs[id(r)]
            front = [mine[i] for i in pareto.front_indices(mine)]
            r.metrics["hypervolume"] = pareto.hypervolume(front, reference) if front else 0.0
        signs = [-1.0 if d == "max" else 1.0 for _, d in objectives]
        used[",".join(names)] = {
            n: s * v for (n, _), s, v in zip(objectives, signs, reference, strict=True)
        }
    if given and not matched:
        sets = "; ".join(",".join(names) for names in by_objectives) or "none"
        raise NascliError(
            f"reference_point names {', '.join(given)}, but the objectives of these runs are: "
            f"{sets}; name each objective of one of them once"
        )
    return used


def read_rows(
    dirs: list[str], budgets: list[float] | None = None, queries: list[int] | None = None
) -> list[Row]:
    rows: list[Row] = []
    for d in dirs:
        folder = Path(str(d)).expanduser()
        if not folder.is_dir():
            raise NascliError(f"dirs: {d} is not a folder; name run or sweep directories to report")
        jobs = find_jobs(folder)
        if not jobs:
            raise NascliError(
                f"dirs: {d} holds no run (no .hydra/ record below it); name run or sweep directories"
            )
        # Reports are not runs to report (a report may sit inside the folder it reads).
        rows += [row for j in jobs if (row := read_job(j, budgets, queries)).command != "report"]
    if not rows:
        raise NascliError(f"dirs: {', '.join(map(str, dirs))} hold only reports, no runs")
    return rows


def varying(rows: list[Row]) -> list[str]:
    """The settings whose values differ between rows (a missing key counts as a value)."""
    keys: list[str] = []
    for r in rows:
        keys += [k for k in r.settings if k not in keys]
    return [k for k in keys if len({r.settings.get(k, "") for r in rows}) > 1]


def chosen_at(
    history: list[dict[str, Any]],
    times: list[float],
    objective: str,
    constraints: dict[str, Any] | None = None,
) -> list[dict[str, Any] | None]:
    """The metrics of the trial a search would have chosen (nascli.core.records.best: highest
    rung, best `objective`, within `constraints`) once each of `times` (ascending) seconds were
    spent, counting only trials that finished within them; None before the first."""
    elapsed, spent = 0.0, []
    for rec in history:
        elapsed += float(rec.get("seconds") or 0.0)
        spent.append(elapsed)
    out = []
    for t in times:
        done = sum(1 for s in spent if s <= t)
        chosen = best_one(history[:done], objective, constraints)
        out.append(None if chosen is None else chosen["metrics"])
    return out


def regret_curve(row: Row, times: list[float], objective: str) -> list[float]:
    """The regret (table optimum - test accuracy) of the architecture a benchmark search would
    have chosen at each of `times` simulated seconds; nan before its first finished trial."""
    optimum = row.metrics["table_optimum"]
    return [
        math.nan if m is None else optimum - m["test_acc"]
        for m in chosen_at(row.history, times, objective, row.constraints)
    ]
