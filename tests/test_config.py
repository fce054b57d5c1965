"""Every option of every config group composes, validates and (where cheap) instantiates."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from omegaconf import OmegaConf, open_dict

from nascli.cli.help import NOT_HYDRA
from nascli.core.config import instantiate, validate
from nascli.core.errors import NascliError
from nascli.core.paths import config_dir

CONF = Path(config_dir())
GROUPS = ["space", "strategy", "estimator", "dataset", "hardware", "trainer", "logger", "paths"]
OPTIONS = [(g, p.stem) for g in GROUPS for p in sorted((CONF / g).glob("*.yaml"))]


def _compose(*overrides: str, command: str = "search"):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3", job_name=command):
        cfg = compose(command, overrides=list(overrides), return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)
    return cfg


@pytest.mark.parametrize("group,option", OPTIONS)
def test_every_option_composes_and_validates(group, option):
    # Options with a required key get a value for it.
    required = {
        ("dataset", "imagefolder"): ["dataset.root=/tmp/images"],
        ("dataset", "text"): ["dataset.root=/tmp/corpus"],
        ("space", "custom"): ["space.builder=examples/tiny_space.py:build"],
        ("hardware", "table"): ["hardware.file=latency.json"],
        ("estimator", "nb201"): ["bench.file=NAS-Bench-201-v1_1-096897.pth"],
    }
    extra = required.get((group, option), [])
    cfg = _compose(f"{group}={option}", *extra)
    assert cfg.hydra.runtime.choices[group] == option
    validate(cfg)
    if group in ("space", "strategy", "hardware"):
        target = cfg[group]["_target_"]
        assert target.startswith("nascli.")
    if group == "dataset" and "source" in cfg.dataset:  # imagenet streams: no in-memory source
        from nascli.data import sources, text

        if cfg.dataset._target_ == "nascli.data.text.TextDataModule":
            assert cfg.dataset.source in text.SOURCES
        else:
            assert hasattr(sources, cfg.dataset.source)


@pytest.mark.parametrize(
    "command", [p.stem for p in sorted(CONF.glob("*.yaml")) if p.stem not in NOT_HYDRA]
)
def test_every_command_config_composes(command):
    required = {
        "inspect": ("arch=DARTS_V2", "space=darts"),
        "evaluate": ("run=somewhere",),
        "report": ("dirs=[somewhere]",),
        "bench": ("action=build",),
        "hw": ("action=profile",),
    }
    cfg = _compose(*required.get(command, ()), command=command)
    validate(cfg)
    assert OmegaConf.to_container(cfg.hydra.run, resolve=True)["dir"].startswith(
        f"outputs/{command}/"
    )


def test_run_dir_names_command_dataset_space_strategy():
    cfg = _compose("dataset=fake")
    run_dir = OmegaConf.to_container(cfg.hydra.run, resolve=True)["dir"]
    assert run_dir.startswith("outputs/search/fake-nb201-random/")
    assert cfg.hydra.sweep.dir.startswith("outputs/multirun/search/")


def test_presets_lighten_digits_but_keep_the_published_skeleton_elsewhere():
    assert _compose().space.cells_per_stage == 1
    assert _compose("dataset=cifar10").space.cells_per_stage == 5
    assert _compose("dataset=cifar10").space.channels == 16
    # A user's own value still wins over the preset.
    assert _compose("space.cells_per_stage=2").space.cells_per_stage == 2


def test_estimator_presets_fit_one_space_on_one_dataset_and_yield_to_the_user():
    mobilenet = "space=mobilenet"
    assert _compose(mobilenet).estimator.optimizer.lr == 0.03
    assert _compose(mobilenet, "estimator.optimizer.lr=0.2").estimator.optimizer.lr == 0.2
    # Other spaces, datasets and estimators keep the estimator's own defaults.
    assert _compose().estimator.optimizer.lr == 0.1
    assert _compose(mobilenet, "dataset=cifar10").estimator.optimizer.lr == 0.1
    assert "optimizer" not in _compose(mobilenet, "estimator=zerocost").estimator
    assert _compose(mobilenet, command="bench").estimator.optimizer.lr == 0.03
    assert _compose(mobilenet, "estimator=hyperband").estimator.optimizer.lr == 0.03


def test_instantiating_the_default_pieces():
    cfg = _compose()
    space = instantiate(cfg.space, "space")
    strategy = instantiate(cfg.strategy, "strategy", space=space, seed=0)
    estimator = instantiate(cfg.estimator, "estimator", trainer={"accelerator": "cpu"})
    assert space.canonical(strategy.ask())
    assert estimator.epochs == cfg.estimator.epochs and callable(estimator.optimizer)


def test_targets_outside_the_allow_list_are_refused():
    cfg = _compose()
    with open_dict(cfg):
        cfg.strategy._target_ = "os.system"
    with pytest.raises(NascliError, match="not allowed"):
        instantiate(cfg.strategy, "strategy")
    with open_dict(cfg):
        cfg.estimator.optimizer._target_ = "subprocess.call"
    with pytest.raises(NascliError, match="estimator.optimizer._target_"):
        instantiate(cfg.estimator, "estimator")


@pytest.mark.parametrize(
    "override,key",
    [
        ("search.trials=0", "search.trials"),
        ("search.trials=-3", "search.trials"),
        ("search.trials=2.5", "search.trials"),
        ("search.trials=true", "search.trials"),
        ("search.seconds=0", "search.seconds"),
        ("estimator.epochs=0", "estimator.epochs"),
        ("estimator.batch_size=0", "estimator.batch_size"),
        ("seed=-1", "seed"),
        ("format=xml", "format"),
        ("dataset.val_fraction=1.5", "dataset.val_fraction"),
        ("space.channels=0", "space.channels"),
    ],
)
def test_validation_names_the_key(override, key):
    with pytest.raises(NascliError, match=key.replace(".", r"\.")):
        validate(_compose(override))


@pytest.mark.parametrize(
    "rule, good, bad",
    [
        ("int >= 1", [1, 7], [0, 2.5, True, "3"]),
        ("int > 0 or null", [None, 3], [0, -1]),
        ("number in (0, 1)", [0.5, 0.01], [0, 1, 1.5]),
        ("number in [0, 1)", [0, 0.99], [1, -0.1]),
        ("str in train, train+val e.g. train", ["train", "train+val"], ["all", 3]),
    ],
)
def test_a_groups_rules_are_one_line_each(rule, good, bad):
    from nascli.core.config import _check, parse_rule

    parsed = parse_rule(rule)
    for value in good:
        _check("k", value, parsed)
    for value in bad:
        with pytest.raises(NascliError, match=r"^k="):
            _check("k", value, parsed)


def test_a_rule_may_bound_a_key_by_a_sibling(tmp_path):
    from nascli.core.config import _check, parse_rule

    below = parse_rule("int >= 0 and < epochs e.g. 0")
    _check("s.warmup", 2, below, bound=3)
    _check("s.warmup", 9, below, bound=None)  # no sibling value: only the own range applies
    with pytest.raises(NascliError, match=r"^s\.warmup=3 .* below s\.epochs=3"):
        _check("s.warmup", 3, below, bound=3)
    _check("s.warmup", 3, parse_rule("int >= 0 and <= epochs"), bound=3)


def test_a_builder_rule_reads_the_spec_without_importing_it(tmp_path):
    from nascli.core.config import _check, parse_rule

    rule = parse_rule("builder e.g. my_space.py:build")
    source = tmp_path / "space.py"
    source.write_text("raise SystemExit('imported')\n")
    _check("space.builder", f"{source}:build", rule)  # exists: fine, and nothing ran
    _check("space.builder", "package.module:build", rule)
    for bad, names in [("nocolon", "module:function"), (f"{tmp_path}/gone.py:b", "not a file")]:
        with pytest.raises(NascliError, match=names):
            _check("space.builder", bad, rule)


def test_validation_drops_the_rules_so_nothing_downstream_sees_them():
    cfg = _compose("strategy=darts")
    assert "_checks_" in cfg.search and "_checks_" in cfg.strategy
    validate(cfg)
    assert "_checks_" not in OmegaConf.to_yaml(cfg)
