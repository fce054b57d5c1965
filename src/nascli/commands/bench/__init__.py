"""`nas bench build`: tabulate a space on a dataset (see nascli.bench)."""

from __future__ import annotations

from typing import Any

import hydra
from omegaconf import DictConfig

from nascli.commands.app import announce, exit_on_user_error
from nascli.core.config import validate
from nascli.core.errors import NascliError
from nascli.core.paths import config_dir


@hydra.main(version_base="1.3", config_path=config_dir(), config_name="bench")
@exit_on_user_error
def main(cfg: DictConfig) -> dict[str, Any]:
    validate(cfg)
    if cfg.action != "build":
        raise NascliError(f"nas bench {cfg.action}: unknown action; use nas bench build")
    announce(cfg, "build")
    from nascli.commands.bench.run import run_bench_build

    return run_bench_build(cfg)
