"""The body of `nas report`: read run and sweep directories back, tabulate, aggregate and plot them.

A job is any folder with Hydra's `.hydra/` record. Its row takes the group choices and overrides it
was started with (the settings), its `summary.json` (status, seconds, trials, best) and its best
architecture's metrics. A job that died before writing a summary is a failed row, never a missing
one.
"""

from __future__ import annotations

import csv
import html
import io
import json
import logging
import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf
from rich.console import Console
from rich.table import Table

from nascli.core.errors import NascliError
from nascli.core.records import best_one
from nascli.core.targets import check_target
from nascli.results.run_dir import BEST, CONFIG, HISTORY, SUMMARY, RunDir, read_cells

# Config groups whose choice is a setting of the job (what a sweep varies).
GROUPS = ("space", "strategy", "estimator", "dataset", "hardware", "trainer", "recipe")
METRICS = ("val_acc", "test_acc", "params", "flops", "latency_ms")
MAX_DEPTH = 4

log = logging.getLogger("nascli.report")


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
    reference: dict[str, Any] | None = None
    constraints: dict[str, Any] = field(default_factory=dict)


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
    objective = (config.get("search") or {}).get("objective", "val_acc")
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
    number of queries (trials), and its regret to the table's optimum."""
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


def find_jobs(folder: Path, depth: int = 0) -> list[Path]:
    """Job folders at or below `folder`: a sweep's numbered jobs in numeric order, runs by name."""
    if (folder / ".hydra").is_dir():
        return [folder]
    if depth >= MAX_DEPTH:
        return []
    children = sorted(
        (c for c in folder.iterdir() if c.is_dir() and not c.name.startswith(".")),
        key=lambda c: (0, int(c.name), "") if c.name.isdigit() else (1, 0, c.name),
    )
    return [job for c in children for job in find_jobs(c, depth + 1)]


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


def _fmt(value: Any, key: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if key in ("params", "flops", "trials"):
        return f"{int(value):,}"
    if key == "seconds":
        return f"{value:.0f}"
    if isinstance(value, float):
        return f"{value:.4f}" if "acc" in key or "regret" in key else f"{value:.3f}"
    return str(value)


def _short(arch: str | None, width: int = 44) -> str:
    if not arch:
        return "-"
    return arch if len(arch) <= width else arch[: width - 1] + "…"


def _value(row: Row, key: str) -> Any:
    if key == "seconds":
        return row.seconds
    if key == "trials":
        return row.trials
    return row.metrics.get(key)


def group(rows: list[Row], by: list[str], columns: list[str]) -> list[dict[str, Any]]:
    """Mean and sample standard deviation of each column per group; failed rows are counted only."""
    groups: dict[tuple[str, ...], list[Row]] = {}
    for r in rows:
        groups.setdefault(tuple(r.settings.get(k, "") for k in by), []).append(r)
    out = []
    for key, members in groups.items():
        ok = [r for r in members if r.status == "completed"]
        entry: dict[str, Any] = {
            **dict(zip(by, key, strict=True)),
            "n": len(ok),
            "failed": len(members) - len(ok),
        }
        for c in columns:
            values = [float(v) for r in ok if (v := _value(r, c)) is not None]
            entry[c] = statistics.fmean(values) if values else None
            entry[f"{c}_std"] = (
                statistics.stdev(values) if len(values) > 1 else 0.0 if values else None
            )
        out.append(entry)
    return out


def _group_label(settings: dict[str, Any], by: list[str]) -> str:
    """A group's name: its settings' values joined by '/' (what baseline= names)."""
    return "/".join(str(settings.get(k, "")) for k in by)


def bootstrap_ci(
    values: list[float], seed: int = 0, draws: int = 10_000
) -> tuple[float, float] | None:
    """The 95 % percentile bootstrap interval of the mean of `values` (None for one value)."""
    import numpy as np

    data = np.asarray(values, dtype=float)
    if len(data) < 2:  # one value has no interval
        return None
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, len(data), size=(draws, len(data)))].mean(axis=1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    return float(lo), float(hi)


def compare(
    grouped: list[dict[str, Any]],
    rows: list[Row],
    by: list[str],
    columns: list[str],
    baseline: str | None,
) -> None:
    """Add to each group, for each per-budget column, the 95 % bootstrap interval of its mean
    (`<col>_ci`) and, against the `baseline` group, the two-sided Mann-Whitney U p-value
    (`<col>_p`; None for the baseline itself)."""
    from scipy.stats import mannwhitneyu

    def values(label: str, column: str) -> list[float]:
        return [
            float(v)
            for r in rows
            if r.status == "completed"
            and _group_label(r.settings, by) == label
            and (v := _value(r, column)) is not None
        ]

    labels = [_group_label(g, by) for g in grouped]
    if baseline is not None and str(baseline) not in labels:
        raise NascliError(
            f"baseline={baseline} is not a group of these runs; choose from: {', '.join(labels)}"
        )
    for g, label in zip(grouped, labels, strict=True):
        for c in columns:
            mine = values(label, c)
            interval = bootstrap_ci(mine) if mine else None
            g[f"{c}_ci"] = list(interval) if interval else None
            if baseline is None:
                continue
            theirs = values(str(baseline), c)
            g[f"{c}_p"] = (
                float(mannwhitneyu(mine, theirs, alternative="two-sided").pvalue)
                if label != str(baseline) and mine and theirs
                else None
            )


def _statistics_table(grouped: list[dict[str, Any]], by: list[str], columns: list[str]) -> Table:
    """Per group and budget: mean ± std, its 95 % bootstrap interval, p against the baseline."""
    has_p = any(f"{c}_p" in g for g in grouped for c in columns)
    table = Table(
        title="the chosen architecture per budget (q: queries): mean ± std, 95 % bootstrap "
        "interval" + (", two-sided Mann-Whitney U p against the baseline" if has_p else ""),
        title_justify="left",
    )
    for name in (*by, "budget", "mean ± std", "95 % interval", *(["p"] if has_p else [])):
        table.add_column(name, justify="left" if name in by else "right")
    for g in grouped:
        for c in columns:
            if g.get(c) is None:
                continue
            lo, hi = g.get(f"{c}_ci") or (None, None)
            p = g.get(f"{c}_p")
            cells = [
                *(str(g[k]) for k in by),
                c.replace("_", " "),
                f"{_fmt(g[c], c)} ± {_fmt(g[f'{c}_std'], c)}",
                f"[{_fmt(lo, c)}, {_fmt(hi, c)}]" if lo is not None else "-",
            ]
            if has_p:
                cells.append("-" if p is None else f"{p:.2g}")
            table.add_row(*cells)
    return table


def write_csv(path: Path, rows: list[Row], keys: list[str]) -> None:
    buffer = io.StringIO()
    columns = ["dir", "command", "status", *keys, "arch", *METRICS, "seconds", "trials", "error"]
    extra = sorted(
        {k for r in rows for k in r.metrics if k not in METRICS and k not in ("epochs", "seconds")}
    )
    writer = csv.writer(buffer)
    writer.writerow(columns[:-3] + extra + columns[-3:])
    for r in rows:
        writer.writerow(
            [str(r.path), r.command, r.status]
            + [r.settings.get(k, "") for k in keys]
            + [r.arch or ""]
            + [r.metrics.get(m, "") for m in METRICS]
            + [r.metrics.get(m, "") for m in extra]
            + [r.seconds if r.seconds is not None else "", r.trials or "", r.error or ""]
        )
    RunDir(path.parent).write_text(path.name, buffer.getvalue())


def write_group_csv(path: Path, table: list[dict[str, Any]]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(table[0]))
    writer.writeheader()
    writer.writerows(table)
    RunDir(path.parent).write_text(path.name, buffer.getvalue())


def _label(row: Row, by: list[str]) -> str:
    keys = by or (["strategy"] if "strategy" in row.settings else [])
    return ",".join(f"{row.settings.get(k, '')}" for k in keys) or row.path.name


def pareto_front(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Points not dominated when cost (first) is minimised and accuracy (second) maximised."""
    front: list[tuple[float, float]] = []
    for cost, acc in sorted(points, key=lambda p: (p[0], -p[1])):
        if not front or acc > front[-1][1]:
            front.append((cost, acc))
    return front


def plot_best_so_far(path: Path, rows: list[Row], by: list[str], objective: str) -> bool:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = [r for r in rows if r.history]
    if not runs:
        return False
    fig, (by_trial, by_time) = plt.subplots(1, 2, figsize=(11, 4))
    colours: dict[str, Any] = {}
    for r in runs:
        label = _label(r, by)
        colour = colours.setdefault(label, f"C{len(colours) % 10}")
        best, curve, elapsed, times = -math.inf, [], 0.0, []
        for rec in r.history:
            elapsed += float(rec.get("seconds") or 0.0)
            value = (rec.get("metrics") or {}).get(objective)
            if rec.get("status") == "ok" and value is not None:
                best = max(best, float(value))
            curve.append(best if best > -math.inf else math.nan)
            times.append(elapsed)
        shown = label if label not in by_trial.get_legend_handles_labels()[1] else None
        by_trial.step(range(1, len(curve) + 1), curve, where="post", color=colour, label=shown)
        by_time.step(times, curve, where="post", color=colour)
    by_trial.set(xlabel="trials", ylabel=f"best {objective} so far")
    by_time.set(xlabel="seconds of evaluation", ylabel=f"best {objective} so far")
    by_trial.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


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


def plot_regret(path: Path, rows: list[Row], by: list[str], objective: str) -> bool:
    """Benchmark-mode searches: mean regret of the chosen architecture against simulated
    seconds per group, the band one standard deviation over seeds (NAS-Bench-201's plot)."""
    runs = [r for r in rows if r.history and r.metrics.get("table_optimum") is not None]
    if not runs:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    horizon = max(sum(float(h.get("seconds") or 0.0) for h in r.history) for r in runs)
    times = [horizon * k / 200 for k in range(1, 201)]
    groups: dict[str, list[list[float]]] = {}
    for r in runs:
        groups.setdefault(_label(r, by), []).append(regret_curve(r, times, objective))
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for k, (label, curves) in enumerate(sorted(groups.items())):
        mean, std = [], []
        for j in range(len(times)):
            values = [c[j] for c in curves if not math.isnan(c[j])]
            mean.append(statistics.fmean(values) if values else math.nan)
            std.append(statistics.pstdev(values) if len(values) > 1 else 0.0)
        colour = f"C{k % 10}"
        ax.plot(times, mean, color=colour, label=f"{label} ({len(curves)})")
        ax.fill_between(
            times,
            [m - s for m, s in zip(mean, std, strict=True)],
            [m + s for m, s in zip(mean, std, strict=True)],
            color=colour,
            alpha=0.15,
        )
    ax.set(xlabel="simulated seconds", ylabel="regret of the chosen architecture (test acc)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def plot_accuracy_vs_cost(path: Path, rows: list[Row], by: list[str], objective: str) -> bool:
    """Every evaluated architecture (search histories) and every retrained model, accuracy
    against parameters, with the Pareto front of all of them."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points: dict[str, list[tuple[float, float]]] = {}
    retrained: list[tuple[float, float]] = []
    for r in rows:
        for rec in r.history:
            m = rec.get("metrics") or {}
            if rec.get("status") == "ok" and m.get(objective) is not None and m.get("params"):
                points.setdefault(_label(r, by), []).append(
                    (float(m["params"]), float(m[objective]))
                )
        if (
            r.command == "train"
            and r.metrics.get("test_acc") is not None
            and r.metrics.get("params")
        ):
            retrained.append((float(r.metrics["params"]), float(r.metrics["test_acc"])))
    if not points and not retrained:
        return False
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for i, (label, pts) in enumerate(points.items()):
        ax.scatter(*zip(*pts, strict=True), s=14, alpha=0.6, color=f"C{i % 10}", label=label)
    if retrained:
        ax.scatter(
            *zip(*retrained, strict=True),
            s=80,
            marker="*",
            color="black",
            label="retrained (test_acc)",
        )
    if points:
        front = pareto_front([p for pts in points.values() for p in pts])
        ax.step(
            *zip(*front, strict=True),
            where="post",
            color="black",
            lw=1.2,
            marker="o",
            mfc="none",
            ms=9,
            label=f"Pareto front ({objective})",
        )
    ax.set(xscale="log", xlabel="parameters", ylabel=objective)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def draw_winners(folder: Path, rows: list[Row], metric: str, k: int) -> list[tuple[Row, Path]]:
    """The cells of the k best rows' architectures, drawn from the graphs each run wrote
    (cells.json): no space is rebuilt from a run's config, so no code of a run is run."""
    from nascli.ui.draw import draw_graphs

    ranked = sorted(
        (r for r in rows if r.arch and r.metrics.get(metric) is not None),
        key=lambda r: -float(r.metrics[metric]),
    )
    out, seen = [], set()
    for r in ranked:
        if len(out) == k:
            break
        if r.arch in seen:
            continue
        seen.add(r.arch)
        cells = read_cells(r.path)
        if cells is None or cells[0] != r.arch:
            log.info("%s: no cells.json for %s, so its cell is not drawn", r.path, r.arch)
            continue
        folder.mkdir(exist_ok=True)
        try:
            out.append((r, draw_graphs(cells[1], folder / f"cell_{len(out)}")[0]))
        except Exception as exc:  # odd data is not drawn, and never ends the report
            log.info("%s: its cells.json could not be drawn (%s)", r.path, exc)
    return out


def write_html(
    path: Path,
    rows: list[Row],
    keys: list[str],
    columns: list[str],
    grouped: list[dict[str, Any]] | None,
    pictures: list[str],
    winners: list[tuple[Row, Path]],
) -> None:
    e = html.escape
    head = "".join(f"<th>{e(c)}</th>" for c in ["job", "status", *keys, "arch", *columns])
    body = []
    for r in rows:
        cells = [r.path.name, r.status, *(r.settings.get(k, "") for k in keys), _short(r.arch)]
        cells += [_fmt(_value(r, c), c) for c in columns]
        cls = ' class="failed"' if r.status != "completed" else ""
        title = f' title="{e(r.error)}"' if r.error else ""
        body.append(f"<tr{cls}{title}>" + "".join(f"<td>{e(str(c))}</td>" for c in cells) + "</tr>")
    parts = [
        "<!doctype html><meta charset=utf-8><title>nas report</title>",
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px}tr.failed{background:#fdd}"
        "img{max-width:100%}</style>",
        f"<h1>nas report: {len(rows)} jobs</h1>",
        f"<table><tr>{head}</tr>{''.join(body)}</table>",
    ]
    if grouped:
        gkeys = list(grouped[0])
        parts.append("<h2>Grouped (mean ± std over completed jobs)</h2><table><tr>")
        shown = [k for k in gkeys if not k.endswith(("_std", "_ci", "_p"))]
        parts.append("".join(f"<th>{e(k)}</th>" for k in shown) + "</tr>")
        for g in grouped:
            cells = []
            for k in shown:
                std = g.get(f"{k}_std")
                v = _fmt(g[k], k) if k in columns else str(g[k])
                cells.append(f"{v} ± {_fmt(std, k)}" if std is not None and k in columns else v)
            parts.append("<tr>" + "".join(f"<td>{e(c)}</td>" for c in cells) + "</tr>")
        parts.append("</table>")
    for p in pictures:
        parts.append(f'<h2>{e(p)}</h2><img src="{e(p)}">')
    for r, picture in winners:
        parts.append(
            f'<h3>{e(r.path.name)}: {e(r.arch or "")}</h3><img src="{e(picture.parent.name)}/{e(picture.name)}">'
        )
    RunDir(path.parent).write_text(path.name, "\n".join(parts) + "\n")


def run_report(cfg: DictConfig) -> dict[str, Any]:
    logging.captureWarnings(True)
    run = RunDir(HydraConfig.get().runtime.output_dir)
    budgets = [float(b) for b in cfg.get("budgets") or []]
    raw = list(cfg.get("queries") or [])
    if not all(isinstance(q, int) and not isinstance(q, bool) and q >= 1 for q in raw):
        raise NascliError(f"queries={raw} must be positive integers, e.g. queries=[20,50,100]")
    queries = sorted(set(raw))
    rows = read_rows([str(d) for d in cfg.dirs], budgets, queries)
    given = cfg.get("reference_point")
    if given is not None and (not isinstance(given, DictConfig) or len(given) == 0):
        raise NascliError(
            "reference_point must map each objective to a value, e.g. "
            "'reference_point={val_acc:0.8,latency_ms:20}'"
        )
    given = OmegaConf.to_container(given) if given is not None else None
    references = add_hypervolumes(rows, given)
    keys = varying(rows)
    by = [str(k) for k in cfg.group_by]
    unknown = [k for k in by if all(k not in r.settings for r in rows)]
    if unknown:
        known = sorted({k for r in rows for k in r.settings})
        raise NascliError(
            f"group_by={unknown[0]} is not a setting of these runs; choose from: {', '.join(known)}"
        )
    has_test = any(r.metrics.get("test_acc") is not None for r in rows)
    metric = str(cfg.metric or ("test_acc" if has_test else "val_acc"))
    if cfg.metric is not None and all(r.metrics.get(metric) is None for r in rows):
        known = sorted({k for r in rows for k, v in r.metrics.items() if v is not None})
        raise NascliError(
            f"metric={metric} is in none of these runs; choose from: {', '.join(known)}"
        )
    columns = [
        c
        for c in (*METRICS, "ensemble_test_acc")
        if any(r.metrics.get(c) is not None for r in rows)
    ]
    columns = [c for c in columns if c != "flops"] + ["seconds", "trials"]
    if references:  # against one reference point per set of objectives (in the summary)
        columns.append("hypervolume")
    # Benchmark-mode searches: the chosen architecture's test accuracy and regret per budget.
    regret = [k for r in rows for k in r.metrics if "@" in k]
    columns += list(dict.fromkeys(regret))
    write_csv(run.path / "report.csv", rows, keys)
    grouped = group(rows, by, columns) if by else None
    baseline = cfg.get("baseline")
    if baseline is not None and not by:
        raise NascliError("baseline= compares groups: add group_by=[strategy] (or another setting)")
    if grouped:
        compare(grouped, rows, by, [c for c in columns if "@" in c], baseline)
        write_group_csv(run.path / "report_groups.csv", grouped)
    pictures: list[str] = []
    winners: list[tuple[Row, Path]] = []
    if cfg.plots:
        objective = "val_acc"
        if plot_best_so_far(run.path / "best_so_far.png", rows, by, objective):
            pictures.append("best_so_far.png")
        if plot_accuracy_vs_cost(run.path / "accuracy_vs_cost.png", rows, by, objective):
            pictures.append("accuracy_vs_cost.png")
        if plot_regret(run.path / "regret.png", rows, by, objective):
            pictures.append("regret.png")
        winners = draw_winners(run.path / "cells", rows, metric, int(cfg.cells))
        write_html(run.path / "report.html", rows, keys, columns, grouped, pictures, winners)
    result = {
        "command": "report",
        "status": "completed",
        "jobs": len(rows),
        "failed": sum(r.status != "completed" for r in rows),
        "metric": metric,
        "settings": keys,
        "rows": [
            {
                "dir": str(r.path),
                "command": r.command,
                "status": r.status,
                "settings": {k: r.settings.get(k) for k in keys},
                "arch": r.arch,
                "metrics": r.metrics,
                "seconds": r.seconds,
                "trials": r.trials,
                "error": r.error,
            }
            for r in rows
        ],
        "groups": grouped,
        **({"hypervolume_reference": references} if references else {}),
        "files": ["report.csv", *(["report_groups.csv"] if grouped else []), *pictures]
        + ([f"cells/{p.name}" for _, p in winners])
        + (["report.html"] if cfg.plots else []),
        "run_dir": str(run.path),
    }
    run.write_json(SUMMARY, result)
    if cfg.format == "json":
        print(json.dumps(result))
    else:
        _print(rows, keys, columns, grouped, metric, run.path, by)
    return result


def _print(
    rows: list[Row],
    keys: list[str],
    columns: list[str],
    grouped: list[dict[str, Any]] | None,
    metric: str,
    path: Path,
    by: list[str] | None = None,
) -> None:
    # Wide rows stay whole: a terminal scrolls, a file or pipe does not wrap.
    out = Console(width=None if Console().is_terminal else 240)
    failed = sum(r.status != "completed" for r in rows)
    table = Table(title=f"{len(rows)} jobs ({failed} not completed)", title_justify="left")
    for c in ["job", "status", *keys, "arch", *columns]:
        table.add_column(c.replace("_", " "), justify="right" if c in columns else "left")
    for r in rows:
        style = "red" if r.status != "completed" else None
        cells = [str(r.path.name), r.status, *(r.settings.get(k, "") for k in keys), _short(r.arch)]
        table.add_row(*cells, *(_fmt(_value(r, c), c) for c in columns), style=style)
    out.print(table)
    for r in rows:
        if r.status != "completed" and r.error:
            out.print(f"{r.path}: {r.error}", markup=False, highlight=False, soft_wrap=True)
    if grouped:
        gtable = Table(title="mean ± std over completed jobs", title_justify="left")
        gkeys = [k for k in grouped[0] if not k.endswith(("_std", "_ci", "_p"))]
        for k in gkeys:
            gtable.add_column(k.replace("_", " "), justify="right" if k in columns else "left")
        for g in grouped:
            gtable.add_row(
                *(
                    f"{_fmt(g[k], k)} ± {_fmt(g[f'{k}_std'], k)}" if k in columns else str(g[k])
                    for k in gkeys
                )
            )
        out.print(gtable)
        if any("@" in k for k in gkeys):
            out.print(_statistics_table(grouped, by or [], [k for k in gkeys if "@" in k]))
    out.print(f"run dir: {path}", markup=False, highlight=False, soft_wrap=True)
