"""Training and the registry: real training runs on a real warehouse, real artifacts on disk."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from sklearn.dummy import DummyClassifier

import keel.train as train_module
from keel.evaluation import calibration_bins, classification_metrics, value_counts
from keel.ingest import ingest
from keel.project import run_dbt
from keel.promote import PromotionRefused, promote
from keel.registry import ensure_registry, load_artifact, save_artifact, sha256_file, write_reference
from keel.simulate import SimulationConfig, simulate
from keel.spec import SpecError, check_columns, import_estimator, load_spec
from keel.train import train
from keel.warehouse import WAREHOUSE_ENV

MODEL = "purchase_propensity"


@pytest.fixture
def wh(trained, monkeypatch):
    monkeypatch.setenv(WAREHOUSE_ENV, str(trained["path"]))
    return trained


def _q(wh, query: str, params=None):
    con = duckdb.connect(str(wh["path"]))
    try:
        return con.execute(query, params or []).fetchall()
    finally:
        con.close()


def test_training_registers_a_version_with_its_run_metrics_calibration_and_profiles(wh):
    first = wh["first"]
    assert first.version == 1 and first.train_rows > 0 and first.test_rows > 0
    [(status, rows, data_sha, watermark, window_ok, params)] = _q(wh, """
        select status, rows, data_sha256, raw_watermark, train_to <= test_from, params
        from registry.runs where run_id = ?""", [first.run_id])
    assert status == "succeeded" and rows == first.rows and data_sha == first.data_sha256
    assert watermark == _q(wh, "select max(batch_id) from raw.batches")[0][0] and window_ok
    assert json.loads(params) == load_spec(MODEL).params
    metrics = dict(_q(wh, "select metric, value from registry.metrics where run_id = ? and slice is null",
                      [first.run_id]))
    assert {"roc_auc", "pr_auc", "log_loss", "brier", "precision", "recall"} <= set(metrics)
    assert 0.5 < metrics["roc_auc"] <= 1
    assert _q(wh, "select sum(rows) from registry.calibration where run_id = ?", [first.run_id]) == \
        [(first.test_rows,)]
    features = load_spec(MODEL).features
    reference = dict(_q(wh, "select role, sum(list_sum(rows)) from registry.reference_distributions "
                            "where model = ? and version = 1 and column_name in ('score', ?) group by role",
                        [MODEL, features[0]]))
    assert reference == {"feature": first.train_rows, "prediction": first.test_rows}
    assert _q(wh, "select count(distinct column_name) from registry.reference_distributions "
                  "where model = ? and version = 1 and role = 'feature'", [MODEL]) == [(len(features),)]
    [(path, sha)] = _q(wh, "select artifact_path, artifact_sha256 from registry.model_versions "
                           "where model = ? and version = 1", [MODEL])
    assert sha256_file(Path(path)) == sha
    pipeline = load_artifact(path, sha)
    assert pipeline.predict_proba(np.zeros((1, len(features))))[:, 1].shape == (1,)


def test_retraining_on_the_same_data_gives_the_same_data_hash_and_metrics(wh):
    again = train(MODEL)
    assert again.version == wh["first"].version + 1
    assert again.data_sha256 == wh["first"].data_sha256
    assert again.metrics == wh["first"].metrics


def test_a_failed_run_is_recorded_with_its_error(wh, monkeypatch):
    spec = load_spec(MODEL)
    broken = dataclasses.replace(spec, params={"max_iter": -1})  # scikit-learn rejects it at fit
    monkeypatch.setattr(train_module, "load_spec", lambda name: broken)
    with pytest.raises(RuntimeError, match="failed"):
        train(MODEL)
    [(error,)] = _q(wh, "select error from registry.runs where status = 'failed' "
                        "order by started_at desc limit 1")
    assert "max_iter" in error


def test_search_logs_every_trial_as_a_run(wh):
    before = _q(wh, "select count(*) from registry.runs where kind = 'search_trial'")[0][0]
    result = train(MODEL, search=True)
    trials = _q(wh, "select count(*) from registry.runs where kind = 'search_trial' and parent_run_id = ?",
                [result.run_id])[0][0]
    assert trials == len(load_spec(MODEL).search["C"])
    assert _q(wh, "select count(*) from registry.runs where kind = 'search_trial'")[0][0] == before + trials


def _register_bad_version(wh) -> int:
    """A version whose artifact always predicts the base rate (ROC AUC 0.5), registered as training
    would: it must fail the spec's gates."""
    spec = load_spec(MODEL)
    [(run_id, version)] = _q(wh, "select run_id, max(version) + 1 from registry.model_versions "
                                 "where model = ? group by run_id order by 2 desc limit 1", [MODEL])
    pipeline = train_module.build_pipeline(spec, {})
    pipeline.steps[-1] = ("model", DummyClassifier(strategy="prior"))
    pipeline.fit(np.zeros((4, len(spec.features))), [0, 1, 0, 1])
    path, sha = save_artifact(pipeline, MODEL, f"bad{version}")
    con = duckdb.connect(str(wh["path"]))
    try:
        features = con.execute("select features from registry.model_versions where run_id = ?",
                               [run_id]).fetchone()[0]
        con.execute("insert into registry.model_versions values (?, ?, ?, now(), ?, ?, ?, 'dummy', '{}')",
                    [MODEL, version, f"bad{version}", str(path), sha, features])
        con.execute("insert into registry.runs select 'bad' || ?, model, kind, status, started_at, "
                    "finished_at, duration_seconds, git_commit, manifest_sha256, training_relation, rows, "
                    "data_sha256, train_from, train_to, test_from, test_to, raw_watermark, estimator, "
                    "params, library_versions, parent_run_id, error from registry.runs where run_id = ?",
                    [str(version), run_id])
        con.execute("insert into registry.metrics values (?, ?, 'test', null, 'roc_auc', 0.5)",
                    [f"bad{version}", MODEL])
    finally:
        con.close()
    return version


def test_promotion_checks_gates_refuses_with_the_failures_and_records_overrides(wh):
    promote(MODEL, 1)  # passes: roc_auc above the spec's minimum, no champion yet
    bad = _register_bad_version(wh)
    with pytest.raises(PromotionRefused, match=r"roc_auc >= 0.6 \(got 0.5000\)") as refused:
        promote(MODEL, bad)
    assert "beats champion v1" in str(refused.value)
    with pytest.raises(ValueError, match="needs --reason"):
        promote(MODEL, bad, force=True)
    promote(MODEL, bad, force=True, reason="testing an override")
    assert run_dbt(["build", "--select", "registry"], quiet=True)
    history = _q(wh, "select version, forced, reason, valid_to is null from registry.model_alias_history "
                     "where model = ? and alias = 'champion' order by valid_from", [MODEL])
    assert history[-2:] == [(1, False, None, False), (bad, True, "testing an override", True)]
    [(at_first,)] = _q(wh, "select version from registry.model_alias_history where model = ? and "
                           "alias = 'champion' and valid_from <= (select min(valid_from) from "
                           "registry.model_alias_history) and (valid_to > (select min(valid_from) from "
                           "registry.model_alias_history) or valid_to is null)", [MODEL])
    assert at_first == 1
    assert _q(wh, "select version from registry.model_champions where model = ?", [MODEL]) == [(bad,)]


def test_analyst_sql_runs_on_the_registry(wh):
    """The ready-made analyses compile and answer: who uses spend_7d and what reads that model's
    predictions downstream, what changed from v1 to v2."""
    from keel.project import project_dir

    promote(MODEL, 1, alias="in_analysis", force=True, reason="give version 1 an alias")
    assert run_dbt(["compile", "--select", "models_using_feature", "version_diff"], quiet=True)
    compiled = project_dir() / "target" / "compiled" / "keel" / "analyses"
    users = _q(wh, (compiled / "models_using_feature.sql").read_text())
    assert {(r[0], r[3], r[4]) for r in users} == {(MODEL, "fv_user_activity", "spend_7d")}
    assert any(r[1] == 1 and "in_analysis" in (r[2] or "") for r in users)
    assert {r[-1] for r in users} == {"purchase_targeting"}  # declares meta.keel.consumes
    diff = dict((r[0], r[1:]) for r in _q(wh, (compiled / "version_diff.sql").read_text()))
    # v2 retrained v1 on the same data with the same params: byte-identical artifact, so the diff
    # lists the metrics side by side and no setting that changed
    assert diff["all rows: roc_auc"][0] == diff["all rows: roc_auc"][1]
    assert not {"params", "data_sha256", "artifact_sha256"} & set(diff)


def test_batch_scoring_is_idempotent_and_uses_the_champion(wh):
    from keel.score import score

    first = score(MODEL)
    [(champion,)] = _q(wh, "select version from registry.alias_events where model = ? and alias = 'champion' "
                           "order by changed_at desc limit 1", [MODEL])
    assert first.version == champion and first.rows > 0
    again = score(MODEL)
    assert again.scoring_run == first.scoring_run
    assert _q(wh, "select count(*), count(distinct entity), min(score) >= 0 and max(score) <= 1 "
                  "from predictions.batch_scores where scoring_run = ?", [first.scoring_run]) == \
        [(first.rows, first.rows, True)]
    with pytest.raises(ValueError, match="has no nobody"):
        score(MODEL, alias="nobody")
    # a re-run is a new attempt of the same run; only the latest one's file is kept and seen
    assert _q(wh, "select attempt, rows from predictions.scoring_runs where scoring_run = ? order by attempt",
              [first.scoring_run])[-2:] == [(a, first.rows) for a in (1, 2)][-2:]
    from keel.score import scores_dir
    assert len(list((scores_dir() / f"scoring_run={first.scoring_run}").glob("attempt=*"))) == 1


def test_a_scoring_run_that_fails_midway_leaves_the_last_complete_one(wh, monkeypatch):
    import keel.score as score_module

    before = _q(wh, "select entity, score from predictions.batch_scores order by all")
    load = score_module.load_artifact

    class FailsOnSecondBlock:
        def __init__(self, pipeline):
            self.pipeline, self.calls = pipeline, 0

        def predict_proba(self, x):
            self.calls += 1
            if self.calls == 2:
                raise RuntimeError("the machine went away")
            return self.pipeline.predict_proba(x)

    monkeypatch.setattr(score_module, "load_artifact", lambda *a: FailsOnSecondBlock(load(*a)))
    monkeypatch.setattr(score_module, "SCORING_BLOCK_ROWS", 100)
    with pytest.raises(RuntimeError, match="went away"):
        score_module.score(MODEL)
    assert _q(wh, "select entity, score from predictions.batch_scores order by all") == before
    assert not list(score_module.scores_dir().glob("*/*/*.tmp"))  # nothing half-written is left


def test_positive_scores_equal_predict_proba_and_refuse_infinities():
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    from keel.registry import positive_scores

    rng = np.random.default_rng(3)
    x = rng.normal(size=(500, 3))
    x[rng.random(x.shape) < 0.1] = np.nan
    pipeline = make_pipeline(SimpleImputer(add_indicator=True), LogisticRegression())
    pipeline.fit(x, (rng.random(500) < 0.4).astype(int))
    assert np.array_equal(positive_scores(pipeline, x, ["a", "b", "c"]), pipeline.predict_proba(x)[:, 1])
    x[7, 2] = -np.inf
    with pytest.raises(ValueError, match="feature c has an infinite value"):
        positive_scores(pipeline, x, ["a", "b", "c"])


def test_batch_scores_kept_in_a_table_move_to_files_unchanged(tmp_path, monkeypatch):
    """Warehouses scored before scores were files: the table's rows become one file per run."""
    from keel.score import ensure_predictions

    monkeypatch.setenv(WAREHOUSE_ENV, str(tmp_path / "old.duckdb"))
    con = duckdb.connect(str(tmp_path / "old.duckdb"))
    con.execute("create schema predictions")
    con.execute("create table predictions.batch_scores (scoring_run varchar not null, model varchar "
                "not null, version integer not null, entity varchar not null, as_of timestamp not null, "
                "score double not null, scored_at timestamp not null)")
    rows = [(run, "m", v, f"u{i}", pd.Timestamp("2026-03-01") + pd.Timedelta(hours=i), i / 10,
             pd.Timestamp("2026-03-02 10:00")) for run, v in (("r1", 1), ("r2", 2)) for i in range(5)]
    con.executemany("insert into predictions.batch_scores values (?, ?, ?, ?, ?, ?, ?)", rows)
    ensure_predictions(con)
    ensure_predictions(con)  # once moved, left alone
    got = con.execute("select * from predictions.batch_scores order by scoring_run, entity").fetchall()
    assert [tuple(r) for r in got] == [(r[0], r[1], r[2], r[3], r[4].to_pydatetime(), r[5],
                                        r[6].to_pydatetime()) for r in rows]
    assert con.execute("select table_type from information_schema.tables where table_schema = 'predictions' "
                       "and table_name = 'batch_scores'").fetchall() == [("VIEW",)]
    con.close()


def test_a_tampered_artifact_is_never_unpickled(wh, tmp_path):
    [(path, sha)] = _q(wh, "select artifact_path, artifact_sha256 from registry.model_versions "
                           "where model = ? and version = 1", [MODEL])
    copy = tmp_path / "model.joblib"
    copy.write_bytes(Path(path).read_bytes() + b"\0")
    with pytest.raises(RuntimeError, match="refusing to load"):
        load_artifact(copy, sha)


def test_registry_history_survives_a_full_refresh(wh):
    counts = "select (select count(*) from registry.runs), (select count(*) from registry.alias_events)"
    before = _q(wh, counts)
    assert run_dbt(["build", "--full-refresh", "--select", "registry"], quiet=True)
    assert _q(wh, counts) == before


def test_spec_errors_name_the_field(wh):
    with pytest.raises(SpecError, match="unknown model 'nope'"):
        load_spec("nope")
    with pytest.raises(SpecError, match="meta.keel.estimator"):
        import_estimator("os.system", MODEL)
    with pytest.raises(SpecError, match="no class Nope"):
        import_estimator("sklearn.linear_model.Nope", MODEL)
    spec = load_spec(MODEL)
    with pytest.raises(SpecError, match="meta.keel.label: no column label"):
        check_columns(spec, ["user_id", "as_of", *spec.features])
    with pytest.raises(SpecError, match="must be binary"):
        train_module.check_label(pd.DataFrame({"label": [0, 2, 1]}), spec)
    with pytest.raises(SpecError, match="is empty"):
        train_module.check_label(pd.DataFrame({"label": []}), spec)


def test_evaluation_functions_match_their_definitions():
    y = np.array([0, 0, 1, 1, 1, 0])
    p = np.array([0.1, 0.6, 0.7, 0.4, 0.9, 0.2])
    m = classification_metrics(y, p, 0.5)
    assert m["precision"] == pytest.approx(2 / 3) and m["recall"] == pytest.approx(2 / 3)
    assert m["brier"] == pytest.approx(np.mean((p - y) ** 2))
    assert classification_metrics(np.array([1, 1]), np.array([0.2, 0.9]), 0.5)["roc_auc"] is None
    bins = calibration_bins(y, p, 2)
    assert [b["rows"] for b in bins] == [3, 3] and bins[1]["positive_rate"] == pytest.approx(2 / 3)
    counts = value_counts(pd.DataFrame({"x": [1.0, 2.0, None, 2.0], "c": ["a", "b", "a", None]}), ["x", "c"])
    rows = {}
    for c in counts.itertuples():
        blank = [None] * len(c.rows)
        for value, category, n in zip(blank if c.value is None else c.value,
                                      blank if c.category is None else c.category, c.rows, strict=True):
            rows[(c.column_name, None if value is None or np.isnan(value) else value, category)] = n
    assert rows == {("x", 1.0, None): 1, ("x", 2.0, None): 2, ("x", None, None): 1,
                    ("c", None, "a"): 2, ("c", None, "b"): 1, ("c", None, None): 1}


def _reference_rows(con) -> list[tuple]:
    """Every frozen reference row, one per value (as models/registry/reference_value_counts)."""
    return con.execute("select model, version, role, column_name, unnest(value) as value, "
                       "unnest(category) as category, unnest(rows) as rows "
                       "from registry.reference_distributions order by all").fetchall()


def test_a_frozen_reference_round_trips_exactly_and_old_warehouses_migrate(tmp_path):
    frame = pd.DataFrame({"x": [1.5, -0.0, None, 1.5, 2e-300, np.nan], "n": [3, 3, 1, 2, 3, 1],
                          "c": ["a", None, "b", "a", "a", "é"], "empty": [None] * 6})
    frame["empty"] = frame["empty"].astype(float)
    expected = [("m", 1, "feature", "c", None, c, n) for c, n in [("a", 3), ("b", 1), ("é", 1), (None, 1)]]
    expected += [("m", 1, "feature", "empty", None, None, 6)]
    expected += [("m", 1, "feature", "n", v, None, k) for v, k in [(1.0, 2), (2.0, 1), (3.0, 3)]]
    expected += [("m", 1, "feature", "x", v, None, k)
                 for v, k in [(-0.0, 1), (2e-300, 1), (1.5, 2), (None, 2)]]
    key = lambda r: tuple((v is None, v) for v in r)  # noqa: E731 (nulls last, as `order by all`)

    con = duckdb.connect(str(tmp_path / "new.duckdb"))
    ensure_registry(con)
    write_reference(con, "m", 1, value_counts(frame, ["x", "n", "c", "empty"]).assign(role="feature"))
    assert sorted(_reference_rows(con), key=key) == sorted(expected, key=key)

    # a warehouse registered before the lists (one row per value) is regrouped, not changed
    old = duckdb.connect(str(tmp_path / "old.duckdb"))
    old.execute("create schema registry")
    old.execute("create table registry.reference_distributions (model varchar not null, version integer "
                "not null, role varchar not null, column_name varchar not null, value double, category "
                "varchar, rows bigint not null)")
    old.executemany("insert into registry.reference_distributions values (?, ?, ?, ?, ?, ?, ?)", expected)
    ensure_registry(old)
    ensure_registry(old)  # once migrated, left alone
    assert sorted(_reference_rows(old), key=key) == sorted(expected, key=key)
    assert old.execute("select count(*) from registry.reference_distributions").fetchone()[0] == 4


def test_reproduce_rebuilds_the_training_set_from_raw_up_to_the_watermark(wh):
    """Run last in this module: it ingests a new batch, which reproduction must leave out."""
    from keel.reproduce import reproduce

    simulate(SimulationConfig(events=2_000, users=400, days=1, seed=12,
                              start=pd.Timestamp("2026-01-31").date()), wh["root"] / "later")
    ingest([wh["root"] / "later"])
    result = reproduce(MODEL, 1)
    assert result.data_matches and result.metrics_match, result
    assert result.metrics["roc_auc"][0] == wh["first"].metrics["roc_auc"]
