"""pareto.csv and pareto.png of a multi-objective run (the front itself: nascli.core.pareto)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from nascli.core.pareto import Objective


def write_outputs(folder: Any, result: dict[str, Any], objectives: Sequence[Objective]) -> None:
    """pareto.csv (the front) and pareto.png (every evaluated architecture, the front drawn)."""
    import csv
    import io

    from nascli.results.run_dir import write_text_atomic

    names = [n for n, _ in objectives]
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["trial", "arch", *names])
    for r in result["front"]:
        writer.writerow([r["trial"], r["arch"], *(r["metrics"][n] for n in names)])
    write_text_atomic(folder / "pareto.csv", buffer.getvalue())

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x, y = names[1], names[0]  # cost across, accuracy up, as such fronts are usually drawn
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    ax.scatter(
        [r["metrics"][x] for r in result["all"]],
        [r["metrics"][y] for r in result["all"]],
        s=14,
        alpha=0.5,
        color="C0",
        label="evaluated",
    )
    front = sorted(result["front"], key=lambda r: r["metrics"][x])
    ax.plot(
        [r["metrics"][x] for r in front],
        [r["metrics"][y] for r in front],
        "o-",
        color="C3",
        label="Pareto front",
    )
    knee_point = result["knee"]["metrics"]
    ax.scatter([knee_point[x]], [knee_point[y]], s=120, marker="*", color="black", label="knee")
    ax.set(xlabel=x, ylabel=y, title=f"hypervolume {result['hypervolume']:.4g}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(folder / "pareto.png", dpi=110)
    plt.close(fig)
