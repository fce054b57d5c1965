"""`nas inspect`: the network, its counts and cost, its picture, arch= in every form."""

from __future__ import annotations

import json

import pytest

from tests.conftest import TINY, assert_one_line_error

ALL_3X3 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"


@pytest.mark.slow
def test_inspect_darts_v2_as_json(nas, tmp_path):
    out = nas(
        "inspect",
        "space=darts",
        "arch=DARTS_V2",
        "dataset=cifar10",
        "format=json",
        "hydra.run.dir=run",
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)  # stdout holds the JSON object and nothing else
    assert result["params"] == 3_349_342 and result["params_with_auxiliary"] > result["params"]
    assert result["flops"] > 0 and result["latency_ms"] > 0
    assert result["arch"].startswith("Genotype(normal=[('sep_conv_3x3', 0)")
    for suffix in (".png", ".svg"):
        assert (tmp_path / "run" / f"cell{suffix}").stat().st_size > 1000
    assert sorted(result["pictures"]) == sorted(
        str(tmp_path / "run" / f"cell{s}") for s in (".png", ".svg")
    )


@pytest.mark.slow
def test_inspect_takes_a_pasted_arch_string_and_a_run_directory(nas, tmp_path):
    out = nas("inspect", f"arch={ALL_3X3}", "dataset=cifar10", "format=json", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["params"] == 1_531_546

    search = nas("search", *TINY, "hydra.run.dir=search_run", cwd=tmp_path)
    assert search.returncode == 0, search.stderr
    best = json.loads((tmp_path / "search_run" / "best.json").read_text())
    out = nas("inspect", "arch=search_run", "format=json", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["arch"] == best["arch"]
    wrong_space = nas("inspect", "space=darts", "arch=search_run", cwd=tmp_path)
    assert wrong_space.returncode == 2 and "space=nb201" in wrong_space.stderr


def test_inspect_without_an_arch_describes_the_space(nas, tmp_path):
    out = nas("inspect", "format=json", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    described = json.loads(out.stdout)
    assert described["architectures"] == 15_625
    # NAS-Bench-201's count of cells that compute different functions
    assert described["unique_architectures"] == 6_466
    assert "params" not in described and "torch" not in out.stderr


@pytest.mark.parametrize(
    "args,named",
    [
        (["arch=0123:fc-gat-fc-gin"], "nb201 arch"),
        (["space=darts", "arch=DARTS_V9"], "DARTS_V9"),
        (["arch=|nor_conv_3x3~0|+|bad|"], "nb201 arch"),
        (["space=darts", "arch=Genotype(normal=[('sep_conv_3x3', 9)])"], "darts arch"),
        (["space=mobilenet", "arch=d2:k3e3|d9:k3e3"], "mobilenet arch"),
        (["space=macro", "arch=conv_3x3|conv_9x9:1"], "macro arch"),
    ],
)
def test_inspect_bad_input_is_one_line(nas, tmp_path, args, named):
    out = nas("inspect", *args, cwd=tmp_path)
    assert out.returncode == 2 and out.stdout == ""
    assert_one_line_error(out, named)


def test_inspect_takes_the_space_and_dataset_from_a_run_directory(nas, tmp_path):
    args = ["space=nbgraph", "dataset=cora", "estimator=nbgraph", "search.trials=3"]
    search = nas("search", *args, "hydra.run.dir=run", cwd=tmp_path)
    assert search.returncode == 0, search.stderr
    best = json.loads((tmp_path / "run" / "best.json").read_text())
    out = nas("inspect", "arch=run", "format=json", "hydra.run.dir=i", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    shown = json.loads(out.stdout)
    assert shown["space"] == "nbgraph" and shown["arch"] == best["arch"]
