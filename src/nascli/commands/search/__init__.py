"""`nas search`: ask the strategy, estimate each architecture, record everything, keep the best."""

from __future__ import annotations

from typing import Any

import hydra
from omegaconf import DictConfig

from nascli.commands.app import announce, exit_on_user_error, refused_before_work
from nascli.core.config import validate
from nascli.core.paths import config_dir


def plan(cfg: DictConfig) -> str:
    """The budget in a few words: a one-shot strategy's epochs, or the trials (and seconds)."""
    if "epochs" in cfg.strategy:
        return f"{cfg.strategy.epochs} epochs"
    seconds = cfg.search.get("seconds")
    return f"{cfg.search.trials} trials" + (f" or {seconds} s" if seconds else "")


@hydra.main(version_base="1.3", config_path=config_dir(), config_name="search")
@exit_on_user_error
def main(cfg: DictConfig) -> dict[str, Any]:
    refused_before_work(validate, cfg)
    # A one-shot strategy (it has epochs) trains its supernet itself: no estimator.
    announce(cfg, plan(cfg), omit=("estimator",) if "epochs" in cfg.strategy else ())
    # Heavy imports only once the config is known to be good.
    from nascli.commands.search.run import run_search

    return run_search(cfg)
