"""The macro (ENAS chain) space: strict text, skip connections, every dataset shape."""

from __future__ import annotations

import json
import random

import pytest
import torch

from nascli.core.space import ArchError
from nascli.spaces.macro import MacroSpace

CHAIN = "conv_3x3|sep_conv_5x5:1|max_pool_3x3:01|conv_5x5:100"


def test_layers_take_their_op_and_skips_from_the_text():
    space = MacroSpace(layers=4, channels=8)
    assert space.layer_choices(CHAIN) == [
        ("conv_3x3", []),
        ("sep_conv_5x5", [0]),
        ("max_pool_3x3", [1]),
        ("conv_5x5", [0]),
    ]
    assert space.size == 6**4 * 2 ** (1 + 2 + 3)
    net = space.build(CHAIN, (1, 8, 8), 10)
    assert net.pool_after == {0, 1}  # L/3 - 1 and 2L/3 - 1 for L = 4
    assert net.skips == [[], [0], [1], [0]]


@pytest.mark.parametrize("shape", [(1, 8, 8), (1, 28, 28), (3, 32, 32), (3, 27, 40)])
def test_builds_and_trains_a_step_for_every_dataset_shape(shape):
    space = MacroSpace(channels=8)
    net = space.build(space.sample(random.Random(2)), shape, 10)
    out = net(torch.randn(2, *shape))
    assert out.shape == (2, 10)
    out.sum().backward()


@pytest.mark.parametrize(
    "text,names",
    [
        ("conv_3x3|sep_conv_5x5:1|max_pool_3x3:01", "expected 4 layers"),
        ("conv_7x7|sep_conv_5x5:1|max_pool_3x3:01|conv_5x5:100", "layer 0 op 'conv_7x7'"),
        ("conv_3x3:1|sep_conv_5x5:1|max_pool_3x3:01|conv_5x5:100", "layer 0"),
        ("conv_3x3|sep_conv_5x5|max_pool_3x3:01|conv_5x5:100", "layer 1"),
        ("conv_3x3|sep_conv_5x5:1|max_pool_3x3:012|conv_5x5:100", "layer 2"),
        ("conv_3x3|sep_conv_5x5:1|max_pool_3x3:21|conv_5x5:100", "layer 2"),
    ],
)
def test_malformed_text_is_an_error_naming_the_bad_part(text, names):
    with pytest.raises(ArchError, match=names):
        MacroSpace(layers=4).parse(text)


def test_nas_search_and_inspect_run_the_macro_space(nas, tmp_path):
    result = nas(
        "search",
        "space=macro",
        "search.trials=2",
        "estimator.epochs=1",
        "logger=none",
        f"hydra.run.dir={tmp_path / 's'}",
    )
    assert result.returncode == 0, result.stderr
    shown = nas(
        "inspect",
        "space=macro",
        "space.layers=4",
        f"arch={CHAIN}",
        "format=json",
        f"hydra.run.dir={tmp_path / 'i'}",
    )
    assert shown.returncode == 0, shown.stderr
    assert (tmp_path / "i" / "cell.png").is_file()


def test_a_repeated_proposal_is_answered_from_the_history_not_trained_again(nas, tmp_path):
    """space=macro with one layer holds six architectures: a search for ten trials trains each
    once, answers the repeats from its history, and stops when only repeats are left."""
    run = tmp_path / "run"
    out = nas(
        "search", "space=macro", "space.layers=1", "space.channels=4", "strategy=qlearning",
        "search.trials=10", "estimator.epochs=1", "logger=none", f"hydra.run.dir={run}",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    archs = [json.loads(line)["arch"] for line in (run / "history.jsonl").read_text().splitlines()]
    summary = json.loads((run / "summary.json").read_text())
    assert len(archs) == len(set(archs)) == 6
    assert summary["repeats_answered"] > 0 and summary["stop_reason"] == "exhausted"
