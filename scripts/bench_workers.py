"""Trials per minute of `nas search` on digits with one worker and with N workers.

Each run is the real command line (`nas search search.workers=W search.worker_threads=1`, random
search, 5-epoch trials), timed from start to exit, so process start-up and the workers' own
start-up count. Runs alternate between the settings so machine noise hits both; the figures are
medians over the repeats, and the ratio is taken within each repeat.

Then it says where the rest of an ideal N-fold speed-up goes, from the runs' own records
(`history.jsonl`'s seconds per trial, `summary.json`'s search seconds):
- the fixed cost: the seconds outside the search (imports, config, the table of results), paid
  once however many workers there are;
- the slow-down of each trial when N run at once (a trial's median seconds with N workers over
  those with one);
- the machine's own ceiling: N processes each running the same single-threaded torch loop
  (convolutions and matrix products) at once, against one alone; on CPUs that share a core, a
  cache or memory bandwidth this is below N whatever the tool does;
- what is left: the workers' start-up (a spawned process imports torch and builds the data)
  and idle slots at the end.

    python scripts/bench_workers.py [--workers 2] [--trials 12] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

NAS = str(Path(sys.executable).parent / "nas")


def search(workers: int, trials: int, seed: int, folder: Path) -> dict[str, float]:
    """One run: its trials per minute, wall, in-search and median trial seconds."""
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
    lines = (run / "history.jsonl").read_text().splitlines()
    history = [json.loads(line) for line in lines if line.strip()]
    return {
        "per_minute": 60.0 * trials / seconds,
        "wall": seconds,
        "search": json.loads((run / "summary.json").read_text())["seconds"],
        "trial": statistics.median(r["seconds"] for r in history),
        "trials_total": sum(r["seconds"] for r in history),
    }


def _loop(seconds: float, done) -> None:
    import torch

    torch.set_num_threads(1)
    x, w = torch.randn(32, 16, 16, 16), torch.randn(16, 16, 3, 3)
    a = torch.randn(256, 256)
    end, n = time.perf_counter() + seconds, 0
    while time.perf_counter() < end:
        torch.nn.functional.conv2d(x, w, padding=1).sum()
        (a @ a).sum()
        n += 1
    done.put(n)


def ceiling(processes: int, seconds: float = 4.0) -> float:
    """Iterations per second of `processes` single-threaded torch loops run at once."""
    context = multiprocessing.get_context("spawn")
    done = context.Queue()
    jobs = [context.Process(target=_loop, args=(seconds, done)) for _ in range(processes)]
    for job in jobs:
        job.start()
    total = sum(done.get() for _ in jobs)
    for job in jobs:
        job.join()
    return total / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    one, many = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):
            a = search(1, args.trials, r, Path(tmp))
            b = search(args.workers, args.trials, r, Path(tmp))
            one.append(a)
            many.append(b)
            print(
                f"repeat {r}: 1 worker {a['per_minute']:.1f}/min, "
                f"{args.workers} workers {b['per_minute']:.1f}/min"
            )
    lone = statistics.median(ceiling(1) for _ in range(args.repeats))
    crowd = statistics.median(ceiling(args.workers) for _ in range(args.repeats))

    def med(runs: list[dict[str, float]], key: str) -> float:
        return statistics.median(run[key] for run in runs)

    w = args.workers
    speedup = statistics.median(
        b["per_minute"] / a["per_minute"] for a, b in zip(one, many, strict=True)
    )
    fixed = med(one, "wall") - med(one, "search")
    slowdown = med(many, "trial") / med(one, "trial")
    # The wall of the N-worker run if its only costs were the fixed one and its own trials
    # shared perfectly between the workers.
    packed = fixed + med(many, "trials_total") / w
    print(
        f"median trials per minute: 1 worker {med(one, 'per_minute'):.1f}, "
        f"{w} workers {med(many, 'per_minute'):.1f}; "
        f"speed-up {speedup:.2f}x (median of per-repeat ratios)"
    )
    print(f"machine ceiling: {w} single-threaded torch loops at once run {crowd / lone:.2f}x one")
    print(
        f"fixed cost outside the search: {fixed:.1f} s of a {med(one, 'wall'):.1f} s one-worker "
        f"run; median trial {med(one, 'trial'):.2f} s alone, {med(many, 'trial'):.2f} s with "
        f"{w} at once ({slowdown:.2f}x)"
    )
    print(
        f"{w}-worker wall {med(many, 'wall'):.1f} s: {fixed:.1f} s fixed + "
        f"{med(many, 'trials_total') / w:.1f} s of trials shared perfectly + "
        f"{med(many, 'wall') - packed:.1f} s left (worker start-up, idle slots)"
    )


if __name__ == "__main__":
    main()
