"""`nas search`: ask the strategy, estimate each architecture, record everything, keep the best."""

from __future__ import annotations

from typing import Any

import hydra
from omegaconf import DictConfig

from nascli.commands.app import exit_on_user_error, refused_before_work
from nascli.core.config import validate
from nascli.core.paths import config_dir


@hydra.main(version_base="1.3", config_path=config_dir(), config_name="search")
@exit_on_user_error
def main(cfg: DictConfig) -> dict[str, Any]:
    refused_before_work(validate, cfg)
    # Heavy imports only once the config is known to be good.
    from nascli.commands.search.run import run_search

    return run_search(cfg)
