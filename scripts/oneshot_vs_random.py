"""Retrain the architectures one-shot searches derived, beside random architectures of the same space.

    .venv/bin/python scripts/oneshot_vs_random.py RUN_DIR [RUN_DIR ...] [--random 10] [--seeds 1]
        [--override dataset=digits ...]

Every architecture (each run directory's best.json, plus `--random` seeded samples of the space)
is trained from scratch with the `nas search` defaults of its space and dataset (the train
estimator of conf/, e.g. 5 epochs of the C=8, 5-cell evaluation network on digits) and scored on
the val split. Prints one row per architecture and the random median: the acceptance check of
the one-shot strategies ("the derived architecture reaches at least the median of 10 random ones").

`--table` looks every architecture up in the benchmark table of its space and dataset instead
(estimator=table: the shipped nb201/digits table holds every cell trained the same way, for 2
epochs), and also prints the median over the whole table and the architecture's percentile.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from omegaconf import OmegaConf

from nascli.core.config import instantiate
from nascli.core.paths import config_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--random", type=int, default=10)
    parser.add_argument("--seeds", type=int, default=1, help="training seeds per architecture")
    parser.add_argument("--override", nargs="*", default=[])
    parser.add_argument(
        "--table", action="store_true", help="look architectures up in the benchmark table"
    )
    args = parser.parse_args()
    torch.set_num_threads(2)

    bests = [json.loads((run / "best.json").read_text()) for run in args.runs]
    summaries = [json.loads((run / "summary.json").read_text()) for run in args.runs]
    space_name = bests[0]["space"]
    table = ["estimator=table"] if args.table else []
    with initialize_config_dir(config_dir(), version_base="1.3"):
        cfg = compose(
            "search",
            overrides=[f"space={space_name}", *table, *args.override],
            return_hydra_config=True,
        )
    HydraConfig.instance().set_config(cfg)  # the table's path names the space and dataset
    space = instantiate(cfg.space, "space")
    data = instantiate(cfg.dataset, "dataset", seed=0, batch_size=cfg.estimator.batch_size)
    data.setup()
    estimator = instantiate(
        cfg.estimator, "estimator", trainer=OmegaConf.to_container(cfg.trainer, resolve=True)
    )

    def score(arch: str) -> float:
        if args.table:
            return estimator.evaluate_arch(arch, space, data, 0)["val_acc"]
        accs = []
        for seed in range(args.seeds):
            torch.manual_seed(seed)
            net = space.build(arch, data.input_shape, data.num_classes)
            accs.append(estimator.evaluate(net, data, seed=seed)["val_acc"])
        return statistics.mean(accs)

    rows = []
    for run, best, summary in zip(args.runs, bests, summaries, strict=True):
        name = f"{summary.get('strategy', run.name)} seed {summary.get('seed', '?')}"
        rows.append((name, best["arch"], score(best["arch"])))
    rng = random.Random(0)
    randoms = [score(space.sample(rng)) for _ in range(args.random)]
    median = statistics.median(randoms)
    how = "looked up in the table" if args.table else f"{args.seeds} training seed(s) each"
    print(f"space={space_name} {' '.join(args.override)}; val accuracy, {how}")
    print(
        f"random x{args.random}: median {median:.4f}, min {min(randoms):.4f}, max {max(randoms):.4f}"
    )
    every = None
    if args.table:
        every = sorted(
            r["curves"]["val_acc"][estimator.epochs - 1]
            for r in estimator.rows.values()
            if r["status"] == "ok"
        )
        print(f"all {len(every)} cells of the table: median {statistics.median(every):.4f}")
    for name, arch, acc in rows:
        verdict = ">= median" if acc >= median else "< median"
        where = ""
        if every is not None:
            test = estimator.evaluate_arch(arch, space, data, 0)["test_acc"]
            where = f", percentile {100 * sum(v <= acc for v in every) / len(every):.0f}; test {test:.4f}"
        print(f"{name:>15}: {acc:.4f} ({verdict}{where})  {arch}")


if __name__ == "__main__":
    main()
