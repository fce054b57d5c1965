"""Compare nascli's sample-based strategies on published and shipped benchmark tables.

For each table (NAS-Bench-Graph's nine datasets, nascli's nb201-on-digits table), one multirun
sweep of every strategy x seed with a budget of queries, then `nas report` with the chosen
architecture's test score after 20, 50 and 100 queries and a Mann-Whitney p-value against
random search. Writes comparison.json and comparison.md (the table the docs show) into --out.

    python scripts/compare_benchmarks.py --seeds 50 --queries 100 --out outputs/compare
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import subprocess
import sys
import time
from pathlib import Path

NAS = str(Path(sys.executable).parent / "nas")
# One torch thread per sweep: the controllers are tiny, and spare threads thrash a shared machine.
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
STRATEGIES = ("random", "evolution", "local", "bo", "bananas", "reinforce", "qlearning")
GRAPHS = ("cora", "citeseer", "pubmed", "cs", "physics", "photo", "computers", "arxiv", "proteins")
TABLES = {
    **{d: ["space=nbgraph", f"dataset={d}", "estimator=nbgraph"] for d in GRAPHS},
    "digits-nb201": ["space=nb201", "dataset=digits", "estimator=table"],
}


def run_table(name: str, args: argparse.Namespace) -> dict:
    """Sweep one table and report it; the report's groups and the seconds it took."""
    folder = Path(args.out) / name
    done_before = folder / "result.json"
    settings = {"seeds": args.seeds, "queries": args.queries, "strategies": list(args.strategies)}
    if args.reuse and done_before.is_file():  # swept and reported by an earlier call
        before = json.loads(done_before.read_text())
        if before.get("settings") == settings:
            return before
        print(f"{name}: swept with other settings before; sweeping again", flush=True)
    start = time.perf_counter()
    sweep = [
        NAS, "search", "-m", f"strategy={','.join(args.strategies)}",
        f"seed=range(0,{args.seeds})", *TABLES[name], f"search.trials={args.queries}",
        "logger=none", "format=json", f"hydra.sweep.dir={folder / 'sweep'}",
    ]  # fmt: skip
    done = subprocess.run(sweep, capture_output=True, text=True, env=ENV)
    if done.returncode != 0:
        raise SystemExit(f"{name}: the sweep failed: {done.stderr.strip().splitlines()[-1:]}")
    queries = sorted({q for q in (20, 50, args.queries) if q <= args.queries})
    report = [
        NAS, "report", str(folder / "sweep"), "group_by=[strategy]", "baseline=random",
        f"queries=[{','.join(map(str, queries))}]", "plots=false", "format=json",
        f"hydra.run.dir={folder / 'report'}",
    ]  # fmt: skip
    done = subprocess.run(report, capture_output=True, text=True, env=ENV)
    if done.returncode != 0:
        raise SystemExit(f"{name}: the report failed: {done.stderr.strip().splitlines()[-1:]}")
    groups = json.loads(done.stdout)["groups"]
    seconds = round(time.perf_counter() - start, 1)
    print(f"{name}: {len(groups)} strategies x {args.seeds} seeds in {seconds} s", flush=True)
    result = {"table": name, "seconds": seconds, "settings": settings, "groups": groups}
    done_before.write_text(json.dumps(result) + "\n")
    return result


def markdown(results: list[dict], queries: int, seeds: int) -> str:
    key = f"test_acc@{queries}q"
    strategies = list(dict.fromkeys(g["strategy"] for r in results for g in r["groups"]))
    lines = [
        f"Test score of the architecture chosen (by validation score) after {queries} queries, "
        f"mean ± std over {seeds} seeds; p: two-sided Mann-Whitney U against random "
        "(bold: p < 0.01 and a higher mean).",
        "",
        "| table | " + " | ".join(strategies) + " |",
        "| --- | " + " | ".join("---" for _ in strategies) + " |",
    ]
    for r in results:
        by = {g["strategy"]: g for g in r["groups"]}
        base = by.get("random", {}).get(key)
        cells = []
        for s in strategies:
            g = by.get(s)
            if g is None or g.get(key) is None:
                cells.append("-")
                continue
            text = f"{100 * g[key]:.2f} ± {100 * g[key + '_std']:.2f}"
            p = g.get(f"{key}_p")
            if p is not None:
                text += f" (p {p:.1g})"
                if p < 0.01 and base is not None and g[key] > base:
                    text = f"**{text}**"
            cells.append(text)
        lines.append(f"| {r['table']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=50)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--tables", nargs="*", default=list(TABLES), choices=list(TABLES))
    parser.add_argument("--strategies", nargs="*", default=list(STRATEGIES))
    parser.add_argument("--jobs", type=int, default=1, help="tables swept at once")
    parser.add_argument("--out", default="outputs/compare")
    parser.add_argument(
        "--reuse", action="store_true", help="keep the tables an earlier call under --out finished"
    )
    args = parser.parse_args()
    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        results = list(pool.map(lambda name: run_table(name, args), args.tables))
    out = Path(args.out)
    total = round(time.perf_counter() - start, 1)
    summary = {"seeds": args.seeds, "queries": args.queries, "seconds": total, "tables": results}
    (out / "comparison.json").write_text(json.dumps(summary, indent=1) + "\n")
    table = markdown(results, args.queries, args.seeds)
    (out / "comparison.md").write_text(table)
    print(table)
    print(f"{total} s in all; {out / 'comparison.md'}")


if __name__ == "__main__":
    main()
