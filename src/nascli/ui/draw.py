"""Draw cells (small DAGs with labelled edges) as PNG and SVG, the way papers show them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

# A graph: {"title": str, "nodes": [name, ...] in topological order, "edges": [(src, dst, label), ...]}
Graph = dict[str, Any]

COLOURS = {"input": "#a6cee3", "output": "#b2df8a", "node": "#eeeeee"}


def draw_graphs(graphs: list[Graph], stem: Path) -> list[Path]:
    """Write `<stem>.png` and `<stem>.svg` with one panel per graph; return the paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    width = max(len(g["nodes"]) for g in graphs) * 1.7
    fig, axes = plt.subplots(len(graphs), 1, figsize=(width, 2.6 * len(graphs)), squeeze=False)
    for ax, graph in zip(axes[:, 0], graphs, strict=True):
        _draw_one(ax, graph)
    fig.tight_layout()
    paths = [stem.with_suffix(".png"), stem.with_suffix(".svg")]
    for path in paths:
        fig.savefig(path, dpi=130)
    plt.close(fig)
    return paths


def _layout(graph: Graph) -> dict[str, tuple[float, float]]:
    """Inputs stacked on the left, the output on the right, inner nodes in columns between."""
    kinds = graph.get("kinds", {})
    inputs = [n for n in graph["nodes"] if kinds.get(n) == "input"]
    inner = [n for n in graph["nodes"] if kinds.get(n, "node") == "node"]
    outputs = [n for n in graph["nodes"] if kinds.get(n) == "output"]
    pos = {}
    for i, name in enumerate(inputs):
        pos[name] = (0.0, 0.0 if len(inputs) == 1 else 1.2 - 2.4 * i / (len(inputs) - 1))
    for i, name in enumerate(inner):
        pos[name] = (2.2 * (i + 1), 0.9 if i % 2 == 0 else -0.9)
    for name in outputs:
        pos[name] = (2.2 * (len(inner) + 1), 0.0)
    return pos


def _draw_one(ax, graph: Graph) -> None:
    kinds = graph.get("kinds", {})
    pos = _layout(graph)
    order = {name: i for i, name in enumerate(graph["nodes"])}
    for src, dst, label in graph["edges"]:
        (x0, y0), (x1, y1) = pos[src], pos[dst]
        # Edges that jump over nodes bend; with an equal aspect the arc's midpoint is where the label goes.
        rad = 0.22 if order[dst] - order[src] > 1 else 0.0
        ax.annotate(
            "",
            xy=(x1, y1),
            xytext=(x0, y0),
            arrowprops={
                "arrowstyle": "-|>",
                "color": "#555555",
                "shrinkA": 12,
                "shrinkB": 12,
                "connectionstyle": f"arc3,rad={rad}",
            },
        )
        if label:
            mx, my = (x0 + x1) / 2 + 0.5 * rad * (y1 - y0), (y0 + y1) / 2 - 0.5 * rad * (x1 - x0)
            ax.text(
                mx,
                my,
                label,
                fontsize=7,
                ha="center",
                va="center",
                bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.85},
            )
    for name, (x, y) in pos.items():
        colour = COLOURS[kinds.get(name, "node")]
        ax.text(
            x,
            y,
            name,
            ha="center",
            va="center",
            fontsize=9,
            bbox={"boxstyle": "round,pad=0.3", "fc": colour, "ec": "#333333"},
        )
    xs = [p[0] for p in pos.values()]
    ax.set_xlim(min(xs) - 0.8, max(xs) + 0.8)
    ax.set_ylim(-2.2, 2.2)
    ax.set_aspect("equal")
    ax.set_title(graph["title"], fontsize=10)
    ax.axis("off")
