"""Monitoring models on real dbt runs: performance equals scikit-learn on the same rows."""

from __future__ import annotations

from datetime import date, datetime, timedelta

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
    # everything, not just monitoring: other tests may have ingested into the shared warehouse
    # since it was built, and the raw-rows-accounted-for test would see those rows unstaged
    assert run_dbt(["build", "--exclude", "tag:alerts"], quiet=True)

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


# The simulator's drift: from DRIFT_DAY on, purchases are a third as likely and prices 1.5 times
# higher. Only features computed from purchases move; the rest of the funnel does not.
DRIFT_DAY = date(2026, 2, 26)
DRIFTED = {"purchases_1d", "purchases_7d", "purchases_30d", "spend_1d", "spend_7d", "spend_30d",
           "days_since_last_purchase", "cart_abandonment_rate_30d", "converted_cart_sessions_30d"}


def test_simulated_drift_fires_alerts_on_the_drifted_features_only(tmp_path, monkeypatch):
    """Train on the logs before the drift, then score weekly across it: drift alerts name only
    purchase features and only after the drift, and performance drops for as-of days whose labels
    have arrived (the last scored days' have not: drift shows before performance can)."""
    from keel.ingest import ingest
    from keel.promote import promote
    from keel.score import score
    from keel.simulate import SimulationConfig, simulate
    from keel.train import train
    from keel.warehouse import WAREHOUSE_ENV

    path = tmp_path / "wh" / "keel.duckdb"
    monkeypatch.setenv(WAREHOUSE_ENV, str(path))
    cfg = SimulationConfig(events=175_000, users=2_000, days=77, start=date(2026, 1, 1), seed=21,
                           drift_date=DRIFT_DAY, drift_conversion=1 / 3, drift_price=1.5)
    simulate(cfg, tmp_path / "logs")
    files = sorted((tmp_path / "logs").rglob("*.jsonl"))
    before = [f for f in files if date.fromisoformat(f.stem) < DRIFT_DAY]
    ingest(before)
    assert run_dbt(["build", "--exclude", "tag:alerts"], quiet=True)
    version = train("purchase_propensity").version
    promote("purchase_propensity", version)

    ingest([f for f in files if f not in before])
    assert run_dbt(["build", "--exclude", "tag:alerts"], quiet=True)
    scored = [DRIFT_DAY - timedelta(days=7), DRIFT_DAY, DRIFT_DAY + timedelta(days=7),
              DRIFT_DAY + timedelta(days=14), DRIFT_DAY + timedelta(days=21)]
    for day in scored:
        score("purchase_propensity", as_of=datetime.combine(day, datetime.min.time()))
    assert run_dbt(["build", "--select", "models/predictions", "models/monitoring",
                    "--exclude", "tag:alerts"], quiet=True)

    con = duckdb.connect(str(path))
    alerts = con.execute("select check_name, day, subject, statistic, value from monitoring.mon_alerts "
                         "where check_name in ('feature_drift', 'prediction_drift', 'performance')").df()
    performance = con.execute("select day, rows, log_loss, expected_calibration_error "
                              "from monitoring.mon_performance order by day").df()
    con.close()

    alerts["day"] = pd.to_datetime(alerts.day).dt.date
    feature = alerts[alerts.check_name == "feature_drift"]
    drifted_columns = set(feature.subject)
    assert drifted_columns and drifted_columns <= DRIFTED, feature.to_string()
    assert {"purchases_7d", "spend_7d", "spend_30d"} <= drifted_columns
    assert set(feature.day) <= {d for d in scored if d > DRIFT_DAY}
    assert set(alerts[alerts.check_name == "prediction_drift"].day) <= {d for d in scored if d > DRIFT_DAY}

    # An as-of day's labels close 7 days later, once events that recent have arrived: the logs end
    # on 2026-03-18, so the last two scored days have drift rows but no performance yet.
    assert list(pd.to_datetime(performance.day).dt.date) == scored[:3]
    # Fewer purchases than the model expects: its scores are too high once the labels are in
    # (ranking survives a uniform drop, so ROC AUC need not fall; calibration does).
    ece = performance.expected_calibration_error
    assert (ece.iloc[1:] > 2 * ece.iloc[0]).all()
    assert set(alerts[alerts.check_name == "performance"].day) == set(scored[1:3])
