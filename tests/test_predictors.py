"""Performance predictors: they rank what can be learnt, and do not invent what cannot."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.stats import kendalltau

from nascli.predictors.models import (
    BayesianLinear,
    BoostedTrees,
    GaussianProcess,
    MLPEnsemble,
    RandomForest,
)
from nascli.spaces.nb201 import NB201Space, path_encoding

FAST = {
    "mlp": lambda: MLPEnsemble(members=3, epochs=200),
    "gp": GaussianProcess,
    "gbt": lambda: BoostedTrees(members=2, trees=100),
    "rf": lambda: RandomForest(trees=100),
    "blr": BayesianLinear,
}


def _toy(seed: int, monotone: bool):
    """One-hot encodings of 5 decisions of 3 options; the score rises with a fixed weighting of
    the choices (monotone) or is noise."""
    rng = np.random.default_rng(seed)
    choices = rng.integers(0, 3, size=(400, 5))
    x = np.zeros((400, 15))
    for d in range(5):
        x[np.arange(400), d * 3 + choices[:, d]] = 1.0
    weights = (np.arange(15) % 3) * (1 + np.arange(15) // 3)  # later decisions matter more
    y = np.tanh(x @ weights / 10.0) if monotone else rng.normal(size=400)
    return x[:150], y[:150], x[150:], y[150:]


@pytest.mark.parametrize("name", FAST)
def test_a_predictor_ranks_a_monotone_table_nearly_perfectly_and_noise_not_at_all(name):
    x, y, x_test, y_test = _toy(0, monotone=True)
    mean, std = FAST[name]().fit(x, y).predict(x_test)
    assert mean.shape == std.shape == y_test.shape and (std >= 0).all()
    assert kendalltau(mean, y_test).statistic > 0.8
    x, y, x_test, y_test = _toy(1, monotone=False)
    mean, _ = FAST[name]().fit(x, y).predict(x_test)
    assert abs(kendalltau(mean, y_test).statistic) < 0.15


def test_predictions_come_back_in_the_scores_units():
    x, y, x_test, y_test = _toy(0, monotone=True)
    mean, _ = BayesianLinear().fit(x, 100 + 5 * y).predict(x_test)
    assert abs(mean.mean() - (100 + 5 * y_test).mean()) < 1.0


def test_too_few_scores_is_a_clear_error():
    with pytest.raises(ValueError, match="two or more"):
        GaussianProcess().fit([[0.0, 1.0]], [0.5])


def test_the_nb201_path_encoding_counts_the_op_sequences_of_paths():
    space = NB201Space()
    # only the direct edge 0->3 carries ops; the paths through 1 and 2 are cut by none
    direct = "|none~0|+|none~0|none~1|+|nor_conv_3x3~0|none~1|none~2|"
    assert sum(space.features(direct, "path")) == 1
    assert path_encoding(["none"] * 3 + ["nor_conv_3x3", "none", "none"]) == space.features(
        direct, "path"
    )
    full = "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|"
    vec = space.features(full, "path")
    assert (
        len(vec) == 84 and sum(vec) == 3
    )  # skip, skip-skip, skip-skip-skip: four paths, three sequences
    assert space.features(full) == space.vector(full)


def test_nas_predict_tabulates_each_predictor_on_the_shipped_table(nas, tmp_path):
    out = nas(
        "predict",
        "space=nb201",
        "dataset=digits",
        "estimator=table",
        "train_sizes=[20,60]",
        "test_size=300",
        "seeds=2",
        "predictors.mlp.members=2",
        "predictors.gbt.members=2",
        "format=json",
        f"hydra.run.dir={tmp_path}",
    )
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout)
    got = {(e["predictor"], e["n"]) for e in result["summary"]}
    assert got == {("params", 0)} | {(p, n) for p in FAST for n in (20, 60)}
    runs = json.loads((tmp_path / "predict.json").read_text())["runs"]
    assert len(runs) == 2 * (1 + 5 * 2)
    assert all(-1 <= r["kendall_tau"] <= 1 for r in runs)
    assert (tmp_path / "predict.png").stat().st_size > 0


@pytest.mark.parametrize(
    "args, named",
    [
        (["train_sizes=[1]"], "train_sizes"),
        (["seeds=0"], "seeds"),
        (["test_size=30000"], "test_size"),
        (["space=nb201", "dataset=digits", "estimator=train"], "estimator=nbgraph"),
    ],
)
def test_nas_predict_refuses_bad_settings_in_one_line(nas, tmp_path, args, named):
    from tests.conftest import assert_one_line_error

    assert_one_line_error(nas("predict", *args, f"hydra.run.dir={tmp_path}"), named)
