"""MLflow's registration of a fitted scikit-learn model, timed. Runs in bench/.venv-mlflow:

    bench/.venv-mlflow/bin/python -u bench/peers/mlflow/mlflow_register.py [--runs 10] [--rows 170000]

The peer of Keel's `register` step (bench/bench_registry.py). In a temp dir: a SQLite backend
store (tracking and model registry, `sqlite:///.../mlflow.db`, created and migrated before any
timer) and a local artifact root (the experiment's artifact_location). Fits the same kind of model
as Keel's purchase_propensity: a Pipeline of SimpleImputer(median, add_indicator) +
StandardScaler + LogisticRegression(C=1, max_iter=1000) on a seeded synthetic frame of Keel's
training set's shape (--rows x --features numeric columns, ~5% nulls in a third of them, binary
label), once, before anything is timed.

Then, per variant, one untimed warm-up run (the first call in a process imports and caches a lot:
reported as `first_run`) and --runs timed runs (--default-runs for "default", whose requirements
inference takes seconds), each a fresh run, every call timed on its own with time.perf_counter;
the variants alternate run by run, so background load hits them alike. Telemetry is off
(MLFLOW_DISABLE_TELEMETRY=true: no network here, and Keel sends none).

- `start_run` (MLflow records source, user and git tags here), `log_params` (the estimator's
  params + a few of the run's), `log_metrics` (8 headline test metrics), `log_model`,
  `register_model(model_info.model_uri, NAME)`, `end_run`;
- variant "lean": log_model(pipe, name="model", signature=sig, serialization_format="pickle",
  pip_requirements=[...]): pickle like Keel's joblib file, and no requirements inference (which
  loads the saved model in a subprocess); the fastest documented way;
- variant "default": log_model(pipe, name="model", signature=sig, skops_trusted_types=[...]):
  MLflow's defaults (skops serialization in 3.17, requirements inferred) plus the one argument
  without which it refuses this pipeline (skops finds the untrusted type numpy.dtype in it);
- variant "combined": log_model(..., registered_model_name=NAME) as one call (lean options).

The signature is inferred once before the timers (Keel's registration also records the feature
names and types). Prints one JSON line: per variant, a list of ms per call, plus mlflow_version,
the artifact's size and the shape of the data.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

NAME = "purchase_propensity"
CALLS = ("start_run", "log_params", "log_metrics", "log_model", "register_model", "end_run")


def synthetic_frame(rows: int, features: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Numeric features (a third with ~5% nulls) and a binary label from a logistic model."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, features)) * rng.uniform(0.5, 20, size=features) + rng.uniform(0, 50, features)
    logit = (x - x.mean(0)) / x.std(0) @ rng.normal(scale=0.5, size=features) - 3.0
    y = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    frame = pd.DataFrame(x, columns=[f"f{i:02d}" for i in range(features)])
    for column in frame.columns[::3]:
        frame.loc[rng.random(rows) < 0.05, column] = np.nan
    return frame, y


def headline_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    from sklearn import metrics as skm

    predicted = p >= 0.5
    return {
        "rows": float(len(y)), "positive_rate": float(y.mean()),
        "roc_auc": float(skm.roc_auc_score(y, p)), "pr_auc": float(skm.average_precision_score(y, p)),
        "log_loss": float(skm.log_loss(y, p)), "brier": float(skm.brier_score_loss(y, p)),
        "precision": float(skm.precision_score(y, predicted, zero_division=0)),
        "recall": float(skm.recall_score(y, predicted, zero_division=0)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--rows", type=int, default=170_000)
    parser.add_argument("--features", type=int, default=21)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--default-runs", type=int, default=5)
    parser.add_argument("--variants", default="lean,combined,default")
    args = parser.parse_args()

    os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    import mlflow
    import sklearn
    from mlflow.models import infer_signature
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    logging.getLogger("mlflow").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")

    frame, y = synthetic_frame(args.rows, args.features, args.seed)
    split = int(len(frame) * 0.85)
    params = {"C": 1.0, "max_iter": 1000}
    t0 = time.perf_counter()
    pipe = Pipeline([
        ("impute", SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True)),
        ("scale", StandardScaler()),
        ("model", LogisticRegression(**params)),
    ]).fit(frame.iloc[:split], y[:split])
    fit_seconds = time.perf_counter() - t0
    p = pipe.predict_proba(frame.iloc[split:])[:, 1]
    metrics = headline_metrics(y[split:], p)
    signature = infer_signature(frame.iloc[:100], p[:100])
    requirements = [f"scikit-learn=={sklearn.__version__}"]
    run_params = {**params, "estimator": "sklearn.linear_model.LogisticRegression",
                  "training_relation": "train_purchase_propensity", "test_days": 7, "gap_days": 7}

    out: dict = {}
    with tempfile.TemporaryDirectory(prefix="mlflow-register-") as tmp:
        uri = f"sqlite:///{Path(tmp) / 'mlflow.db'}"
        mlflow.set_tracking_uri(uri)
        mlflow.set_registry_uri(uri)
        experiment = mlflow.create_experiment("bench", artifact_location=(Path(tmp) / "artifacts").as_uri())
        mlflow.set_experiment(experiment_id=experiment)

        def one_run(variant: str) -> dict[str, float]:
            ms = {}

            def timed(call: str, fn, *a, **kw):
                t = time.perf_counter()
                result = fn(*a, **kw)
                ms[call] = round((time.perf_counter() - t) * 1e3, 2)
                return result

            lean = {"signature": signature, "pip_requirements": requirements,
                    "serialization_format": mlflow.sklearn.SERIALIZATION_FORMAT_PICKLE}
            default = {"signature": signature, "skops_trusted_types": ["numpy.dtype"]}
            timed("start_run", mlflow.start_run)
            timed("log_params", mlflow.log_params, run_params)
            timed("log_metrics", mlflow.log_metrics, metrics)
            if variant == "combined":
                timed("log_model_registered", mlflow.sklearn.log_model, pipe, name="model",
                      registered_model_name=NAME, **lean)
            else:
                kw = lean if variant == "lean" else default
                info = timed("log_model", mlflow.sklearn.log_model, pipe, name="model", **kw)
                timed("register_model", mlflow.register_model, info.model_uri, NAME)
            timed("end_run", mlflow.end_run)
            ms["total"] = round(sum(ms.values()), 2)
            return ms

        variants = args.variants.split(",")
        first = {variant: one_run(variant) for variant in variants}
        runs: dict[str, list] = {variant: [] for variant in variants}
        for i in range(args.runs):
            for variant in variants:
                if variant != "default" or i < args.default_runs:
                    runs[variant].append(one_run(variant))
        for variant in variants:
            rows = runs[variant]
            out[variant] = {"first_run": first[variant], **{k: [r[k] for r in rows] for k in rows[0]}}
        sizes = [f.stat().st_size for f in (Path(tmp) / "artifacts").rglob("*") if f.is_file()]
        pickles = [f.stat().st_size for f in (Path(tmp) / "artifacts").rglob("model.*") if f.is_file()]
    print(json.dumps({
        **out,
        "runs": args.runs, "rows": args.rows, "features": args.features,
        "positive_rate": round(float(y.mean()), 4), "fit_seconds": round(fit_seconds, 2),
        "roc_auc": round(metrics["roc_auc"], 4),
        "model_file_bytes": sorted(set(pickles)),
        "artifact_bytes_total": sum(sizes),
        "mlflow_version": mlflow.__version__, "sklearn_version": sklearn.__version__,
        "backend": "sqlite", "artifact_root": "local file",
    }))


if __name__ == "__main__":
    main()
