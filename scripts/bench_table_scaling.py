"""Per-query cost of a table search as its history grows: `nas search` end to end on
NAS-Bench-Graph's arxiv table (26,206 architectures) with 1 query and with N queries, per
strategy; the per-query figure is (T(N) - T(1)) / (N - 1) milliseconds, where T is the
search's own seconds (`summary.json`: from the pieces built to the last query), so the
imports and the table's loading drop out.
A loop whose per-query cost is flat prints the same figure at every N; one that re-reads or
rewrites its whole history per query prints figures that grow with N.

    python scripts/bench_table_scaling.py [--sizes 100 1000 10000] [--strategies ...]

Model-based strategies fit their model on a bounded window of what they were told
(`strategy.history`, 400 by default: the best and the latest results before the last cut, and
every result since), so their cost per query stops growing once the window is full; TPE's
proposals may repeat architectures already seen, and each retry is one more ask (at most
`strategy.retries`).
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
TABLE = ["space=nbgraph", "dataset=arxiv", "estimator=nbgraph", "logger=none"]
SIZES = {
    "random": (100, 1000, 10000),
    "evolution": (100, 1000, 10000),
    "bo": (100, 1000, 10000),
    "bananas": (100, 1000, 10000),
}


def seconds(strategy: str, queries: int, repeats: int) -> tuple[float, float]:
    """Median (end-to-end seconds, the search's own seconds) of a `queries`-query search."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    times, own = [], []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as tmp:
            cmd = [NAS, "search", *TABLE, f"strategy={strategy}", f"search.trials={queries}"]
            cmd.append("hydra.run.dir=run")
            start = time.perf_counter()
            done = subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True)
            times.append(time.perf_counter() - start)
            if done.returncode != 0:
                raise SystemExit(f"{' '.join(cmd)} failed: {done.stderr[-500:]}")
            own.append(json.loads((Path(tmp) / "run" / "summary.json").read_text())["seconds"])
    return statistics.median(times), statistics.median(own)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strategies", nargs="*", default=list(SIZES))
    parser.add_argument("--sizes", nargs="*", type=int, help="every strategy's query counts")
    parser.add_argument("--repeats", type=int, default=1, help="runs per size (the median)")
    args = parser.parse_args()
    print(
        f"{'strategy':<10} {'start-up s':>10} "
        + " ".join(f"{'ms/q @' + str(n):>12}" for n in (100, 1000, 10000))
    )
    for strategy in args.strategies:
        sizes = args.sizes or SIZES.get(strategy, (100, 1000))
        start_up, base = seconds(strategy, 1, args.repeats)
        cells = {n: (seconds(strategy, n, args.repeats)[1] - base) / (n - 1) * 1000 for n in sizes}
        shown = [f"{cells[n]:>12.2f}" if n in cells else f"{'-':>12}" for n in (100, 1000, 10000)]
        extra = [f"{n}: {ms:.2f}" for n, ms in cells.items() if n not in (100, 1000, 10000)]
        print(
            f"{strategy:<10} {start_up:>10.2f} "
            + " ".join(shown)
            + ("  " + ", ".join(extra) if extra else ""),
            flush=True,
        )


if __name__ == "__main__":
    main()
