"""Monitoring models on real dbt runs: performance equals scikit-learn on the same rows."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm
from sklearn.calibration import calibration_curve

from keel.project import run_dbt

TOL = 1e-9


def labelled_rows(seed: int) -> pd.DataFrame:
    """Labelled predictions for several model versions and days: continuous scores, heavily tied
    scores, one day with a single class and one where nothing crosses the threshold."""
    rng = np.random.default_rng(seed)
    parts = []
    cases = [("m", 1, "2026-03-01", "continuous"), ("m", 1, "2026-03-02", "tied"),
             ("m", 2, "2026-03-02", "one_class"), ("n", 1, "2026-03-01", "low")]
    for model, version, day, kind in cases:
        n = int(rng.integers(200, 2000))
        score = rng.beta(2, 5, n)
        if kind == "tied":
            score = np.round(score, 1)
        if kind == "low":
            score = score * 0.4
        label = (rng.random(n) < score).astype(int)
        if kind == "one_class":
            label[:] = 0
        parts.append(pd.DataFrame({
            "kind": "batch", "model": model, "version": version, "day": pd.Timestamp(day).date(),
            "entity": [f"u{i}" for i in range(n)], "features_as_of": pd.Timestamp(day),
            "score": score, "label": label, "threshold": 0.5, "bins": 10,
        }))
    return pd.concat(parts, ignore_index=True)


def test_performance_and_calibration_equal_sklearn_on_the_same_rows(warehouse):
    rows = labelled_rows(5)
    con = duckdb.connect(str(warehouse.parent.mkdir(parents=True) or warehouse))
    con.execute("create schema monitoring")
    con.register("generated", rows)
    con.execute("create table monitoring.mon_labelled_predictions as select * from generated")
    con.close()
    assert run_dbt(["run", "--select", "mon_performance_calibration", "mon_performance"], quiet=True)

    con = duckdb.connect(str(warehouse))
    performance = con.execute("select * from monitoring.mon_performance").df()
    calibration = con.execute("select * from monitoring.mon_performance_calibration").df()
    con.close()
    assert len(performance) == 4
    for key, group in rows.groupby(["model", "version", "day"]):
        got = performance[(performance.model == key[0]) & (performance.version == key[1])
                          & (performance.day.dt.date == key[2])].iloc[0]
        y, p = group.label.to_numpy(), group.score.to_numpy()
        predicted = (p >= 0.5).astype(int)
        assert got.rows == len(y) and got.positives == y.sum()
        if 0 < y.sum() < len(y):
            assert got.roc_auc == pytest.approx(skm.roc_auc_score(y, p), abs=TOL)
        else:
            assert pd.isna(got.roc_auc)
        assert got.log_loss == pytest.approx(skm.log_loss(y, p, labels=[0, 1]), abs=TOL)
        assert got.brier == pytest.approx(skm.brier_score_loss(y, p), abs=TOL)
        for name, fn in (("precision", skm.precision_score), ("recall", skm.recall_score)):
            expected = fn(y, predicted, zero_division=np.nan)
            assert got[name] == pytest.approx(expected, abs=TOL, nan_ok=True)

        bins = calibration[(calibration.model == key[0]) & (calibration.version == key[1])
                           & (calibration.day.dt.date == key[2])].sort_values("bin")
        prob_true, prob_pred = calibration_curve(y, p, n_bins=10, strategy="uniform")
        assert np.allclose(bins.positive_rate, prob_true, atol=TOL, rtol=0)
        assert np.allclose(bins.mean_score, prob_pred, atol=TOL, rtol=0)
        gaps = (bins.rows * (bins.mean_score - bins.positive_rate).abs()).sum() / bins.rows.sum()
        assert got.expected_calibration_error == pytest.approx(gaps, abs=TOL)


def test_scored_days_get_drift_rows_and_alert_history_survives_full_refresh(trained, tmp_path, monkeypatch):
    """Backfilled batch scores on a copy of the trained warehouse: every feature and the score get
    a drift row per scored day, alerts are kept in mon_alert_history, and a full refresh keeps
    that history."""
    import shutil
    from datetime import datetime

    from keel.promote import promote
    from keel.score import score
    from keel.spec import load_spec
    from keel.warehouse import WAREHOUSE_ENV

    copy = tmp_path / "wh"
    shutil.copytree(trained["path"].parent, copy)
    path = copy / trained["path"].name
    monkeypatch.setenv(WAREHOUSE_ENV, str(path))
    promote("purchase_propensity", trained["first"].version)
    days = [datetime(2026, 1, 20), datetime(2026, 1, 25)]
    for day in days:
        score("purchase_propensity", as_of=day)
    assert run_dbt(["build", "--select", "models/predictions", "models/monitoring", "models/registry",
                    "--exclude", "tag:alerts"], quiet=True)

    con = duckdb.connect(str(path))
    features = load_spec("purchase_propensity").features
    drift = con.execute("select day, count(distinct column_name) from monitoring.mon_feature_drift "
                        "where current_rows >= 50 group by day order by day").fetchall()
    assert [(d, n) for d, n in drift] == [(day.date(), len(features)) for day in days]
    assert con.execute("select count(distinct day) from monitoring.mon_prediction_drift").fetchone()[0] >= 2
    con.execute("insert into monitoring.mon_alert_history (alert_id, day, check_name, severity, message) "
                "values ('planted', date '2026-01-01', 'feature_drift', 'warning', 'kept')")
    alerts = con.execute("select count(*) from monitoring.mon_alerts").fetchone()[0]
    con.close()

    assert run_dbt(["build", "--full-refresh", "--exclude", "tag:alerts"], quiet=True)
    con = duckdb.connect(str(path))
    history = con.execute("select alert_id from monitoring.mon_alert_history").fetchall()
    con.close()
    assert ("planted",) in history and len(history) >= alerts + 1
