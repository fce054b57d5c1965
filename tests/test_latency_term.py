"""The ProxylessNAS latency term of differentiable search: per-op latency tables of a supernet,
the expected latency of its distribution, and `strategy.latency_weight` end to end."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from nascli.hardware.cost import count_params
from nascli.oneshot.latency import edge_input_shapes, latency_table
from nascli.spaces.darts import DartsSpace
from nascli.spaces.mobilenet import MobileNetSpace
from nascli.spaces.nb201 import NB201Space
from tests.conftest import assert_one_line_error, run_nas


class ParamsDevice:
    """A made-up device on which an op's latency is its parameter count plus one (in ms)."""

    def latency_ms(self, module, shape):
        return float(count_params(module) + 1)


def _supernet(name: str):
    if name == "darts":
        return DartsSpace(search_channels=4, search_layers=3).supernet((1, 8, 8), 10, 1)
    if name == "mobilenet":
        return MobileNetSpace(width_mult=0.25, stem_stride=1).supernet((1, 8, 8), 10, 1)
    return NB201Space(channels=4, cells_per_stage=1).supernet((1, 8, 8), 10, 2)


@pytest.mark.parametrize("name", ["darts", "nb201", "mobilenet"])
def test_the_table_sums_each_op_over_the_cells_that_share_its_alpha(name):
    net = _supernet(name)
    table = latency_table(net, (1, 8, 8), ParamsDevice())
    expected = {t: torch.zeros_like(a) for t, a in net.alphas.items()}
    for edge, t, row in net.edge_rows():
        for i, op in enumerate(edge.ops):
            if i != edge.none:
                expected[t][row, i] += count_params(op) + 1
    assert table.keys() == expected.keys()
    for t in table:
        assert torch.allclose(table[t], expected[t])
    if name != "mobilenet":
        none = net.primitives.index("none")
        assert all((table[t][:, none] == 0).all() for t in table)  # the zero op is free
    shapes = edge_input_shapes(net, (1, 8, 8))
    assert len(shapes) == len(net.edge_rows())
    if name == "nb201":  # partial channels: the ops see half of them
        assert {s[0] for s in shapes.values()} == {2, 4, 8}


def test_expected_latency_is_the_softmax_average_and_its_gradient_favours_cheap_ops():
    net = _supernet("nb201")
    table = latency_table(net, (1, 8, 8), ParamsDevice())
    lat = net.expected_latency(table)
    by_hand = sum((F.softmax(net.alphas[t], -1) * table[t]).sum() for t in table)
    assert lat.item() == pytest.approx(by_hand.item())
    opt = torch.optim.Adam(net.arch_parameters(), lr=0.1)
    for _ in range(30):
        opt.zero_grad()
        net.expected_latency(table).backward()
        opt.step()
    assert net.expected_latency(table).item() < 0.5 * lat.item()
    cheapest = table["cell"].argmin(-1)
    assert (F.softmax(net.alphas["cell"], -1).argmax(-1) == cheapest).all()


def test_mobilenet_blocks_count_with_the_probability_their_depth_keeps_them():
    net = _supernet("mobilenet")
    table = {"blocks": torch.ones_like(net.alphas["blocks"])}  # every block costs 1 ms
    with torch.no_grad():
        net.alphas["depth"].zero_()
        net.alphas["depth"][:, 0] = 50.0  # each stage keeps its shallowest depth
    shallowest = min(net.depths)
    assert net.expected_latency(table).item() == pytest.approx(len(net.stages) * shallowest)


@pytest.mark.slow
def test_latency_weight_pulls_the_search_towards_fast_ops(tmp_path):
    def search(weight: float) -> list[dict]:
        run = tmp_path / f"w{weight}"
        out = run_nas(
            "search",
            "strategy=darts",
            "space=nb201",
            "space.channels=4",
            "space.cells_per_stage=1",
            "strategy.epochs=3",
            "strategy.warmup_epochs=0",
            "strategy.batch_size=128",
            f"strategy.latency_weight={weight}",
            "strategy.arch_optimizer.lr=0.05",
            "logger=none",
            f"hydra.run.dir={run}",
            "format=json",
            cwd=tmp_path,
        )
        assert out.returncode == 0, out.stderr
        assert (run / "latency_table.json").is_file() == (weight > 0)
        return [json.loads(x) for x in (run / "epochs.jsonl").read_text().splitlines()]

    epochs = search(5.0)
    lat = [e["expected_latency_ms"] for e in epochs]
    assert lat[-1] < lat[0]
    assert "expected_latency_ms" not in search(0.0)[-1]


@pytest.mark.slow
def test_latency_weight_needs_a_device_to_time_on(tmp_path):
    out = run_nas(
        "search",
        "strategy=darts",
        "space=mobilenet",
        "strategy.latency_weight=1",
        "hardware=table",
        "hardware.file=none.json",
        cwd=tmp_path,
    )
    assert_one_line_error(out, "none.json")
    out = run_nas("search", "strategy=darts", "strategy.latency_weight=-1", cwd=tmp_path)
    assert out.returncode == 2 and "strategy.latency_weight" in out.stderr, out.stderr
