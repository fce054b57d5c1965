"""`nas inspect`: the network an architecture becomes, its size, cost and latency, and its picture."""

from __future__ import annotations

from typing import Any

import hydra
from omegaconf import DictConfig

from nascli.commands.app import announce, exit_on_user_error
from nascli.core.config import validate
from nascli.core.paths import config_dir


@hydra.main(version_base="1.3", config_path=config_dir(), config_name="inspect")
@exit_on_user_error
def main(cfg: DictConfig) -> dict[str, Any]:
    validate(cfg)
    announce(cfg)
    from nascli.commands.inspect.run import run_inspect

    return run_inspect(cfg)
