"""`nas evaluate`: test accuracy, params, FLOPs and latency of a trained model on a hardware target."""

from __future__ import annotations

from typing import Any

import hydra
from omegaconf import DictConfig

from nascli.commands.app import announce, exit_on_user_error
from nascli.core.config import validate
from nascli.core.paths import config_dir


@hydra.main(version_base="1.3", config_path=config_dir(), config_name="evaluate")
@exit_on_user_error
def main(cfg: DictConfig) -> dict[str, Any]:
    validate(cfg)
    announce(cfg, f"split={cfg.split}")
    from nascli.commands.evaluate.run import run_evaluate

    return run_evaluate(cfg)
