"""A run directory named on the command line brings its space and dataset along.

`nas train arch=outputs/search/.../<time>` must rebuild the architecture in the space it was found
in and train it on the same data, without the user retyping `space=darts dataset=cifar10
space.builder=...`. The choices come from the run's `.hydra/hydra.yaml` (they include a space that a
strategy chose by default), the keys from its `.hydra/overrides.yaml`. Anything the user types
wins. This runs before Hydra composes the config, so presets and recipes follow the inherited
choices.
"""

from __future__ import annotations

from pathlib import Path

# Override keys (without +/~ and after the group name) that travel with a run directory.
GROUPS = ("space", "dataset")


def _key(override: str) -> str:
    return override.partition("=")[0].lstrip("+~").split("@")[0]


def _group(key: str) -> str:
    return key.split(".")[0]


def run_overrides(folder: Path, groups: tuple[str, ...] = GROUPS) -> list[str]:
    """The space/dataset choices and keys a run was made with, as Hydra overrides."""
    from omegaconf import OmegaConf

    hydra_dir = folder / ".hydra"
    out: list[str] = []
    hydra_yaml = hydra_dir / "hydra.yaml"
    if hydra_yaml.is_file():
        choices = OmegaConf.select(OmegaConf.load(hydra_yaml), "hydra.runtime.choices") or {}
        from nascli.results.inherited import group_choices

        picked = {g: choices[g] for g in groups if choices.get(g)}
        out += group_choices(picked, folder)
    overrides_yaml = hydra_dir / "overrides.yaml"
    if overrides_yaml.is_file():
        for line in OmegaConf.load(overrides_yaml) or []:
            key = _key(str(line))
            if "." in key and _group(key) in groups:
                out.append(str(line))
    return out


def inherit(
    argv: list[str], keys: tuple[str, ...] = ("arch", "run"), groups: tuple[str, ...] = GROUPS
) -> list[str]:
    """`argv` with the space/dataset overrides of the run directory that `arch=`/`run=` names
    placed in front, less any key the user gave (a group the user chose drops its inherited keys)."""
    source = None
    for arg in argv:
        key, sep, value = arg.partition("=")
        if sep and key.lstrip("+~") in keys and value:
            candidate = Path(value.strip("'\"")).expanduser()
            try:
                if (candidate / ".hydra").is_dir():
                    source = candidate
            except OSError:  # an arch string longer than a path can be
                continue
    if source is None:
        return argv
    given = {_key(a): a.partition("=")[2] for a in argv if "=" in a}
    from_run = run_overrides(source, groups)
    run_choice = {_key(o): o.partition("=")[2] for o in from_run if _key(o) in groups}
    # A group the user switched to another option drops the run's keys for it.
    switched = {g for g in groups if g in given and given[g] != run_choice.get(g)}
    inherited = [o for o in from_run if _key(o) not in given and _group(_key(o)) not in switched]
    # The folder is data: it hands on group choices and values, never what is built, and
    # a builder file only when the command line names the same file again.
    from nascli.results.inherited import check_overrides

    check_overrides(inherited, source / ".hydra" / "overrides.yaml")
    return [*inherited, *argv]
