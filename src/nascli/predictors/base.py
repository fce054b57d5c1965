"""What every predictor offers: `fit(x, y)` and `predict(x) -> (mean, std)` on the encodings a
space provides (`Space.features`), with the scores standardised inside, so that a predictor
never depends on the scale of the metric."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np


class Predictor(ABC):
    """Args: encoding (the space's encoding it reads: onehot, or path on cell spaces), seed."""

    def __init__(self, encoding: str = "onehot", seed: int = 0) -> None:
        self.encoding, self.seed = encoding, int(seed)
        self._mean, self._scale = 0.0, 1.0

    def fit(self, x: Any, y: Any) -> Predictor:
        """Learn from encodings `x` (n x d) and scores `y` (n)."""
        x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
        if len(x) != len(y) or len(y) < 2:
            raise ValueError(f"a predictor needs two or more scored architectures, got {len(y)}")
        self._mean, self._scale = float(y.mean()), float(y.std()) or 1.0
        self._fit(x, (y - self._mean) / self._scale)
        return self

    def predict(self, x: Any) -> tuple[np.ndarray, np.ndarray]:
        """(mean, std) of the predicted scores of encodings `x`, in the scores' own units."""
        mean, std = self._predict(np.asarray(x, dtype=float))
        return mean * self._scale + self._mean, std * self._scale

    @abstractmethod
    def _fit(self, x: np.ndarray, y: np.ndarray) -> None:
        """Fit on standardised scores."""

    @abstractmethod
    def _predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Standardised (mean, std)."""


def spread(predictions: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation across an ensemble's members."""
    stacked = np.stack(predictions)
    return stacked.mean(axis=0), stacked.std(axis=0)
