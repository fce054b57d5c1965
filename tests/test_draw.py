"""Cell pictures: every edge label drawn, none over another label or a node, long chains scaled."""

from __future__ import annotations

import random

import matplotlib.pyplot as plt
import pytest

from nascli.spaces.chain import ChainSpace
from nascli.spaces.darts import DartsSpace
from nascli.spaces.hierarchical import HierarchicalSpace
from nascli.spaces.macro import MacroSpace
from nascli.spaces.nb201 import NB201Space
from nascli.spaces.nbgraph import NBGraphSpace
from nascli.ui.draw import MAX_WIDTH_IN, draw_graphs, render

SPACES = {
    "nb201": NB201Space(),
    "darts": DartsSpace(),
    "macro": MacroSpace(),
    "chain": ChainSpace(),
    "hierarchical": HierarchicalSpace(),
    "macro-30": MacroSpace(layers=30),
    "nbgraph": NBGraphSpace(),
}


@pytest.mark.parametrize("name", SPACES)
def test_labels_overlap_nothing(name):
    space = SPACES[name]
    for seed in range(3):
        graphs = space.graphs(space.sample(random.Random(seed)))
        fig, panels = render(graphs)
        renderer = fig.canvas.get_renderer()
        try:
            for graph, texts in zip(graphs, panels, strict=True):
                labels = [e[2] for e in graph["edges"] if e[2]]
                assert [t.get_text() for t in texts] == [*graph["nodes"], *labels]
                boxes = [t.get_window_extent(renderer) for t in texts]
                for i, a in enumerate(boxes):
                    for j in range(i):
                        assert not a.overlaps(boxes[j]), (
                            seed,
                            texts[i].get_text(),
                            texts[j].get_text(),
                        )
        finally:
            plt.close(fig)
        assert fig.get_size_inches()[0] <= MAX_WIDTH_IN * 1.05


def test_a_node_taking_one_input_twice_shows_both_edges(tmp_path):
    graph = {
        "title": "twice",
        "nodes": ["a", "b", "c"],
        "edges": [("a", "b", "sep_conv_3x3"), ("a", "b", "sep_conv_5x5"), ("b", "c", "")],
        "kinds": {"a": "input", "c": "output"},
    }
    fig, (texts,) = render([graph])
    try:
        patches = fig.axes[0].patches
        # Two arrows from a to b, on different paths, and both labels.
        paths = {tuple(map(tuple, p.get_path().vertices.round(3))) for p in patches[:2]}
        assert len(paths) == 2
        assert {t.get_text() for t in texts} >= {"sep_conv_3x3", "sep_conv_5x5"}
    finally:
        plt.close(fig)
    assert [p.name for p in draw_graphs([graph], tmp_path / "cell")] == ["cell.png", "cell.svg"]
