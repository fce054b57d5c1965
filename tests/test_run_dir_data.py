"""A run directory is data (nascli.results.inherited): reading one back, for `resume=`,
`nas train arch=<dir>` or `nas evaluate run=<dir>`, never builds what nascli's own config groups
would not for the run's choices, and runs a builder file only when the command line names it
again. Each payload below would create a marker file; none may."""

from __future__ import annotations

import shutil

import pytest
import yaml

from tests.conftest import assert_one_line_error, run_nas

TABLE = ["estimator=table", "search.trials=2", "logger=none"]
BUILDER = "examples/tiny_space.py:build"


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished table search (the folder the attacks edit copies of)."""
    where = tmp_path_factory.mktemp("finished")
    out = run_nas("search", "strategy=evolution", *TABLE, f"hydra.run.dir={where / 'run'}")
    assert out.returncode == 0, out.stderr
    return where / "run"


def _payload(tmp_path):
    marker = tmp_path / "ran"
    payload = tmp_path / "payload.py"
    payload.write_text(f"open({str(marker)!r}, 'w').write('x')\ndef build(*a):\n    pass\n")
    return f"{payload}:build", marker


def _edit(path, change):
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data))


def _copy(finished, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(finished, run)
    (run / "run.lock").unlink(missing_ok=True)
    return run


def test_resume_refuses_a_target_other_than_the_groups_build(nas, tmp_path, finished):
    run = _copy(finished, tmp_path)
    # Another nascli class, allowed by identity, but not what strategy=evolution builds.
    _edit(
        run / "config.yaml",
        lambda c: c["strategy"].update(_target_="nascli.strategies.random.RandomSearch"),
    )
    out = nas("search", f"resume={run}", "search.trials=3")
    assert_one_line_error(out, "strategy._target_=nascli.strategies.random.RandomSearch")
    assert "config.yaml" in out.stderr and "cannot choose what is built" in out.stderr


def test_resume_refuses_a_target_where_the_groups_build_nothing(nas, tmp_path, finished):
    run = _copy(finished, tmp_path)
    _edit(
        run / "config.yaml",
        lambda c: c["search"].update(extra={"_target_": "nascli.spaces.nb201.NB201Space"}),
    )
    out = nas("search", f"resume={run}", "search.trials=3")
    assert_one_line_error(out, "search.extra._target_")


def test_resume_runs_a_runs_builder_only_when_named_again(nas, tmp_path, finished):
    run = _copy(finished, tmp_path)
    builder, marker = _payload(tmp_path)

    def custom(config):
        config["space"] = {"_target_": "nascli.spaces.custom.CustomSpace", "builder": builder}

    _edit(run / "config.yaml", custom)
    _edit(
        run / ".hydra" / "hydra.yaml",
        lambda h: h["hydra"]["runtime"]["choices"].update(space="custom"),
    )
    out = nas("search", f"resume={run}", "search.trials=3")
    assert_one_line_error(out, f"space=custom space.builder={builder}")
    other = nas("search", f"resume={run}", "search.trials=3", "space=custom",
                f"space.builder={BUILDER}")  # fmt: skip
    assert_one_line_error(other, "space.builder=")
    assert not marker.exists()


@pytest.mark.parametrize(
    "space",
    [
        # the builder reaches the constructor positionally, with no `builder` key to check
        {"_target_": "nascli.spaces.custom.CustomSpace", "_args_": ["<payload>"]},
        # an interpolation that would create a node naming a target when resolved
        "${oc.create:'{_target_: nascli.spaces.custom.CustomSpace, builder: <payload>}'}",
    ],
    ids=["args", "interpolation"],
)
def test_resume_refuses_specials_and_interpolations(nas, tmp_path, finished, space):
    run = _copy(finished, tmp_path)
    builder, marker = _payload(tmp_path)
    spelled = yaml.safe_load(yaml.safe_dump(space).replace("<payload>", builder))
    _edit(run / "config.yaml", lambda c: c.update(space=spelled))
    _edit(
        run / ".hydra" / "hydra.yaml",
        lambda h: h["hydra"]["runtime"]["choices"].update(space="custom"),
    )
    out = nas("search", f"resume={run}", "search.trials=3")
    assert_one_line_error(out, "config.yaml")
    assert not marker.exists()


def test_resume_refuses_a_choice_that_is_not_an_option_name(nas, tmp_path, finished):
    run = _copy(finished, tmp_path)
    _edit(
        run / ".hydra" / "hydra.yaml",
        lambda h: h["hydra"]["runtime"]["choices"].update(space="../../elsewhere"),
    )
    out = nas("search", f"resume={run}", "search.trials=3")
    assert_one_line_error(out, "space='../../elsewhere' is not an option name")


@pytest.mark.parametrize(
    "override",
    [
        "space.builder=<payload>",
        "+space.extra={_target_:nascli.spaces.custom.CustomSpace,builder:'<payload>'}",
        "space.builder=${oc.env:HOME}/<payload>",
    ],
)
def test_train_from_a_run_takes_its_values_not_its_targets(nas, tmp_path, finished, override):
    """The run says space=custom and hands on a builder: without the guard, `nas train` would
    build the custom space and run the payload."""
    run = _copy(finished, tmp_path)
    builder, marker = _payload(tmp_path)
    _edit(
        run / ".hydra" / "hydra.yaml",
        lambda h: h["hydra"]["runtime"]["choices"].update(space="custom"),
    )
    overrides = run / ".hydra" / "overrides.yaml"
    lines = [o for o in yaml.safe_load(overrides.read_text()) if not o.startswith("space")]
    overrides.write_text(yaml.safe_dump([*lines, override.replace("<payload>", builder)]))
    out = nas("train", f"arch={run}", "recipe.epochs=1", "logger=none")
    assert out.returncode == 2 and "overrides.yaml" in out.stderr, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    assert not marker.exists()


def test_a_custom_space_run_resumes_with_its_builder_named_again(nas, tmp_path):
    run = tmp_path / "run"
    args = ["space=custom", f"space.builder={BUILDER}", "estimator.epochs=1", "logger=none"]
    first = nas("search", *args, "search.trials=1", f"hydra.run.dir={run}")
    assert first.returncode == 0, first.stderr
    refused = nas("search", f"resume={run}", "search.trials=2")
    assert_one_line_error(refused, f"space=custom space.builder={BUILDER}")
    again = nas("search", f"resume={run}", "search.trials=2", "space=custom",
                f"space.builder={BUILDER}")  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert len((run / "history.jsonl").read_text().splitlines()) == 2


def test_resume_accepts_the_runs_own_overrides_repeated_and_nothing_else(nas, tmp_path, finished):
    run = _copy(finished, tmp_path)
    refused = nas("search", f"resume={run}", "search.trials=3", "strategy=random")
    assert_one_line_error(refused, "drop 'strategy=random'")
    again = nas("search", f"resume={run}", "search.trials=3", "strategy=evolution")
    assert again.returncode == 0, again.stderr
    assert len((run / "history.jsonl").read_text().splitlines()) == 3
