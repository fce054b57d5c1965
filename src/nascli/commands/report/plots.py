"""The pictures of `nas report`: best-so-far, regret and accuracy-against-cost plots, and the
cells of the best architectures."""

from __future__ import annotations

import logging
import math
import statistics
from pathlib import Path
from typing import Any

from nascli.commands.report.rows import Row, regret_curve
from nascli.results.run_dir import read_cells

log = logging.getLogger("nascli.report")


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
