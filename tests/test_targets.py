"""`_target_`s are judged by what they resolve to: spellings that reach code-running functions
through allowed modules are refused, one line naming the key."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from nascli.core.config import instantiate
from nascli.core.errors import NascliError
from nascli.core.targets import check_target, check_targets

BYPASSES = [
    "torch.nn.functional.torch.load",  # an attribute chain through an allowed module
    "torch.load",
    "torch.serialization.load",
    "torch.jit.load",
    "torch.hub.load",
    "torch.utils.cpp_extension.load",
    "torch.package.PackageImporter",  # a torch class outside the contracts
    "torch.nn.modules.module.Module.load_state_dict",  # a method of an allowed class
    "pytorch_lightning.LightningModule.load_from_checkpoint",
    "nascli.spaces.custom.load_builder",  # a nascli function that executes a file
    "nascli.commands.app.os.system",  # through a module nascli imports
    "nascli.core.targets.importlib.import_module",
    "nascli.core.targets.importlib",  # a module is no class
    "numpy.load",
    "builtins.eval",
    "builtins.exec",
    "builtins.type",
    "os.system",
    "subprocess.Popen",
    "pickle.loads",
    "importlib.import_module",
    "operator.attrgetter",
    "functools.partial",
    "torch.__builtins__",  # special attributes are not followed
    "torch.nn._reduction.get_enum",
    "torch..load",
    "torch.load; import os",
]


@pytest.mark.parametrize("target", BYPASSES)
def test_every_bypass_spelling_is_refused_naming_the_key(target):
    with pytest.raises(NascliError) as refused:
        check_target(target, "strategy.optimizer")
    message = str(refused.value)
    assert "\n" not in message and message.startswith("strategy.optimizer._target_=")
    assert "not allowed" in message


@pytest.mark.parametrize(
    "node,key",
    [
        ({"_target_": "torch.load", "_partial_": True}, "x"),
        ({"_target_": "torch.nn.Sequential", "_args_": [{"_target_": "os.system"}]}, "x._args_[0]"),
        ({"layers": [{"_target_": "torch.nn.ReLU"}, {"_target_": "builtins.eval"}]}, "x.layers[1]"),
        ({"_target_": 3}, "x"),
    ],
)
def test_nested_partial_and_non_string_targets_are_refused(node, key):
    with pytest.raises(NascliError) as refused:
        check_targets(OmegaConf.create(node), "x")
    assert str(refused.value).startswith(f"{key}._target_=")


def test_the_classes_configs_name_are_built():
    for target in (
        "torch.optim.SGD",
        "torch.optim.lr_scheduler.CosineAnnealingLR",
        "torch.nn.Conv2d",
        "pytorch_lightning.loggers.CSVLogger",
        "nascli.strategies.evolution.RegularizedEvolution",
        "nascli.oneshot.strategies.Darts",
        "nascli.trials.pool.TrialPool",
    ):
        assert isinstance(check_target(target, "k"), type)
    sgd = instantiate(
        OmegaConf.create({"_target_": "torch.optim.SGD", "_partial_": True, "lr": 0.1}), "o"
    )
    assert sgd.keywords["lr"] == 0.1


def test_keyword_arguments_are_checked_as_well():
    node = OmegaConf.create({"_target_": "torch.nn.ReLU"})
    with pytest.raises(NascliError, match=r"^x\(trainer=\)\.cb\._target_=os\.system"):
        instantiate(node, "x", trainer={"cb": {"_target_": "os.system", "_args_": ["true"]}})


def test_a_plugin_that_fails_on_import_is_one_line(tmp_path, monkeypatch):
    (tmp_path / "broken_plugin.py").write_text("raise RuntimeError('half written')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(NascliError, match="importing it failed .RuntimeError: half written"):
        check_target("broken_plugin.Space", "space")
