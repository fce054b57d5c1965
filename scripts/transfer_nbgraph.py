"""Transfer across NAS-Bench-Graph's nine datasets: leave one out, warm start from the others.

For every seed and dataset, one search on its table (`strategy=evolution`, --source-trials
queries) is the earlier work. Then, for each dataset D held out, a search on D evaluates only
the architectures transferred from that seed's searches on the other eight
(`search.warm_start=[...] search.warm_start_top_k=10 search.trials=10`: the 10 best by mean
rank across them), against random search with 100 queries on D with the same seed. Each side is
judged by the architecture it picks (the best by validation accuracy, which the searches
optimise): its validation and its test accuracy, as the mean over seeds. Everything is a real
`nas search` on the benchmark's tables (no training): minutes on 2 cores.

    python scripts/transfer_nbgraph.py [--source-trials 200] [--seeds 0 1 2 3 4] [--out DIR]

Prints a Markdown table (docs/benchmarks.md holds one) and how many datasets the transfer won.
Its last column is the same transfer with perfect knowledge: the ranking made from the other
eight datasets' whole tables (every architecture, not a search's few hundred), read directly.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from nascli.estimators.nbgraph import DATASETS, read_table  # the nine tables

NAS = str(Path(sys.executable).parent / "nas")
TOP_K = 10
RANDOM_QUERIES = 100


def search(run: Path, dataset: str, *args: str) -> dict[str, float]:
    """The metrics of the architecture `nas search` picked (best.json)."""
    cmd = [NAS, "search", "space=nbgraph", "estimator=nbgraph", f"dataset={dataset}"]
    cmd += [*args, "logger=none", f"hydra.run.dir={run}"]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} exited {out.returncode}:\n{out.stderr[-2000:]}")
    return json.loads((run / "best.json").read_text(encoding="utf-8"))["metrics"]


def whole_tables(held_out: str, tables: dict[str, dict[int, dict[str, float]]]) -> float:
    """The test score of the architecture picked on `held_out` (by its validation score) from
    the TOP_K best by mean scaled validation rank over the other datasets' whole tables."""
    target = tables[held_out]
    ranks: dict[int, list[float]] = {}
    for d, rows in tables.items():
        if d == held_out:
            continue
        order = sorted(rows, key=lambda k: (-rows[k]["val_acc"], k))
        for position, k in enumerate(order):
            ranks.setdefault(k, []).append(position / (len(order) - 1))
    known = [k for k in ranks if k in target]
    top = sorted(known, key=lambda k: (statistics.fmean(ranks[k]), k))[:TOP_K]
    return target[max(top, key=lambda k: (target[k]["val_acc"], -k))]["test_acc"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source-trials", type=int, default=200)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", type=Path, help="keep the run directories here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = args.out or Path(tmp)
        runs = [(seed, d) for seed in args.seeds for d in DATASETS]

        def source(seed: int, d: str) -> Path:
            return root / f"source-{seed}" / d

        def run_source(job: tuple[int, str]) -> dict[str, float]:
            seed, d = job
            return search(source(seed, d), d, "strategy=evolution", f"seed={seed}",
                          f"search.trials={args.source_trials}")  # fmt: skip

        def run_transfer(job: tuple[int, str]) -> dict[str, float]:
            seed, held_out = job
            others = ",".join(str(source(seed, d)) for d in DATASETS if d != held_out)
            return search(root / f"transfer-{seed}" / held_out, held_out, "strategy=random",
                          f"seed={seed}", f"search.trials={TOP_K}",
                          f"search.warm_start=[{others}]", f"search.warm_start_top_k={TOP_K}")  # fmt: skip

        def run_random(job: tuple[int, str]) -> dict[str, float]:
            seed, d = job
            return search(root / f"random-{seed}" / d, d, "strategy=random", f"seed={seed}",
                          f"search.trials={RANDOM_QUERIES}")  # fmt: skip

        with ThreadPoolExecutor(args.jobs) as pool:
            list(pool.map(run_source, runs))
            transfer = dict(zip(runs, pool.map(run_transfer, runs), strict=True))
            randoms = dict(zip(runs, pool.map(run_random, runs), strict=True))
    print(
        f"Sources: strategy=evolution, {args.source_trials} queries per dataset. Transfer: the "
        f"{TOP_K} best of the other eight by mean rank. Random: {RANDOM_QUERIES} queries. Mean "
        f"over seeds {' '.join(map(str, args.seeds))} of the accuracies of the architecture "
        "each picks.\n"
    )
    print(
        f"| dataset | transfer ({TOP_K}) val | random ({RANDOM_QUERIES}) val | "
        f"transfer test | random test | transfer wins (test) | whole tables test |"
    )
    print("|---|---|---|---|---|---|---|")
    wins_test = wins_val = wins_whole = 0
    tables = {d: read_table(d) for d in DATASETS}
    for d in DATASETS:

        def mean(found: dict, metric: str, d: str = d) -> float:
            return statistics.fmean(found[seed, d][metric] for seed in args.seeds)

        t_val, t_test = mean(transfer, "val_acc"), mean(transfer, "test_acc")
        r_val, r_test = mean(randoms, "val_acc"), mean(randoms, "test_acc")
        wins_val += t_val > r_val
        wins_test += t_test > r_test
        won = "yes" if t_test > r_test else "no"
        best = whole_tables(d, tables)
        wins_whole += best > r_test
        print(
            f"| {d} | {t_val:.4f} | {r_val:.4f} | {t_test:.4f} | {r_test:.4f} | {won} | "
            f"{best:.4f} |"
        )
    print(
        f"\nTransfer beats random search on {wins_test} of {len(DATASETS)} datasets by test "
        f"accuracy, on {wins_val} of {len(DATASETS)} by validation accuracy. Ranked from the "
        f"whole tables, it would on {wins_whole} of {len(DATASETS)}."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
