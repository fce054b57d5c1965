"""nas report reads run directories as data: it rebuilds no space from a run's config, and
draws cells only from the graphs a run wrote (cells.json), checked for shape."""

from __future__ import annotations

import json

import yaml


def _search(nas, folder):
    out = nas(
        "search", "estimator=table", "search.trials=3", "logger=none", f"hydra.run.dir={folder}"
    )
    assert out.returncode == 0, out.stderr


def test_a_search_writes_its_best_cells_as_data(nas, tmp_path):
    _search(nas, tmp_path / "run")
    cells = json.loads((tmp_path / "run" / "cells.json").read_text())
    best = json.loads((tmp_path / "run" / "best.json").read_text())
    assert cells["arch"] == best["arch"]
    assert cells["graphs"][0]["nodes"] == ["0", "1", "2", "3"]


def test_report_never_runs_a_builder_named_by_a_runs_config(nas, tmp_path):
    run = tmp_path / "run"
    _search(nas, run)
    marker = tmp_path / "ran"
    payload = tmp_path / "payload.py"
    payload.write_text(f"open({str(marker)!r}, 'w').write('x')\ndef build(*a):\n    pass\n")
    config = yaml.safe_load((run / "config.yaml").read_text())
    config["space"] = {
        "_target_": "nascli.spaces.custom.CustomSpace",
        "builder": f"{payload}:build",
    }
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    out = nas("report", str(run), f"hydra.run.dir={tmp_path / 'report'}")
    assert out.returncode == 0, out.stderr
    assert not marker.exists()
    assert list((tmp_path / "report" / "cells").glob("cell_*.png"))  # drawn from cells.json


def test_report_skips_a_cells_file_of_the_wrong_shape(nas, tmp_path):
    run = tmp_path / "run"
    _search(nas, run)
    arch = json.loads((run / "best.json").read_text())["arch"]
    bad = {"arch": arch, "graphs": [{"title": "x", "nodes": ["a"], "edges": [["a", "b", 3]]}]}
    (run / "cells.json").write_text(json.dumps(bad))
    out = nas("report", str(run), f"hydra.run.dir={tmp_path / 'report'}")
    assert out.returncode == 0, out.stderr
    assert not list((tmp_path / "report").glob("cells/cell_*.png"))


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_tampered_one_shot_checkpoint_is_refused_in_one_line(nas, tmp_path):
    import torch

    from tests.conftest import assert_one_line_error

    run = tmp_path / "run"
    args = ["strategy=darts", "strategy.epochs=1", "strategy.warmup_epochs=0"]
    args += ["space.search_channels=4", "space.search_layers=3"]
    first = nas("search", *args, "logger=none", "strategy.batch_size=128", f"hydra.run.dir={run}")
    assert first.returncode == 0, first.stderr
    marker = tmp_path / "ran"
    ckpt = run / "checkpoints" / "last.ckpt"
    torch.save({"state_dict": {}, "x": _Payload(str(marker))}, ckpt)
    before = (run / "summary.json").read_text()
    out = nas("search", f"resume={run}")
    assert_one_line_error(out, "last.ckpt")
    assert "never unpickles" in out.stderr and not marker.exists()
    assert (run / "summary.json").read_text() == before


def _custom_bundle(folder, builder):
    """A bundle of a custom space, as `nas train` writes one (model.pt, arch.json)."""
    import random

    import torch

    from nascli.spaces.custom import CustomSpace

    space = CustomSpace(builder, probe_shape=(1, 8, 8))
    arch = space.sample(random.Random(0))
    folder.mkdir()
    torch.save(space.build(arch, (1, 8, 8), 10).state_dict(), folder / "model.pt")
    meta = {
        "space": "custom",
        "space_config": {"_target_": "nascli.spaces.custom.CustomSpace", "builder": builder,
                         "probe_shape": [1, 8, 8]},
        "arch": arch, "input_shape": [1, 8, 8], "num_classes": 10,
    }  # fmt: skip
    (folder / "arch.json").write_text(json.dumps(meta))


def test_a_custom_space_bundle_loads_only_when_its_builder_is_trusted(tmp_path):
    import pytest

    import nascli
    from nascli.core.errors import NascliError
    from tests.test_custom_space import EXAMPLE

    _custom_bundle(tmp_path / "bundle", EXAMPLE)
    with pytest.raises(NascliError, match="trust_builder=True") as err:
        nascli.load(tmp_path / "bundle")
    assert "\n" not in str(err.value)
    net = nascli.load(tmp_path / "bundle", trust_builder=True)
    assert not net.training


def test_nas_evaluate_refuses_a_custom_bundle_unless_trusted(nas, tmp_path):
    from tests.conftest import assert_one_line_error
    from tests.test_custom_space import EXAMPLE

    _custom_bundle(tmp_path / "bundle", EXAMPLE)
    out = nas("evaluate", f"run={tmp_path / 'bundle'}", f"hydra.run.dir={tmp_path / 'e'}")
    assert_one_line_error(out, "trust_builder=true")
    trusted = nas(
        "evaluate", f"run={tmp_path / 'bundle'}", "trust_builder=true", "format=json",
        f"hydra.run.dir={tmp_path / 'e2'}",
    )  # fmt: skip
    assert trusted.returncode == 0, trusted.stderr
    assert 0.0 <= json.loads(trusted.stdout)["metrics"]["test_acc"] <= 1.0


def test_an_ensemble_manifest_cannot_reach_outside_its_bundle(tmp_path):
    import pytest

    import nascli
    from nascli.core.errors import NascliError
    from tests.test_custom_space import EXAMPLE

    # A trusted-looking member outside the bundle, and a symlink inside it that leads there.
    _custom_bundle(tmp_path / "outside", EXAMPLE)
    bundle = tmp_path / "bundle"
    (bundle / "members").mkdir(parents=True)
    (bundle / "members" / "0").symlink_to(tmp_path / "outside")
    for names in (["../outside"], [str(tmp_path / "outside")], ["members/0"], ["."], []):
        (bundle / "ensemble.json").write_text(json.dumps({"members": names}))
        with pytest.raises(NascliError, match="ensemble") as err:
            nascli.load(bundle, trust_builder=True)
        assert "\n" not in str(err.value)
