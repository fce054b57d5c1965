"""space=custom: a user's builder declares value/layer/input choices; nascli searches them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from nascli import Choices
from nascli.core.errors import NascliError
from nascli.core.space import ArchError
from nascli.spaces.custom import CustomSpace

EXAMPLE = str(Path(__file__).resolve().parents[1] / "examples" / "tiny_space.py") + ":build"


def test_the_example_declares_its_choices_and_builds_what_the_text_says():
    space = CustomSpace(EXAMPLE, (1, 8, 8), 10)
    assert space.labels == ["width", "op0", "op1", "op2", "skip"]
    assert list(space.cardinalities) == [3, 3, 3, 3, 3] and space.size == 243
    arch = "width=32,op0=sep3,op1=conv3,op2=conv5,skip=2"
    assert space.canonical(arch) == arch
    net = space.build(arch, (1, 8, 8), 10)
    assert net.skip == 2 and net.blocks[2][0].kernel_size == (5, 5)
    assert net.blocks[0][0][0].groups == 1 and net.blocks[1][0].out_channels == 32
    assert net(torch.randn(2, 1, 8, 8)).shape == (2, 10)


def test_input_choices_of_several_tensors_and_their_text():
    def build(choose: Choices, input_shape, num_classes):
        choose.value("k", [3, 5])
        return torch.nn.Linear(1, 1), choose.input("inputs", 4, n_chosen=2)

    space = CustomSpace.__new__(CustomSpace)
    space.builder_spec, space.builder = "inline", build
    probe = Choices()
    build(probe, (1,), 1)
    space.labels, space.options = list(probe.declared), list(probe.declared.values())
    assert space.options[1] == ("0+1", "0+2", "0+3", "1+2", "1+3", "2+3")
    assert space.build("k=5,inputs=1+3", (1,), 1)[1] == (1, 3)


@pytest.mark.parametrize(
    "text,names",
    [
        ("width=32,op0=sep3", "expected 5"),
        ("width=33,op0=sep3,op1=conv3,op2=conv5,skip=2", "width=33 is not one of"),
        ("wide=32,op0=sep3,op1=conv3,op2=conv5,skip=2", "should be width="),
        ("width=32,op0=sep3,op1=conv3,op2=conv5,skip=3", "skip=3"),
    ],
)
def test_malformed_text_names_the_bad_pair(text, names):
    with pytest.raises(ArchError, match=names):
        CustomSpace(EXAMPLE, (1, 8, 8), 10).parse(text)


def test_a_builder_that_declares_choices_conditionally_is_refused(tmp_path):
    source = tmp_path / "cond.py"
    source.write_text(
        "import torch\n"
        "def build(choose, shape, classes):\n"
        "    if choose.value('deep', [False, True]):\n"
        "        choose.value('width', [8, 16])\n"
        "    return torch.nn.Flatten()\n"
    )
    space = CustomSpace(f"{source}:build", (1, 8, 8), 10)
    with pytest.raises(ArchError, match="declare every choice on every build"):
        space.build("deep=True", (1, 8, 8), 10)


@pytest.mark.parametrize(
    "spec,names",
    [
        ("no_colon", "module:function"),
        ("missing_file.py:build", "is not a file"),
        ("no_such_module_xyz:build", "cannot import no_such_module_xyz"),
        ("json:nope", "has no function nope"),
    ],
)
def test_bad_builders_are_clear_errors(spec, names):
    with pytest.raises(NascliError, match=names):
        CustomSpace(spec)


def test_the_example_runs_end_to_end_from_the_command_line(nas, tmp_path):
    run = tmp_path / "run"
    args = ["space=custom", f"space.builder={EXAMPLE}", "search.trials=3", "estimator.epochs=1"]
    result = nas("search", *args, "logger=none", f"hydra.run.dir={run}", "format=json")
    assert result.returncode == 0, result.stderr
    best = json.loads((run / "best.json").read_text())
    assert best["space"] == "custom" and best["arch"].startswith("width=")
    shown = nas(
        "inspect",
        "space=custom",
        f"space.builder={EXAMPLE}",
        f"arch={best['arch']}",
        "format=json",
        f"hydra.run.dir={tmp_path / 'i'}",
    )
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["params"] == best["metrics"]["params"]
    missing = nas("search", "space=custom", f"hydra.run.dir={tmp_path / 'm'}")
    assert missing.returncode == 2 and "space.builder is required" in missing.stderr
