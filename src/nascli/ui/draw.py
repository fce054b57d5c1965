"""Draw cells (small DAGs with labelled edges) as PNG and SVG.

Each graph is drawn as an arc diagram: its nodes in topological order on a line, an edge between
neighbours as a straight arrow, a longer edge as an arc whose height grows with how many nodes it
jumps (more slowly past four), arcs of even and odd spans on opposite sides of the line. Every
edge label is placed where it overlaps no node and no other label: at the middle of its edge if
that is free, else (a straight edge) just above or below it, else at the first free point
along it; if none is free, the figure is drawn again larger. Long chains (more nodes than fit
a page's width) scale down to that width rather than growing wider.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

# A graph: {"title": str, "nodes": [name, ...] in topological order, "edges": [(src, dst, label), ...]}
Graph = dict[str, Any]

COLOURS = {"input": "#a6cee3", "output": "#b2df8a", "node": "#eeeeee"}
UNIT_IN = 1.05  # inches between neighbouring nodes, at most
MAX_WIDTH_IN = 18.0
ARC = 0.32  # an arc's height (node spacings) per node it spans
ALONG = (0.5, 0.38, 0.62, 0.27, 0.73, 0.17, 0.83)  # where along its edge a label may sit


def draw_graphs(graphs: list[Graph], stem: Path) -> list[Path]:
    """Write `<stem>.png` and `<stem>.svg` with one panel per graph; return the paths."""
    import matplotlib.pyplot as plt

    fig, _ = render(graphs)
    paths = [stem.with_suffix(".png"), stem.with_suffix(".svg")]
    for path in paths:
        fig.savefig(path, dpi=130)
    plt.close(fig)
    return paths


def render(graphs: list[Graph]) -> tuple[Any, list[list[Any]]]:
    """The figure, and per panel the texts drawn in it (node boxes first, then edge labels).

    Tries larger figures until every label finds a free place (a few tries at most).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    widest = max(len(g["nodes"]) for g in graphs)
    unit = min(UNIT_IN, MAX_WIDTH_IN / max(widest, 1))
    for attempt in range(4):
        scale = 1.35**attempt
        width = max(4.0, (widest + 0.6) * unit * scale)
        heights = [_extent(g) for g in graphs]
        height_in = [max(1.6, (up + down + 0.9) * unit * scale + 0.45) for up, down in heights]
        fig, axes = plt.subplots(
            len(graphs),
            1,
            figsize=(width, sum(height_in)),
            squeeze=False,
            gridspec_kw={"height_ratios": height_in},
        )
        fig.subplots_adjust(left=0.01, right=0.99, bottom=0.02, top=0.92, hspace=0.35)
        panels, placed_all = [], True
        for ax, graph, (up, down) in zip(axes[:, 0], graphs, heights, strict=True):
            texts, placed = _draw_one(ax, graph, widest, up, down)
            panels.append(texts)
            placed_all &= placed
        if placed_all or attempt == 3:
            return fig, panels
        plt.close(fig)
    raise AssertionError("unreachable")


def _order(graph: Graph) -> list[str]:
    """Inputs first, then inner nodes, then outputs, each in the order the graph lists them."""
    kinds = graph.get("kinds", {})
    rank = {"input": 0, "node": 1, "output": 2}
    return sorted(graph["nodes"], key=lambda n: rank.get(kinds.get(n, "node"), 1))


def _apex(span: int, repeat: int) -> float:
    """The signed height of an edge's middle: 0 for a first edge between neighbours, which is
    straight; an arc of height ARC * span, above for even spans and below for odd ones; a
    repeated edge (a node taking the same input twice) bends further, alternating sides."""
    if span <= 1:
        return 0.0 if repeat == 0 else (-1) ** repeat * 0.3 * ((repeat + 1) // 2)
    side = 1 if span % 2 == 0 else -1
    # Long jumps rise more slowly, so that a long chain's picture stays a sensible height.
    height = ARC * span if span <= 4 else ARC * 4 + 0.12 * (span - 4)
    return side * (height + 0.3 * repeat)


def _arcs(graph: Graph, x: dict[str, float]) -> list[tuple[str, str, str, float]]:
    """Each edge with its apex height."""
    seen: dict[tuple[str, str], int] = {}
    out = []
    for src, dst, label in graph["edges"]:
        repeat = seen.get((src, dst), 0)
        seen[(src, dst)] = repeat + 1
        out.append((src, dst, label, _apex(int(abs(x[dst] - x[src])), repeat)))
    return out


def _extent(graph: Graph) -> tuple[float, float]:
    """How far the arcs reach above and below the line, in node spacings."""
    x = {name: float(i) for i, name in enumerate(_order(graph))}
    apexes = [apex for *_, apex in _arcs(graph, x)]
    return max([0.25, *apexes]), max([0.25, *(-a for a in apexes)])


def _point(p0, control, p1, t: float) -> tuple[float, float]:
    """A point of the quadratic Bezier curve from p0 to p1 through `control`."""
    a, b, c = (1 - t) ** 2, 2 * (1 - t) * t, t**2
    return (a * p0[0] + b * control[0] + c * p1[0], a * p0[1] + b * control[1] + c * p1[1])


def _draw_one(ax, graph: Graph, widest: int, up: float, down: float) -> tuple[list[Any], bool]:
    from matplotlib.patches import FancyArrowPatch
    from matplotlib.path import Path as MplPath

    kinds = graph.get("kinds", {})
    order = _order(graph)
    x = {name: float(i) for i, name in enumerate(order)}
    left = (widest - len(order)) / 2  # centre a short graph under a long one
    ax.set_xlim(left - 0.8, left + widest - 0.2)
    ax.set_ylim(-down - 0.45, up + 0.45)
    ax.set_aspect("equal")
    ax.set_title(graph["title"], fontsize=10)
    ax.axis("off")
    texts = []
    for name in order:
        texts.append(
            ax.text(
                x[name],
                0.0,
                name,
                ha="center",
                va="center",
                fontsize=9,
                zorder=3,
                bbox={
                    "boxstyle": "round,pad=0.3",
                    "fc": COLOURS[kinds.get(name, "node")],
                    "ec": "#333333",
                },
            )
        )
    curves = []
    for src, dst, label, apex in _arcs(graph, x):
        p0, p1 = (x[src], 0.0), (x[dst], 0.0)
        control = ((p0[0] + p1[0]) / 2, 2 * apex)  # a quadratic curve peaks at half its control
        path = MplPath([p0, control, p1], [MplPath.MOVETO, MplPath.CURVE3, MplPath.CURVE3])
        ax.add_patch(
            FancyArrowPatch(
                path=path,
                arrowstyle="-|>,head_length=4,head_width=2",
                color="#555555" if label else "#999999",
                lw=1.0 if label else 0.7,
                shrinkA=0,
                shrinkB=9,
                zorder=1,
            )
        )
        if label:
            curves.append((p0, control, p1, label))
    renderer = ax.figure.canvas.get_renderer()
    ax.apply_aspect()  # measure in the axes' final place
    taken = [t.get_window_extent(renderer).padded(4) for t in texts]
    # Beside its edge, a label clears a node box: 16 points, in data units.
    points_per_unit = (ax.transData.transform((1, 0)) - ax.transData.transform((0, 0)))[0] * (
        72 / ax.figure.dpi
    )
    offset = 16 / points_per_unit
    placed_all = True
    for p0, control, p1, label in curves:
        text = ax.text(
            *_point(p0, control, p1, 0.5),
            label,
            fontsize=7,
            ha="center",
            va="center",
            zorder=2,
            bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.9},
        )
        # Only a straight edge's label may sit beside it; an arc's stays on the arc.
        lifts = (0.0, offset, -offset) if control[1] == 0 else (0.0,)
        for t, lift in ((t, lift) for t in ALONG for lift in lifts):
            px, py = _point(p0, control, p1, t)
            text.set_position((px, py + lift))
            box = text.get_window_extent(renderer).padded(2)
            if not any(box.overlaps(other) for other in taken):
                break
        else:
            placed_all = False
        taken.append(text.get_window_extent(renderer).padded(2))
        texts.append(text)
    return texts, placed_all
