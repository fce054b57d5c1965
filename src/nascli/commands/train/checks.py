"""What `nas train` checks before torch loads."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from nascli.core.errors import NascliError


def check_what_to_train(cfg: DictConfig) -> None:
    """The choice between arch= and run=, checked before torch loads (cheap, one line)."""
    k = cfg.ensemble.top_k
    task = cfg.dataset.get("task")
    if task == "language_model" and k != 1:
        raise NascliError(
            f"ensemble.top_k={k}: nas train ensembles classifiers only; retrain a language "
            "model alone (ensemble.top_k=1)"
        )
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
