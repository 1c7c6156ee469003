"""The model registry: append-only tables in the warehouse and artifact files beside it.

Like raw history, registry tables are never dbt models (dbt reads them as sources), so
`dbt build --full-refresh` cannot touch them; current state (aliases, champions) is built over
them by models/registry/. Rows are only ever inserted. An artifact is a joblib file whose sha256
is in registry.model_versions, and it is never unpickled before its bytes match that hash.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pyarrow as pa

from keel.warehouse import warehouse_path

REGISTRY_DDL = (
    "create schema if not exists registry",
    """
    create table if not exists registry.runs (
        run_id            varchar primary key,
        model             varchar not null,
        kind              varchar not null,  -- train, search_trial or reproduce
        status            varchar not null,  -- succeeded or failed
        started_at        timestamp not null,
        finished_at       timestamp not null,
        duration_seconds  double,
        git_commit        varchar,
        manifest_sha256   varchar,
        training_relation varchar,
        rows              bigint,
        data_sha256       varchar,           -- of the training frame, in a fixed order
        train_from        timestamp,
        train_to          timestamp,
        test_from         timestamp,
        test_to           timestamp,
        raw_watermark     bigint,            -- the last raw batch when the run read its data
        estimator         varchar,
        params            varchar,           -- JSON
        library_versions  varchar,           -- JSON
        parent_run_id     varchar,           -- the search a trial belongs to, or the reproduced run
        error             varchar
    )
    """,
    """
    create table if not exists registry.model_versions (
        model           varchar not null,
        version         integer not null,
        run_id          varchar not null,
        created_at      timestamp not null,
        artifact_path   varchar not null,
        artifact_sha256 varchar not null,
        features        varchar not null,    -- JSON: [{name, type}]
        estimator       varchar not null,
        params          varchar not null,    -- JSON
        primary key (model, version)
    )
    """,
    """
    create table if not exists registry.metrics (
        run_id  varchar not null,
        model   varchar not null,
        split   varchar not null,            -- test, or cv for search trials
        slice   varchar,                     -- null for all rows, else column=value
        metric  varchar not null,
        value   double
    )
    """,
    """
    create table if not exists registry.calibration (
        run_id        varchar not null,
        model         varchar not null,
        bin           integer not null,
        lower_bound   double not null,
        upper_bound   double not null,
        rows          bigint not null,
        mean_score    double not null,
        positive_rate double not null
    )
    """,
    """
    create table if not exists registry.reference_distributions (
        model        varchar not null,
        version      integer not null,
        role         varchar not null,       -- feature (training rows) or prediction (test scores)
        column_name  varchar not null,       -- the feature, or score
        value        double[],               -- a numeric column's distinct values (null among them
                                             -- for its nulls); null for a categorical column
        category     varchar[],              -- a categorical column's distinct values, as text
        rows         bigint[] not null       -- how many rows had each value, in the same order
    )
    """,
    """
    create table if not exists registry.alias_events (
        model       varchar not null,
        alias       varchar not null,
        version     integer not null,
        changed_at  timestamp not null,
        changed_by  varchar not null,
        reason      varchar,
        forced      boolean not null,
        checks      varchar not null         -- JSON: each gate, its numbers and whether it passed
    )
    """,
)


def ensure_registry(con) -> None:
    for ddl in REGISTRY_DDL[:1]:
        con.execute(ddl)
    _reference_as_lists(con)
    for ddl in REGISTRY_DDL[1:]:
        con.execute(ddl)


def _reference_as_lists(con) -> None:
    """Migrate registry.reference_distributions from one row per value (warehouses registered
    before 2026-11-24) to one row per column with its values and counts as lists: the same
    counts, regrouped in one transaction, so no version's frozen reference changes."""
    [(kind,)] = con.execute(
        "select coalesce(any_value(data_type), 'missing') from information_schema.columns "
        "where table_schema = 'registry' and table_name = 'reference_distributions' "
        "and column_name = 'value'").fetchall()
    if kind != "DOUBLE":
        return
    lists = next(ddl for ddl in REGISTRY_DDL if "registry.reference_distributions" in ddl)
    order = "order by value nulls last, category nulls last"
    con.execute("begin transaction")
    try:
        con.execute("alter table registry.reference_distributions rename to reference_distributions_by_value")
        con.execute(lists)
        con.execute(
            "insert into registry.reference_distributions select model, version, role, column_name, "
            f"case when count(value) > 0 then list(value {order}) end, "
            f"case when count(category) > 0 then list(category {order}) end, list(rows {order}) "
            "from registry.reference_distributions_by_value group by model, version, role, column_name")
        con.execute("drop table registry.reference_distributions_by_value")
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise


def write_reference(con, model: str, version: int, reference: pd.DataFrame,
                    table: str = "registry.reference_distributions") -> None:
    """Append a version's frozen reference: keel.evaluation.value_counts' rows with a `role`."""
    con.register("keel_reference", reference)  # numpy arrays arrive as lists, NaN as NaN
    try:
        con.execute(
            f"insert into {table} (model, version, role, column_name, value, "
            "category, rows) select ?, ?, role, column_name, "
            "list_transform(value, v -> case when isnan(v) then null else v end), category, rows "
            "from keel_reference", [model, version])
    finally:
        con.unregister("keel_reference")


def artifact_dir() -> Path:
    """Where artifacts live: beside the warehouse, named after it."""
    path = warehouse_path()
    return path.with_name(f"{path.stem}_artifacts")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_artifact(obj, model: str, run_id: str) -> tuple[Path, str]:
    """Write `obj` with joblib (aside, then renamed into place); returns (path, sha256)."""
    path = artifact_dir() / model / f"{run_id}.joblib"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    joblib.dump(obj, tmp)
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return path, sha256_file(path)


def load_artifact(path: str | Path, expected_sha256: str):
    """Unpickle an artifact only after its bytes hash to what the registry recorded."""
    path = Path(path)
    if not path.exists():
        raise RuntimeError(f"artifact {path} is missing")
    actual = sha256_file(path)
    if actual != expected_sha256:
        raise RuntimeError(f"artifact {path} has sha256 {actual[:12]}…, the registry recorded "
                           f"{expected_sha256[:12]}…: refusing to load it")
    return joblib.load(path)


def feature_matrix(data, features: list[str]) -> np.ndarray:
    """A model's input: the features in their registered order, as a float matrix (nulls NaN).

    Pipelines are fitted on plain matrices, not frames, so scoring one row in the server costs
    no DataFrame and no column-name checks, and every caller feeds the same shape.
    """
    if isinstance(data, pd.DataFrame):
        return data[list(features)].to_numpy(dtype=float, na_value=np.nan)
    if isinstance(data, pa.Table):
        # Straight from Arrow, no DataFrame in between: each column cast to float64 (unsafe, as
        # numpy's astype: a lossy int64 still converts) and copied into its column of a
        # column-major matrix, nulls as NaN. Column-major like the DataFrame path above, which
        # training uses: the imputer and scaler work column by column, and predict_proba's float
        # results depend on the layout, so both paths must give the same one.
        x = np.empty((len(features), data.num_rows)).T
        for j, name in enumerate(features):
            x[:, j] = data.column(name).cast(pa.float64(), safe=False).to_numpy(zero_copy_only=False)
        return x
    return np.array([[np.nan if r.get(f) is None else r[f] for f in features] for r in data], dtype=float)


def positive_scores(pipeline, x: np.ndarray, features: list[str]) -> np.ndarray:
    """predict_proba's positive-class column for a feature matrix, refusing infinities.

    scikit-learn checks each step's input for infinities, and on a matrix with nulls (NaN) its
    quick check (the sum is finite) fails, so every step scans every value again: ~40% of
    predict_proba on 1M rows. One scan here refuses infinities the same way, with the feature
    named, and the pipeline runs with assume_finite (the same floats, checked by the bench).
    """
    infinite = np.isinf(x)
    if infinite.any():
        column = features[int(np.nonzero(infinite.any(axis=0))[0][0])]
        raise ValueError(f"feature {column} has an infinite value: the model cannot score it")
    from sklearn import config_context  # here: keel.registry is imported where sklearn is not needed

    with config_context(assume_finite=True):
        return pipeline.predict_proba(x)[:, 1]


def version_row(con, model: str, version: int) -> dict:
    row = con.execute(
        "select v.*, r.test_from, r.test_to from registry.model_versions as v "
        "join registry.runs as r using (run_id) where v.model = ? and v.version = ?", [model, version]
    ).fetchone()
    if row is None:
        raise ValueError(f"{model} has no version {version}")
    names = [d[0] for d in con.description]
    return dict(zip(names, row))


def current_alias(con, model: str, alias: str) -> int | None:
    """The version an alias points at now: its latest event."""
    row = con.execute(
        "select version from registry.alias_events where model = ? and alias = ? "
        "order by changed_at desc limit 1", [model, alias]
    ).fetchone()
    return row[0] if row else None


def test_metrics(con, run_id: str) -> dict[str, float]:
    rows = con.execute("select metric, value from registry.metrics "
                       "where run_id = ? and split = 'test' and slice is null", [run_id]).fetchall()
    return dict(rows)


def as_json(value) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def serving_catalog_path() -> Path:
    """The registry's serving state, a JSON file beside the warehouse: what `keel serve` reads
    instead of the warehouse (which it must never open)."""
    path = warehouse_path()
    return path.with_name(f"{path.stem}_serving.json")


def write_serving_catalog(con) -> Path:
    """Export every model's versions and current aliases for serving; written aside and renamed
    into place, so a server never reads half a file. Called after every registry change."""
    from keel.spec import SpecError, load_spec

    versions = con.execute(
        "select model, version, artifact_path, artifact_sha256, features, created_at "
        "from registry.model_versions order by model, version").fetchall()
    aliases = con.execute(
        "select model, alias, arg_max(version, changed_at) from registry.alias_events group by all"
    ).fetchall()
    models: dict[str, dict] = {}
    for model, version, path, sha, features, created in versions:
        if model not in models:
            try:
                spec = load_spec(model)
                info = {"entity": spec.entity, "threshold": spec.threshold}
            except SpecError:  # a model no longer declared: keep serving what was registered
                info = {"entity": None, "threshold": 0.5}
            models[model] = {**info, "aliases": {}, "versions": {}}
        models[model]["versions"][str(version)] = {
            "artifact_path": path, "artifact_sha256": sha, "features": json.loads(features),
            "created_at": str(created)}
    for model, alias, version in aliases:
        if model in models:
            models[model]["aliases"][alias] = version
    target = serving_catalog_path()
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"models": models}, indent=1, sort_keys=True))
    os.replace(tmp, target)
    return target
