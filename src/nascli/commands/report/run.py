"""The body of `nas report`: read run and sweep directories back (rows.py), tabulate, aggregate,
test and plot (plots.py) them."""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import statistics
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf
from rich.table import Table

from nascli.commands.report.page import write_page
from nascli.commands.report.plots import (
    draw_winners,
    main_objective,
    palette,
    plot_accuracy_vs_cost,
    plot_best_so_far,
    plot_regret,
    test_metric,
)
from nascli.commands.report.rows import METRICS, Row, add_hypervolumes, read_rows, varying
from nascli.core.errors import NascliError
from nascli.results.run_dir import SUMMARY, RunDir
from nascli.ui.tables import console, number, print_fitted

log = logging.getLogger("nascli.report")


def _fmt(value: Any, key: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if key in ("params", "flops", "trials"):
        return f"{int(value):,}"
    if key == "seconds":
        return f"{value:.0f}"
    return number(value)


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
    # The best architectures are drawn by the test score of what the searches optimised where
    # there is one (a retrain's test_acc or test_ppl), else by that objective itself.
    objective = main_objective(rows)
    tested = test_metric(objective)
    has_test = any(r.metrics.get(tested) is not None for r in rows)
    metric = str(cfg.metric or (tested if has_test else objective))
    if cfg.metric is not None and all(r.metrics.get(metric) is None for r in rows):
        known = sorted({k for r in rows for k, v in r.metrics.items() if v is not None})
        raise NascliError(
            f"metric={metric} is in none of these runs; choose from: {', '.join(known)}"
        )
    # The runs' own objectives first (a proxy's score, say), then the usual metrics.
    objectives = [name for r in rows for name in r.objective_names]
    columns = [
        c
        for c in dict.fromkeys((*objectives, *METRICS, "ensemble_test_acc"))
        if any(r.metrics.get(c) is not None for r in rows)
    ]
    columns = [c for c in columns if c != "flops" or c in objectives] + ["seconds", "trials"]
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
    plots: dict[str, Any] = {}
    winners: list[tuple[Row, Path]] = []
    if cfg.plots:
        colours, objective = palette(rows, by), main_objective(rows)
        folder = run.path
        for name, drawn in (
            ("best_so_far.png", plot_best_so_far(folder, rows, by, objective, colours)),
            ("accuracy_vs_cost.png", plot_accuracy_vs_cost(folder, rows, by, colours)),
            ("regret.png", plot_regret(folder, rows, by, objective, colours)),
        ):
            if drawn is not None:
                pictures.append(name)
                plots[name] = drawn
        winners = draw_winners(run.path / "cells", rows, metric, int(cfg.cells))
    mattered: dict[str, Any] = {}
    if cfg.get("importance"):
        mattered = what_mattered(run.path, rows, pictures if cfg.plots else None)
    if cfg.plots:
        write_page(
            run.path / "report.html",
            rows, keys, columns, grouped, pictures, winners, mattered, _fmt, _value,
        )  # fmt: skip
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
        "plots": plots,
        **({"importance": mattered} if cfg.get("importance") else {}),
        **({"hypervolume_reference": references} if references else {}),
        "files": ["report.csv", *(["report_groups.csv"] if grouped else []), *pictures]
        + (["importance.csv"] if (run.path / "importance.csv").is_file() else [])
        + ([f"cells/{p.name}" for _, p in winners])
        + (["report.html"] if cfg.plots else []),
        "run_dir": str(run.path),
    }
    run.write_json(SUMMARY, result)
    if cfg.format == "json":
        print(json.dumps(result))
    else:
        _print(rows, keys, columns, grouped, metric, run.path, by)
        _print_mattered(mattered)
    return result


def _print_mattered(mattered: dict[str, Any]) -> None:
    for path, entry in mattered.items():
        by = entry.get("decisions")
        if not by:
            continue
        table = Table(title=f"what mattered in {path}", title_justify="left")
        for column in ("decision", "fANOVA", "MDI"):
            table.add_column(column, justify="left" if column == "decision" else "right")
        for name, value in list(by["fanova"].items())[:8]:
            table.add_row(name, f"{value:.3f}", f"{by['mdi'].get(name, 0.0):.3f}")
        console().print(table)


def what_mattered(folder: Path, rows: list[Row], pictures: list[str] | None) -> dict[str, Any]:
    """importance=true: each search's decision importances (importance.csv, importance.png) and
    each one-shot run's alpha trajectories (alphas_<k>.png); {run dir: {...}}."""
    from nascli.commands.report.importance import (
        alpha_trajectories,
        importances,
        plot_alphas,
        plot_importances,
    )

    out: dict[str, Any] = {}
    found: dict[str, dict[str, dict[str, float]]] = {}
    for k, row in enumerate(r for r in rows if r.command == "search"):
        entry: dict[str, Any] = {}
        if (by := importances(row)) is not None:
            found[str(row.path)] = by
            entry["decisions"] = by
        if (alphas := alpha_trajectories(row)) is not None:
            entry["alphas"] = alphas
            if pictures is not None:
                pictures.append(plot_alphas(folder, str(k), alphas).name)
        if not entry:
            log.info("%s: too few trials with recorded choices to say what mattered", row.path)
        out[str(row.path)] = entry
    if found:
        with open(folder / "importance.csv", "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["dir", "decision", "fanova", "mdi"])
            for path, by in found.items():
                for name, value in by["fanova"].items():
                    writer.writerow([path, name, value, by["mdi"].get(name, "")])
        if pictures is not None and (png := plot_importances(folder, found)) is not None:
            pictures.append(png.name)
    return out


def _droppable(rows: list[Row], columns: list[str], metric: str) -> list[str]:
    """The columns a narrow terminal loses, least telling first; never an objective, a setting
    that varies, the job, the arch, the report's metric or the last budget's regret."""
    objectives = {name for r in rows for name in r.objective_names} | {metric}
    budgets = [c for c in columns if "@" in c]
    last = (
        {c for c in budgets if c.split("@")[1] == budgets[-1].split("@")[1]} if budgets else set()
    )
    order = [
        "trials",
        "seconds",
        "flops",
        "params",
        "latency_ms",
        "ensemble_test_acc",
        "hypervolume",
        *(c for c in budgets if c not in last),
        "test_acc",
        "status",
        *sorted(c for c in last if c.startswith("test_acc")),
        "val_acc",
    ]
    done = all(r.status == "completed" for r in rows)
    drop = [c for c in order if c not in objectives and (c in columns or c == "status" and done)]
    return [c.replace("_", " ") for c in drop]


def _print(
    rows: list[Row],
    keys: list[str],
    columns: list[str],
    grouped: list[dict[str, Any]] | None,
    metric: str,
    path: Path,
    by: list[str] | None = None,
) -> None:
    out = console()
    drop = _droppable(rows, columns, metric)
    where = "format=json (or report.csv)"
    failed = sum(r.status != "completed" for r in rows)
    table = Table(title=f"{len(rows)} jobs ({failed} not completed)", title_justify="left")
    for c in ["job", "status", *keys, "arch", *columns]:
        # What names a job (its folder, the settings) is never cut; figures wrap their headers.
        whole = None
        if c in ("job", *keys):
            texts = [c, *(r.path.name if c == "job" else str(r.settings.get(c, "")) for r in rows)]
            whole = min(16, max(len(t) for t in texts))
        elif c in columns:
            whole = max(len(_fmt(_value(r, c), c)) for r in rows)
        table.add_column(
            c.replace("_", " "), justify="right" if c in columns else "left", min_width=whole
        )
    for r in rows:
        style = "red" if r.status != "completed" else None
        cells = [str(r.path.name), r.status, *(r.settings.get(k, "") for k in keys), _short(r.arch)]
        table.add_row(*cells, *(_fmt(_value(r, c), c) for c in columns), style=style)
    print_fitted(out, table, drop, where)
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
        print_fitted(out, gtable, drop, "format=json (or report_groups.csv)")
        if any("@" in k for k in gkeys):
            out.print(_statistics_table(grouped, by or [], [k for k in gkeys if "@" in k]))
    out.print(f"run dir: {path}", markup=False, highlight=False, soft_wrap=True)
