"""Shared data for the point-in-time (PIT) join benchmarks: Keel's and its peers' (Feast, ...).

Writes two Parquet files into out_dir, deterministically from a seed, once (a marker file records
the parameters; a second call with the same ones does nothing):

- features.parquet: 10,000,000 rows; entity_id int64 uniform in [0, 100_000); feature_ts uniform over
  90 days from 2026-01-01 00:00:00 UTC, whole seconds; f0..f4 float64 standard normal. Row groups of
  1,000,000 rows, in generation order (not sorted).
- spine.parquet: 100,000 rows; entity_id uniform in [0, 100_000); event_timestamp uniform over the
  same 90 days, whole seconds.

Timestamps are Arrow timestamp("us", tz="UTC"): tz-aware, so that no reader (DuckDB, pandas, Feast)
has to guess a time zone. Feast's DuckDB store casts the feature timestamp to TIMESTAMPTZ and compares
it with the spine's; a naive column would be read in the session's local time zone.

Imports only numpy and pyarrow, so that every benchmark venv can run it:

    python bench/pit_data.py [OUT_DIR] [--seed N]      # default OUT_DIR: bench/.data/pit
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

GENERATOR_VERSION = 1
FEATURE_ROWS = 10_000_000
SPINE_ROWS = 100_000
ENTITIES = 100_000
DAYS = 90
START = np.datetime64("2026-01-01T00:00:00", "s")
FEATURES = ("f0", "f1", "f2", "f3", "f4")
ROW_GROUP = 1_000_000
DEFAULT_OUT = Path(__file__).resolve().parent / ".data" / "pit"
MARKER = ".pit_data.json"

TS_TYPE = pa.timestamp("us", tz="UTC")
START_US = int(START.astype("datetime64[us]").astype(np.int64))
SPAN_S = DAYS * 86_400


def _params(seed: int) -> dict:
    return {
        "generator_version": GENERATOR_VERSION, "seed": seed, "feature_rows": FEATURE_ROWS,
        "spine_rows": SPINE_ROWS, "entities": ENTITIES, "start": str(START) + "Z", "days": DAYS,
        "features": list(FEATURES), "row_group": ROW_GROUP, "timestamp_type": str(TS_TYPE),
    }


def _timestamps(rng: np.random.Generator, n: int) -> tuple[pa.Array, np.ndarray]:
    """n whole-second UTC timestamps, uniform over the window; also the seconds since START."""
    seconds = rng.integers(0, SPAN_S, size=n, dtype=np.int64)
    us = seconds * 1_000_000 + START_US
    return pa.array(us, type=pa.int64()).cast(TS_TYPE), seconds


def _write_features(path: Path, rng: np.random.Generator) -> int:
    """Writes features.parquet chunk by chunk; returns how many rows share (entity_id, feature_ts)
    with an earlier row (the ties a PIT join has to break)."""
    schema = pa.schema([("entity_id", pa.int64()), ("feature_ts", TS_TYPE)]
                       + [(f, pa.float64()) for f in FEATURES])
    keys = np.empty(FEATURE_ROWS, dtype=np.int64)
    with pq.ParquetWriter(path, schema) as writer:
        for start in range(0, FEATURE_ROWS, ROW_GROUP):
            n = min(ROW_GROUP, FEATURE_ROWS - start)
            entity = rng.integers(0, ENTITIES, size=n, dtype=np.int64)
            ts, seconds = _timestamps(rng, n)
            values = rng.standard_normal((len(FEATURES), n))
            keys[start:start + n] = entity * SPAN_S + seconds
            cols = [pa.array(entity), ts] + [pa.array(v) for v in values]
            writer.write_table(pa.Table.from_arrays(cols, schema=schema), row_group_size=ROW_GROUP)
    keys.sort()
    return int(np.count_nonzero(keys[1:] == keys[:-1]))


def _write_spine(path: Path, rng: np.random.Generator) -> None:
    entity = rng.integers(0, ENTITIES, size=SPINE_ROWS, dtype=np.int64)
    ts, _ = _timestamps(rng, SPINE_ROWS)
    pq.write_table(pa.table({"entity_id": pa.array(entity), "event_timestamp": ts}), path)


def make(out_dir: Path = DEFAULT_OUT, seed: int = 0) -> dict:
    """Writes features.parquet and spine.parquet into out_dir unless already there for these
    parameters. Returns the parameters, the two paths, 'feature_ties' and 'seconds' (None if the files
    were already there)."""
    out_dir = Path(out_dir)
    params = _params(seed)
    marker = out_dir / MARKER
    features, spine = out_dir / "features.parquet", out_dir / "spine.parquet"
    result = {**params, "features_path": str(features), "spine_path": str(spine)}
    if marker.exists() and features.exists() and spine.exists():
        recorded = json.loads(marker.read_text())
        if recorded.get("params") == params:
            return {**result, "feature_ties": recorded["feature_ties"], "seconds": None}
    out_dir.mkdir(parents=True, exist_ok=True)
    marker.unlink(missing_ok=True)
    t0 = time.perf_counter()
    feature_rng, spine_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    tmp = features.with_suffix(".parquet.tmp")
    ties = _write_features(tmp, feature_rng)
    os.replace(tmp, features)
    tmp = spine.with_suffix(".parquet.tmp")
    _write_spine(tmp, spine_rng)
    os.replace(tmp, spine)
    marker.write_text(json.dumps({"params": params, "feature_ties": ties}, indent=1) + "\n")
    return {**result, "feature_ties": ties, "seconds": round(time.perf_counter() - t0, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", nargs="?", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(json.dumps(make(args.out_dir, args.seed)))


if __name__ == "__main__":
    main()
