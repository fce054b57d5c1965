"""Learned performance predictors: fit on encoded architectures and their scores, predict the
score (mean and spread) of others. One contract (`Predictor`), implemented on well-kept models."""
