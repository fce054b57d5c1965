"""Read an interrupted run back: its config, its group choices and its finished trials."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from nascli.core.errors import NascliError
from nascli.core.records import read_history
from nascli.results.inherited import BUILDER, check_saved_config, compose_fresh, group_choices
from nascli.results.run_dir import CONFIG

log = logging.getLogger(__name__)

# What a resumed search may change: its budgets, how many trials run at once, how it reports.
RESUMABLE_KEYS = (
    "search.trials",
    "search.seconds",
    "search.max_failures",
    "search.workers",
    "search.worker_threads",
    "trainer.threads",
    "executor",
    "format",
)


@dataclass
class Resumed:
    cfg: DictConfig
    choices: dict[str, str]
    history: list[dict[str, Any]]


def _override_key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


def _rebase(node: Any, old: str, new: str) -> None:
    """Every string value below `node` that is `old` or a path under it, moved under `new`."""
    for key in list(node.keys() if isinstance(node, DictConfig) else range(len(node))):
        value = node[key]  # config.yaml is saved resolved: plain values only
        if isinstance(value, DictConfig | ListConfig):
            _rebase(value, old, new)
        elif isinstance(value, str) and (value == old or value.startswith(old.rstrip("/") + "/")):
            node[key] = new + value[len(old.rstrip("/")) :]


def _fixed(override: str) -> bool:
    """Whether `override` sets something a resume may not change (its budgets, workers, threads,
    format, Hydra's own keys and the builder named again may change)."""
    key = _override_key(override)
    return key not in ("resume", BUILDER, *RESUMABLE_KEYS) and not key.startswith(
        ("hydra.", "executor.")
    )


def check_run_config(
    cfg: DictConfig, choices: dict[str, Any], run: Path, config_name: str, overrides: list[str]
) -> None:
    """Refuse a saved config that builds what nascli's groups would not for its choices (see
    nascli.results.inherited); a builder file only if this call names it again."""
    given = [o.partition("=")[2].strip("'\"") for o in overrides if _override_key(o) == BUILDER]
    repeated = [o for o in overrides if _fixed(o)]
    keys = {_override_key(o) for o in repeated}
    fresh_overrides = [o for o in group_choices(choices, run) if _override_key(o) not in keys]
    fresh_overrides += repeated + [f"{BUILDER}={g}" for g in given[-1:]]
    try:
        fresh = compose_fresh(config_name, fresh_overrides)
    except Exception as exc:  # a choice nascli's groups do not have
        raise NascliError(
            f"resume={run}: its group choices ({' '.join(fresh_overrides)}) do not compose here "
            f"({str(exc).splitlines()[0]})"
        ) from None
    also = f"space={choices['space']} " if choices.get("space") else ""
    check_saved_config(cfg, fresh, run / CONFIG, given[-1] if given else None, also)


def load_resume(resume: str, current: DictConfig, overrides: list[str]) -> Resumed:
    """The config, choices and history of run `resume`, with the budget overrides of this call."""
    run = Path(resume).expanduser()
    if not run.is_dir():
        raise NascliError(
            f"resume={resume} is not a folder; give the run directory of the search to continue"
        )
    if not (run / CONFIG).is_file() or not (run / ".hydra" / "hydra.yaml").is_file():
        raise NascliError(
            f"resume={resume} has no {CONFIG} or .hydra/hydra.yaml; it is not a nascli search run directory"
        )
    try:
        cfg = OmegaConf.load(run / CONFIG)
        hydra_record = OmegaConf.load(run / ".hydra" / "hydra.yaml")
        choices = dict(OmegaConf.to_container(hydra_record.hydra.runtime.choices))
    except Exception as exc:
        raise NascliError(
            f"resume={resume}: cannot read its {CONFIG} or .hydra/hydra.yaml ({exc}); it cannot be resumed"
        ) from exc
    if cfg.get("search") is None or cfg.get("strategy") is None or cfg.get("space") is None:
        raise NascliError(f"resume={resume}: {CONFIG} is not the config of a search")
    # A run whose space runs a builder file is resumed only with that file named again, which
    # needs its space group chosen again too (`space=custom space.builder=<file>`).
    same_space = f"space={choices.get('space')}"
    # The run's own command line, repeated word for word, is the user's again (a `_target_` or
    # `+group=option` it set is then trusted, as it was when the run began).
    try:
        own = [str(o) for o in OmegaConf.load(run / ".hydra" / "overrides.yaml") or []]
    except Exception:  # noqa: BLE001 - a missing or damaged record: nothing may be repeated
        own = []
    changed = [o for o in overrides if _fixed(o) and o != same_space and o not in own]
    if changed:
        raise NascliError(
            f"resume={resume} continues that search with its own config; drop '{changed[0]}' "
            f"(only {', '.join(RESUMABLE_KEYS)} may change)"
        )
    check_run_config(cfg, choices, run, "search", overrides)
    for key in RESUMABLE_KEYS:
        if any(_override_key(o).split(".")[0] == key or _override_key(o) == key for o in overrides):
            OmegaConf.update(cfg, key, OmegaConf.select(current, key), merge=False, force_add=True)
    cfg.resume = str(run)
    # Paths the run derived from its own folder follow the folder (a copied or moved run).
    original = OmegaConf.select(hydra_record, "hydra.runtime.output_dir", default=None)
    if original:
        _rebase(cfg, str(original), str(run.resolve()))
    return Resumed(cfg, choices, read_history(run, repair=True))
