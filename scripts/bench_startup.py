"""Start-up figures: seconds until each command answers (median of --repeats runs), and what
importing torch and Lightning costs on their own.

    python scripts/bench_startup.py [--repeats 5]

Help, `--cfg job` and config errors must answer without importing torch; the last rows are
what a run pays before its first trial.
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

PY = sys.executable
NAS = str(Path(PY).parent / "nas")
CASES = [
    ("nas --help", [NAS, "--help"]),
    ("nas search --help", [NAS, "search", "--help"]),
    ("nas train --help", [NAS, "train", "--help"]),
    ("nas search --cfg job", [NAS, "search", "--cfg", "job"]),
    ("nas search search.trials=abc (error)", [NAS, "search", "search.trials=abc"]),
    ("import torch", [PY, "-c", "import torch"]),
    ("import pytorch_lightning", [PY, "-c", "import pytorch_lightning"]),
    (
        "nas search estimator=table search.trials=1",
        [NAS, "search", "estimator=table", "search.trials=1", "hydra.run.dir=run"],
    ),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    print(f"{'command':<46} {'median s':>9} {'min s':>7} {'max s':>7}")
    for name, cmd in CASES:
        times = []
        for _ in range(args.repeats):
            with tempfile.TemporaryDirectory() as tmp:
                t0 = time.perf_counter()
                subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, check=False)
                times.append(time.perf_counter() - t0)
        print(f"{name:<46} {statistics.median(times):>9.2f} {min(times):>7.2f} {max(times):>7.2f}")


if __name__ == "__main__":
    main()
