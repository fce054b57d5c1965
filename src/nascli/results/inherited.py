"""A run directory is data: what it may bring into a new command.

A run folder (`resume=`, `nas train arch=<dir>` / `run=<dir>`, `nas evaluate run=<dir>`) is
something people copy and share, so its files may have been written by someone else. Its
config's *values* are taken as they are (the constructors check them); what it may never do is
choose what gets built. So:

- every `_target_` in a saved config must be the one nascli's own config groups produce for the
  same group choices (a fresh composition of the command); one that differs, or one where the
  groups build nothing, is refused naming the file and the key;
- overrides a run hands on (its `.hydra/overrides.yaml`) may set values only, not `_target_`,
  `_partial_`, `_args_` or nested configs that name a target;
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


def targets(node: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """(path of the node, its `_target_`) for every node below `node`, without resolving."""
    if isinstance(node, DictConfig):
        items = [(str(k), node._get_node(k)) for k in node]
        if "_target_" in node:
            yield path.rstrip("."), node._get_node("_target_")._value()
    elif isinstance(node, ListConfig):
        items = [(str(i), node._get_node(i)) for i in range(len(node))]
    else:
        return
    for key, child in items:
        if isinstance(child, DictConfig | ListConfig) and not child._is_interpolation():
            yield from targets(child, f"{path}{key}.")


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
    composition does not, or run a builder file the command line did not name again."""
    built = dict(targets(fresh))
    for path, target in targets(saved):
        if path.split(".")[0] == "hydra":
            continue
        expected = built.get(path)
        if target != expected:
            what = (
                f"nascli's config builds {expected} there" if expected else "nothing is built there"
            )
            raise NascliError(
                f"{where}: {path}._target_={str(target)[:120]} differs from this command's config "
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
    """Refuse overrides handed on by a run folder that set more than values."""
    for override in overrides:
        key, _, value = override.partition("=")
        bare = key.lstrip("+~").split("@")[0]
        if any(part in SPECIAL for part in bare.split(".")) or any(s in value for s in SPECIAL):
            raise NascliError(
                f"{where}: '{override[:120]}' sets what is built; a run directory hands on "
                "values only"
            )
        if bare == BUILDER:
            check_builder(value.strip("'\""), None, where)
