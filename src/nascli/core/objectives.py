"""Scalarised objectives: MnasNet's accuracy-latency reward."""

from __future__ import annotations

from typing import Any

from nascli.core.errors import NascliError


def mnasnet_reward(metrics: dict[str, Any], reward: dict[str, Any]) -> float:
    """MnasNet's scalarised objective, acc x (cost / target)^w with w = alpha where the cost is
    within the target and beta above it (Tan et al. 2019: alpha = beta = -0.07 is their soft
    constraint, alpha = 0 and beta = -1 a hard one)."""
    metric, cost = str(reward.get("metric", "val_acc")), str(reward.get("cost", "latency_ms"))
    for key, name in (("metric", metric), ("cost", cost)):
        if name not in metrics:
            raise NascliError(
                f"search.reward.{key}={name} is not a metric of this search "
                f"({', '.join(sorted(metrics))})"
            )
    target, value = float(reward["target"]), float(metrics[cost])
    w = float(reward.get("alpha", -0.07) if value <= target else reward.get("beta", -0.07))
    return float(metrics[metric]) * (max(value, 1e-12) / target) ** w
