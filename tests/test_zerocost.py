"""Zero-cost proxies: defined on any network, side-effect free, and usable alone or as a pre-filter."""

from __future__ import annotations

import json
import math

import pytest
import torch

from nascli.core.errors import NascliError
from nascli.data.module import ImageDataModule
from nascli.estimators.zerocost import PROXIES, ZeroCostEstimator, first_batch, score
from nascli.spaces.darts import DartsSpace
from nascli.spaces.nb201 import NB201Space
from nascli.ui.tables import number
from tests.conftest import TINY

ALL_3X3 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
ALL_SKIP = "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|"


@pytest.fixture(scope="module")
def batch():
    data = ImageDataModule("digits", seed=0, batch_size=32)
    return data, first_batch(data, 32, seed=0)


@pytest.mark.parametrize("proxy", sorted(PROXIES))
@pytest.mark.parametrize(
    "net_of",
    [
        lambda: NB201Space(channels=8, cells_per_stage=1).build(ALL_3X3, (1, 8, 8), 10),
        lambda: DartsSpace(channels=8, layers=5, auxiliary=True).build("DARTS_V2", (1, 8, 8), 10),
    ],
    ids=["nb201", "darts-with-auxiliary"],
)
def test_every_proxy_scores_every_space_without_side_effects(batch, proxy, net_of):
    _, (x, y) = batch
    torch.manual_seed(0)
    net = net_of()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    value = score(proxy, net, x, y)
    assert math.isfinite(value)
    after = net.state_dict()
    # Weights untouched (synflow works on a copy); no gradients or hooks left behind.
    assert all(
        torch.equal(before[k], after[k])
        for k in before
        if "running" not in k and "num_batches" not in k
    )
    assert all(p.grad is None for p in net.parameters())
    assert all(not m._forward_hooks for m in net.modules())


@pytest.mark.parametrize("proxy", sorted(PROXIES))
def test_a_network_that_ignores_its_input_gets_a_finite_score(batch, proxy):
    _, (x, y) = batch
    none = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
    assert math.isfinite(
        score(proxy, NB201Space(channels=8, cells_per_stage=1).build(none, (1, 8, 8), 10), x, y)
    )


def test_synflow_ranks_a_network_with_more_weights_higher(batch):
    _, (x, y) = batch
    space = NB201Space(channels=8, cells_per_stage=1)
    torch.manual_seed(0)
    convs = score("synflow", space.build(ALL_3X3, (1, 8, 8), 10), x, y)
    torch.manual_seed(0)
    skips = score("synflow", space.build(ALL_SKIP, (1, 8, 8), 10), x, y)
    assert convs > skips


def test_unknown_proxy_is_a_clear_error():
    with pytest.raises(NascliError, match="estimator.proxy=fisherx"):
        ZeroCostEstimator(proxy="fisherx")


@pytest.mark.slow
def test_zerocost_search_and_prefilter_through_the_cli(nas, tmp_path):
    out = nas(
        "search",
        "estimator=zerocost",
        "estimator.proxy=naswot",
        "search.trials=6",
        "hydra.run.dir=z",
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    history = [
        json.loads(line) for line in (tmp_path / "z" / "history.jsonl").read_text().splitlines()
    ]
    best = json.loads((tmp_path / "z" / "best.json").read_text())
    assert best["metrics"]["score"] == max(r["metrics"]["score"] for r in history)
    assert all(r["metrics"]["epochs"] == 0 for r in history)
    # The report shows the objective the search used (the proxy's score), readably.
    out = nas("report", "z", "plots=false", "hydra.run.dir=r", cwd=tmp_path, env={"COLUMNS": "200"})
    assert out.returncode == 0, out.stderr
    header = next(line for line in out.stdout.splitlines() if "arch" in line)
    assert "score" in header.split("┃")[4], header  # right after the arch
    assert f" {number(best['metrics']['score'])} " in out.stdout, out.stdout

    out = nas("search", *TINY, "estimator.prefilter=3", "hydra.run.dir=p", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "p" / "search.log").read_text().count("prefilter by synflow kept") == 2
