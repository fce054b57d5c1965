"""A run directory is data: what it may bring into a new command.

A run folder (`resume=`, `nas train arch=<dir>` / `run=<dir>`, `nas evaluate run=<dir>`) is
something people copy and share, so its files may have been written by someone else. Its
config's *values* are taken as they are (the constructors check them); what it may never do is
choose what gets built. So:

- every `_target_` (and `_args_`, `_partial_`, ...) in a saved config must be the one nascli's
  own config groups produce for the same group choices (a fresh composition of the command); one
  that differs, or one where the groups have none, is refused naming the file and the key; a
  saved config is written resolved, so an interpolation in it is refused too;
- overrides a run hands on (its `.hydra/overrides.yaml`) may set plain values only, not special
  keys, nested configs that name one, or interpolations;
- a space that runs the user's own Python file (`space.builder`) is taken from a run folder only
  when the same builder is given on the command line again.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from nascli.core.errors import NascliError
from nascli.core.paths import config_dir

# Hydra's special keys: what they say decides what is built or how it is called.
SPECIAL = ("_target_", "_partial_", "_args_", "_recursive_", "_convert_")
BUILDER = "space.builder"
_CHOICE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


def specials(node: Any, path: str = "") -> Iterator[tuple[str, str, Any]]:
    """(path of the node, special key, its value) for every Hydra special key below `node`."""
    if isinstance(node, dict):
        for key in SPECIAL:
            if key in node:
                yield path.rstrip("."), key, node[key]
        items = list(node.items())
    elif isinstance(node, list):
        items = list(enumerate(node))
    else:
        return
    for key, child in items:
        yield from specials(child, f"{path}{key}.")


def _resolved(node: Any) -> Any:
    """`node` as plain containers, each interpolation resolved where it can be (`${predictor}`
    is a whole config group; one that cannot resolve here is left as None: it is a value)."""
    if isinstance(node, DictConfig | ListConfig):
        keys = list(node.keys()) if isinstance(node, DictConfig) else range(len(node))
        out = {} if isinstance(node, DictConfig) else []
        for key in keys:
            try:
                child = node[key]
            except Exception:  # noqa: BLE001 - e.g. a ${hydra:...} value outside a run
                child = None
            value = _resolved(child)
            if isinstance(out, dict):
                out[str(key)] = value
            else:
                out.append(value)
        return out
    return node


def _interpolations(node: Any, path: str = "") -> Iterator[str]:
    """Paths of string values below `node` that OmegaConf would interpolate (`${...}`)."""
    if isinstance(node, dict):
        for key, child in node.items():
            yield from _interpolations(child, f"{path}{key}.")
    elif isinstance(node, list):
        for i, child in enumerate(node):
            yield from _interpolations(child, f"{path}{i}.")
    elif isinstance(node, str) and "${" in node:
        yield path.rstrip(".")


def group_choices(choices: dict[str, Any], source: Path) -> list[str]:
    """The run's choices of nascli's config groups as overrides, each name checked to be an
    option name (no paths)."""
    groups = Path(config_dir())
    out = []
    for group, option in choices.items():
        if (
            option is None
            or "/" in str(group)
            or group == "hydra"
            or not (groups / str(group)).is_dir()
        ):
            continue
        if not _CHOICE.match(str(option)):
            raise NascliError(
                f"{source}/.hydra/hydra.yaml: {group}={option!r} is not an option name; "
                "the run directory is damaged or was edited"
            )
        out.append(f"{group}={option}")
    return out


def compose_fresh(config_name: str, overrides: list[str]) -> DictConfig:
    """What nascli's own config groups give for these choices (inside a running Hydra app)."""
    from hydra import compose

    return compose(config_name=config_name, overrides=overrides)


def check_saved_config(
    saved: DictConfig, fresh: DictConfig, where: Path, builder_given: str | None, also: str = ""
) -> None:
    """Refuse `saved` (a run's config.yaml at `where`) if it would build anything the fresh
    composition does not, or run a builder file the command line did not name again.

    config.yaml is written resolved, so an interpolation in it (which could create a node that
    names a target when resolved) is refused outright; every special key (`_target_`,
    `_args_`, `_partial_`, ...) must be one the fresh composition has, with the same value."""
    raw = OmegaConf.to_container(saved, resolve=False)
    for path in _interpolations(raw):
        raise NascliError(
            f"{where}: {path} is an interpolation; a run's config.yaml is written resolved, so "
            "this one was edited (a run directory holds values only)"
        )
    built = {(p, k): v for p, k, v in specials(_resolved(fresh))}
    for path, key, value in specials(raw):
        expected = built.get((path, key), "__none__")
        if value != expected:
            what = f"nascli's config has {expected}" if expected != "__none__" else "it has none"
            raise NascliError(
                f"{where}: {path}.{key}={str(value)[:120]} differs from this command's config "
                f"({what}); a run directory cannot choose what is built"
            )
    builder = OmegaConf.select(saved, BUILDER, default=None)
    if builder is not None:
        check_builder(str(builder), builder_given, where, also)


def check_builder(builder: str, given: str | None, where: Path, also: str = "") -> None:
    """`also`: other overrides the command line needs with it (a resumed run's space choice)."""
    if given is None or str(given) != builder:
        raise NascliError(
            f"{where}: the run's space runs the Python file space.builder={builder}; give "
            f"{also}space.builder={builder} on the command line again to trust it"
        )


def check_overrides(overrides: list[str], where: Path) -> None:
    """Refuse overrides handed on by a run folder that set more than plain values: a special
    key, a nested config naming one, or an interpolation (which could resolve to one)."""
    for override in overrides:
        key, _, value = override.partition("=")
        bare = key.lstrip("+~").split("@")[0]
        nested = "{" in value and any(s in value for s in SPECIAL)
        if any(part in SPECIAL for part in bare.split(".")) or nested or "${" in value:
            raise NascliError(
                f"{where}: '{override[:120]}' sets what is built; a run directory hands on "
                "plain values only"
            )
        if bare == BUILDER:
            check_builder(value.strip("'\""), None, where)
