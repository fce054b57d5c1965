"""The body of `nas predict`: fit, predict, rank, tabulate, plot."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import numpy as np
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf
from rich.console import Console
from rich.table import Table

from nascli.core.config import instantiate
from nascli.core.errors import NascliError
from nascli.results.run_dir import CONFIG, SUMMARY, RunDir


def run_predict(cfg: DictConfig) -> dict[str, Any]:
    from scipy.stats import kendalltau, spearmanr

    # Library warnings belong in the job log (conf/hydra/default.yaml routes py.warnings there).
    logging.captureWarnings(True)
    hydra_cfg = HydraConfig.get()
    run = RunDir(hydra_cfg.runtime.output_dir)
    run.write_text(CONFIG, OmegaConf.to_yaml(cfg, resolve=True))
    choices = hydra_cfg.runtime.choices
    archs, scores, params = _table(cfg, choices.get("space", ""), choices.get("dataset"))
    sizes = sorted(set(cfg.train_sizes))
    if sizes[-1] + cfg.test_size > len(archs):
        raise NascliError(
            f"train_sizes up to {sizes[-1]} plus test_size={cfg.test_size} need more than the "
            f"table's {len(archs)} architectures; lower test_size or train_sizes"
        )
    space = instantiate(cfg.space, "space")
    encodings: dict[str, np.ndarray] = {}
    rows: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    for rep in range(cfg.seeds):
        order = np.random.default_rng([cfg.seed, rep]).permutation(len(archs))
        test, pool = order[: cfg.test_size], order[cfg.test_size :]
        if params is not None:  # the baseline that needs no fitting: fewer parameters, worse
            rows.append(
                _row("params", 0, rep, params[test], scores[test], 0.0, kendalltau, spearmanr)
            )
        for name, node in cfg.predictors.items():
            encoding = cfg.encoding or node.get("encoding") or "onehot"
            if encoding not in encodings:
                encodings[encoding] = np.array([space.features(a, encoding) for a in archs])
            x = encodings[encoding]
            for n in sizes:
                predictor = instantiate(node, f"predictors.{name}", encoding=encoding, seed=rep)
                fit = pool[:n]
                start = time.perf_counter()
                mean, _ = predictor.fit(x[fit], scores[fit]).predict(x[test])
                seconds = time.perf_counter() - start
                rows.append(_row(name, n, rep, mean, scores[test], seconds, kendalltau, spearmanr))
    summary = _summarise(rows)
    result = {
        "command": "predict",
        "space": choices.get("space", ""),
        "dataset": choices.get("dataset"),
        "objective": cfg.objective,
        "architectures": len(archs),
        "train_sizes": sizes,
        "test_size": cfg.test_size,
        "seeds": cfg.seeds,
        "summary": summary,
        "seconds": round(time.perf_counter() - t0, 3),
        "run_dir": str(run.path),
    }
    run.write_json("predict.json", {**result, "runs": rows})
    run.write_json(SUMMARY, result)
    _plot(summary, sizes, run.path / "predict.png")
    if cfg.format == "json":
        print(json.dumps(result))
    else:
        _print(result)
    return result


def _table(cfg: DictConfig, space_name: str, dataset: str | None):
    """(archs, scores, params or None) of every architecture the estimator's table answers."""
    space = instantiate(cfg.space, "space")
    estimator = instantiate(cfg.estimator, "estimator")
    estimator.check_space(space_name, OmegaConf.to_container(cfg.space, resolve=True), dataset)
    table = estimator.entries(space, cfg.seed)
    if table is None:
        raise NascliError(
            "nas predict needs a benchmark table to fit and test on: estimator=nbgraph "
            "(with space=nbgraph) or estimator=table"
        )
    missing = [a for a, m in table if cfg.objective not in m]
    if missing:
        raise NascliError(
            f"objective={cfg.objective} is not a metric of the table ({missing[0]} lacks it)"
        )
    archs = [a for a, _ in table]
    scores = np.array([m[cfg.objective] for _, m in table], dtype=float)
    params = None
    if all("params" in m for _, m in table):
        params = np.array([m["params"] for _, m in table], dtype=float)
    return archs, scores, params


def _row(name, n, rep, predicted, true, seconds, kendalltau, spearmanr) -> dict[str, Any]:
    tau = kendalltau(predicted, true).statistic
    rho = spearmanr(predicted, true).statistic
    # a constant prediction ranks nothing: no correlation rather than NaN
    return {
        "predictor": name,
        "n": n,
        "seed": rep,
        "kendall_tau": 0.0 if np.isnan(tau) else float(tau),
        "spearman": 0.0 if np.isnan(rho) else float(rho),
        "seconds": round(seconds, 4),
    }


def _summarise(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean and std over seeds, per predictor and training size."""
    groups: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["predictor"], row["n"]), []).append(row)
    out = []
    for (name, n), group in groups.items():
        entry: dict[str, Any] = {"predictor": name, "n": n, "seeds": len(group)}
        for key in ("kendall_tau", "spearman", "seconds"):
            values = np.array([r[key] for r in group])
            entry[key] = round(float(values.mean()), 4)
            entry[f"{key}_std"] = round(float(values.std()), 4)
        out.append(entry)
    return out


def _print(result: dict[str, Any]) -> None:
    out = Console()
    sizes = result["train_sizes"]
    for key, name in (("kendall_tau", "Kendall tau"), ("spearman", "Spearman rho")):
        table = Table(
            title=f"{name} of predicted {result['objective']} on {result['test_size']} held-out "
            f"architectures of {result['dataset']}-{result['space']} (mean ± std over "
            f"{result['seeds']} seeds), by training size N",
            title_justify="left",
        )
        table.add_column("predictor")
        for n in sizes:
            table.add_column(f"N={n}", justify="right")
        cells: dict[str, dict[int, str]] = {}
        for entry in result["summary"]:
            cells.setdefault(entry["predictor"], {})[entry["n"]] = (
                f"{entry[key]:.3f} ± {entry[key + '_std']:.3f}"
            )
        for predictor, by_n in cells.items():
            if 0 in by_n:  # the parameter-count baseline is fitted on nothing
                table.add_row("params (no fit)", *[by_n[0]] * len(sizes))
            else:
                table.add_row(predictor, *(by_n.get(n, "-") for n in sizes))
        out.print(table)
    out.print(f"run dir: {result['run_dir']}", markup=False, highlight=False, soft_wrap=True)


def _plot(summary: list[dict[str, Any]], sizes: list[int], path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    names = dict.fromkeys(e["predictor"] for e in summary)
    for name in names:
        entries = sorted((e for e in summary if e["predictor"] == name), key=lambda e: e["n"])
        if entries[0]["n"] == 0:
            ax.axhline(entries[0]["kendall_tau"], color="grey", linestyle="--", label="params")
            continue
        n = [e["n"] for e in entries]
        mean = np.array([e["kendall_tau"] for e in entries])
        std = np.array([e["kendall_tau_std"] for e in entries])
        ax.plot(n, mean, marker="o", label=name)
        ax.fill_between(n, mean - std, mean + std, alpha=0.2)
    ax.set_xscale("log")
    ax.set_xticks(sizes, [str(s) for s in sizes])
    ax.set_xlabel("architectures fitted on (N)")
    ax.set_ylabel("Kendall tau on held-out architectures")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)
