"""Learning-curve extrapolation: the accuracy a training will reach at its last epoch, predicted
from its first epochs (the fifth predictor family of White et al. 2021; Domhan et al. 2015 fit
an ensemble of parametric curves, here the one they found most often best, pow3).

    acc(t) = c - a * t^(-alpha),  0 <= c <= 1, a >= 0, alpha > 0
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence


def _pow3(t, c, a, alpha):
    return c - a * t ** (-alpha)


def extrapolate(accuracies: Sequence[float], at_epoch: int) -> float:
    """The accuracy at epoch `at_epoch` (1-based) of a curve whose first epochs reached
    `accuracies`. Two points fix no three-parameter curve: then, and when the fit fails, the
    curve is continued with its last slope in log-epochs, clipped to [0, 1]."""
    import numpy as np
    from scipy.optimize import OptimizeWarning, curve_fit

    y = np.asarray(accuracies, dtype=float)
    t = np.arange(1, len(y) + 1, dtype=float)
    if len(y) == 0:
        raise ValueError("no accuracies to extrapolate")
    if len(y) == 1:
        return float(y[0])
    if len(y) >= 3:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", OptimizeWarning)
                params, _ = curve_fit(
                    _pow3,
                    t,
                    y,
                    p0=(min(1.0, y.max() + 0.05), max(1e-3, y.max() - y.min()), 1.0),
                    bounds=([0.0, 0.0, 1e-3], [1.0, 10.0, 10.0]),
                    maxfev=5000,
                )
            value = float(_pow3(float(at_epoch), *params))
            if math.isfinite(value):
                return min(1.0, max(0.0, value))
        except (RuntimeError, ValueError):
            pass
    slope = (y[-1] - y[-2]) / (math.log(t[-1]) - math.log(t[-2]))
    value = y[-1] + max(0.0, slope) * (math.log(at_epoch) - math.log(t[-1]))
    return min(1.0, max(0.0, float(value)))
