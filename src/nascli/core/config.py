"""Building objects from config, and checking the keys users type most before any work starts."""

from __future__ import annotations

import difflib
import numbers
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

from nascli.core.errors import NascliError
from nascli.core.paths import config_dir
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

    node = strip_checks(node)
    check_targets(node, where)
    for key, value in kwargs.items():  # Hydra instantiates these too (the trainer dict, say)
        check_targets(value, f"{where}({key}=)")
    try:
        return hydra_instantiate(node, **kwargs)
    except InstantiationException as exc:
        # A constructor's own NascliError is the message the user should see, unwrapped.
        if isinstance(exc.__cause__, NascliError):
            raise exc.__cause__ from None
        unexpected = re.search(
            r"(\w+)\.__init__\(\) got an unexpected keyword argument '(\w+)'", str(exc)
        )
        if unexpected and f"{where}.{unexpected.group(2)}" in _added_keys():  # a `+key` it lacks
            cls, key = unexpected.groups()
            raise NascliError(f"{where}.{key} is not an argument of {cls}; remove it") from None
        raise


CHECKS = "_checks_"


def _is_int(v: Any) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


@dataclass(frozen=True)
class Rule:
    """What one key must be, read from a config node's `_checks_` (see `parse_rule`)."""

    kind: str  # int | number | str | builder
    low: float | None = None
    low_open: bool = False
    high: float | None = None
    high_open: bool = False
    choices: tuple[str, ...] = ()
    nullable: bool = False
    example: str | None = None
    # `and < key` / `and <= key`: below a sibling key's value (when that one is a number).
    below: str | None = None
    below_open: bool = True

    def type_ok(self, v: Any) -> bool:
        return {"int": _is_int, "number": _is_number}.get(self.kind, lambda x: isinstance(x, str))(
            v
        )

    def range_ok(self, v: Any) -> bool:
        if self.kind == "builder":
            return builder_problem(v) is None
        if self.kind == "str":
            return v in self.choices if self.choices else bool(v)
        if self.low is not None and not (v > self.low if self.low_open else v >= self.low):
            return False
        return self.high is None or (v < self.high if self.high_open else v <= self.high)

    def must_be(self) -> str:
        if self.kind == "builder":
            return "module:function or path/to/file.py:function (an existing file)"
        if self.kind == "str":
            text = f"one of {', '.join(self.choices)}" if self.choices else "a non-empty name"
        else:
            noun = "an integer" if self.kind == "int" else "a number"
            if self.low is not None and self.high is not None:
                text = (
                    f"{noun} in {'(' if self.low_open else '['}{self.low:g}, "
                    f"{self.high:g}{')' if self.high_open else ']'}"
                )
            elif self.low == 0 and self.low_open:
                text = f"a positive {noun.split()[-1]}"
            elif self.low == 0:
                text = f"a non-negative {noun.split()[-1]}"
            elif self.low is not None:
                text = f"{noun} of at least {self.low:g}"
            else:
                text = noun
        return text + (" or null" if self.nullable else "")


_RULE = re.compile(
    r"^(?P<kind>int|number|str|builder)"
    r"(?:\s*(?P<op>>=|>)\s*(?P<low>-?[0-9.]+)"
    r"|\s+in\s+(?P<lb>[\[(])\s*(?P<a>-?[0-9.]+)\s*,\s*(?P<b>-?[0-9.]+)\s*(?P<rb>[\])])"
    r"|\s+in\s+(?P<choices>[^|]+?))?"
    r"(?:\s+and\s+(?P<bop><=|<)\s*(?P<below>[A-Za-z_][A-Za-z0-9_]*))?"
    r"(?P<null>\s+or\s+null)?"
    r"(?:\s+e\.g\.\s+(?P<example>\S+))?\s*$"
)


def parse_rule(text: str) -> Rule:
    """A rule in one line: `int >= 1`, `int > 0 or null`, `number in (0, 1)`, `number in [0, 1)`,
    `str in train, train+val`, `str`, `builder` (a custom space's builder spec); a number rule may
    add `and < key` (below a sibling key's value); any may end with `e.g. <value>`."""
    m = _RULE.match(str(text).strip())
    if not m:
        raise NascliError(f"{CHECKS}: cannot read the rule {text!r} (e.g. 'int >= 1 or null')")
    g = m.groupdict()
    rule = Rule(
        kind=g["kind"],
        nullable=bool(g["null"]),
        example=g["example"],
        below=g["below"],
        below_open=g["bop"] != "<=",
    )
    if g["op"]:
        return replace(rule, low=float(g["low"]), low_open=g["op"] == ">")
    if g["lb"]:
        return replace(
            rule,
            low=float(g["a"]),
            low_open=g["lb"] == "(",
            high=float(g["b"]),
            high_open=g["rb"] == ")",
        )
    if g["choices"]:
        return replace(rule, choices=tuple(c.strip() for c in g["choices"].split(",")))
    return rule


# Keys every command has; a config group's own keys are checked by the `_checks_` of its file.
COMMON_CHECKS = {"seed": "int >= 0 e.g. 0", "format": "str in table, json e.g. json"}


def builder_problem(spec: Any) -> str | None:
    """What is wrong with a custom space's `builder` spec, read without importing it (None: fine)."""
    module, sep, attr = str(spec).rpartition(":")
    if not sep or not module or not attr.isidentifier():
        return "write module:function or path/to/file.py:function"
    if module.endswith(".py") and not Path(module).expanduser().is_file():
        return f"{Path(module).expanduser().resolve()} is not a file"
    return None


def _check(key: str, value: Any, rule: Rule, bound: Any = None) -> None:
    if value is None and rule.nullable:
        return
    example = f"{key}={rule.example}" if rule.example else f"{key}=<{rule.must_be()}>"
    if rule.kind == "builder":
        if (problem := builder_problem(value)) is not None:
            raise NascliError(f"{key}={value}: {problem} (e.g. {example})")
        return
    if not rule.type_ok(value):
        raise NascliError(
            f"{key}={value!r} has the wrong type: it must be {rule.must_be()} (e.g. {example})"
        )
    if not rule.range_ok(value):
        raise NascliError(
            f"{key}={value!r} is out of range: it must be {rule.must_be()} (e.g. {example})"
        )
    below = rule.below is not None and _is_number(bound)
    if below and not (value < bound if rule.below_open else value <= bound):
        sibling = key.rpartition(".")[0] + "." + rule.below if "." in key else rule.below
        raise NascliError(
            f"{key}={value!r} is out of range: it must be "
            f"{'below' if rule.below_open else 'at most'} {sibling}={bound!r} (e.g. {example})"
        )


def _checked_nodes(node: Any, path: str = ""):
    """(path, node) of every node of `node` that declares `_checks_`."""
    if not isinstance(node, DictConfig) or node._is_none() or node._is_missing():
        return
    if CHECKS in node:
        yield path, node
    for key in node:
        if key == CHECKS or (not path and key == "hydra") or OmegaConf.is_missing(node, key):
            continue
        child = node._get_node(key)
        if isinstance(child, DictConfig) and not child._is_interpolation():
            yield from _checked_nodes(child, f"{path}{key}.")


def strip_checks(node: Any) -> Any:
    """`node` without its `_checks_` (a copy when it had any): what is instantiated or saved."""
    if not isinstance(node, DictConfig) or not any(True for _ in _checked_nodes(node)):
        return node
    copy = OmegaConf.create(OmegaConf.to_container(node, resolve=True))
    for _, child in list(_checked_nodes(copy)):
        with open_dict(child):
            del child[CHECKS]
    return copy


# What to say when a required top-level key is missing.
REQUIRED_HINTS = {
    "action": "name the action after the command: nas bench build, nas hw profile | validate",
    "arch": "give an arch string, a published name (space=darts: DARTS_V2, ...) or a run directory: arch=...",
    "dirs": "name the run or sweep directories to report: nas report outputs/multirun/<time> ...",
    "run": "give the run directory of a finished `nas train`: run=outputs/train/...",
    "bench.file": "estimator=table needs its table (bench.file=<file from nas bench build>), "
    "estimator=nb201 the NAS-Bench-201 file (bench.file=<NAS-Bench-201-v1_1-096897.pth>, "
    "linked from the README of github.com/D-X-Y/NAS-Bench-201)",
}


def _added_keys() -> list[str]:
    """The keys the command line added with a single `+` (Hydra's `+key=value`)."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return []
    added = []
    for override in HydraConfig.get().overrides.task:
        key = str(override).partition("=")[0]
        if key.startswith("+") and not key.startswith("++"):
            added.append(key[1:].split("@")[0])
    return added


def refuse_added_keys(cfg: DictConfig, added: list[str]) -> None:
    """`+key=value` adds a key that nascli's config does not have. Where nascli reads the section
    itself (search, constraints, a command's own keys) it would be ignored, silently: refuse it.
    Keys added under a node that builds an object (it has a `_target_`) go to its constructor,
    and the `trainer` group's to Lightning's Trainer, which check their own arguments; `+group=`
    adds a config group."""
    groups = Path(config_dir())
    for key in added:
        parts = key.split(".")
        if len(parts) == 1 and (groups / key).is_dir():
            continue
        if parts[0] in ("trainer", "hydra"):
            continue
        node: Any = cfg
        passed_on = False
        for part in parts[:-1]:
            if not isinstance(node, DictConfig) or part not in node:
                break
            node = node._get_node(part)
            if isinstance(node, DictConfig) and "_target_" in node:
                passed_on = True
                break
        if passed_on:
            continue
        parent = ".".join(parts[:-1])
        siblings = (
            [str(k) for k in node if k not in (parts[-1], CHECKS)]
            if isinstance(node, DictConfig)
            else []
        )
        near = difflib.get_close_matches(parts[-1], siblings, n=1)
        hint = (
            f"did you mean {parent + '.' if parent else ''}{near[0]}=...?"
            if near
            else (f"{parent or 'the top level'} has: {', '.join(siblings)}" if siblings else "")
        )
        raise NascliError(
            f"+{key}: nascli reads no key {key}, so it would be ignored; {hint}".rstrip("; ")
        )


def validate(cfg: DictConfig) -> None:
    """Raise NascliError naming the first key whose value has the wrong type or range, by the
    rules each config group declares next to its keys (`_checks_`) and the keys every command
    has; then drop the `_checks_` from `cfg`, so that nothing downstream sees them."""
    for key in cfg:
        if OmegaConf.is_missing(cfg, key):
            raise NascliError(
                f"{key} is required; {REQUIRED_HINTS.get(str(key), f'set {key}=<value>')}"
            )
    for group in ("dataset", "space", "strategy", "estimator", "hardware", "bench"):
        node = cfg.get(group)
        for key in node or ():
            if OmegaConf.is_missing(node, key):
                hint = REQUIRED_HINTS.get(
                    f"{group}.{key}", f"set {group}.{key}=<value> on the command line"
                )
                raise NascliError(f"{group}.{key} is required here; {hint}")
    refuse_added_keys(cfg, _added_keys())
    checks = [("", {k: v for k, v in COMMON_CHECKS.items() if k in cfg})]
    checks += [(path, dict(node[CHECKS])) for path, node in _checked_nodes(cfg)]
    for path, rules in checks:
        for key, text in rules.items():
            value = OmegaConf.select(cfg, f"{path}{key}", default="__absent__")
            if value != "__absent__":
                rule = parse_rule(text)
                bound = None
                if rule.below is not None:
                    prefix = f"{path}{key}".rpartition(".")[0]
                    where = f"{prefix}.{rule.below}" if prefix else rule.below
                    bound = OmegaConf.select(cfg, where, default=None)
                _check(f"{path}{key}", value, rule, bound)
    for _, node in list(_checked_nodes(cfg)):
        with open_dict(node):
            del node[CHECKS]
