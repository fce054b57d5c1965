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


def _scores(name: str) -> list[tuple[float, float]]:
    """(validation, test) score of every architecture of a table."""
    if name in GRAPHS:
        from nascli.estimators.nbgraph import read_table

        return [(r["val_acc"], r["test_acc"]) for r in read_table(name).values()]
    from nascli.benchmarks.table import BenchTable
    from nascli.core.config import _shipped_table

    table = BenchTable(_shipped_table("nb201-digits"))
    try:
        return [
            (r["curves"]["val_acc"][-1], r["curves"]["test_acc"][-1])
            for r in table.rows().values()
            if r["status"] == "ok"
        ]
    finally:
        table.close()


def ceiling(name: str) -> dict[str, float]:
    """What searching the whole table would give: the best validation score, and the test score
    of the architecture that has it (the mean over ties): what a search that chooses by
    validation reports once it has found the best."""
    rows = _scores(name)
    val = max(v for v, _ in rows)
    tied = [t for v, t in rows if v == val]  # a search keeps whichever it met first
    return {"val_acc": val, "test_acc": sum(tied) / len(tied)}


def agreement(name: str, top: int = 500) -> tuple[float, int]:
    """Kendall's tau (tau-b) between validation and test score over the table's `top`
    architectures by validation score (and any tied with the last): how far validation can
    still tell the best apart from the merely good."""
    from scipy.stats import kendalltau

    rows = _scores(name)
    cut = sorted((v for v, _ in rows), reverse=True)[top - 1]
    rows = [(v, t) for v, t in rows if v >= cut]  # ties at the cut all in
    return float(kendalltau([v for v, _ in rows], [t for _, t in rows]).statistic), len(rows)


def print_ceilings() -> None:
    print(f"{'table':<14} {'best val':>9} {'its test':>9} {'tau top-500':>12} {'archs':>6}")
    for name in TABLES:
        c = ceiling(name)
        tau, n = agreement(name)
        print(
            f"{name:<14} {100 * c['val_acc']:>9.2f} {100 * c['test_acc']:>9.2f} {tau:>12.2f} {n:>6}"
        )


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
    result = {
        "table": name,
        "seconds": seconds,
        "settings": settings,
        "groups": groups,
        "ceiling": ceiling(name),
    }
    done_before.write_text(json.dumps(result) + "\n")
    return result


def markdown(results: list[dict], queries: int, seeds: int) -> str:
    """Two tables: the validation score each strategy's choice reached (how well it searched)
    and that choice's test score (how well validation chose)."""
    strategies = list(dict.fromkeys(g["strategy"] for r in results for g in r["groups"]))
    lines = []
    for metric, what in (
        ("val_acc", "Validation score (what the search maximises)"),
        ("test_acc", "Test score"),
    ):
        key = f"{metric}@{queries}q"
        lines += [
            f"{what} of the architecture chosen by validation score after {queries} queries, "
            f"mean ± std over {seeds} seeds, in %; p: two-sided Mann-Whitney U against random "
            "(bold: p < 0.01 and a higher mean); whole table: the architecture with the "
            "table's best validation score.",
            "",
            "| table | " + " | ".join(strategies) + " | whole table |",
            "| --- | " + " | ".join("---" for _ in strategies) + " | --- |",
        ]
        ahead = dict.fromkeys(strategies, 0)
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
                        ahead[s] += 1
                cells.append(text)
            whole = r.get("ceiling") or ceiling(r["table"])
            cells.append(f"{100 * whole[metric]:.2f}")
            lines.append(f"| {r['table']} | " + " | ".join(cells) + " |")
        lines.append(
            "| ahead of random (p < 0.01) | "
            + " | ".join(
                "-" if s == "random" else f"{ahead[s]} of {len(results)}" for s in strategies
            )
            + " | |"
        )
        lines.append("")
    return "\n".join(lines)


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
    parser.add_argument(
        "--ceilings",
        action="store_true",
        help="print each table's best validation score, its test score and how well "
        "validation ranks the top architectures by test, and stop",
    )
    args = parser.parse_args()
    if args.ceilings:
        print_ceilings()
        return
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
