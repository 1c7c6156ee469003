"""Shared data for the drift benchmark: Keel's `keel.drift.drift_between` and Evidently's
DataDriftPreset (bench/peers/evidently) read the same two Parquet files.

Writes reference.parquet and current.parquet (500,000 rows each) into out_dir, deterministically from
a seed, once (a marker file records the parameters; a second call with the same ones does nothing).
Columns, with what differs between reference (ref) and current (cur):

  numeric (10)
  - num_normal            float64  N(0, 1) in both                          no drift
  - num_normal_shift      float64  N(0, 1) -> N(0.25, 1)                    drift (mean)
  - num_normal_scale      float64  N(10, 2) -> N(10, 2.6)                   drift (spread)
  - num_lognormal         float64  lognormal(0, 1) in both                  no drift
  - num_lognormal_shift   float64  lognormal(3, 0.8) -> lognormal(3.15, 0.8)  drift
  - int_poisson           int64    Poisson(4) in both (~15 values, ties)    no drift
  - int_poisson_shift     int64    Poisson(3) -> Poisson(3.6) (ties)        drift
  - int_uniform           int64    uniform on 0..99 in both (ties)          no drift
  - num_nulls             float64  N(50, 10), 5% null -> 8% null            null rate only
  - num_tiny_scale        float64  N(0, 1e-4) -> N(5e-5, 1e-4)              below the threshold: its std
                                   is under Evidently's 0.001 floor for the Wasserstein norm
  categorical (2), strings
  - cat_small             10 categories 'a'..'j', same shares in both       no drift
  - cat_large             200 categories 'c000'..'c199', Zipf-like shares, ~2% null; cur's shares
                          rotated and 'c190'..'c199' never seen in ref, 'c180'..'c189' never in cur:
                          drift, and categories on one side only

No numeric value is ±inf; every numeric column has more than 5 distinct values (Evidently picks
Wasserstein only above 5, see bench/peers/evidently/README.md). Row order is random.

Imports only numpy and pyarrow, so that every benchmark venv can run it:

    python bench/drift_data.py [OUT_DIR] [--seed N]      # default OUT_DIR: bench/.data/drift
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
ROWS = 500_000
DEFAULT_OUT = Path(__file__).resolve().parent / ".data" / "drift"
MARKER = ".drift_data.json"
NUMERIC = ("num_normal", "num_normal_shift", "num_normal_scale", "num_lognormal", "num_lognormal_shift",
           "int_poisson", "int_poisson_shift", "int_uniform", "num_nulls", "num_tiny_scale")
CATEGORICAL = ("cat_small", "cat_large")
SMALL_CATEGORIES = np.array(list("abcdefghij"))
LARGE_CATEGORIES = np.array([f"c{i:03d}" for i in range(200)])


def _params(seed: int) -> dict:
    return {"generator_version": GENERATOR_VERSION, "seed": seed, "rows": ROWS,
            "numeric": list(NUMERIC), "categorical": list(CATEGORICAL)}


def _with_nulls(rng: np.random.Generator, values: np.ndarray, rate: float) -> pa.Array:
    return pa.array(values, mask=rng.random(len(values)) < rate)


def _large_shares(current: bool) -> np.ndarray:
    """Zipf-like shares over the 200 categories; current's are rotated by 7 places, and each side has
    ten categories the other never sees."""
    weights = 1.0 / np.arange(1, 201) ** 0.9
    if current:
        weights = np.roll(weights, 7)
        weights[180:190] = 0.0
    else:
        weights[190:200] = 0.0
    return weights / weights.sum()


def _table(rng: np.random.Generator, current: bool) -> pa.Table:
    n = ROWS
    small = np.array([0.2, 0.15, 0.12, 0.1, 0.1, 0.09, 0.08, 0.07, 0.05, 0.04])
    columns = {
        "num_normal": rng.normal(0.0, 1.0, n),
        "num_normal_shift": rng.normal(0.25 if current else 0.0, 1.0, n),
        "num_normal_scale": rng.normal(10.0, 2.6 if current else 2.0, n),
        "num_lognormal": rng.lognormal(0.0, 1.0, n),
        "num_lognormal_shift": rng.lognormal(3.15 if current else 3.0, 0.8, n),
        "int_poisson": rng.poisson(4.0, n).astype(np.int64),
        "int_poisson_shift": rng.poisson(3.6 if current else 3.0, n).astype(np.int64),
        "int_uniform": rng.integers(0, 100, n, dtype=np.int64),
        "num_nulls": _with_nulls(rng, rng.normal(50.0, 10.0, n), 0.08 if current else 0.05),
        "num_tiny_scale": rng.normal(5e-5 if current else 0.0, 1e-4, n),
        "cat_small": pa.array(SMALL_CATEGORIES[rng.choice(10, n, p=small)]),
        "cat_large": _with_nulls(rng, LARGE_CATEGORIES[rng.choice(200, n, p=_large_shares(current))], 0.02),
    }
    return pa.table({name: pa.array(values) if isinstance(values, np.ndarray) else values
                     for name, values in columns.items()})


def make(out_dir: Path = DEFAULT_OUT, seed: int = 0) -> dict:
    """Writes reference.parquet and current.parquet into out_dir unless already there for these
    parameters. Returns the parameters, the two paths and 'seconds' (None if already there)."""
    out_dir = Path(out_dir)
    params = _params(seed)
    marker = out_dir / MARKER
    paths = {"reference": out_dir / "reference.parquet", "current": out_dir / "current.parquet"}
    result = {**params, **{f"{side}_path": str(path) for side, path in paths.items()}}
    if marker.exists() and all(p.exists() for p in paths.values()):
        if json.loads(marker.read_text()).get("params") == params:
            return {**result, "seconds": None}
    out_dir.mkdir(parents=True, exist_ok=True)
    marker.unlink(missing_ok=True)
    t0 = time.perf_counter()
    rngs = dict(zip(paths, (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))))
    for side, path in paths.items():
        tmp = path.with_suffix(".parquet.tmp")
        pq.write_table(_table(rngs[side], current=side == "current"), tmp)
        os.replace(tmp, path)
    marker.write_text(json.dumps({"params": params}, indent=1) + "\n")
    return {**result, "seconds": round(time.perf_counter() - t0, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", nargs="?", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(json.dumps(make(args.out_dir, args.seed)))


if __name__ == "__main__":
    main()
