"""Retrain the architectures one-shot searches derived, beside random architectures of the same space.

    .venv/bin/python scripts/oneshot_vs_random.py RUN_DIR [RUN_DIR ...] [--random 10] [--seeds 1]
        [--override dataset=digits ...]

Every architecture (each run directory's best.json, plus `--random` seeded samples of the space)
is trained from scratch with the `nas search` defaults of its space and dataset (the train
estimator of conf/, e.g. 5 epochs of the C=8, 5-cell evaluation network on digits) and scored on
the val split. Prints one row per architecture and the random median: the acceptance check of
the one-shot strategies ("the derived architecture reaches at least the median of 10 random ones").
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from nascli.config import instantiate
from nascli.paths import config_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--random", type=int, default=10)
    parser.add_argument("--seeds", type=int, default=1, help="training seeds per architecture")
    parser.add_argument("--override", nargs="*", default=[])
    args = parser.parse_args()
    torch.set_num_threads(2)

    bests = [json.loads((run / "best.json").read_text()) for run in args.runs]
    summaries = [json.loads((run / "summary.json").read_text()) for run in args.runs]
    space_name = bests[0]["space"]
    with initialize_config_dir(config_dir(), version_base="1.3"):
        cfg = compose("search", overrides=[f"space={space_name}", *args.override])
    space = instantiate(cfg.space, "space")
    data = instantiate(cfg.dataset, "dataset", seed=0, batch_size=cfg.estimator.batch_size)
    data.setup()
    estimator = instantiate(
        cfg.estimator, "estimator", trainer=OmegaConf.to_container(cfg.trainer, resolve=True)
    )

    def score(arch: str) -> float:
        accs = []
        for seed in range(args.seeds):
            torch.manual_seed(seed)
            net = space.build(arch, data.input_shape, data.num_classes)
            accs.append(estimator.evaluate(net, data, seed=seed)["val_acc"])
        return statistics.mean(accs)

    rows = []
    for run, best, summary in zip(args.runs, bests, summaries, strict=True):
        rows.append((summary.get("strategy", run.name), best["arch"], score(best["arch"])))
    rng = random.Random(0)
    randoms = [score(space.sample(rng)) for _ in range(args.random)]
    median = statistics.median(randoms)
    print(
        f"space={space_name} {' '.join(args.override)}; {args.seeds} training seed(s) per architecture"
    )
    print(
        f"random x{args.random}: median {median:.4f}, min {min(randoms):.4f}, max {max(randoms):.4f}"
    )
    for name, arch, acc in rows:
        verdict = ">= median" if acc >= median else "< median"
        print(f"{name:>8}: {acc:.4f} ({verdict})  {arch}")


if __name__ == "__main__":
    main()
