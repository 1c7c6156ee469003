"""The lean scorer gives predict_proba's floats bit for bit, or is not used."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler

from keel.lean_scoring import lean_scorer
from keel.spec import ModelSpec
from keel.train import build_pipeline


def _data(seed: int = 3, rows: int = 400, width: int = 9) -> tuple[np.ndarray, np.ndarray]:
    """Counts and amounts on different scales, a column never observed, columns with missing
    values, and a label that depends on them."""
    rng = np.random.default_rng(seed)
    x = np.column_stack([rng.poisson(3, rows), rng.exponential(250, rows), rng.normal(0, 1e-3, rows),
                         *(rng.normal(i, i + 1, rows) for i in range(width - 3))]).astype(float)
    x[rng.random(x.shape) < 0.15] = np.nan
    x[:, 4] = np.nan  # never observed: keep_empty_features fills it with 0
    x[:, 5] = rng.normal(size=rows)  # never missing in training: no indicator column
    y = (np.nan_to_num(x[:, 0]) + rng.normal(0, 2, rows) > 3).astype(int)
    return x, y


def _keel_pipeline(x: np.ndarray, y: np.ndarray, **params) -> Pipeline:
    """The pipeline `keel train` fits (train.build_pipeline), on a logistic regression."""
    spec = ModelSpec(name="test", description="", owner="", training_model="", training_relation="",
                     entity="user_id", timestamp="ts", label="y", feature_refs=(), features=(),
                     estimator="sklearn.linear_model.LogisticRegression")
    return build_pipeline(spec, {"max_iter": 1000, **params}).fit(x, y)


@pytest.mark.parametrize("params", [{}, {"C": 0.01}, {"class_weight": "balanced", "fit_intercept": False}])
def test_lean_scores_equal_predict_proba_bit_for_bit_one_row_at_a_time_and_in_batches(params):
    x, y = _data()
    pipeline = _keel_pipeline(x, y, **params)
    score = lean_scorer(pipeline)
    assert score is not None
    # rows it was not fitted on, with missing values where training had none, and far-out values
    new, _ = _data(seed=11, rows=300)
    new[::7, 5] = np.nan
    new[::5, 1] *= 1e6
    for i in range(len(new)):
        assert np.array_equal(score(new[i:i + 1].copy()), pipeline.predict_proba(new[i:i + 1])[:, 1]), i
    for n in (2, 17, 300):
        assert np.array_equal(score(new[:n].copy()), pipeline.predict_proba(new[:n])[:, 1])


def test_lean_scorer_refuses_infinity_as_scikit_learn_does():
    x, y = _data()
    pipeline = _keel_pipeline(x, y)
    row = x[:1].copy()
    row[0, 1] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        pipeline.predict_proba(row)
    with pytest.raises(ValueError, match="infinity"):
        lean_scorer(pipeline)(row)


def test_pipelines_it_cannot_redo_exactly_get_no_lean_scorer():
    x, y = _data()
    x[:, 4] = 1.0  # no never-observed column: scikit-learn warns about it with these settings
    others = {
        "another estimator": Pipeline([("impute", SimpleImputer()),
                                       ("model", RandomForestClassifier(n_estimators=5, random_state=0))]),
        "another scaler": Pipeline([("impute", SimpleImputer()), ("scale", MinMaxScaler()),
                                    ("model", LogisticRegression(max_iter=1000))]),
        "missing values other than NaN": Pipeline([("impute", SimpleImputer(missing_values=-1.0)),
                                                   ("scale", StandardScaler()),
                                                   ("model", LogisticRegression(max_iter=1000))]),
    }
    for name, pipeline in others.items():
        clean = np.nan_to_num(x) if name == "missing values other than NaN" else x
        assert lean_scorer(pipeline.fit(clean, y)) is None, name
    three_classes = _keel_pipeline(x, np.arange(len(y)) % 3)
    assert lean_scorer(three_classes) is None
    assert lean_scorer(LogisticRegression(max_iter=1000).fit(np.nan_to_num(x), y)) is None
