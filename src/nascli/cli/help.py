"""`nas <command> --help`, read from the config tree's files without composing it: no Hydra, no
torch, an answer in a fraction of a second. `--hydra-help` is still Hydra's own."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

from nascli.core.paths import config_dir

# Each command's examples: (what it does, the command line). `<search run>` and the like stand for
# a directory an earlier example wrote; tests/test_help.py runs every line.
EXAMPLES: dict[str, list[tuple[str, str]]] = {
    "search": [
        (
            "train every proposal for one epoch on scikit-learn's digits",
            "nas search dataset=digits search.trials=3 estimator.epochs=1",
        ),
        (
            "regularised evolution on NAS-Bench-Graph's Cora table (ships with its package)",
            "nas search space=nbgraph dataset=cora estimator=nbgraph strategy=evolution "
            "search.trials=50",
        ),
        (
            "BANANAS on the NAS-Bench-201 digits table bundled with nascli",
            "nas search estimator=table strategy=bananas search.trials=30",
        ),
        (
            "a one-shot search: DARTS over NAS-Bench-201's cell on digits, six epochs",
            "nas search strategy=darts space=nb201 dataset=digits strategy.epochs=6",
        ),
        (
            "a sweep: two strategies x two seeds, one run directory each",
            "nas search -m strategy=random,evolution seed=0,1 space=nbgraph dataset=cora "
            "estimator=nbgraph search.trials=20",
        ),
        (
            "continue a stopped search, or give a finished one more trials",
            "nas search resume=<search run> search.trials=5",
        ),
    ],
    "train": [
        (
            "retrain the best architecture of a search (its space and dataset come along)",
            "nas train arch=<search run> recipe.epochs=2",
        ),
    ],
    "evaluate": [
        (
            "test a trained model again, with its own data and hardware",
            "nas evaluate run=<train run>",
        ),
    ],
    "inspect": [
        (
            "the best architecture of a run: size, FLOPs, latency, cell picture",
            "nas inspect arch=<search run>",
        ),
        ("what a space's decisions are", "nas inspect space=nbgraph dataset=cora"),
    ],
    "report": [
        ("tables and plots of runs and sweeps", "nas report <search run> <sweep>"),
        ("one row per strategy, mean and spread", "nas report <sweep> group_by=[strategy]"),
    ],
    "predict": [
        (
            "how well predictors rank NAS-Bench-Graph's Cora table from 20 and 50 samples",
            "nas predict space=nbgraph dataset=cora estimator=nbgraph train_sizes=[20,50] seeds=2",
        ),
    ],
    "bench": [
        (
            "train a seeded sample of 4 NAS-Bench-201 cells on digits into a table",
            "nas bench build bench.limit=4 estimator.epochs=1",
        ),
    ],
    "hw": [
        (
            "a latency lookup table of MobileNet's blocks on this CPU",
            "nas hw profile hw.samples=4 hw.passes=1 hw.patience=5",
        ),
        (
            "check it against whole-network timings",
            "nas hw validate hw.file=<hw table> hw.samples=4 hw.passes=1",
        ),
    ],
    # Not run by the examples test: a dashboard serves until stopped.
    "dashboard": [
        (
            "the study a search mirrored (search.storage=sqlite:///study.db) in the browser",
            "nas dashboard <search run> port=8080",
        ),
        ("a storage's every study (a sweep's jobs)", "nas dashboard sqlite:///study.db"),
    ],
}

# Commands with actions (the word after the command): what each does.
ACTIONS: dict[str, dict[str, str]] = {
    "bench": {"build": "train every unique architecture (or bench.limit of them) into a table"},
    "hw": {
        "profile": "time each block of the space on this device into a lookup table",
        "validate": "compare the table's sums with timings of whole networks",
    },
}

# Where a command's words differ from `nas <command> [overrides]`.
USAGE = {
    "report": "nas report <run or sweep dir>... [key=value ...]",
    "dashboard": "nas dashboard <run or sweep dir | storage URL> [host=...] [port=...]",
}

# Commands that are no Hydra app (no overrides, no --cfg).
NOT_HYDRA = {"dashboard"}

# Groups that only steer the run's own machinery, left out of the list.
HIDDEN = {"hydra"}


def _defaults(command: str) -> list[tuple[str, str, bool]]:
    """(group, default option, chosen automatically) of the command's defaults list."""
    import yaml

    text = (Path(config_dir()) / f"{command}.yaml").read_text()
    out = []
    for entry in yaml.safe_load(text).get("defaults", []):
        if not isinstance(entry, dict):
            continue
        ((key, value),) = entry.items()
        optional = key.startswith("optional ")
        group, _, package = key.removeprefix("optional ").partition("@")
        group = group.strip()
        # A group placed under a nested package (predict's predictor@predictors.mlp) is no
        # `group=option` choice to offer.
        if group in HIDDEN or key.startswith("override ") or "." in package:
            continue
        out.append((group, str(value), optional and "${" in str(value)))
    return out


def _options(group: str) -> list[str]:
    folder = Path(config_dir()) / group
    return sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []


def text(command: str, summary: str) -> str:
    lines = [f"nas {command}: {summary}", ""]
    actions = ACTIONS.get(command)
    if actions:
        lines.append(f"usage: nas {command} <action> [group=option ...] [key=value ...] [-m]")
        lines += ["", "actions:"]
        lines += [f"  {name:<10} {what}" for name, what in actions.items()]
    else:
        usage = USAGE.get(command, f"nas {command} [group=option ...] [key=value ...] [-m]")
        lines.append(f"usage: {usage}")
    lines += ["", "examples:"]
    for what, line in EXAMPLES.get(command, []):
        lines += [f"  # {what}", f"  {line}"]
    # A group with a single option is no choice to offer.
    groups = [(g, d) for g, d, auto in _defaults(command) if not auto and len(_options(g)) > 1]
    auto = [(g, d) for g, d, a in _defaults(command) if a]
    if groups:
        lines += ["", "config groups (group=option; default first):"]
        width = max(len(g) for g, _ in groups)
        columns = max(60, shutil.get_terminal_size((100, 24)).columns)
        for group, default in groups:
            others = [o for o in _options(group) if o != default]
            lines += textwrap.wrap(
                ", ".join([default, *others]),
                columns,
                initial_indent=f"  {group:<{width}}  ",
                subsequent_indent=" " * (width + 4),
                break_on_hyphens=False,
            )
    if auto:
        chosen = ", ".join(f"{g} ({d.replace('${', '<').replace('}', '>')})" for g, d in auto)
        lines += ["", f"chosen from the others where a file exists: {chosen}"]
    if command in NOT_HYDRA:
        lines += ["", "Reference: docs/command-line.md"]
        return "\n".join(lines)
    lines += [
        "",
        f"`nas {command} [overrides] --cfg job` prints the composed config (every key);",
        f"`nas {command} --hydra-help` shows Hydra's own flags. Reference: docs/command-line.md",
    ]
    return "\n".join(lines)
