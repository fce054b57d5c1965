"""The predictor families the literature compares (White et al., "How powerful are performance
predictors in neural architecture search?", 2021), each on a scikit-learn model.

- MLPEnsemble: BANANAS's neural predictor, an ensemble of MLPs trained from different seeds;
  the spread of the members is the uncertainty.
- GaussianProcess: a GP with a Matern kernel and a noise term.
- BoostedTrees: gradient-boosted trees, bagged over seeds for a spread.
- RandomForest: the spread of its trees.
- BayesianLinear: Bayesian ridge regression, whose posterior gives the spread.
"""

from __future__ import annotations

import warnings

from nascli.predictors.base import Predictor, spread


class MLPEnsemble(Predictor):
    """Args: members, hidden (units per layer), layers, epochs, learning_rate."""

    def __init__(
        self,
        members: int = 5,
        hidden: int = 32,
        layers: int = 3,
        epochs: int = 300,
        learning_rate: float = 0.01,
        **common,
    ) -> None:
        super().__init__(**common)
        self.members, self.hidden, self.layers = members, hidden, layers
        self.epochs, self.learning_rate = epochs, learning_rate

    def _fit(self, x, y):
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.neural_network import MLPRegressor

        self.models = []
        for k in range(self.members):
            model = MLPRegressor(
                hidden_layer_sizes=(self.hidden,) * self.layers,
                learning_rate_init=self.learning_rate,
                max_iter=self.epochs,
                alpha=1e-4,
                random_state=self.seed * 1000 + k,
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                self.models.append(model.fit(x, y))

    def _predict(self, x):
        return spread([m.predict(x) for m in self.models])


class GaussianProcess(Predictor):
    """Args: nu (the Matern kernel's smoothness)."""

    def __init__(self, nu: float = 2.5, **common) -> None:
        super().__init__(**common)
        self.nu = nu

    def _fit(self, x, y):
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.gaussian_process import GaussianProcessRegressor
        from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

        # One length scale for all features: one per feature overfits at the sizes searched with.
        kernel = ConstantKernel(1.0) * Matern(
            length_scale=2.0, length_scale_bounds=(1e-2, 1e3), nu=self.nu
        ) + WhiteKernel(0.5, noise_level_bounds=(1e-4, 10.0))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            self.model = GaussianProcessRegressor(
                kernel, n_restarts_optimizer=1, random_state=self.seed
            ).fit(x, y)

    def _predict(self, x):
        mean, std = self.model.predict(x, return_std=True)
        return mean, std


class BoostedTrees(Predictor):
    """Args: members (bagged models), trees, depth, learning_rate."""

    def __init__(
        self,
        members: int = 5,
        trees: int = 200,
        depth: int = 3,
        learning_rate: float = 0.05,
        **common,
    ) -> None:
        super().__init__(**common)
        self.members, self.trees, self.depth, self.learning_rate = (
            members,
            trees,
            depth,
            learning_rate,
        )

    def _fit(self, x, y):
        from sklearn.ensemble import GradientBoostingRegressor

        self.models = [
            GradientBoostingRegressor(
                n_estimators=self.trees,
                max_depth=self.depth,
                learning_rate=self.learning_rate,
                subsample=0.8,
                random_state=self.seed * 1000 + k,
            ).fit(x, y)
            for k in range(self.members)
        ]

    def _predict(self, x):
        return spread([m.predict(x) for m in self.models])


class RandomForest(Predictor):
    """Args: trees, min_leaf."""

    def __init__(self, trees: int = 200, min_leaf: int = 1, **common) -> None:
        super().__init__(**common)
        self.trees, self.min_leaf = trees, min_leaf

    def _fit(self, x, y):
        from sklearn.ensemble import RandomForestRegressor

        self.model = RandomForestRegressor(
            n_estimators=self.trees, min_samples_leaf=self.min_leaf, random_state=self.seed
        ).fit(x, y)

    def _predict(self, x):
        return spread([tree.predict(x) for tree in self.model.estimators_])


class BayesianLinear(Predictor):
    """Bayesian ridge regression on the encoding (no arguments of its own)."""

    def _fit(self, x, y):
        from sklearn.linear_model import BayesianRidge

        self.model = BayesianRidge().fit(x, y)

    def _predict(self, x):
        mean, std = self.model.predict(x, return_std=True)
        return mean, std
