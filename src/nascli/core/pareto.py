"""Several objectives at once: their directions, the Pareto front, its hypervolume and knee point.

Every objective is turned into one to minimise (accuracies are negated), so one dominance test
and one hypervolume serve all of them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from nascli.core.errors import NascliError
from nascli.core.objectives import maximised

Objective = tuple[str, str]  # (metric, "max" | "min")


def parse_objectives(values: Sequence[str]) -> list[Objective]:
    """`val_acc`, `latency_ms`, `params:min`, `score:max`: each metric's own direction
    (nascli.core.objectives.maximised) unless a `:max`/`:min` suffix says otherwise."""
    out: list[Objective] = []
    for value in values:
        name, _, direction = str(value).partition(":")
        if not direction:
            direction = "max" if maximised(name) else "min"
        if direction not in ("max", "min") or not name:
            raise NascliError(
                f"search.objectives: '{value}' is not metric, metric:max or metric:min "
                "(e.g. search.objectives=[val_acc,latency_ms])"
            )
        out.append((name, direction))
    if len({n for n, _ in out}) != len(out):
        raise NascliError(f"search.objectives={list(values)} names a metric twice")
    return out


def as_costs(metrics: dict[str, Any], objectives: Sequence[Objective]) -> tuple[float, ...]:
    """The objectives of one result as values to minimise."""
    return tuple(-float(metrics[n]) if d == "max" else float(metrics[n]) for n, d in objectives)


def dominates(a: Sequence[float], b: Sequence[float]) -> bool:
    return all(x <= y for x, y in zip(a, b, strict=True)) and any(
        x < y for x, y in zip(a, b, strict=True)
    )


def front_indices(costs: Sequence[Sequence[float]]) -> list[int]:
    """Indices of the non-dominated points (the first of equal points only)."""
    out: list[int] = []
    for i, c in enumerate(costs):
        if any(dominates(costs[j], c) for j in range(len(costs)) if j != i):
            continue
        if any(tuple(costs[j]) == tuple(c) for j in out):
            continue
        out.append(i)
    return out


def hypervolume(costs: Sequence[Sequence[float]], reference: Sequence[float]) -> float:
    """The volume dominated by `costs` and bounded by `reference` (all minimised), exactly, by
    slicing along the first objective (fine for the few dozen points of a NAS front)."""
    points = [tuple(c) for c in costs if all(x < r for x, r in zip(c, reference, strict=True))]
    if not points:
        return 0.0
    if len(reference) == 1:
        return reference[0] - min(p[0] for p in points)
    points.sort()
    volume = 0.0
    for i, p in enumerate(points):
        upper = points[i + 1][0] if i + 1 < len(points) else reference[0]
        if upper <= p[0]:
            continue
        rest = [q[1:] for q in points[: i + 1]]
        volume += (upper - p[0]) * hypervolume(rest, reference[1:])
    return volume


def reference_point(costs: Sequence[Sequence[float]]) -> list[float]:
    """The worst value of each objective among all evaluated points, pushed out by 10 % of its
    range (so the extreme points of the front still add volume)."""
    worst = [max(c[k] for c in costs) for k in range(len(costs[0]))]
    best = [min(c[k] for c in costs) for k in range(len(costs[0]))]
    return [w + 0.1 * ((w - b) or abs(w) or 1.0) for w, b in zip(worst, best, strict=True)]


def knee(costs: Sequence[Sequence[float]], front: Sequence[int]) -> int:
    """The front point nearest the ideal point once each objective is scaled to [0, 1] over the
    front: the balanced compromise."""
    lo = [min(costs[i][k] for i in front) for k in range(len(costs[0]))]
    hi = [max(costs[i][k] for i in front) for k in range(len(costs[0]))]

    def distance(i: int) -> float:
        return math.sqrt(
            sum(
                ((costs[i][k] - lo[k]) / (hi[k] - lo[k])) ** 2 if hi[k] > lo[k] else 0.0
                for k in range(len(lo))
            )
        )

    return min(front, key=lambda i: (distance(i), i))


def reference_costs(
    given: dict[str, Any], objectives: Sequence[Objective], key: str = "search.reference_point"
) -> list[float]:
    """A reference point stated in the metrics' own units ({val_acc: 0.5, latency_ms: 20}) as
    costs to minimise; every objective must be named."""
    missing = [n for n, _ in objectives if n not in given]
    extra = [n for n in given if n not in {m for m, _ in objectives}]
    if missing or extra:
        raise NascliError(
            f"{key} must name each objective once ({', '.join(n for n, _ in objectives)}): "
            + (f"missing {', '.join(missing)}" if missing else f"{', '.join(extra)} is not one")
        )
    try:
        return list(as_costs(given, objectives))
    except (TypeError, ValueError) as exc:
        raise NascliError(f"{key}: every value must be a number ({exc})") from exc


def summarise(
    history: Sequence[dict[str, Any]],
    objectives: Sequence[Objective],
    reference: dict[str, Any] | None = None,
) -> dict[str, Any] | None:
    """The front of the finished trials: its records, hypervolume, reference point and knee.

    `reference` (metric units) fixes the hypervolume's reference point, so that runs compare;
    without it each run uses its own worst values, pushed out by 10 % of their range."""
    ok = [
        r
        for r in history
        if r.get("status") == "ok" and all(n in r.get("metrics", {}) for n, _ in objectives)
    ]
    if not ok:
        return None
    costs = [as_costs(r["metrics"], objectives) for r in ok]
    front = front_indices(costs)
    reference = reference_costs(reference, objectives) if reference else reference_point(costs)
    k = knee(costs, front)
    signs = [-1.0 if d == "max" else 1.0 for _, d in objectives]
    return {
        "objectives": [f"{n}:{d}" for n, d in objectives],
        "front": [ok[i] for i in sorted(front, key=lambda i: costs[i])],
        "all": ok,
        # Stated in the metrics' own units and signs.
        "reference_point": {
            n: s * r for (n, _), s, r in zip(objectives, signs, reference, strict=True)
        },
        "hypervolume": hypervolume([costs[i] for i in front], reference),
        "knee": ok[k],
    }
