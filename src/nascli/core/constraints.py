"""Whether a finished trial keeps a search's constraints (torch-free: read by search, train, report)."""

from __future__ import annotations

from typing import Any

# constraint key -> (the metric it limits, whether the limit is an upper bound)
LIMITS = {
    "max_params": ("params", True),
    "max_flops": ("flops", True),
    "max_latency_ms": ("latency_ms", True),
    "max_memory_mb": ("memory_mb", True),
    "min_accuracy": ("val_acc", False),
}


def satisfies(metrics: dict[str, Any], constraints: dict[str, Any] | None) -> bool:
    """Whether a finished trial's recorded metrics keep every constraint, the performance floor
    (`min_accuracy`, on val_acc) included: what a search may report as its best."""
    for key, limit in (constraints or {}).items():
        if limit is None or key not in LIMITS:
            continue
        metric, upper = LIMITS[key]
        if metric not in metrics:
            continue
        value = metrics[metric]
        # Written as what passes, so that a NaN keeps no constraint.
        if not (value <= limit if upper else value >= limit):
            return False
    return True
