"""Which way a metric is better, and MnasNet's scalarised accuracy-latency reward."""

from __future__ import annotations

from typing import Any

from nascli.core.errors import NascliError

#: metrics that are better higher: accuracies (`acc` anywhere in the name), scores, rewards;
#: every other metric (losses, perplexities, latency, params, FLOPs, memory) is better lower.
_HIGHER = ("score", "reward")


def maximised(metric: str) -> bool:
    """Whether a higher `metric` is better (the one rule every part of nascli uses)."""
    name = str(metric).split(":")[0]
    return "acc" in name or name in _HIGHER or name.endswith("_score")


def fitness_of(metrics: dict[str, Any], objective: str) -> float:
    """`objective`'s value as a number to maximise: negated for a metric that is better lower
    (perplexity, loss), so that strategies compare every objective the same way."""
    value = float(metrics[objective])
    return value if maximised(objective) else -value


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


def reward_of(metrics: dict[str, Any] | None, objective: str) -> float:
    """A controller's reward for a trial (reinforcement-learning strategies): the objective where
    higher is better, its reciprocal where lower is better (ENAS rewards a language model with
    c / perplexity), and 0 for a failed trial, the worst reward a positive metric can earn."""
    if metrics is None:
        return 0.0
    value = float(metrics[objective])
    if maximised(objective):
        return value
    if value <= 0:
        raise NascliError(
            f"search.objective={objective} is {value}; a reinforcement-learning strategy rewards "
            "1/value for a metric that is better lower, which needs it positive"
        )
    return 1.0 / value
