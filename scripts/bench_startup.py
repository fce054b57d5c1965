"""Start-up figures: per command, seconds until its first line, until its first trial (a search:
the first line of history.jsonl or epochs.jsonl) and until it ends (medians of --repeats runs),
and what importing torch and Lightning costs on their own.

    python scripts/bench_startup.py [--repeats 5]

Help, `--cfg job`, config errors and an action-less `nas bench` must answer without importing
torch; a run prints its first line before torch loads, so its first-line time is Hydra's
composition and the config checks, and first trial minus first line is what the imports, the data
and the pieces cost.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

PY = sys.executable
NAS = str(Path(PY).parent / "nas")
CASES = [
    ("nas --help", [NAS, "--help"]),
    ("nas search --help", [NAS, "search", "--help"]),
    ("nas train --help", [NAS, "train", "--help"]),
    ("nas bench (no action)", [NAS, "bench"]),
    ("nas search --cfg job", [NAS, "search", "--cfg", "job"]),
    ("nas search search.trials=abc (error)", [NAS, "search", "search.trials=abc"]),
    ("import torch", [PY, "-c", "import torch"]),
    ("import pytorch_lightning", [PY, "-c", "import pytorch_lightning"]),
    (
        "nas search (nbgraph table, 3 trials)",
        [NAS, "search", "space=nbgraph", "dataset=cora", "estimator=nbgraph", "search.trials=3"],
    ),
    (
        "nas search (train 1 epoch, 1 trial)",
        [NAS, "search", "search.trials=1", "estimator.epochs=1", "logger=none"],
    ),
    (
        "nas search strategy=darts (nb201, 1 epoch)",
        [NAS, "search", "strategy=darts", "space=nb201", "strategy.epochs=1"]
        + ["strategy.warmup_epochs=0"],
    ),
]


def _one(cmd: list[str], env: dict[str, str]) -> tuple[float, float | None, float]:
    """(first line, first trial or None, end) in seconds from the start."""
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        if cmd[0] == NAS and len(cmd) > 2 and "=" in cmd[-1]:
            cmd = [*cmd, f"hydra.run.dir={run}"]
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            cmd, cwd=tmp, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        first: list[float] = []

        def read() -> None:
            for _ in proc.stdout:  # type: ignore[union-attr]
                if not first:
                    first.append(time.perf_counter() - t0)

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        trial = None
        while proc.poll() is None:
            if trial is None and any(
                (run / f).is_file() and (run / f).stat().st_size > 0
                for f in ("history.jsonl", "epochs.jsonl")
            ):
                trial = time.perf_counter() - t0
            time.sleep(0.02)
        end = time.perf_counter() - t0
        reader.join(timeout=5)
        if trial is None and (run / "history.jsonl").is_file():
            trial = end  # the first trial and the end fell between two polls
        return (first[0] if first else end), trial, end


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    print(f"{'command':<44} {'first line s':>12} {'first trial s':>13} {'end s':>7}")
    for name, cmd in CASES:
        runs = [_one(cmd, env) for _ in range(args.repeats)]
        line = statistics.median(r[0] for r in runs)
        trials = [r[1] for r in runs if r[1] is not None]
        trial = f"{statistics.median(trials):.2f}" if trials else "-"
        end = statistics.median(r[2] for r in runs)
        print(f"{name:<44} {line:>12.2f} {trial:>13} {end:>7.2f}", flush=True)


if __name__ == "__main__":
    main()
