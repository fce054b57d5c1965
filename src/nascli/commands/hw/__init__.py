"""`nas hw profile | validate`: latency lookup tables (see nascli.hardware.lut)."""

from __future__ import annotations

from typing import Any

import hydra
from omegaconf import DictConfig

from nascli.commands.app import announce, exit_on_user_error
from nascli.core.config import validate
from nascli.core.errors import NascliError
from nascli.core.paths import config_dir


@hydra.main(version_base="1.3", config_path=config_dir(), config_name="hw")
@exit_on_user_error
def main(cfg: DictConfig) -> dict[str, Any]:
    validate(cfg)
    if cfg.action not in ("profile", "validate"):
        raise NascliError(
            f"nas hw {cfg.action}: unknown action; use nas hw profile or nas hw validate"
        )
    announce(cfg, cfg.action)
    from nascli.commands.hw.run import run_hw

    return run_hw(cfg)
