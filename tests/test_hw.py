"""Latency lookup tables: units, profiling, prediction, `nas hw` and `hardware=table`."""

from __future__ import annotations

import json
import random

import pytest
import torch

from nascli.core.errors import NascliError
from nascli.hardware import lut
from nascli.hardware.cost import count_params
from nascli.spaces.mobilenet import MobileNetSpace
from nascli.spaces.nb201 import NB201Space
from tests.conftest import TINY, assert_one_line_error, run_nas

SHAPE = (1, 8, 8)


def _space() -> MobileNetSpace:
    return MobileNetSpace(width_mult=0.25, stem_stride=1)


def test_units_cover_the_whole_network_in_order():
    space = _space()
    net = space.build(space.sample(random.Random(0)), SHAPE, 10).eval()
    x = torch.randn(2, *SHAPE)
    parts = lut.units(net, SHAPE)
    y = x
    with torch.inference_mode():
        for _, module, shape in parts:
            assert tuple(y.shape[1:]) == shape
            y = module(y)
        assert torch.allclose(y, net(x))
    assert sum(count_params(m) for _, m, _ in parts) == count_params(net)
    with pytest.raises(NascliError, match="features"):
        lut.units(
            NB201Space(cells_per_stage=1).build(NB201Space().sample(random.Random(0)), SHAPE, 10),
            SHAPE,
        )


class ParamsAsLatency:
    """A make-believe device whose latency is additive (params / 1000 ms), so that a table must
    predict every network exactly."""

    def latency_ms(self, net, input_shape) -> float:
        return count_params(net) / 1000


def test_profile_then_predict_is_exact_on_an_additive_device():
    space = _space()
    table = lut.profile(space, SHAPE, 10, ParamsAsLatency(), seed=0, patience=100)
    assert table["scale"] == pytest.approx(1.0) and table["overhead_ms"] == pytest.approx(
        0.0, abs=1e-9
    )
    rng = random.Random(5)
    for _ in range(10):  # architectures the profile never sampled
        net = space.build(space.sample(rng), SHAPE, 10)
        assert lut.predict(table, net, SHAPE) == pytest.approx(count_params(net) / 1000)
    # Every block shape the space can produce was found: 9 (kernel x expansion) per block position
    # kind, first or later, per stage, plus the fixed stem, tail and head.
    assert len(table["entries"]) >= 9 * 2 * 4 + 5


class SlowForAWhile(ParamsAsLatency):
    """The additive device, three times slower for calls 21-50 (a shared machine's slow spell)."""

    def __init__(self) -> None:
        self.calls = 0

    def latency_ms(self, net, input_shape) -> float:
        self.calls += 1
        return super().latency_ms(net, input_shape) * (3 if 21 <= self.calls <= 50 else 1)


def test_profiling_in_shuffled_rounds_keeps_a_slow_spell_out_of_the_table():
    space = _space()
    rng = random.Random(5)
    nets = [space.build(space.sample(rng), SHAPE, 10) for _ in range(10)]
    # Without the probe, three rounds' medians outvote the spell and one round does not; with the
    # probe timed before every job, each time is put back at the probe's usual speed and one
    # round is enough. (profile makes no timing before its rounds, so calls alternate probe, job
    # from call 1: the spell, calls 21-50, covers whole probe-job pairs.)
    for passes, every, exact in ((3, 0, True), (1, 0, False), (1, 1, True)):
        table = lut.profile(
            space,
            SHAPE,
            10,
            SlowForAWhile(),
            seed=0,
            patience=100,
            passes=passes,
            probe_every=every,
        )
        right = all(
            lut.predict(table, net, SHAPE) == pytest.approx(count_params(net) / 1000)
            for net in nets
        )
        assert right == exact, (passes, every)
        assert ("probe" in table) == bool(every)


def test_timed_rounds_pairs_each_job_with_the_probe_timed_last_before_it():
    calls: list[str] = []

    def timed(name: str) -> float:  # every "time" is the call's place in the sequence, from 1
        calls.append(name)
        return float(len(calls))

    times, probes = lut.timed_rounds(
        list("abcde"),
        timed,
        random.Random(0),
        passes=2,
        probe=lambda: timed("probe"),
        probe_every=2,
    )
    assert len(probes) == 2 * 3  # before jobs 1, 3 and 5 of each round
    probe_places = [i + 1 for i, name in enumerate(calls) if name == "probe"]
    assert probes == [float(place) for place in probe_places]
    for name, rounds in times.items():
        assert [calls[int(place) - 1] for place, _ in rounds] == [name, name]
        for place, latest in rounds:
            assert latest == max(p for p in probe_places if p < place)
    assert lut.at_speed([(2.0, 4.0), (3.0, 1.0), (1.0, 2.0)], probe_ms=2.0) == pytest.approx(1.0)
    assert lut.at_speed([(2.0, 4.0), (3.0, 1.0), (1.0, 2.0)], probe_ms=None) == 2.0


class SlowerLater(ParamsAsLatency):
    """The additive device, running at `factor` times its latency once told to."""

    factor = 1.0

    def latency_ms(self, net, input_shape) -> float:
        return super().latency_ms(net, input_shape) * self.factor


def test_validation_measures_at_the_speed_the_device_had_while_profiling():
    space, device = _space(), SlowerLater()
    table = lut.profile(space, SHAPE, 10, device, seed=0, patience=100)
    probe = space.build(table["probe"]["arch"], SHAPE, 10)
    assert table["probe"]["ms"] == pytest.approx(count_params(probe) / 1000)
    device.factor = 2.0  # half as fast as while profiling
    check = lut.validate(table, space, SHAPE, 10, device, samples=8, seed=1)
    assert check["samples"] == 8 and check["speed_factor"] == pytest.approx(2.0)
    assert check["mean_abs_error_pct"] == pytest.approx(0.0, abs=1e-9)
    assert check["raw"]["mean_abs_error_pct"] == pytest.approx(50.0)
    assert check["measured_ms"] == pytest.approx([2 * m for m in check["at_table_speed_ms"]])
    with pytest.raises(NascliError, match="another space"):
        lut.validate(table, NB201Space(cells_per_stage=1), SHAPE, 10, device, samples=2)
    # A table without a probe (profiled with probe_every=0, or by an older nascli) is validated
    # against the times as measured.
    del table["probe"]
    check = lut.validate(table, space, SHAPE, 10, device, samples=8, seed=1)
    assert "raw" not in check and check["mean_abs_error_pct"] == pytest.approx(50.0)


def test_the_console_summary_names_the_speed_factor_and_the_raw_error():
    from nascli.commands.hw.run import _describe

    space, device = _space(), SlowerLater()
    table = lut.profile(space, SHAPE, 10, device, seed=0, patience=100)
    device.factor = 2.0
    check = {"command": "hw validate", **lut.validate(table, space, SHAPE, 10, device, samples=4)}
    text = _describe(check)
    assert "mean absolute error 0.0 %" in text and "2.00x" in text and "error is 50.0 %" in text
    del table["probe"]
    text = _describe(
        {"command": "hw validate", **lut.validate(table, space, SHAPE, 10, device, samples=4)}
    )
    assert "mean absolute error 50.0 %" in text and "x that time" not in text
    profiled = {
        "command": "hw profile",
        "file": "t.json",
        "seconds": 1.0,
        "entries": 3,
        "sampled_archs": 9,
        "overhead_ms": 0.0,
    }
    assert "probe network" not in _describe(profiled)
    profiled["probe"] = {"ms": 1.5, "timings": 7, "p10_ms": 1.2, "p90_ms": 1.9}
    assert "probe network 1.500 ms" in _describe(profiled) and "1.200-1.900" in _describe(profiled)


@pytest.mark.parametrize(
    "probe", [{"arch": "x", "ms": 0.0}, {"ms": 1.0}, {"arch": ["a"], "ms": 1.0}, "probe"]
)
def test_a_table_with_a_broken_probe_is_refused_in_one_line(tmp_path, probe):
    (tmp_path / "t.json").write_text(json.dumps({"entries": {}, "probe": probe}))
    with pytest.raises(NascliError, match="hardware.file=.*not a latency table"):
        lut.TableTarget(str(tmp_path / "t.json"))


@pytest.mark.slow
def test_hw_profile_validate_and_a_search_on_the_table(tmp_path):
    out = run_nas("hw", "profile", "hw.file=lat.json", "format=json", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    profile = json.loads(out.stdout)
    assert profile["entries"] > 40 and (tmp_path / "lat.json").is_file()
    out = run_nas("hw", "validate", "hw.file=lat.json", "hw.samples=5", "format=json", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    check = json.loads(out.stdout)
    assert check["samples"] == 5 and check["mean_abs_error_pct"] >= 0
    at_speed, measured = check["at_table_speed_ms"], check["measured_ms"]
    errors = [abs(p - m) / m for p, m in zip(check["predicted_ms"], at_speed, strict=True)]
    assert check["mean_abs_error_pct"] == pytest.approx(100 * sum(errors) / 5)
    errors = [abs(p - m) / m for p, m in zip(check["predicted_ms"], measured, strict=True)]
    assert check["raw"]["mean_abs_error_pct"] == pytest.approx(100 * sum(errors) / 5)
    assert check["speed_factor"] > 0
    out = run_nas(
        "search",
        "space=mobilenet",
        "hardware=table",
        "hardware.file=lat.json",
        *TINY,
        "hydra.run.dir=s",
        "format=json",
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    table = lut.TableTarget(str(tmp_path / "lat.json"))
    space = _space()
    for line in (tmp_path / "s" / "history.jsonl").read_text().splitlines():
        record = json.loads(line)
        net = space.build(record["arch"], SHAPE, 10)
        assert record["metrics"]["latency_ms"] == pytest.approx(
            table.latency_ms(net, SHAPE), abs=1e-3
        )


@pytest.mark.slow
@pytest.mark.parametrize(
    "command,args,named",
    [
        ("search", ["space=mobilenet", "hardware=table"], "hardware.file"),
        ("search", ["space=mobilenet", "hardware=table", "hardware.file=none.json"], "none.json"),
        ("hw", ["validate", "hw.file=none.json"], "none.json"),
        ("hw", ["frobnicate"], "frobnicate"),
        ("hw", ["profile", "hw.passes=0"], "hw.passes"),
        ("hw", ["profile", "hw.probe_every=-1"], "hw.probe_every"),
        ("hw", ["profile", "hardware=table", "hardware.file=x"], "hardware=cpu"),
        pytest.param(
            "search",
            ["hardware=gpu"],
            "hardware=gpu",
            marks=pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is there"),
        ),
    ],
)
def test_hw_bad_input(tmp_path, command, args, named):
    out = run_nas(command, *args, *(TINY if command == "search" else []), cwd=tmp_path)
    assert_one_line_error(out, named)


def test_gpu_target_refuses_clearly_without_cuda_or_with_a_bad_precision():
    from nascli.hardware.gpu import GpuTarget

    with pytest.raises(NascliError, match="hardware.precision"):
        GpuTarget(precision="int8")
    if not torch.cuda.is_available():
        with pytest.raises(NascliError, match="hardware=gpu needs a CUDA device"):
            GpuTarget()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("precision,channels_last", [("fp32", False), ("bf16", True)])
def test_gpu_target_times_a_copy_with_cuda_events(precision, channels_last):
    from nascli.hardware.gpu import GpuTarget

    space = _space()
    net = space.build(space.sample(random.Random(0)), (3, 32, 32), 10)
    target = GpuTarget(precision=precision, channels_last=channels_last, warmup=2, repeats=5)
    metrics = target.measure(net, (3, 32, 32))
    assert metrics["latency_ms"] > 0 and metrics["params"] == count_params(net)
    assert next(net.parameters()).device.type == "cpu" and net.training  # left as it was
