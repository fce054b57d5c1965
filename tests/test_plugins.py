"""CONTRIBUTING.md's promise: a space, a sample-based strategy, a one-shot strategy and an
estimator are each one `.py` + one `.yaml`, here written in a temporary folder outside nascli
(on PYTHONPATH and hydra.searchpath), and a search runs with each."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from tests.conftest import run_nas

pytestmark = pytest.mark.slow

PLUGINS = {
    "toy_space.py": '''
        """A chain of `depth` layers, each a 3x3 conv or a 3x3 max-pool followed by ReLU."""
        from nascli.core.space import ArchError, Space

        OPS = ("conv", "pool")


        class ChainSpace(Space):
            name = "toy"

            def __init__(self, depth: int = 3, channels: int = 8) -> None:
                self.depth, self.channels = depth, channels

            @property
            def cardinalities(self):
                return [len(OPS)] * self.depth

            def parse(self, text):
                ops = text.split("-")
                if len(ops) != self.depth or any(o not in OPS for o in ops):
                    raise ArchError(f"space=toy: {text!r} is not {self.depth} of {OPS} joined by -")
                return tuple(OPS.index(o) for o in ops)

            def format(self, indices):
                return "-".join(OPS[i] for i in indices)

            def build(self, arch, input_shape, num_classes):
                from torch import nn

                c, layers = input_shape[0], []
                for i in self.parse(arch):
                    if OPS[i] == "conv":
                        layers += [nn.Conv2d(c, self.channels, 3, padding=1), nn.ReLU()]
                        c = self.channels
                    else:
                        layers += [nn.MaxPool2d(3, 1, 1), nn.ReLU()]
                layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, num_classes)]
                return nn.Sequential(*layers)
    ''',
    "toy_strategy.py": '''
        """Cycle through the space in enumeration order, from an offset the seed picks."""
        from nascli.strategies.base import Strategy


        class Sweep(Strategy):
            def __init__(self, space, seed=0, stride=1):
                super().__init__(space, seed)
                self.archs = list(space.enumerate())
                self.next, self.stride = self.rng.randrange(len(self.archs)), stride

            def ask(self):
                arch = self.archs[self.next % len(self.archs)]
                self.next += self.stride
                return arch

            def tell(self, arch, metrics):
                pass

            def state_dict(self):
                return {**super().state_dict(), "next": self.next}

            def load_state_dict(self, state):
                super().load_state_dict(state)
                self.next = state["next"]
    ''',
    "toy_oneshot.py": '''
        """First-order DARTS whose derived cell keeps no skip connection."""
        from nascli.oneshot.strategies import Darts


        class NoSkipDarts(Darts):
            def final(self, module, score, log_trial):
                return module.derive(0)
    ''',
    "toy_estimator.py": '''
        """Score an architecture by how few parameters it has (no training)."""
        from nascli.estimators.base import Estimator


        class SmallIsGood(Estimator):
            metrics = ("val_acc", "epochs")

            def __init__(self, scale=1e5, trainer=None, batch_size=64):
                self.scale = scale

            def estimate(self, arch, net, data, seed, *, space, logger=None, rung=0):
                params = sum(p.numel() for p in net.parameters())
                return {"val_acc": 1.0 / (1.0 + params / self.scale), "epochs": 0}
    ''',
    "conf/space/toy.yaml": "_target_: toy_space.ChainSpace\ndepth: 3\nchannels: 8\n",
    "conf/strategy/toy.yaml": (
        "_target_: toy_strategy.Sweep\nstride: 3\n_checks_:\n  stride: int >= 1 e.g. 3\n"
    ),
    "conf/estimator/toy.yaml": "_target_: toy_estimator.SmallIsGood\nscale: 1.0e+5\nbatch_size: 64\n",
    "conf/strategy/toy_oneshot.yaml": """
        _target_: toy_oneshot.NoSkipDarts
        epochs: 2
        batch_size: 128
        optimizer: {_target_: torch.optim.SGD, _partial_: true, lr: 0.025, momentum: 0.9}
        scheduler: null
        arch_optimizer: {_target_: torch.optim.Adam, _partial_: true, lr: 0.01}
    """,
}


@pytest.fixture(scope="module")
def plugins(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("plugins")
    for name, text in PLUGINS.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(textwrap.dedent(text).lstrip())
    return root


def _search(plugins: Path, tmp_path: Path, *args: str) -> tuple[dict, list[dict]]:
    out = run_nas(
        "search",
        f"hydra.searchpath=[file://{plugins / 'conf'}]",
        "logger=none",
        "hydra.run.dir=run",
        "format=json",
        *args,
        cwd=tmp_path,
        env={"PYTHONPATH": str(plugins)},
    )
    assert out.returncode == 0, out.stderr
    history = [json.loads(line) for line in (tmp_path / "run" / "history.jsonl").open()]
    return json.loads(out.stdout), history


def test_a_toy_space_searches(plugins, tmp_path):
    summary, history = _search(
        plugins, tmp_path, "space=toy", "search.trials=3", "estimator.epochs=1"
    )
    assert summary["status"] == "completed" and len(history) == 3
    assert all(len(r["arch"].split("-")) == 3 for r in history)


def test_a_toy_strategy_and_a_toy_estimator_search(plugins, tmp_path):
    summary, history = _search(
        plugins, tmp_path, "space=toy", "strategy=toy", "estimator=toy", "search.trials=8"
    )
    archs = [r["arch"] for r in history]
    assert len(set(archs)) == 8  # stride 3 over 8 architectures visits each once
    assert summary["best"]["arch"] == "pool-pool-pool"  # the fewest parameters
    assert summary["best"]["metrics"]["val_acc"] == max(r["metrics"]["val_acc"] for r in history)


def test_a_toy_oneshot_strategy_searches(plugins, tmp_path):
    summary, history = _search(
        plugins, tmp_path, "strategy=toy_oneshot", "space=nb201", "space.channels=4",
        "space.cells_per_stage=1",
    )  # fmt: skip
    assert summary["strategy"] == "noskipdarts" and len(history) == 2
    assert "skip_connect" not in summary["best"]["arch"]


def test_a_plugins_own_checks_refuse_a_bad_value_before_anything_loads(plugins, tmp_path):
    from tests.conftest import assert_one_line_error

    out = run_nas(
        "search", f"hydra.searchpath=[file://{plugins / 'conf'}]", "space=toy", "strategy=toy",
        "strategy.stride=0", cwd=tmp_path, env={"PYTHONPATH": str(plugins)},
    )  # fmt: skip
    assert_one_line_error(out, "strategy.stride=0 is out of range")
    assert not (tmp_path / "outputs").exists() or not list(
        (tmp_path / "outputs").rglob("history.jsonl")
    )
