"""Trials per minute of `nas search` on digits with one worker and with N workers.

Each run is the real command line (`nas search search.workers=W search.worker_threads=1`, random
search, 5-epoch trials), timed from start to exit, so process start-up and the workers' own
start-up count. Runs alternate between the settings so machine noise hits both; the figures are
medians over the repeats, and the ratio is taken within each repeat.

    python scripts/bench_workers.py [--workers 2] [--trials 12] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

NAS = str(Path(sys.executable).parent / "nas")


def trials_per_minute(workers: int, trials: int, seed: int, folder: Path) -> float:
    run = folder / f"w{workers}-s{seed}"
    start = time.perf_counter()
    out = subprocess.run(
        [
            NAS,
            "search",
            "strategy=random",
            f"seed={seed}",
            f"search.trials={trials}",
            f"search.workers={workers}",
            "search.worker_threads=1",
            "logger=none",
            "format=json",
            f"hydra.run.dir={run}",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    seconds = time.perf_counter() - start
    if out.returncode != 0:
        sys.exit(f"nas search failed: {out.stderr.strip().splitlines()[-1]}")
    assert json.loads(out.stdout)["trials"] == trials
    return 60.0 * trials / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    one, many, ratios = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):
            a = trials_per_minute(1, args.trials, r, Path(tmp))
            b = trials_per_minute(args.workers, args.trials, r, Path(tmp))
            one.append(a)
            many.append(b)
            ratios.append(b / a)
            print(f"repeat {r}: 1 worker {a:.1f}/min, {args.workers} workers {b:.1f}/min")
    print(
        f"median trials per minute: 1 worker {statistics.median(one):.1f}, "
        f"{args.workers} workers {statistics.median(many):.1f}; "
        f"speed-up {statistics.median(ratios):.2f}x (median of per-repeat ratios)"
    )


if __name__ == "__main__":
    main()
