"""`keel train MODEL`: fit a spec's scikit-learn pipeline on its training relation and register it.

Reads the spec from the manifest and the training relation from the warehouse, splits by time
(the last `test_days` as-of days are held out, after a `gap_days` gap so no training label looks
into the test window), fits a Pipeline with its preprocessing inside (so scoring applies exactly
what training did), evaluates on the held-out window, and writes the run, the version, its
metrics, calibration and frozen reference distributions in one transaction: value counts of each
feature on the training rows and of the scores on the test rows (the model's out-of-sample
output), which drift monitoring compares with. A failed run is recorded too, with its error.
"""

from __future__ import annotations

import hashlib
import itertools
import platform
import subprocess
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version as package_version

import numpy as np
import pandas as pd
from sklearn.impute import SimpleImputer
from sklearn.model_selection import TimeSeriesSplit
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from keel.evaluation import calibration_bins, classification_metrics, slice_metrics, value_counts
from keel.project import manifest_path, project_dir
from keel.registry import (
    as_json,
    ensure_registry,
    feature_matrix,
    positive_scores,
    save_artifact,
    write_reference,
    write_serving_catalog,
)
from keel.spec import METRICS, ModelSpec, SpecError, check_columns, load_spec
from keel.warehouse import connect

LIBRARIES = ("scikit-learn", "numpy", "pandas", "duckdb", "dbt-core", "joblib")


@dataclass
class TrainResult:
    model: str
    version: int
    run_id: str
    rows: int
    train_rows: int
    test_rows: int
    metrics: dict
    data_sha256: str
    seconds: dict   # wall time per step: spec, read, fit, evaluate, register (artifact + the transaction)


def build_pipeline(spec: ModelSpec, params: dict) -> Pipeline:
    """Imputation (with missing-value indicators), scaling and the estimator, as one object."""
    estimator = spec.estimator_class()()
    try:
        estimator.set_params(**params)
    except ValueError as e:
        raise SpecError(f"{spec.name}: meta.keel.params: {e}") from None
    return Pipeline([
        ("impute", SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True)),
        ("scale", StandardScaler()),
        ("model", estimator),
    ])


def read_training_frame(con, spec: ModelSpec, until: datetime | None = None,
                        through: datetime | None = None) -> pd.DataFrame:
    """The training relation's spec columns, in a fixed order (so its hash is stable): rows
    before `until`, and at or before `through`, when given (training as of a past instant, and
    reproducing such a run)."""
    try:
        columns = [c for (c,) in con.execute(f"select column_name from (describe {spec.training_relation})")
                   .fetchall()]
    except Exception as e:  # not built yet
        raise SpecError(f"{spec.name}: training relation {spec.training_relation} cannot be read "
                        f"({str(e).splitlines()[0]}): run `keel dbt build`") from None
    check_columns(spec, columns)
    wanted = list(dict.fromkeys([spec.entity, spec.timestamp, spec.label, *spec.features, *spec.slices]))
    quoted = ", ".join(f'"{c}"' for c in wanted)
    bounds = [(f'"{spec.timestamp}" < ?', until), (f'"{spec.timestamp}" <= ?', through)]
    where = " and ".join(condition for condition, value in bounds if value is not None) or "true"
    return con.execute(f"select {quoted} from {spec.training_relation} where {where} "
                       f'order by "{spec.timestamp}", "{spec.entity}"',
                       [value for _, value in bounds if value is not None]).df()


def split_by_time(frame: pd.DataFrame, spec: ModelSpec):
    """(train, test, window): test = the last test_days days of as-of times; train ends gap_days
    before the test starts."""
    ts = pd.to_datetime(frame[spec.timestamp])
    last = ts.max().normalize()
    test_from = last - pd.Timedelta(days=spec.test_days - 1)
    gap_days = spec.gap_days
    train_to = test_from - pd.Timedelta(days=gap_days)
    train, test = frame[ts < train_to], frame[ts >= test_from]
    if train.empty or test.empty:
        raise SpecError(f"{spec.name}: meta.keel.split: the training set spans {ts.min():%Y-%m-%d} to "
                        f"{ts.max():%Y-%m-%d}, too short for {spec.test_days} test days after a "
                        f"{gap_days}-day gap")
    window = {"train_from": ts.min(), "train_to": train_to, "test_from": test_from, "test_to": ts.max()}
    return train, test, window


def check_label(frame: pd.DataFrame, spec: ModelSpec) -> None:
    if frame.empty:
        raise SpecError(f"{spec.name}: the training set {spec.training_relation} is empty")
    values = set(pd.unique(frame[spec.label].dropna()))
    if frame[spec.label].isna().any() or not values <= {0, 1} or len(values) < 2:
        raise SpecError(f"{spec.name}: meta.keel.label: {spec.label} must be binary (0/1, no nulls, both "
                        f"present); it has {sorted(map(str, values))[:5]}")


def data_hash(frame: pd.DataFrame) -> str:
    return hashlib.sha256(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes()).hexdigest()


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=project_dir(), capture_output=True,
                             text=True, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=project_dir(), capture_output=True,
                               text=True, timeout=10).stdout.strip()
        return out.stdout.strip() + ("+dirty" if dirty else "") if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def _library_versions() -> dict:
    return {"python": platform.python_version(), **{lib: package_version(lib) for lib in LIBRARIES}}


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _grid(search: dict) -> list[dict]:
    keys = sorted(search)
    return [dict(zip(keys, values)) for values in itertools.product(*(search[k] for k in keys))]


def _cv_score(spec: ModelSpec, params: dict, train: pd.DataFrame, y: np.ndarray, folds: int = 3) -> float:
    """Mean primary metric over time-ordered folds (each fold trains on the past only)."""
    scores = []
    x = feature_matrix(train, spec.features)
    for fit_idx, val_idx in TimeSeriesSplit(n_splits=folds).split(x):
        pipeline = build_pipeline(spec, params).fit(x[fit_idx], y[fit_idx])
        p = positive_scores(pipeline, x[val_idx], spec.features)
        scores.append(classification_metrics(y[val_idx], p, spec.threshold)[spec.primary_metric])
    scores = [s for s in scores if s is not None]
    if not scores:
        return float("nan")
    return float(np.mean(scores))


def train(name: str, search: bool = False, until: datetime | None = None) -> TrainResult:
    """Train model `name` from its spec and register a new version; see the module docstring.

    `until` trains as of a past instant: only training rows whose timestamp is before it (a
    replay of historical data, where the model is then scored on what came after)."""
    step = time.perf_counter()
    seconds = {}

    def lap(name: str) -> None:
        nonlocal step
        now = time.perf_counter()
        seconds[name], step = now - step, now

    spec = load_spec(name)
    lap("spec")
    started, clock = _now(), time.perf_counter()
    run_id = uuid.uuid4().hex
    with connect() as con:
        ensure_registry(con)
        frame = read_training_frame(con, spec, until=until)
        check_label(frame, spec)
        lap("read")
        train_rows, test_rows, window = split_by_time(frame, spec)
        watermark = con.execute("select max(batch_id) from raw.batches").fetchone()[0]
        run = {
            "model": spec.name, "git_commit": _git_commit(),
            "manifest_sha256": hashlib.sha256(manifest_path().read_bytes()).hexdigest(),
            "training_relation": spec.training_relation, "rows": len(frame),
            "data_sha256": data_hash(frame), "raw_watermark": watermark, "estimator": spec.estimator,
            "library_versions": as_json(_library_versions()), **window,
        }
        y_train = train_rows[spec.label].to_numpy(dtype=int)
        y_test = test_rows[spec.label].to_numpy(dtype=int)
        params = dict(spec.params)
        try:
            if search and spec.search:
                params = _search(con, spec, run, run_id, train_rows, y_train)
            pipeline = build_pipeline(spec, params).fit(feature_matrix(train_rows, spec.features), y_train)
            lap("fit")
            p = positive_scores(pipeline, feature_matrix(test_rows, spec.features), spec.features)
            headline = classification_metrics(y_test, p, spec.threshold)
            slices = slice_metrics(test_rows, y_test, p, spec.slices, spec.threshold)
            calibration = calibration_bins(y_test, p, spec.calibration_bins)
            reference = pd.concat([
                value_counts(train_rows, spec.features).assign(role="feature"),
                value_counts(pd.DataFrame({"score": p}), ["score"]).assign(role="prediction"),
            ], ignore_index=True)
            lap("evaluate")
            path, sha = save_artifact(pipeline, spec.name, run_id)
        except SpecError:
            raise
        except Exception as e:  # the run failed: record it, then say so in one line
            _record_run(con, run_id, run, "train", "failed", started, clock, params,
                        error=f"{type(e).__name__}: {e}")
            raise RuntimeError(f"training {spec.name} failed (run {run_id} recorded): {e}") from None
        features = [{"name": f, "type": str(frame[f].dtype), "view": spec.feature_views[f]}
                    for f in spec.features]
        con.execute("begin transaction")
        try:
            _record_run(con, run_id, run, "train", "succeeded", started, clock, params)
            version = con.execute("select coalesce(max(version), 0) + 1 from registry.model_versions "
                                  "where model = ?", [spec.name]).fetchone()[0]
            con.execute("insert into registry.model_versions values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        [spec.name, version, run_id, _now(), str(path), sha, as_json(features),
                         spec.estimator, as_json(params)])
            metric_rows = [(run_id, spec.name, "test", None, k, v) for k, v in headline.items()]
            metric_rows += [(run_id, spec.name, "test", s["slice"], k, v)
                            for s in slices for k, v in s.items() if k != "slice"]
            _insert(con, "registry.metrics", metric_rows,
                    ["run_id", "model", "split", "slice", "metric", "value"])
            _insert(con, "registry.calibration",
                    [(run_id, spec.name, b["bin"], b["lower"], b["upper"], b["rows"], b["mean_score"],
                      b["positive_rate"]) for b in calibration],
                    ["run_id", "model", "bin", "lower_bound", "upper_bound", "rows", "mean_score",
                     "positive_rate"])
            write_reference(con, spec.name, version, reference)
            con.execute("commit")
            lap("register")
            write_serving_catalog(con)
        except Exception:
            con.execute("rollback")
            path.unlink(missing_ok=True)
            raise
    return TrainResult(spec.name, version, run_id, len(frame), len(train_rows), len(test_rows), headline,
                       run["data_sha256"], seconds)


def _search(con, spec: ModelSpec, run: dict, parent: str, train_rows: pd.DataFrame, y: np.ndarray) -> dict:
    """Try every parameter combination of spec.search with time-ordered CV; each trial is a run."""
    better = METRICS[spec.primary_metric]
    best, best_score = dict(spec.params), None
    for combination in _grid(spec.search):
        params = {**spec.params, **combination}
        started, clock, trial_id = _now(), time.perf_counter(), uuid.uuid4().hex
        try:
            score = _cv_score(spec, params, train_rows, y)
        except Exception as e:
            _record_run(con, trial_id, run, "search_trial", "failed", started, clock, params,
                        parent=parent, error=f"{type(e).__name__}: {e}")
            continue
        _record_run(con, trial_id, run, "search_trial", "succeeded", started, clock, params, parent=parent)
        con.execute("insert into registry.metrics values (?, ?, 'cv', null, ?, ?)",
                    [trial_id, spec.name, spec.primary_metric, score])
        improves = best_score is None or (score > best_score if better else score < best_score)
        if not np.isnan(score) and improves:
            best, best_score = params, score
    return best


def _insert(con, table: str, rows: list[tuple], columns: list[str]) -> None:
    """Insert many rows in one parameterised statement (DuckDB's executemany runs one statement
    per row, and registering a frame costs more than these few rows)."""
    if rows:
        one = "(" + ", ".join("?" * len(columns)) + ")"
        con.execute(f"insert into {table} ({', '.join(columns)}) values {', '.join([one] * len(rows))}",
                    [value for row in rows for value in row])


def _record_run(con, run_id: str, run: dict, kind: str, status: str, started: datetime, clock: float,
                params: dict, parent: str | None = None, error: str | None = None) -> None:
    con.execute(
        "insert into registry.runs values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [run_id, run["model"], kind, status, started, _now(), time.perf_counter() - clock,
         run["git_commit"], run["manifest_sha256"], run["training_relation"], run["rows"],
         run["data_sha256"], run["train_from"], run["train_to"], run["test_from"], run["test_to"],
         run["raw_watermark"], run["estimator"], as_json(params), run["library_versions"], parent, error],
    )

