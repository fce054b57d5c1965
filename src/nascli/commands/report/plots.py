"""The pictures of `nas report`: best-so-far, regret and accuracy-against-cost plots, and the
cells of the best architectures."""

from __future__ import annotations

import logging
import math
import statistics
from collections import Counter
from pathlib import Path
from typing import Any

from nascli.commands.report.rows import Row, regret_curve
from nascli.core.objectives import maximised
from nascli.results.run_dir import read_cells

log = logging.getLogger("nascli.report")


def _label(row: Row, by: list[str]) -> str:
    keys = by or (["strategy"] if "strategy" in row.settings else [])
    return ",".join(f"{row.settings.get(k, '')}" for k in keys) or row.path.name


def pareto_front(
    points: list[tuple[float, float]], maximise: bool = True
) -> list[tuple[float, float]]:
    """Points not dominated when cost (first) is minimised and the metric (second) maximised,
    or, with `maximise=False` (a perplexity), minimised too."""
    sign = 1.0 if maximise else -1.0
    front: list[tuple[float, float]] = []
    for cost, value in sorted(points, key=lambda p: (p[0], -sign * p[1])):
        if not front or sign * value > sign * front[-1][1]:
            front.append((cost, value))
    return front


def test_metric(metric: str) -> str:
    """The test-split counterpart of a validation metric (val_ppl -> test_ppl); test_acc else."""
    return "test_" + metric.removeprefix("val_") if metric.startswith("val_") else "test_acc"


# A plot's description, returned for the report's summary (and tests): its axes, the colour of
# each group drawn, and how many points lay beyond the axes and were drawn at their edge.
Drawn = dict[str, Any]
COSTS = ("latency_ms", "flops", "params", "memory_mb")


def palette(rows: list[Row], by: list[str]) -> dict[str, str]:
    """One colour per group, fixed by the sorted labels of all the report's rows, so a strategy
    has the same colour in every plot of a report (and in every report of the same groups)."""
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    labels = sorted({_label(r, by) for r in rows})
    if len(labels) <= 10:
        return {label: to_hex(f"C{i}") for i, label in enumerate(labels)}
    return {label: to_hex(colormaps["tab20"](i % 20)) for i, label in enumerate(labels)}


def main_objective(rows: list[Row]) -> str:
    """What the searches optimised: the most common single objective (val_acc, score, val_ppl, ...)."""
    counts = Counter(r.objective for r in rows if r.command == "search")
    return counts.most_common(1)[0][0] if counts else "val_acc"


def plot_axes(rows: list[Row]) -> tuple[str, str]:
    """(cost, metric) of the metric-against-cost plot: the objectives the searches used.
    Multi-objective searches give both (the most common cost they traded off, e.g. latency_ms,
    and the most common other objective, an accuracy or a perplexity); otherwise parameters
    against the main objective."""
    from nascli.core.pareto import parse_objectives

    costs: Counter[str] = Counter()
    gains: Counter[str] = Counter()
    for r in rows:
        for name, _ in parse_objectives(r.objectives or []):
            (costs if name in COSTS else gains)[name] += 1
    cost = costs.most_common(1)[0][0] if costs else "params"
    gain = gains.most_common(1)[0][0] if gains else main_objective(rows)
    return cost, gain


def robust_limits(values: list[float], log: bool = False) -> tuple[float, float] | None:
    """Axis limits that keep the bulk of `values` readable when a few lie far out (beyond three
    interquartile ranges of the quartiles, in log space for a log axis); None when none do."""
    v = sorted(
        math.log10(x) if log else x for x in values if math.isfinite(x) and (x > 0 or not log)
    )
    if len(v) < 8:
        return None
    q1, _, q3 = statistics.quantiles(v, n=4)
    spread = 3 * (q3 - q1) if q3 > q1 else 0.1 * (v[-1] - v[0])
    inner = [x for x in v if q1 - spread <= x <= q3 + spread]
    if len(inner) == len(v) or not inner:
        return None
    pad = 0.06 * (inner[-1] - inner[0]) or 0.05 * (abs(inner[0]) or 1.0)
    lo, hi = inner[0] - pad, inner[-1] + pad
    return (10**lo, 10**hi) if log else (lo, hi)


def _clip(value: float, limits: tuple[float, float] | None) -> tuple[float, bool]:
    if limits is None or limits[0] <= value <= limits[1]:
        return value, False
    return min(max(value, limits[0]), limits[1]), True


def _figure(size: tuple[float, float], ncols: int = 1):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt, *plt.subplots(1, ncols, figsize=size)


def _save(plt, fig, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_best_so_far(
    folder: Path, rows: list[Row], by: list[str], objective: str, colours: dict[str, str]
) -> Drawn | None:
    """The best `objective` so far against trials and against seconds, one line per run (a
    one-shot run's points are its epochs)."""
    runs = [r for r in rows if r.history]
    if not runs:
        return None
    plt, fig, (by_trial, by_time) = _figure((11, 4), 2)
    drawn: dict[str, str] = {}
    values: list[float] = []
    sign = 1.0 if maximised(objective) else -1.0  # perplexity: the lowest so far
    for r in runs:
        label = _label(r, by)
        colour = drawn.setdefault(label, colours[label])
        best, curve, elapsed, times = -math.inf, [], 0.0, []
        for rec in r.history:
            elapsed += float(rec.get("seconds") or 0.0)
            value = (rec.get("metrics") or {}).get(objective)
            if rec.get("status") == "ok" and value is not None:
                best = max(best, sign * float(value))
            curve.append(sign * best if best > -math.inf else math.nan)
            times.append(elapsed)
        values += [c for c in curve if not math.isnan(c)]
        shown = label if label not in by_trial.get_legend_handles_labels()[1] else None
        by_trial.step(range(1, len(curve) + 1), curve, where="post", color=colour, label=shown)
        by_time.step(times, curve, where="post", color=colour)
    limits = robust_limits(values)
    for ax in (by_trial, by_time):
        if limits is not None:  # an early, far-off best is left below the axis
            ax.set_ylim(*limits)
    by_trial.set(xlabel="trials (epochs of a one-shot run)", ylabel=f"best {objective} so far")
    by_time.set(xlabel="seconds of evaluation", ylabel=f"best {objective} so far")
    by_trial.legend(fontsize=8)
    _save(plt, fig, folder / "best_so_far.png")
    return {"y": objective, "colours": drawn, "ylim": list(limits) if limits else None}


def plot_regret(
    folder: Path, rows: list[Row], by: list[str], objective: str, colours: dict[str, str]
) -> Drawn | None:
    """Benchmark-mode searches: mean regret of the chosen architecture against simulated
    seconds per group, the band one standard deviation over seeds (NAS-Bench-201's plot)."""
    runs = [r for r in rows if r.history and r.metrics.get("table_optimum") is not None]
    if not runs:
        return None
    plt, fig, ax = _figure((6.5, 4))
    horizon = max(sum(float(h.get("seconds") or 0.0) for h in r.history) for r in runs)
    times = [horizon * k / 200 for k in range(1, 201)]
    groups: dict[str, list[list[float]]] = {}
    for r in runs:
        groups.setdefault(_label(r, by), []).append(regret_curve(r, times, objective))
    for label, curves in sorted(groups.items()):
        mean, std = [], []
        for j in range(len(times)):
            values = [c[j] for c in curves if not math.isnan(c[j])]
            mean.append(statistics.fmean(values) if values else math.nan)
            std.append(statistics.pstdev(values) if len(values) > 1 else 0.0)
        ax.plot(times, mean, color=colours[label], label=f"{label} ({len(curves)})")
        ax.fill_between(
            times,
            [m - s for m, s in zip(mean, std, strict=True)],
            [m + s for m, s in zip(mean, std, strict=True)],
            color=colours[label],
            alpha=0.15,
        )
    ax.set(xlabel="simulated seconds", ylabel="regret of the chosen architecture (test acc)")
    ax.legend(fontsize=8)
    _save(plt, fig, folder / "regret.png")
    return {"y": "regret", "colours": {label: colours[label] for label in sorted(groups)}}


def plot_accuracy_vs_cost(
    folder: Path, rows: list[Row], by: list[str], colours: dict[str, str]
) -> Drawn | None:
    """Every evaluated architecture of the searches (a one-shot run: its derived architecture)
    and every retrained model, on the objectives the searches used (plot_axes), with the Pareto
    front of the searches' points. A few far-off points are drawn at the axes' edge."""
    cost, gain = plot_axes(rows)
    tested = test_metric(gain)
    points: dict[str, list[tuple[float, float]]] = {}
    derived: dict[str, list[tuple[float, float]]] = {}
    retrained: list[tuple[float, float]] = []
    for r in rows:
        if r.command == "search" and r.metrics.get("supernet"):
            m = r.metrics
            if m.get(gain) is not None and m.get(cost) is not None:
                derived.setdefault(_label(r, by), []).append((float(m[cost]), float(m[gain])))
            continue
        for rec in r.history:
            m = rec.get("metrics") or {}
            if rec.get("status") == "ok" and m.get(gain) is not None and m.get(cost) is not None:
                points.setdefault(_label(r, by), []).append((float(m[cost]), float(m[gain])))
        if r.command == "train" and r.metrics.get(tested) is not None and r.metrics.get(cost):
            retrained.append((float(r.metrics[cost]), float(r.metrics[tested])))
    every = [p for pts in (*points.values(), *derived.values()) for p in pts] + retrained
    if not every:
        return None
    xs = [p[0] for p in every]
    log_x = min(xs) > 0 and max(xs) / min(xs) > 20
    xlim, ylim = robust_limits(xs, log=log_x), robust_limits([p[1] for p in every])
    outside = 0

    def placed(pts: list[tuple[float, float]]) -> tuple[list[float], list[float], list[bool]]:
        nonlocal outside
        out = [(_clip(x, xlim), _clip(y, ylim)) for x, y in pts]
        far = [cx[1] or cy[1] for cx, cy in out]
        outside += sum(far)
        return [cx[0] for cx, _ in out], [cy[0] for _, cy in out], far

    plt, fig, ax = _figure((7, 4.5))
    for label, pts in sorted(points.items()):
        x, y, far = placed(pts)
        near = [i for i, f in enumerate(far) if not f]
        ax.scatter([x[i] for i in near], [y[i] for i in near], s=14, alpha=0.6,
                   color=colours[label], label=label)  # fmt: skip
        if any(far):
            ax.scatter([x[i] for i, f in enumerate(far) if f], [y[i] for i, f in enumerate(far) if f],
                       s=30, marker="v", facecolors="none", edgecolors=colours[label])  # fmt: skip
    for label, pts in sorted(derived.items()):
        x, y, _ = placed(pts)
        ax.scatter(x, y, s=60, marker="D", color=colours[label], edgecolors="black",
                   label=f"{label}: derived (one-shot)")  # fmt: skip
    if retrained:
        x, y, _ = placed(retrained)
        ax.scatter(x, y, s=80, marker="*", color="black", label=f"retrained ({tested})")
    searched = [p for pts in points.values() for p in pts]
    front = pareto_front(searched, maximised(gain)) if searched else []
    if front:
        ax.step(*zip(*front, strict=True), where="post", color="black", lw=1.2, marker="o",
                mfc="none", ms=9, label=f"Pareto front ({gain})")  # fmt: skip
    if outside:
        ax.scatter([], [], s=30, marker="v", facecolors="none", edgecolors="grey",
                   label=f"{outside} beyond the axes, at their edge")  # fmt: skip
    if xlim:
        ax.set_xlim(*xlim)
    if ylim:
        ax.set_ylim(*ylim)
    ax.set(xscale="log" if log_x else "linear", xlabel=cost.replace("_", " "), ylabel=gain)
    ax.legend(fontsize=8)
    _save(plt, fig, folder / "accuracy_vs_cost.png")
    drawn = {label: colours[label] for label in sorted({*points, *derived})}
    return {
        "x": cost,
        "y": gain,
        "colours": drawn,
        "derived": sum(len(v) for v in derived.values()),
        "front": front,
        "outside": outside,
        "xlim": list(xlim) if xlim else None,
        "ylim": list(ylim) if ylim else None,
    }


def draw_winners(folder: Path, rows: list[Row], metric: str, k: int) -> list[tuple[Row, Path]]:
    """The cells of the k best rows' architectures, drawn from the graphs each run wrote
    (cells.json): no space is rebuilt from a run's config, so no code of a run is run."""
    from nascli.ui.draw import draw_graphs

    sign = -1.0 if maximised(metric) else 1.0  # the best first: highest accuracy, lowest ppl
    ranked = sorted(
        (r for r in rows if r.arch and r.metrics.get(metric) is not None),
        key=lambda r: sign * float(r.metrics[metric]),
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
