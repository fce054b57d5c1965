"""What mattered (`nas report ... importance=true`): which decisions explain a search's objective,
and, for a one-shot run, how its architecture weights moved.

- Decisions: the trials of a search (each history record's `choices`, named by the run's
  `decisions.json`) are put in an in-memory Optuna study, and Optuna's fANOVA and
  mean-decrease-impurity evaluators (random forests over the decisions) say how much of the
  objective's variance each decision explains, normalised to sum to 1.
- One-shot runs: the softmax of each edge's architecture weights per epoch (`epochs.jsonl`'s
  alphas), one panel per edge: a DARTS collapse toward skip connections shows as it happens.

Everything is read as data; nothing of a run is built.
"""

from __future__ import annotations

import json
import logging
import math
import warnings
from pathlib import Path
from typing import Any

from nascli.commands.report.rows import Row
from nascli.core.objectives import maximised
from nascli.results.run_dir import DECISIONS, EPOCHS

log = logging.getLogger("nascli.report")

# Fewer finished trials than this say nothing about what mattered.
MIN_TRIALS = 8


def _decisions(path: Path) -> list[dict[str, Any]] | None:
    try:
        data = json.loads((path / DECISIONS).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    ok = isinstance(data, list) and all(
        isinstance(d, dict)
        and isinstance(d.get("name"), str)
        and isinstance(d.get("options"), list)
        for d in data
    )
    return data if ok else None


def importances(row: Row, seed: int = 0) -> dict[str, dict[str, float]] | None:
    """{evaluator: {decision: importance}}, most important first; None where the run has too
    few trials with recorded choices, or no decisions.json."""
    decisions = _decisions(row.path)
    if not decisions:
        return None
    n = len(decisions)
    objective = row.objective
    done = [
        r
        for r in row.history
        if r.get("status") == "ok"
        and isinstance(r.get("choices"), list)
        and len(r["choices"]) == n
        and isinstance((r.get("metrics") or {}).get(objective), int | float)
        and math.isfinite(r["metrics"][objective])
        and r.get("rung", 0) == 0
    ]
    if len(done) < MIN_TRIALS:
        return None
    import optuna
    from optuna.distributions import CategoricalDistribution
    from optuna.importance import FanovaImportanceEvaluator, MeanDecreaseImpurityImportanceEvaluator
    from optuna.trial import create_trial

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    names = [str(d["name"]) for d in decisions]
    labels = [[str(o) for o in d["options"]] for d in decisions]
    dists = {
        name: CategoricalDistribution(tuple(range(len(o))))
        for name, o in zip(names, labels, strict=True)
    }
    study = optuna.create_study(direction="maximize" if maximised(objective) else "minimize")
    for r in done:
        choices = [int(c) for c in r["choices"]]
        if any(not 0 <= c < len(o) for c, o in zip(choices, labels, strict=True)):
            continue
        study.add_trial(
            create_trial(
                value=float(r["metrics"][objective]),
                params=dict(zip(names, choices, strict=True)),
                distributions=dists,
            )
        )
    # A decision that never varied explains nothing (and the evaluators need two values).
    varied = [name for name in names if len({t.params[name] for t in study.trials}) > 1]
    if not varied:
        return None
    out: dict[str, dict[str, float]] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for key, evaluator in (
            ("fanova", FanovaImportanceEvaluator(seed=seed)),
            ("mdi", MeanDecreaseImpurityImportanceEvaluator(seed=seed)),
        ):
            # Sorted: Optuna 5.0's mean-decrease-impurity evaluator labels its importances in
            # the order given but computes them in sorted order (wrong names otherwise).
            found = optuna.importance.get_param_importances(
                study, evaluator=evaluator, params=sorted(varied), normalize=True
            )
            out[key] = {k: round(float(v), 6) for k, v in found.items()}
    return out


def alpha_trajectories(row: Row) -> dict[str, Any] | None:
    """{cell type: [per edge: {op: [softmax weight per epoch]}]} of a one-shot run, or None."""
    try:
        lines = (row.path / EPOCHS).read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    epochs = []
    for line in lines:
        try:
            epoch = json.loads(line)
        except ValueError:
            continue
        if (
            isinstance(epoch, dict)
            and isinstance(epoch.get("alphas"), dict)
            and epoch["alphas"]
            and isinstance(epoch.get("primitives"), list)
        ):
            epochs.append(epoch)
    if not epochs:
        return None
    ops = [str(p) for p in epochs[0]["primitives"]]
    out: dict[str, Any] = {}
    for cell, first in epochs[0]["alphas"].items():
        if not isinstance(first, list) or not first:
            continue
        out[str(cell)] = [{op: [] for op in ops} for _ in first]
        for e in epochs:
            edges = e["alphas"].get(cell)
            for k, logits in enumerate(edges[: len(first)] if isinstance(edges, list) else []):
                try:
                    values = [float(v) for v in logits]
                except (TypeError, ValueError):
                    continue
                if len(values) != len(ops) or not all(math.isfinite(v) for v in values):
                    continue
                top = max(values)
                weights = [math.exp(v - top) for v in values]
                total = sum(weights)
                for op, w in zip(ops, weights, strict=True):
                    out[str(cell)][k][op].append(w / total)
    return out or None


def plot_importances(folder: Path, found: dict[str, dict[str, dict[str, float]]]) -> Path | None:
    """A bar chart per run (up to four) of its ten most important decisions, fANOVA and MDI."""
    if not found:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = list(found.items())[:4]
    fig, axes = plt.subplots(len(runs), 1, figsize=(7, 2.8 * len(runs)), squeeze=False)
    for ax, (name, by) in zip(axes[:, 0], runs, strict=True):
        top = list(by["fanova"])[:10]
        ys = range(len(top))
        ax.barh([y - 0.2 for y in ys], [by["fanova"][k] for k in top], 0.4, label="fANOVA")
        ax.barh([y + 0.2 for y in ys], [by["mdi"].get(k, 0.0) for k in top], 0.4, label="MDI")
        ax.set_yticks(list(ys), top, fontsize=8)
        ax.invert_yaxis()
        ax.set(xlabel="share of the objective's variance explained", title=Path(name).name)
        ax.legend(fontsize=8)
    fig.tight_layout()
    path = folder / "importance.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_alphas(folder: Path, name: str, trajectories: dict[str, Any]) -> Path:
    """One panel per edge: each op's softmax weight against the epoch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    panels = [
        (cell, k, edge) for cell, edges in trajectories.items() for k, edge in enumerate(edges)
    ]
    cols = min(4, len(panels))
    rows = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.4 * rows), squeeze=False)
    for ax in axes.flat[len(panels) :]:
        ax.axis("off")
    for ax, (cell, k, edge) in zip(axes.flat, panels, strict=False):
        for op, weights in edge.items():
            ax.plot(range(len(weights)), weights, label=op, lw=1.2)
        ax.set_title(f"{cell} edge {k}", fontsize=8)
        ax.set_ylim(0, 1)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.tick_params(labelsize=7)
    axes.flat[0].legend(fontsize=6)
    fig.supxlabel("epoch", fontsize=8)
    fig.supylabel("softmax weight", fontsize=8)
    fig.tight_layout()
    path = folder / f"alphas_{name}.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
