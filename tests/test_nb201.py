"""NAS-Bench-201: parameter counts as published, strict arch strings, the generic space operations."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from nascli.core.space import ArchError
from nascli.hardware.cost import count_params
from nascli.spaces.nb201 import NB201Space

ALL_3X3 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
ALL_NONE = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
INDEX_0 = "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|"
NATS_EXAMPLE = (
    "|skip_connect~0|+|none~0|nor_conv_3x3~1|+|avg_pool_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
)

# NAS-Bench-201's published parameter counts (in millions, as its API reports them) for C=16, N=5:
# the space's max and min on CIFAR-10 and CIFAR-100, benchmark index 0, and a NATS-Bench example.
PUBLISHED = [
    (ALL_3X3, 10, 1.531546),
    (ALL_NONE, 10, 0.073306),
    (ALL_3X3, 100, 1.537396),
    (ALL_NONE, 100, 0.079156),
    (INDEX_0, 10, 0.129306),
    (NATS_EXAMPLE, 10, 0.802426),
]


@pytest.mark.parametrize("arch,classes,millions", PUBLISHED)
def test_parameter_counts_match_nas_bench_201(arch, classes, millions):
    net = NB201Space(channels=16, cells_per_stage=5).build(arch, (3, 32, 32), classes)
    assert count_params(net) == round(millions * 1e6)


@pytest.mark.parametrize("shape", [(1, 8, 8), (1, 28, 28), (3, 32, 32), (3, 20, 24)])
def test_builds_and_trains_on_every_input_shape(shape):
    space = NB201Space(channels=8, cells_per_stage=1)
    net = space.build(ALL_3X3, shape, 7)
    out = net(torch.randn(2, *shape))
    assert out.shape == (2, 7)
    out.sum().backward()
    assert all(p.grad is not None for p in net.parameters())


def test_a_cell_of_none_edges_outputs_zero_but_the_network_still_runs():
    net = NB201Space(channels=8, cells_per_stage=1).build(ALL_NONE, (1, 8, 8), 10)
    assert net(torch.randn(2, 1, 8, 8)).shape == (2, 10)


@pytest.mark.parametrize(
    "bad,part",
    [
        ("", "3 node groups"),
        ("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|", "3 node groups"),
        (ALL_3X3.replace("nor_conv_3x3~0|+", "conv_3x3~0|+", 1), "conv_3x3~0"),
        (ALL_3X3.replace("nor_conv_3x3~1|+", "nor_conv_3x3~2|+", 1), "must come from node 1"),
        (ALL_3X3.replace("|+|", "+", 1), "must start and end"),
        (ALL_3X3.replace("~", "", 1), "bad edge"),
        (ALL_3X3 + "|skip_connect~3|", "node 3 needs 3 edge"),
        ("|skip_connect~0|+|none~0|+|none~0|none~1|none~2|", "node 2 needs 2 edge"),
        (ALL_3X3.upper(), "bad edge"),
    ],
)
def test_bad_arch_strings_name_the_bad_part(bad, part):
    with pytest.raises(ArchError, match=part.replace("|", r"\|")):
        NB201Space().parse(bad)


def test_size_and_vector_encoding():
    space = NB201Space()
    assert space.size == 5**6 == 15625
    vec = space.vector(ALL_3X3)
    assert len(vec) == 30 and sum(vec) == 6
    assert space.decode(space.encode(INDEX_0)) == INDEX_0
    with pytest.raises(ArchError):
        space.decode([0] * 5)
    with pytest.raises(ArchError):
        space.decode([0, 0, 0, 0, 0, 5])


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="|+~_0123456789abcdefghijklmnopqrstuvwxyz", max_size=120))
def test_parser_fuzz_raises_only_arch_error(text):
    space = NB201Space()
    try:
        indices = space.parse(text)
    except ArchError:
        return
    assert space.format(indices) == text.strip()


def test_neighbours_are_all_one_edit_away_and_unique():
    space = NB201Space()
    ns = space.neighbours(INDEX_0)
    assert len(ns) == 6 * 4 == len(set(ns)) and INDEX_0 not in ns
