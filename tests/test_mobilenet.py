"""The mobilenet (MBConv) space: strict text, what gets built, every dataset shape."""

from __future__ import annotations

import random

import pytest
import torch

from nascli.core.space import ArchError
from nascli.hardware.cost import count_params
from nascli.spaces.mobilenet import MobileNetSpace
from nascli.spaces.mobilenet.net import MBConv

SMALL = "|".join(["d2:" + "-".join(["k3e3"] * 4)] * 5)
LARGE = "|".join(["d4:" + "-".join(["k7e6"] * 4)] * 5)


def test_depth_kernel_and_expansion_decide_the_blocks_that_are_built():
    space = MobileNetSpace()
    arch = "d2:k5e6-k3e4-k7e3-k7e3|d3:k3e3-k3e3-k3e3-k7e6|d4:k7e6-k5e4-k3e3-k3e4|d2:k3e3-k3e3-k3e3-k3e3|d4:k3e3-k3e3-k3e3-k3e3"
    assert space.blocks(arch)[0] == [(5, 6), (3, 4)]
    net = space.build(arch, (3, 224, 224), 1000)
    blocks = [m for m in net.modules() if isinstance(m, MBConv)]
    assert len(blocks) == 1 + (2 + 3 + 4 + 2 + 4) + 1
    depthwise = [
        m for m in blocks[1].body.modules() if isinstance(m, torch.nn.Conv2d) and m.groups > 1
    ]
    assert (
        depthwise[0].kernel_size == (5, 5) and depthwise[0].out_channels == 16 * 6
    )  # 16 channels in, expansion 6
    # Choices of unbuilt blocks are kept in the text but do not change the network.
    other = arch.replace("d2:k5e6-k3e4-k7e3-k7e3", "d2:k5e6-k3e4-k3e6-k5e4")
    assert other != arch and count_params(space.build(other, (3, 224, 224), 1000)) == count_params(
        net
    )
    # Larger choices, more parameters; ProxylessNAS-sized at the ends (its mobile net: 4.1M).
    small, large = (count_params(space.build(a, (3, 224, 224), 1000)) for a in (SMALL, LARGE))
    assert 2_000_000 < small < 4_100_000 < large < 6_000_000


@pytest.mark.parametrize("shape", [(1, 8, 8), (1, 28, 28), (3, 32, 32), (3, 40, 56)])
def test_builds_and_trains_a_step_for_every_dataset_shape(shape):
    space = MobileNetSpace(width_mult=0.25, stem_stride=1)
    net = space.build(space.sample(random.Random(1)), shape, 10)
    out = net(torch.randn(2, *shape))
    assert out.shape == (2, 10)
    out.sum().backward()


@pytest.mark.parametrize(
    "text,names",
    [
        (SMALL.rsplit("|", 1)[0], "5 stages"),
        (SMALL.replace("d2:", "d5:", 1), "depth 5"),
        (SMALL.replace("d2:", "2:", 1), "must start with its depth"),
        (SMALL.replace("k3e3", "k4e3", 1), "block 1 'k4e3'"),
        (SMALL.replace("k3e3", "k3e5", 1), "block 1 'k3e5'"),
        (SMALL.replace("-k3e3", "", 1), "lists 3 blocks"),
        (SMALL.replace("k3e3", "K3E3", 1), "block 1 'K3E3'"),
    ],
)
def test_malformed_text_is_an_error_naming_the_bad_part(text, names):
    with pytest.raises(ArchError, match=names):
        MobileNetSpace().parse(text)


def test_nas_search_and_inspect_run_the_mobilenet_space(nas, tmp_path):
    result = nas(
        "search",
        "space=mobilenet",
        "search.trials=2",
        "estimator.epochs=1",
        "logger=none",
        f"hydra.run.dir={tmp_path / 's'}",
    )
    assert result.returncode == 0, result.stderr
    shown = nas(
        "inspect",
        "space=mobilenet",
        f"arch={SMALL}",
        "format=json",
        "dataset=cifar10",
        f"hydra.run.dir={tmp_path / 'i'}",
    )
    assert shown.returncode == 0, shown.stderr
    assert '"params"' in shown.stdout
