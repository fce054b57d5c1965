"""Trained epochs to reach a validation accuracy: network morphism against random search.

Both run the real command line on digits over the same space (`space=chain`), with the same
epochs per trial: `strategy=morphism` trains each child from its parent's weights, random search
trains each architecture from scratch. For each target accuracy the script prints how many
epochs of training (trials x epochs per trial) each needed before its best trial reached it,
per seed and as the median over seeds ("-": not within the budget).

    python scripts/bench_morphism.py [--seeds 0 1 2] [--trials 24] [--epochs 1]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

NAS = str(Path(sys.executable).parent / "nas")
TARGETS = (0.80, 0.90, 0.95, 0.97, 0.99)


def search(strategy: str, seed: int, trials: int, epochs: int, folder: Path) -> list[float]:
    """The val_acc of each trial in the order they ran (0 for a failed one)."""
    run = folder / f"{strategy}-{seed}"
    out = subprocess.run(
        [
            NAS,
            "search",
            "space=chain",
            f"strategy={strategy}",
            "dataset=digits",
            f"seed={seed}",
            f"search.trials={trials}",
            f"estimator.epochs={epochs}",
            "logger=none",
            f"hydra.run.dir={run}",
        ],
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        raise SystemExit(
            f"nas search strategy={strategy} seed={seed} failed:\n{out.stderr[-2000:]}"
        )
    records = [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]
    return [r["metrics"].get("val_acc", 0.0) if r["status"] == "ok" else 0.0 for r in records]


def epochs_to(accuracies: list[float], target: float, epochs: int) -> int | None:
    for k, acc in enumerate(accuracies, 1):
        if acc >= target:
            return k * epochs
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--trials", type=int, default=24)
    parser.add_argument("--epochs", type=int, default=1)
    args = parser.parse_args()
    found: dict[str, dict[int, list[float]]] = {"morphism": {}, "random": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            for strategy in found:
                found[strategy][seed] = search(strategy, seed, args.trials, args.epochs, Path(tmp))
    print(
        f"space=chain dataset=digits, {args.trials} trials of {args.epochs} epoch(s), "
        f"seeds {' '.join(map(str, args.seeds))}: epochs trained until the best val_acc >= target"
    )
    print(f"{'target':>7} {'strategy':>9} {'median':>7}   per seed")
    for target in TARGETS:
        for strategy, runs in found.items():
            per_seed = [epochs_to(runs[s], target, args.epochs) for s in args.seeds]
            reached = [e for e in per_seed if e is not None]
            # The median over seeds, a seed that never reached it counting as past the budget.
            ranked = sorted(e if e is not None else float("inf") for e in per_seed)
            median = statistics.median_low(ranked)
            shown = "-" if median == float("inf") else str(int(median))
            cells = " ".join("-" if e is None else str(e) for e in per_seed)
            print(
                f"{target:>7.2f} {strategy:>9} {shown:>7}   {cells}  ({len(reached)}/{len(per_seed)})"
            )
    for strategy, runs in found.items():
        best = [max(runs[s]) for s in args.seeds]
        print(
            f"best val_acc, {strategy}: median {statistics.median(best):.4f} ({' '.join(f'{b:.4f}' for b in best)})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
