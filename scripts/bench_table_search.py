"""End-to-end seconds of a 100-query search on a benchmark table, per strategy (median of
--repeats runs): start-up, every query, best.json and summary.json. The target is under 10 s
on 2 cores.

    python scripts/bench_table_search.py [--repeats 3] [--queries 100]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

NAS = str(Path(sys.executable).parent / "nas")
STRATEGIES = ("random", "evolution", "local", "bo", "bananas", "reinforce", "qlearning")
TABLES = {
    "nbgraph/arxiv": ["space=nbgraph", "dataset=arxiv", "estimator=nbgraph"],
    "nb201/digits": ["space=nb201", "dataset=digits", "estimator=table"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--queries", type=int, default=100)
    args = parser.parse_args()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    print(f"{'table':<15} {'strategy':<11} {'median s':>9} {'min s':>7} {'max s':>7}")
    for table, table_args in TABLES.items():
        for strategy in STRATEGIES:
            times = []
            for _ in range(args.repeats):
                with tempfile.TemporaryDirectory() as tmp:
                    cmd = [NAS, "search", *table_args, f"strategy={strategy}"]
                    cmd += [f"search.trials={args.queries}", "logger=none", "hydra.run.dir=run"]
                    t0 = time.perf_counter()
                    done = subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True)
                    times.append(time.perf_counter() - t0)
                    if done.returncode != 0:
                        raise SystemExit(f"{' '.join(cmd)} failed: {done.stderr[-500:]}")
            print(
                f"{table:<15} {strategy:<11} {statistics.median(times):>9.2f} "
                f"{min(times):>7.2f} {max(times):>7.2f}"
            )


if __name__ == "__main__":
    main()
