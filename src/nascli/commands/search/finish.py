"""The end of a search: best.json, the Pareto front, summary.json, and the console summary."""

from __future__ import annotations

import json
from typing import Any

from omegaconf import DictConfig, OmegaConf
from rich.console import Console
from rich.table import Table

from nascli.core import faults
from nascli.core.records import best_one
from nascli.results.run_dir import BEST, SUMMARY, RunDir, git_commit, package_versions
from nascli.ui.tables import number


def epochs_done(history: list[dict[str, Any]]) -> int:
    return sum(int(r["metrics"].get("epochs", 0)) for r in history)


def constraints_of(cfg: DictConfig) -> dict[str, Any]:
    return OmegaConf.to_container(cfg.get("constraints") or {})


def best_json(space_name: str, trial: dict[str, Any]) -> dict[str, Any]:
    return {
        "space": space_name,
        "arch": trial["arch"],
        "trial": trial["trial"],
        "metrics": trial["metrics"],
    }


def finish(
    cfg,
    run,
    space_name,
    history,
    status,
    stop_reason,
    error,
    seconds,
    rejected,
    best: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
    space: Any = None,
) -> dict[str, Any]:
    """Write best.json (the best trial, or `best` as given by a one-shot search), the best
    architecture's cells.json (with `space`) and summary.json."""
    objective = cfg.search.get("objective", "val_acc")
    if best is None and (trial := best_one(history, objective, constraints_of(cfg))):
        best = best_json(space_name, trial)
    pareto = pareto_summary(cfg, run, space_name, history)
    if pareto is not None:
        best = pareto.pop("best")
        extra = {**(extra or {}), "pareto": pareto}
    if best is not None:
        run.write_json(BEST, best)
        if space is not None:
            run.write_cells(space, best["arch"])
    summary = {
        "command": "search",
        "status": status,
        "stop_reason": stop_reason,
        "error": error,
        "trials": len(history),
        "failed_trials": sum(r["status"] == "failed" for r in history),
        "rejected_by_constraints": rejected,
        "epochs_total": epochs_done(history),
        "seconds": round(seconds, 3),
        "seed": cfg.seed,
        "run_dir": str(run.path),
        "resumed": bool(cfg.get("resume")),
        # torch threads per training process (trainer.threads, resolved when the search began)
        "threads": OmegaConf.select(cfg, "trainer.threads", default=None),
        "best": best,
        **(extra or {}),
        "versions": package_versions(),
        "git": git_commit(),
    }
    faults.reached("report")
    run.write_json(SUMMARY, summary)
    return summary


def pareto_summary(cfg, run, space_name, history) -> dict[str, Any] | None:
    """With two or more search.objectives: write pareto.csv and pareto.png; best is the knee."""
    from nascli.core import pareto
    from nascli.core.constraints import satisfies
    from nascli.results.pareto import write_outputs

    names = cfg.search.get("objectives")
    if not names or len(names) < 2:
        return None
    objectives = pareto.parse_objectives(list(names))
    constraints = constraints_of(cfg)
    # A constrained search never reports an architecture that breaks a constraint.
    reference = cfg.search.get("reference_point")
    result = pareto.summarise(
        [r for r in history if satisfies(r["metrics"], constraints)],
        objectives,
        OmegaConf.to_container(reference) if reference else None,
    )
    if result is None:
        return None
    write_outputs(run.path, result, objectives)
    knee = result["knee"]
    return {
        "objectives": result["objectives"],
        "front_size": len(result["front"]),
        "hypervolume": result["hypervolume"],
        "reference_point": result["reference_point"],
        "front": [
            {"trial": r["trial"], "arch": r["arch"], **{n: r["metrics"][n] for n, _ in objectives}}
            for r in result["front"]
        ],
        "best": {
            **best_json(space_name, knee),
            "objectives": result["objectives"],
            "chosen_as": "knee point of the Pareto front",
        },
    }


def print_summary(cfg: DictConfig, run: RunDir, summary: dict[str, Any]) -> None:
    """The run's result on stdout: a table (format=table) or one JSON object (format=json)."""
    if cfg.format == "json":
        print(json.dumps(summary))
        return
    out = Console()
    best = summary["best"]
    out.print(_best_table(summary, cfg.search.get("objective", "val_acc")))
    if summary.get("pareto"):
        _print_front(out, summary["pareto"])
    # Only where the figure is a re-estimated path's: derived (supernet_val_acc kept) or SPOS's.
    scored = best is not None and (
        "supernet_val_acc" in best["metrics"] or summary.get("strategy") == "spos"
    )
    if "supernet_epochs" in summary and scored:
        mixed = (
            " (supernet val acc: every op mixed)" if "supernet_val_acc" in best["metrics"] else ""
        )
        out.print(
            "val acc: the derived architecture alone in the supernet's weights, batch-norm "
            f"statistics re-estimated for it{mixed}; retrained it scores otherwise: "
            "nas train arch=<run dir>",
            markup=False,
            highlight=False,
        )
    skipped = [
        f"{n} {what}"
        for n, what in (
            (summary.get("rejected_by_constraints") or 0, "broke the constraints"),
            (summary.get("missing_from_table") or 0, "were not in the table"),
            (summary.get("repeats_answered") or 0, "repeated an estimated architecture"),
        )
        if n
    ]
    if skipped:
        out.print(
            f"proposals at no trial's cost: {', '.join(skipped)}", markup=False, highlight=False
        )
    # Plain lines, never wrapped, so both can be pasted into the next command.
    if best is not None:
        out.print(f"arch: {best['arch']}", markup=False, highlight=False, soft_wrap=True)
    out.print(f"run dir: {run.path}", markup=False, highlight=False, soft_wrap=True)


def _best_table(summary: dict[str, Any], objective: str) -> Table:
    best = summary["best"]
    if "supernet_epochs" in summary:  # a one-shot run: its budget is supernet epochs
        title = (
            f"Derived after {summary['supernet_epochs']} supernet epochs of {summary['strategy']} "
            f"(stopped by {summary['stop_reason']})"
        )
    else:
        title = f"Best of {summary['trials']} trials ({summary['failed_trials']} failed; stopped by {summary['stop_reason']})"
    table = Table(title=title, title_justify="left")
    m = best["metrics"] if best is not None else {}
    # The objective, then what the trial recorded of these (a benchmark table may lack FLOPs).
    shown = [(objective, objective.replace("_", " "))]
    shown += [
        (key, name)
        for key, name in (
            ("supernet_val_acc", "supernet val acc"), ("test_acc", "test acc"),
            ("params", "params"), ("flops", "FLOPs"),
            ("latency_ms", "latency (ms)"),
        )
        if key != objective
        and (key in m or best is None)
        and (key not in ("test_acc", "supernet_val_acc") or key in m)
    ]  # fmt: skip
    # A strategy that derives after every epoch reports the epoch its architecture came from.
    last = "epoch" if "supernet_val_acc" in m else "trial"
    for _, column in (*shown, (last, last)):
        table.add_column(column, justify="right")
    if best is None:
        table.add_row(*["-"] * len(shown), "no trial finished")
        return table
    table.add_row(*(_cell(key, m[key]) for key, _ in shown), str(best["trial"]))
    return table


def _cell(key: str, value: Any) -> str:
    if key in ("params", "flops"):
        return f"{value:,}"
    if key == "latency_ms":
        return f"{value:.3f}"
    return number(value)


def _print_front(out: Console, pareto: dict[str, Any]) -> None:
    names = [o.split(":")[0] for o in pareto["objectives"]]
    front = Table(
        title=f"Pareto front ({pareto['front_size']}); best = its knee", title_justify="left"
    )
    for column in ("trial", *names):
        front.add_column(column, justify="right")
    for point in pareto["front"]:
        front.add_row(str(point["trial"]), *(f"{point[n]:.4g}" for n in names))
    out.print(front)
    reference = ", ".join(f"{k} {v:.4g}" for k, v in pareto["reference_point"].items())
    out.print(
        f"hypervolume: {pareto['hypervolume']:.4g} (reference point: {reference})",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
