"""A fitted pipeline's scores without scikit-learn's per-call checks, for the few rows a request has.

Scoring one row with `Pipeline.predict_proba` costs ~0.7 ms, nearly all of it input validation,
fitted-ness and tag checks and dataframe detection, run again by every step; the arithmetic itself
is a few microseconds. `lean_scorer` reads the fitted parameters of the pipelines Keel trains
(SimpleImputer, StandardScaler, binary LogisticRegression) and redoes only that arithmetic, with
the same numpy operations on arrays of the same shape and layout, so the scores are the same
floats, bit for bit. That is not assumed: every lean scorer is checked against the pipeline's own
`predict_proba` on probe rows (one at a time and as a batch, with and without missing values)
before it is handed out, and any pipeline with another step, setting or estimator, or one whose
check fails, gets no lean scorer: the caller keeps using `predict_proba`.

Callers check their input first (a float matrix, the features in the fitted order, nulls as NaN):
the only checks kept are the ones that can refuse a row, scikit-learn's finiteness checks (no
infinity in; nothing non-finite into the estimator), which raise ValueError as scikit-learn does.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.special import expit
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

Scorer = Callable[[np.ndarray], np.ndarray]


def lean_scorer(pipeline) -> Scorer | None:
    """A function from a float matrix to the positive class's probabilities, equal bit for bit to
    `pipeline.predict_proba(x)[:, 1]`; None when the pipeline is not one it can redo exactly."""
    if type(pipeline) is not Pipeline or not pipeline.steps:
        return None
    *transforms, (_, estimator) = pipeline.steps
    steps = [_transform(step) for _, step in transforms]
    final = _positive_probability(estimator)
    if final is None or any(step is None for step in steps):
        return None

    def score(x: np.ndarray) -> np.ndarray:
        if np.isinf(x).any():
            raise ValueError("Input X contains infinity or a value too large for dtype('float64').")
        for step in steps:
            x = step(x)
        if not np.isfinite(x).all():
            raise ValueError("Input X contains NaN or infinity after the pipeline's transforms.")
        return final(x)

    return score if _agrees(score, pipeline) else None


def _transform(step) -> Scorer | None:
    if type(step) is SimpleImputer:
        return _imputer(step)
    if type(step) is StandardScaler:
        return _scaler(step)
    return None


def _imputer(imputer: SimpleImputer) -> Scorer | None:
    """SimpleImputer.transform on dense float input with NaN as the missing value: each NaN
    replaced by its column's statistic, then (add_indicator) the indicator columns appended."""
    statistics = getattr(imputer, "statistics_", None)
    fill_dtype = getattr(imputer, "_fill_dtype", None)  # what scikit-learn casts the statistics to
    if (not _is_nan(imputer.missing_values) or statistics is None or statistics.dtype != np.float64
            or fill_dtype != np.float64):
        return None
    if not imputer.keep_empty_features and np.isnan(statistics).any():
        return None  # scikit-learn drops those columns: not redone here
    indicator = None
    if imputer.add_indicator:
        missing_indicator = imputer.indicator_
        if missing_indicator.features not in ("missing-only", "all") or missing_indicator.sparse is True:
            return None
        indicator = missing_indicator.features_
    fill = statistics.copy()

    def impute(x: np.ndarray) -> np.ndarray:
        missing = np.isnan(x)
        imputed = np.where(missing, fill, x)
        if indicator is None:
            return imputed
        return np.hstack((imputed, missing[:, indicator]))

    return impute


def _scaler(scaler: StandardScaler) -> Scorer | None:
    """StandardScaler.transform on a dense float matrix: minus the mean, over the scale."""
    mean = scaler.mean_ if scaler.with_mean else None
    scale = scaler.scale_ if scaler.with_std else None
    if any(v is not None and (not isinstance(v, np.ndarray) or v.dtype != np.float64) for v in (mean, scale)):
        return None

    def standardize(x: np.ndarray) -> np.ndarray:
        if mean is not None:
            x = x - mean
        if scale is not None:
            x = x / scale
        return x

    return standardize


def _positive_probability(estimator) -> Scorer | None:
    """LogisticRegression.predict_proba(x)[:, 1] for two classes: expit(x @ coef.T + intercept)."""
    if type(estimator) is not LogisticRegression:
        return None
    coef, intercept = getattr(estimator, "coef_", None), getattr(estimator, "intercept_", None)
    if (len(getattr(estimator, "classes_", ())) != 2 or not isinstance(coef, np.ndarray) or coef.ndim != 2
            or coef.shape[0] != 1 or coef.dtype != np.float64 or not isinstance(intercept, np.ndarray)):
        return None
    coef_t = coef.T  # the same view scikit-learn multiplies by

    def probability(x: np.ndarray) -> np.ndarray:
        return expit((x @ coef_t + intercept).reshape(-1))

    return probability


def _is_nan(value) -> bool:
    return isinstance(value, float) and np.isnan(value)


def _agrees(score: Scorer, pipeline) -> bool:
    """Whether `score` gives exactly `predict_proba`'s floats on probe rows: values around each
    column's imputation statistic, some missing, some far out; one row at a time and all at once."""
    width = getattr(pipeline, "n_features_in_", None)
    if width is None:
        return False
    centre = getattr(pipeline.steps[0][1], "statistics_", np.zeros(width))
    rng = np.random.default_rng(0)
    spread = (np.abs(centre) + 1) * rng.choice([0.1, 1, 100], (64, 1))
    probes = centre + rng.normal(0, 1, (64, width)) * spread
    probes[rng.random(probes.shape) < 0.2] = np.nan
    probes[0] = np.nan
    probes[1] = centre
    batches = [probes, *(probes[i:i + 1] for i in range(len(probes)))]
    try:
        with np.errstate(all="ignore"):
            return all(np.array_equal(score(x.copy()), pipeline.predict_proba(x.copy())[:, 1])
                       for x in batches)
    except ValueError:  # a probe one of them refused: not worth telling apart, predict_proba it is
        return False
