"""One-shot search over a user's own space: a supernet from the same builder function."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from nascli.core.errors import NascliError
from nascli.spaces.custom import CustomSpace
from tests.conftest import run_nas

EXAMPLE = str(Path(__file__).resolve().parents[1] / "examples" / "oneshot_space.py")
SPACE = ["space=custom", f"space.builder={EXAMPLE}:build"]


def test_the_supernet_mixes_every_candidate_and_runs_single_paths():
    space = CustomSpace(f"{EXAMPLE}:build")
    net = space.supernet((1, 8, 8), 10)
    assert net.cell_types == ("op0", "op1", "op2")
    assert all(a.shape == (1, 4) for a in net.alphas.values())
    x = torch.randn(2, 1, 8, 8)
    assert net(x).shape == (2, 10)
    # one path of the supernet computes exactly what the child built for that arch computes
    arch = "op0=conv5,op1=sep3,op2=pool"
    child = space.build(arch, (1, 8, 8), 10)
    net.method, net.path = "path", space.path(arch)
    child_layers = [m for m in child if not isinstance(m, torch.nn.ReLU)][:3]
    for layer, target in zip(net.layers, child_layers, strict=True):
        index = net.path[layer.label][0][0]
        target.load_state_dict(layer.ops[index].state_dict())
    tail = list(net.body)[6:]
    for mine, theirs in zip(tail, list(child)[6:], strict=True):
        theirs.load_state_dict(mine.state_dict())
    net.eval(), child.eval()
    assert torch.allclose(net(x), child(x), atol=1e-6)
    # derive: the strongest candidate per choice
    weights = {"op0": [[0.1, 0.2, 0.6, 0.1]], "op1": [[0.9, 0, 0, 0.1]], "op2": [[0, 0, 0, 1]]}
    assert space.derive(weights) == "op0=sep3,op1=conv3,op2=pool"


def test_value_and_input_choices_cannot_share_weights():
    with pytest.raises(NascliError, match="'width' is a value choice"):
        CustomSpace("examples/tiny_space.py:build").supernet((1, 8, 8), 10)


@pytest.mark.slow
@pytest.mark.parametrize(
    "strategy",
    [["strategy=darts", "strategy.warmup_epochs=0"], ["strategy=spos", "strategy.search_trials=4"]],
)
def test_one_shot_search_over_a_custom_space(tmp_path, strategy):
    out = run_nas(
        "search",
        *SPACE,
        *strategy,
        "strategy.epochs=2",
        "logger=none",
        "format=json",
        "hydra.run.dir=run",
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    best = json.loads(out.stdout)["best"]
    space = CustomSpace(f"{EXAMPLE}:build")
    assert space.parse(best["arch"])  # a valid arch of the space
    assert best["metrics"]["params"] > 0
