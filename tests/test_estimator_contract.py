"""The Estimator contract's defaults, which the search loop relies on."""

from __future__ import annotations

import math

from nascli.core.constraints import satisfies
from nascli.estimators.base import Estimator
from nascli.estimators.hyperband import HyperbandEstimator
from nascli.estimators.supernet import SupernetEstimator
from nascli.estimators.table import TableEstimator


class _Scores(Estimator):
    def estimate(self, arch, net, data, seed, *, space, logger=None, rung=0):
        return {"val_acc": 0.5}


class _Prepares(_Scores):
    def prepare(self, space, data, seed, run_dir):
        self.ready = True


class _Rungs(_Scores):
    rungs = [1, 3]


def test_parallel_only_without_rungs_or_state_prepared_in_this_process():
    assert _Scores().parallel and TableEstimator.parallel is not False
    assert not _Prepares().parallel and not _Rungs().parallel
    assert not HyperbandEstimator(optimizer=None, batch_size=8).parallel
    assert not SupernetEstimator().parallel
    assert _Scores().optimum({}) is None and _Scores().missing("a", None) is None


def test_a_nan_metric_keeps_no_constraint():
    assert not satisfies({"val_acc": math.nan}, {"min_accuracy": 0.5})
    assert not satisfies({"params": math.nan}, {"max_params": 10})
    assert satisfies({"val_acc": 0.6}, {"min_accuracy": 0.5, "max_params": None})
