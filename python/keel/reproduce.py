"""`keel reproduce MODEL VERSION`: rebuild a version's training set from raw and refit it.

The raw batches up to the run's recorded watermark are linked (not copied: they are immutable)
into a scratch warehouse, dbt builds the training relation there from raw, and the version is
refit with its recorded parameters on the recorded time window. The report says whether the
training data hashes to what the run recorded and whether every test metric is exactly equal.
The scratch warehouse is removed afterwards.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from keel.evaluation import classification_metrics
from keel.project import run_dbt
from keel.registry import ensure_registry, feature_matrix, positive_scores, test_metrics, version_row
from keel.spec import load_spec
from keel.train import build_pipeline, data_hash, read_training_frame
from keel.warehouse import WAREHOUSE_ENV, batch_file, connect, ensure_raw_tables, raw_dir, warehouse_path


@dataclass
class Reproduction:
    model: str
    version: int
    data_matches: bool
    recorded_data_sha256: str
    rebuilt_data_sha256: str
    metrics: dict          # metric -> (recorded, reproduced)

    @property
    def metrics_match(self) -> bool:
        return all(a == b for a, b in self.metrics.values())


def reproduce(model: str, version: int) -> Reproduction:
    spec = load_spec(model)
    with connect() as con:
        ensure_registry(con)
        recorded = version_row(con, model, version)
        run = con.execute("select * from registry.runs where run_id = ?",
                          [recorded["run_id"]]).df().iloc[0]
        recorded_metrics = test_metrics(con, recorded["run_id"])
        batches = con.execute("select * from raw.batches where batch_id <= ? order by batch_id",
                              [int(run["raw_watermark"])]).df()
    sources = {int(b): batch_file(int(b)) for b in batches["batch_id"]}
    scratch = Path(tempfile.mkdtemp(prefix="keel-reproduce-", dir=warehouse_path().parent))
    original = os.environ.get(WAREHOUSE_ENV)
    try:
        os.environ[WAREHOUSE_ENV] = str(scratch / "keel.duckdb")
        for batch_id, source in sources.items():
            target = batch_file(batch_id)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(source)
        with connect() as con:
            ensure_raw_tables(con)
            con.register("recorded_batches", batches)
            con.execute("insert into raw.batches select * from recorded_batches")
        if not run_dbt(["build", "--select", f"+{spec.training_model}", "--exclude", "resource_type:test",
                        "resource_type:unit_test"], quiet=True):
            raise RuntimeError(f"dbt could not rebuild {spec.training_model} from raw "
                               f"(batches up to {int(run['raw_watermark'])})")
        with connect() as con:
            # the run's rows only: it may have trained as of a past instant (`keel train --until`)
            frame = read_training_frame(con, spec, through=run["test_to"])
    finally:
        if original is None:
            os.environ.pop(WAREHOUSE_ENV, None)
        else:
            os.environ[WAREHOUSE_ENV] = original
        shutil.rmtree(scratch, ignore_errors=True)
        shutil.rmtree(raw_dir(scratch / "keel.duckdb"), ignore_errors=True)

    features = [f["name"] for f in json.loads(recorded["features"])]
    ts = pd.to_datetime(frame[spec.timestamp])
    train_rows = frame[ts < run["train_to"]]
    test_rows = frame[(ts >= run["test_from"]) & (ts <= run["test_to"])]
    pipeline = build_pipeline(spec, json.loads(recorded["params"]))
    pipeline.fit(feature_matrix(train_rows, features), train_rows[spec.label].to_numpy(dtype=int))
    p = positive_scores(pipeline, feature_matrix(test_rows, features), features)
    again = classification_metrics(test_rows[spec.label].to_numpy(dtype=int), p, spec.threshold)
    rebuilt = data_hash(frame)
    return Reproduction(
        model, version, rebuilt == run["data_sha256"], run["data_sha256"], rebuilt,
        {k: (recorded_metrics.get(k), again.get(k)) for k in sorted(recorded_metrics)},
    )
