"""`nas train`: retrain an architecture from scratch with its space's recipe, test it, export it."""

from __future__ import annotations

from typing import Any

import hydra
from omegaconf import DictConfig

from nascli.commands.app import announce, exit_on_user_error, refused_before_work
from nascli.commands.train.checks import check_what_to_train
from nascli.core.config import validate
from nascli.core.paths import config_dir


@hydra.main(version_base="1.3", config_path=config_dir(), config_name="train")
@exit_on_user_error
def main(cfg: DictConfig) -> dict[str, Any]:
    refused_before_work(validate, cfg)
    if not cfg.resume:  # a resumed training reads what it trains from its own config.yaml
        check_what_to_train(cfg)
    announce(cfg, f"{cfg.recipe.epochs} epochs" if cfg.get("recipe") else None)
    from nascli.commands.train.run import run_train

    return run_train(cfg)
