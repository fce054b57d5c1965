"""Which space works with which strategy, estimator and hardware target, found by running them.

Every cell of the matrix is one real `nas` command at tiny settings (one or two trials, one
epoch, a small network on small synthetic images), run in a fresh folder: exit 0 is a yes; exit 2
(nascli's refusal of a combination) is a no, and its one-line reason becomes a footnote; anything
else is a bug and fails the script. The tables are written into docs/support.md between its
markers, so the page says what the code does:

    python scripts/support_matrix.py [--jobs 2] [--check] [--only SPACE ...]

--check compares the page with a fresh run instead of writing it (exit 1 if they differ).
--only re-runs the columns of the spaces named (and the rows named as strategy=NAME,
estimator=NAME or hardware=NAME) and keeps the page's other cells as they are (the whole matrix
takes about half an hour on 2 cores; a new space's column or a new row a few minutes).
Strategies are run with each space on a cheap estimator (zero-cost proxies; the space's own
table where it has no networks; one epoch of training for a strategy that needs it), with populations and initial designs small enough that three
trials reach each strategy's own step; estimators with `strategy=random`; hardware=table as `nas
hw profile` for the space and a search that reads the table it wrote. hardware=gpu is the cpu
row's answer on a CUDA device and is not run here. estimator=nb201 answers "no" wherever the
NAS-Bench-201 file is not installed (it is not shipped).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NAS = str(Path(sys.executable).parent / "nas")
CONF = ROOT / "conf"
PAGE = ROOT / "docs" / "support.md"
BEGIN, END = "<!-- support matrix: begin -->", "<!-- support matrix: end -->"

IMAGES = ["dataset=fake", "dataset.num_samples=96", "dataset.image_shape=[3,8,8]"]
# Per space: what makes it small, and the data and estimator strategies are tried with.
SPACES = {
    "nb201": ["space.channels=4", "space.cells_per_stage=1", *IMAGES],
    "darts": [
        "space.channels=4",
        "space.layers=2",
        "space.auxiliary=false",
        "space.search_channels=4",
        "space.search_layers=2",
        *IMAGES,
    ],
    "macro": ["space.layers=3", "space.channels=4", *IMAGES],
    "chain": ["space.stages=2", "space.slots=2", "space.widths=[4,8]", "space.stem=4", *IMAGES],
    "hierarchical": ["space.channels=4", "space.stages=2", *IMAGES],
    "grammar": ["space.channels=4", "space.stages=2", *IMAGES],
    "mobilenet": ["space.width_mult=0.25", *IMAGES],
    "custom": [f"space.builder={ROOT / 'examples' / 'oneshot_space.py'}:build", *IMAGES],
    "nbgraph": ["dataset=cora"],
    "rnn_cell": [
        "dataset=reber",
        "dataset.strings=[60,20,20]",
        "space.hidden=8",
        "space.search_hidden=8",
    ],
    "attention": [
        "dataset=digits_seq",
        "space.depths=[1,2]",
        "space.embed_dims=[8]",
        "space.heads=[1,2]",
        "space.mlp_ratios=[1,2]",
        "space.mixers=[attention,conv,identity]",
    ],
}
# The estimator a space is tried with (default: zerocost, whose proxies need a classifier).
CHEAP = {"nbgraph": "nbgraph", "rnn_cell": "train"}
# Strategies that need another estimator than the space's cheap one (on spaces with networks).
STRATEGY_ESTIMATOR = {"morphism": "train"}
ONESHOT = ["strategy.epochs=1", "strategy.batch_size=32"]
SAMPLE = ["search.trials=3"]
# Small populations and initial designs, so that three trials reach each strategy's own step.
STRATEGY_EXTRA = {
    "bananas": ["strategy.initial=2", "strategy.batch=1", "strategy.parents=2", "strategy.pool=8"],
    "bo": ["strategy.startup_trials=1", "strategy.candidates=8"],
    "evolution": ["strategy.population=2", "strategy.sample_size=1"],
    "nsga2": ["strategy.population=2"],
    "progressive": ["strategy.beam=2", "strategy.expansions=4"],
}
# What a multi-objective strategy trades off, by the estimator its space is tried with.
OBJECTIVES = {"zerocost": "search.objectives=[score,params:min]"}
OBJECTIVES["nbgraph"] = "search.objectives=[val_acc,latency_ms:min]"
OBJECTIVES["train"] = "search.objectives=[val_ppl,params]"  # rnn_cell's language model
TINY_TRAINING = ["estimator.epochs=1", "estimator.batch_size=32"]
TRAINED = ("train", "hyperband", "supernet")  # estimators that train, given TINY_TRAINING
ESTIMATOR_EXTRA = {"hyperband": ["estimator.max_epochs=1", "estimator.min_epochs=1"]}


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


def oneshot_strategies() -> set[str]:
    """Strategies whose target is a one-shot module (read from their YAML, not imported)."""
    found = set()
    for name in options("strategy"):
        text = (CONF / "strategy" / f"{name}.yaml").read_text(encoding="utf-8")
        if re.search(r"^_target_: nascli\.oneshot\.", text, re.M):
            found.add(name)
    return found


# Hydra's refusals of a key that does not exist: a mistake in this script, not an answer.
TYPO = re.compile(r"Could not override|not in struct|Key '.*' is not|Could not find '")


def outcome(steps: list[list[str]]) -> tuple[bool, str]:
    """(works, reason) of `nas <step>` for each step in turn, in one fresh folder ({tmp} in an
    argument is that folder); the first step refused gives the reason."""
    with tempfile.TemporaryDirectory() as tmp:
        for i, step in enumerate(steps):
            args = [a.replace("{tmp}", tmp) for a in step]
            cmd = [NAS, *args, "format=json", f"hydra.run.dir={tmp}/run{i}"]
            out = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True, timeout=900)
            if out.returncode == 0:
                continue
            lines = [line for line in out.stderr.strip().splitlines() if line.strip()]
            errors = [line for line in lines if line.startswith(f"nas {args[0]}: error: ")]
            if out.returncode != 2 or not lines or TYPO.search(out.stderr):
                raise SystemExit(f"{' '.join(cmd)} exited {out.returncode}:\n{out.stderr[-3000:]}")
            reason = (errors or lines)[-1].removeprefix(f"nas {args[0]}: error: ")
            return False, reason.replace(tmp, "<tmp>").replace(str(ROOT), ".")
    return True, ""


def sampled(estimator: str) -> list[str]:
    """A sample-based search's estimator and budget."""
    return [f"estimator={estimator}", *SAMPLE, *(TINY_TRAINING if estimator in TRAINED else [])]


def cells() -> dict[tuple[str, str, str], list[list[str]]]:
    """(table, space, column) -> the commands of that cell, for every cell of the three tables."""
    oneshot = oneshot_strategies()
    todo: dict[tuple[str, str, str], list[list[str]]] = {}
    for space, small in SPACES.items():
        base = ["search", f"space={space}", *small, "logger=none"]
        estimator = CHEAP.get(space, "zerocost")
        cheap = sampled(estimator)
        for strategy in options("strategy"):
            own = STRATEGY_ESTIMATOR.get(strategy) if space != "nbgraph" else None
            budget = ONESHOT if strategy in oneshot else sampled(own) if own else cheap
            if "warmup_epochs:" in (CONF / "strategy" / f"{strategy}.yaml").read_text("utf-8"):
                budget = [*budget, "strategy.warmup_epochs=0"]  # one epoch, all of it searching
            extra = STRATEGY_EXTRA.get(strategy, [])
            if strategy == "nsga2":
                extra = [*extra, OBJECTIVES[estimator]]
            todo["strategy", space, strategy] = [[*base, f"strategy={strategy}", *budget, *extra]]
        for name in options("estimator"):
            training = TINY_TRAINING if name in TRAINED else []
            # The shipped digits table is the table estimator's default; other data has none.
            own = base
            if name == "table" and space != "nbgraph":
                # The space as the shipped table was built: its own settings, on digits.
                own = [a for a in base if not a.startswith(("space.", "dataset."))]
                own += [a for a in small if a.startswith("space.builder")] + ["dataset=digits"]
            step = [*own, "strategy=random", f"estimator={name}", *SAMPLE, *training]
            todo["estimator", space, name] = [[*step, *ESTIMATOR_EXTRA.get(name, [])]]
        todo["hardware", space, "cpu"] = [[*base, "strategy=random", *cheap, "hardware=cpu"]]
        # A latency table is one `nas hw profile` writes for the space; then a search reads it.
        todo["hardware", space, "table"] = [
            ["hw", "profile", f"space={space}", *small, "hw.samples=2", "hw.passes=1"]
            + ["hw.file={tmp}/latency.json"],
            [
                *base,
                "strategy=random",
                *cheap,
                "hardware=table",
                "hardware.file={tmp}/latency.json",
            ],
        ]
    return todo


Results = dict[tuple[str, str, str], tuple[bool, str]]


def read_page(text: str | None = None) -> Results:
    """The matrix docs/support.md holds: (table, space, column) -> (works, reason)."""
    if text is None:
        text = PAGE.read_text(encoding="utf-8")
    body = text.split(BEGIN, 1)[1].split(END, 1)[0]
    matrix, notes = body.split("in nascli's own words:", 1)
    reasons = re.findall(r"^\d+\. `(.*)`$", notes, re.M)
    found: Results = {}
    spaces: list[str] = []
    for line in matrix.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| |"):
            spaces = cells[1:]
        elif line.startswith("| ") and "=" in cells[0]:
            table, column = cells[0].split("=", 1)
            for space, cell in zip(spaces, cells[1:], strict=True):
                number = re.fullmatch(r"no \((\d+)\)", cell)
                found[table, space, column] = (
                    (False, reasons[int(number[1]) - 1]) if number else (cell == "yes", "")
                )
    return found


def render(results: Results) -> str:
    reasons: list[str] = []

    def mark(result: tuple[bool, str]) -> str:
        works, reason = result
        if works:
            return "yes"
        if reason not in reasons:
            reasons.append(reason)
        return f"no ({reasons.index(reason) + 1})"

    spaces = list(SPACES)
    parts = []
    for table, title in (
        ("strategy", "Strategies (rows) on each space"),
        ("estimator", "Estimators (rows) on each space, with strategy=random"),
        ("hardware", "Hardware targets (rows) on each space"),
    ):
        columns = sorted({c for t, _, c in results if t == table})
        lines = [f"### {title}", "", "| | " + " | ".join(spaces) + " |"]
        lines.append("|---" * (len(spaces) + 1) + "|")
        for column in columns:
            row = [mark(results[table, s, column]) for s in spaces]
            lines.append(f"| {table}={column} | " + " | ".join(row) + " |")
        parts.append("\n".join(lines))
    parts.append(
        "hardware=gpu is the hardware=cpu row's answer on a CUDA device (not run here: it needs one)."
    )
    notes = "\n".join(f"{i}. `{reason}`" for i, reason in enumerate(reasons, 1))
    return "\n\n".join(parts) + "\n\nWhy not, in nascli's own words:\n\n" + notes + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--check", action="store_true", help="compare with docs/support.md")
    parser.add_argument("--only", nargs="+", metavar="SPACE|TABLE=NAME")
    args = parser.parse_args()
    page = PAGE.read_text(encoding="utf-8")
    todo = cells()
    found: Results = {}
    if args.only:
        known = set(SPACES) | {f"{table}={column}" for table, _, column in todo}
        if unknown := sorted(set(args.only) - known):
            raise SystemExit(f"--only: {', '.join(unknown)} names no space or row of the matrix")

        def chosen(cell: tuple[str, str, str]) -> bool:
            return cell[1] in args.only or f"{cell[0]}={cell[2]}" in args.only

        kept = read_page(page)
        missing = {cell for cell in todo if not chosen(cell) and cell not in kept}
        if missing:
            raise SystemExit(
                f"docs/support.md lacks the cells {sorted(missing)[:3]}...: add to --only"
            )
        found = {cell: kept[cell] for cell in todo if not chosen(cell)}
        todo = {cell: steps for cell, steps in todo.items() if chosen(cell)}
    with ThreadPoolExecutor(args.jobs) as pool:
        found |= dict(zip(todo, pool.map(outcome, todo.values()), strict=True))
    body = render(found)
    head, rest = page.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    fresh = f"{head}{BEGIN}\n{body}{END}{tail}"
    if args.check:
        same = fresh == page
        print("docs/support.md is current" if same else "docs/support.md differs from a fresh run")
        return 0 if same else 1
    PAGE.write_text(fresh, encoding="utf-8")
    print(body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
