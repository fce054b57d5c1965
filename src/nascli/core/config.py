"""Building objects from config, and checking the keys users type most before any work starts."""

from __future__ import annotations

import numbers
from collections.abc import Callable
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from nascli.core.errors import NascliError
from nascli.core.targets import check_targets


def _run_dir(resume: str | None, fresh: str) -> str:
    """hydra.run.dir: a resumed search continues in its own folder (checked here, before Hydra
    would create a missing one)."""
    if not resume:
        return fresh
    if not Path(str(resume)).expanduser().is_dir():
        raise NascliError(
            f"resume={resume} is not a folder; give the run directory of the search to continue"
        )
    return str(Path(str(resume)).expanduser())


def _hydra_subdir(resume: str | None, stamp: str) -> str:
    """hydra.output_subdir: a resumed run keeps the original .hydra/ and records itself beside it."""
    return f".hydra/resume-{stamp}" if resume else ".hydra"


def _shipped_table(name: str) -> str:
    """bench.file's default: the table nascli ships for `<space>-<dataset>`, if there is one."""
    path = Path(__file__).resolve().parent.parent / "bench_tables" / f"{name}.sqlite"
    if not path.is_file():
        raise NascliError(
            f"bench.file is required: nascli ships no table for {name}; build one with "
            "`nas bench build` and pass bench.file=<its file>"
        )
    return str(path)


for _name, _fn in (
    ("nascli.run_dir", _run_dir),
    ("nascli.hydra_subdir", _hydra_subdir),
    ("nascli.shipped_table", _shipped_table),
):
    if not OmegaConf.has_resolver(_name):
        OmegaConf.register_new_resolver(_name, _fn)


def instantiate(node: DictConfig, where: str, **kwargs: Any) -> Any:
    """hydra's instantiate, after checking every `_target_` below `node` (nascli.core.targets)."""
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate as hydra_instantiate

    check_targets(node, where)
    for key, value in kwargs.items():  # Hydra instantiates these too (the trainer dict, say)
        check_targets(value, f"{where}({key}=)")
    try:
        return hydra_instantiate(node, **kwargs)
    except InstantiationException as exc:
        # A constructor's own NascliError is the message the user should see, unwrapped.
        if isinstance(exc.__cause__, NascliError):
            raise exc.__cause__ from None
        raise


def _is_int(v: Any) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


# key -> (type check, range check, what it must be, an example fix)
Rule = tuple[Callable[[Any], bool], Callable[[Any], bool], str, str]
RULES: dict[str, Rule] = {
    "seed": (_is_int, lambda v: v >= 0, "a non-negative integer", "seed=0"),
    "search.trials": (_is_int, lambda v: v > 0, "a positive integer", "search.trials=10"),
    "search.seconds": (
        _is_number,
        lambda v: v > 0,
        "a positive number of seconds or null",
        "search.seconds=600",
    ),
    "search.epochs_total": (
        _is_int,
        lambda v: v >= 1,
        "a positive integer or null",
        "search.epochs_total=100",
    ),
    "search.max_failures": (
        _is_int,
        lambda v: v >= 0,
        "a non-negative integer or null",
        "search.max_failures=3",
    ),
    "constraints.max_params": (
        _is_int,
        lambda v: v > 0,
        "a positive integer or null",
        "constraints.max_params=500000",
    ),
    "constraints.max_flops": (
        _is_int,
        lambda v: v > 0,
        "a positive integer or null",
        "constraints.max_flops=10000000",
    ),
    "constraints.max_latency_ms": (
        _is_number,
        lambda v: v > 0,
        "a positive number of milliseconds or null",
        "constraints.max_latency_ms=5",
    ),
    "constraints.max_memory_mb": (
        _is_number,
        lambda v: v > 0,
        "a positive number of MiB or null",
        "constraints.max_memory_mb=1.5",
    ),
    "constraints.min_accuracy": (
        _is_number,
        lambda v: 0 <= v <= 1,
        "a fraction between 0 and 1 or null",
        "constraints.min_accuracy=0.9",
    ),
    "estimator.epochs": (
        _is_int,
        lambda v: v >= 1,
        "an integer of at least 1 (null with estimator=table: the table's full curves)",
        "estimator.epochs=5",
    ),
    "estimator.batch_size": (
        _is_int,
        lambda v: v > 0,
        "a positive integer",
        "estimator.batch_size=64",
    ),
    "strategy.epochs": (
        _is_int,
        lambda v: v >= 1,
        "an integer of at least 1",
        "strategy.epochs=50",
    ),
    "strategy.batch_size": (
        _is_int,
        lambda v: v > 0,
        "a positive integer",
        "strategy.batch_size=64",
    ),
    "strategy.max_skip": (
        _is_int,
        lambda v: v >= 0,
        "a non-negative integer or null",
        "strategy.max_skip=2",
    ),
    "space.search_channels": (
        _is_int,
        lambda v: v > 0,
        "a positive integer",
        "space.search_channels=16",
    ),
    "space.search_layers": (
        _is_int,
        lambda v: v >= 1,
        "an integer of at least 1",
        "space.search_layers=8",
    ),
    "space.channels": (_is_int, lambda v: v > 0, "a positive integer", "space.channels=16"),
    "space.cells_per_stage": (
        _is_int,
        lambda v: v >= 1,
        "an integer of at least 1",
        "space.cells_per_stage=5",
    ),
    "dataset.val_fraction": (
        _is_number,
        lambda v: 0 < v < 1,
        "a fraction between 0 and 1",
        "dataset.val_fraction=0.2",
    ),
    "search.objective": (
        lambda v: isinstance(v, str),
        lambda v: bool(v),
        "a metric name",
        "search.objective=val_acc",
    ),
    "estimator.prefilter": (
        _is_int,
        lambda v: v >= 2,
        "an integer of at least 2 or null",
        "estimator.prefilter=10",
    ),
    "recipe.epochs": (_is_int, lambda v: v >= 1, "an integer of at least 1", "recipe.epochs=30"),
    "recipe.batch_size": (_is_int, lambda v: v > 0, "a positive integer", "recipe.batch_size=96"),
    "recipe.drop_path_prob": (
        _is_number,
        lambda v: 0 <= v < 1,
        "a probability in [0, 1)",
        "recipe.drop_path_prob=0.2",
    ),
    "recipe.augment.cutout": (
        _is_int,
        lambda v: v >= 0,
        "a non-negative integer (0: off)",
        "recipe.augment.cutout=16",
    ),
    "recipe.augment.crop_padding": (
        _is_int,
        lambda v: v >= 0,
        "a non-negative integer (0: off)",
        "recipe.augment.crop_padding=4",
    ),
    "recipe.train_on": (
        lambda v: isinstance(v, str),
        lambda v: v in ("train", "train+val"),
        "train or train+val",
        "recipe.train_on=train+val",
    ),
    "hw.samples": (_is_int, lambda v: v >= 2, "an integer of at least 2", "hw.samples=30"),
    "hw.patience": (_is_int, lambda v: v >= 1, "a positive integer", "hw.patience=300"),
    "hw.passes": (_is_int, lambda v: v >= 1, "an integer of at least 1", "hw.passes=5"),
    "hw.probe_every": (
        _is_int,
        lambda v: v >= 0,
        "a non-negative integer (0: no probe)",
        "hw.probe_every=4",
    ),
    "bench.limit": (_is_int, lambda v: v >= 1, "a positive integer or null", "bench.limit=100"),
    "bench.workers": (_is_int, lambda v: v >= 1, "an integer of at least 1", "bench.workers=2"),
    "ensemble.top_k": (_is_int, lambda v: v >= 1, "an integer of at least 1", "ensemble.top_k=3"),
    "format": (
        lambda v: isinstance(v, str),
        lambda v: v in ("table", "json"),
        "table or json",
        "format=json",
    ),
}


# What to say when a required top-level key is missing.
REQUIRED_HINTS = {
    "arch": "give an arch string, a published name (space=darts: DARTS_V2, ...) or a run directory: arch=...",
    "dirs": "name the run or sweep directories to report: nas report outputs/multirun/<time> ...",
    "run": "give the run directory of a finished `nas train`: run=outputs/train/...",
    "bench": "estimator=table needs its table (bench.file=<file from nas bench build>), "
    "estimator=nb201 the NAS-Bench-201 file (bench.file=<NAS-Bench-201-v1_1-096897.pth>)",
}


def validate(cfg: DictConfig) -> None:
    """Raise NascliError naming the first key whose value has the wrong type or range."""
    for key in cfg:
        if OmegaConf.is_missing(cfg, key):
            raise NascliError(
                f"{key} is required; {REQUIRED_HINTS.get(str(key), f'set {key}=<value>')}"
            )
    for group in ("dataset", "space", "strategy", "estimator", "hardware", "bench"):
        node = cfg.get(group)
        for key in node or ():
            if OmegaConf.is_missing(node, key):
                raise NascliError(
                    f"{group}.{key} is required here; set {group}.{key}=<value> on the command line"
                )
    for key, (type_ok, range_ok, must_be, example) in RULES.items():
        value = OmegaConf.select(cfg, key, default="__absent__")
        if value == "__absent__" or (value is None and "null" in must_be):
            continue
        if not type_ok(value):
            raise NascliError(
                f"{key}={value!r} has the wrong type: it must be {must_be} (e.g. {example})"
            )
        if not range_ok(value):
            raise NascliError(
                f"{key}={value!r} is out of range: it must be {must_be} (e.g. {example})"
            )
