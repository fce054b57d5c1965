"""Search recurrent cells on the embedded Reber grammar, retrain what each search found, and print
both against the grammar's perplexity floor.

    .venv/bin/python scripts/reber_searches.py [--strategies random darts enas] [--seed 0]
        [--trials 4] [--out /tmp/reber-searches]

Each strategy runs `nas search space=rnn_cell dataset=reber strategy=<s>` with its shipped
settings (random: `search.trials`, the train estimator's 2 epochs per cell; darts, enas: their
`*_reber.yaml` presets), then `nas train arch=<its run dir>` retrains the cell it found with the
reber recipe (10 epochs). Prints per strategy the search's minutes and best val perplexity (a
one-shot search's is the derived cell on its path in the shared weights), and the retrained
cell's test perplexity, next to the floor a perfect model reaches (2^(7/13) = 1.4524) and
DARTS_V2 retrained the same way. The acceptance check of issue "beyond images": the searches
run in minutes on 2 cores and approach the floor.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

NAS = str(Path(sys.executable).parent / "nas")
FLOOR = 2 ** (7 / 13)


def nas(*args: str) -> tuple[float, dict]:
    start = time.perf_counter()
    out = subprocess.run([NAS, *args, "format=json", "logger=none"], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"nas {' '.join(args)} exited {out.returncode}:\n{out.stderr[-3000:]}")
    return time.perf_counter() - start, json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strategies", nargs="+", default=["random", "darts", "enas"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--trials", type=int, default=4, help="random search's trials")
    parser.add_argument("--out", type=Path, default=Path("/tmp/reber-searches"))
    args = parser.parse_args()
    rows = []
    for strategy in args.strategies:
        run = args.out / f"{strategy}-{args.seed}"
        budget = [f"search.trials={args.trials}"] if strategy == "random" else []
        search_s, summary = nas(
            "search", "space=rnn_cell", "dataset=reber", f"strategy={strategy}",
            f"seed={args.seed}", *budget, f"hydra.run.dir={run}",
        )  # fmt: skip
        train_s, trained = nas(
            "train", "dataset=reber", f"arch={run}", f"seed={args.seed}",
            f"hydra.run.dir={run}-train",
        )  # fmt: skip
        rows.append((strategy, search_s, summary["best"]["metrics"]["val_ppl"], trained, train_s))
    _, reference = nas(
        "train", "space=rnn_cell", "dataset=reber", "arch=DARTS_V2", f"seed={args.seed}",
        f"hydra.run.dir={args.out}/DARTS_V2-{args.seed}",
    )  # fmt: skip
    print(f"floor (the grammar's entropy per token): perplexity {FLOOR:.4f}")
    print(
        f"{'strategy':<10} {'search min':>10} {'search val ppl':>15} {'retrained test ppl':>19}"
        f" {'retrain s':>9}"
    )
    for strategy, search_s, val_ppl, trained, train_s in rows:
        test = _test_ppl(trained)
        print(
            f"{strategy:<10} {search_s / 60:>10.1f} {val_ppl:>15.4f} {test:>19.4f} {train_s:>9.0f}"
        )
    print(f"{'DARTS_V2':<10} {'':>10} {'':>15} {_test_ppl(reference):>19.4f}")


def _test_ppl(summary: dict) -> float:
    metrics = summary.get("metrics") or summary.get("best", {}).get("metrics", {})
    return float(metrics["test_ppl"])


if __name__ == "__main__":
    main()
