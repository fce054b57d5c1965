"""`nas train`: retrain an architecture from scratch with its space's recipe, test it, export it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig

from nascli.cli import exit_on_user_error
from nascli.config import validate
from nascli.errors import NascliError
from nascli.paths import config_dir


def check_what_to_train(cfg: DictConfig) -> None:
    """The choice between arch= and run=, checked before torch loads (cheap, one line)."""
    k = cfg.ensemble.top_k
    if cfg.arch is not None and cfg.run is not None:
        raise NascliError("give either arch=... or run=<search dir>, not both")
    if cfg.run is not None:
        if not Path(str(cfg.run)).expanduser().is_dir():
            raise NascliError(f"run={cfg.run} is not a folder; give a search run directory")
    elif cfg.arch is None:
        raise NascliError(
            "arch is required; give an arch string, a published name (space=darts: DARTS_V2, ...) "
            "or a run directory: arch=... (or run=<search dir> ensemble.top_k=3)"
        )
    elif k != 1:
        raise NascliError(
            f"ensemble.top_k={k} needs run=<search dir> (the architectures come from its history)"
        )


@hydra.main(version_base="1.3", config_path=config_dir(), config_name="train")
@exit_on_user_error
def main(cfg: DictConfig) -> dict[str, Any]:
    validate(cfg)
    if not cfg.resume:  # a resumed training reads what it trains from its own config.yaml
        check_what_to_train(cfg)
    from nascli.training import run_train

    return run_train(cfg)
