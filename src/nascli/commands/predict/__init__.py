"""`nas predict`: fit each performance predictor on N architectures of a benchmark table and
rank a held-out set; Kendall's tau and Spearman's rho per N, over several seeds."""

from __future__ import annotations

from typing import Any

import hydra
from omegaconf import DictConfig

from nascli.commands.app import announce, exit_on_user_error
from nascli.core.config import validate
from nascli.core.errors import NascliError
from nascli.core.paths import config_dir


def check(cfg: DictConfig) -> None:
    """The sizes, seeds and predictors, before anything loads."""
    sizes = list(cfg.train_sizes or [])
    if not sizes or not all(
        isinstance(n, int) and not isinstance(n, bool) and n >= 2 for n in sizes
    ):
        raise NascliError(
            f"train_sizes={sizes} must be a list of integers of 2 or more, e.g. train_sizes=[20,50]"
        )
    for key in ("test_size", "seeds"):
        value = cfg.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise NascliError(f"{key}={value!r} must be a positive integer")
    if not cfg.get("predictors"):
        raise NascliError("predictors is empty; add one, e.g. +predictor@predictors.gp=gp")


@hydra.main(version_base="1.3", config_path=config_dir(), config_name="predict")
@exit_on_user_error
def main(cfg: DictConfig) -> dict[str, Any]:
    validate(cfg)
    check(cfg)
    announce(cfg, f"{cfg.seeds} seeds")
    from nascli.commands.predict.run import run_predict

    return run_predict(cfg)
