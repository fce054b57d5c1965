"""Seconds of a small digits search (3 trials of 2 epochs, one worker) with 1, 2 and all available
torch threads, on an idle machine and beside a competing busy process (one per CPU but one), median of
--repeats runs; the ratio says what `trainer.threads` is worth. OMP_NUM_THREADS is removed so
that `trainer.threads` alone decides.

    python scripts/bench_threads.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

NAS = str(Path(sys.executable).parent / "nas")
SEARCH = ["search", "search.trials=3", "estimator.epochs=2", "logger=none", "hydra.run.dir=run"]


def _busy() -> None:
    while True:
        sum(i * i for i in range(10_000))


def _seconds(threads: int) -> float:
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        done = subprocess.run(
            [NAS, *SEARCH, f"trainer.threads={threads}"],
            cwd=tmp, env=env, capture_output=True, text=True,
        )  # fmt: skip
        if done.returncode != 0:
            raise SystemExit(f"the search failed: {done.stderr[-500:]}")
        return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    from nascli.core.cpus import available_cpus

    cpus = available_cpus()
    print(f"{cpus} CPUs available to this process")
    print(f"{'load':<10} {'threads':>7} {'median s':>9} {'min s':>7} {'max s':>7}")
    for load in ("idle", "busy"):
        hogs = []
        if load == "busy":
            hogs = [
                multiprocessing.Process(target=_busy, daemon=True) for _ in range(max(1, cpus - 1))
            ]
            for h in hogs:
                h.start()
        try:
            medians = {}
            for threads in sorted({1, min(2, cpus), cpus}):
                times = [_seconds(threads) for _ in range(args.repeats)]
                medians[threads] = statistics.median(times)
                print(f"{load:<10} {threads:>7} {medians[threads]:>9.1f} {min(times):>7.1f} "
                      f"{max(times):>7.1f}")  # fmt: skip
            most = max(medians)
            print(f"{load:<10} ratio {most} threads / 1 thread: {medians[most] / medians[1]:.2f}")
        finally:
            for h in hogs:
                h.terminate()


if __name__ == "__main__":
    main()
