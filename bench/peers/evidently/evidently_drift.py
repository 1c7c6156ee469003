"""Evidently's DataDriftPreset over bench/drift_data.py's data, timed. Runs in bench/.venv-evidently:

    bench/.venv-evidently/bin/python -u bench/peers/evidently/evidently_drift.py [--runs 3] [--data DIR]
        [--out FILE] [--mode preset|stattests]

Generates the data if missing (bench/drift_data.py: 500k reference and 500k current rows, 10 numeric
and 2 categorical columns), then runs --runs fresh subprocesses, each exactly one measured run:

- mode "preset" (the peer): `pd.read_parquet` of both files, then
  `Report([DataDriftPreset()]).run(Dataset.from_pandas(current, data_definition=dd),
  Dataset.from_pandas(reference, data_definition=dd))` with dd = DataDefinition(numerical_columns=
  the 10, categorical_columns=the 2): Evidently 0.7's own API and the preset's defaults.
- mode "stattests" (a floor, not the peer): the same reads, then only the statistic each column
  gets by default, called directly per column (evidently.legacy.calculations.stattests, after the
  NaN/inf drop get_one_column_drift does): what computing the statistics in pandas/scipy costs
  without the report around them.

Each subprocess imports evidently and pandas before its timer and reports: read_seconds (both
Parquet files into pandas), drift_seconds (the rest), seconds (both), cpu_seconds (user + sys of
all threads), peak_rss_mb (getrusage ru_maxrss of that process: imports included), rss_after_import_mb
and rss_after_read_mb. The orchestrating process imports neither pandas nor evidently: on Linux a
child's ru_maxrss starts at its parent's peak.

The first run writes --out (JSON): one entry per column with column, kind, stattest (Evidently's
display name), stattest_id (its registry name), value (the ValueDrift metric's value), threshold,
drift_detected (from the preset's DataDriftTable, which computes the same columns again), and
`recomputed`: the definition in bench/peers/evidently/README.md evaluated directly with
numpy/scipy on the same frames, as a check of that definition. Prints one JSON line with every run.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from importlib.metadata import version
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCH = HERE.parents[1]
DEFAULT_DATA = BENCH / ".data" / "drift"  # = drift_data.DEFAULT_OUT
DEFAULT_OUT = DEFAULT_DATA / "evidently_result.json"
NUMERIC = ("num_normal", "num_normal_shift", "num_normal_scale", "num_lognormal", "num_lognormal_shift",
           "int_poisson", "int_poisson_shift", "int_uniform", "num_nulls", "num_tiny_scale")  # = drift_data
CATEGORICAL = ("cat_small", "cat_large")
os.environ.setdefault("DO_NOT_TRACK", "1")  # Evidently's telemetry switch; no network here


def _max_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # Linux: KiB


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)  # all threads of this process
    return usage.ru_utime + usage.ru_stime


def _clean(series):
    """What get_one_column_drift does to each side before any statistic: ±inf to NaN, NaN dropped."""
    import numpy as np

    return series.replace([-np.inf, np.inf], np.nan).dropna()


def _recomputed(reference, current) -> dict:
    """The definitions written down in README.md, evaluated with numpy/scipy (not Evidently)."""
    import numpy as np
    from scipy import stats
    from scipy.spatial import distance

    out = {}
    for column in NUMERIC:
        ref, cur = _clean(reference[column]), _clean(current[column])
        ref_values, cur_values = ref.to_numpy(dtype=np.float64), cur.to_numpy(dtype=np.float64)
        out[column] = (stats.wasserstein_distance(ref_values, cur_values)
                       / max(float(np.std(ref_values)), 0.001))
    for column in CATEGORICAL:
        ref, cur = _clean(reference[column]), _clean(current[column])
        keys = sorted(set(ref.unique()) | set(cur.unique()))
        p = ref.value_counts().reindex(keys, fill_value=0).to_numpy() / len(ref)
        q = cur.value_counts().reindex(keys, fill_value=0).to_numpy() / len(cur)
        out[column] = float(distance.jensenshannon(p, q))  # natural log (base=None)
    return out


def _preset(reference, current):
    """The measured call; returns the snapshot."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    definition = DataDefinition(numerical_columns=list(NUMERIC), categorical_columns=list(CATEGORICAL))
    return Report([DataDriftPreset()]).run(Dataset.from_pandas(current, data_definition=definition),
                                           Dataset.from_pandas(reference, data_definition=definition))


def _stattests(reference, current) -> dict:
    """The floor: each column's default statistic, called directly, as get_one_column_drift calls it."""
    from evidently.legacy.calculations.stattests import get_stattest
    from evidently.legacy.core import ColumnType

    out = {}
    for columns, kind in ((NUMERIC, ColumnType.Numerical), (CATEGORICAL, ColumnType.Categorical)):
        for column in columns:
            ref, cur = _clean(reference[column]), _clean(current[column])
            test = get_stattest(ref, cur, kind, None)
            out[column] = test(ref, cur, kind, None)
    return out


def _columns(snapshot) -> list[dict]:
    """Per column: the ValueDrift metric's value and parameters, the DataDriftTable's verdict."""
    from evidently.legacy.calculations.stattests.registry import _registered_stat_tests

    ids = {test.display_name: name for name, tests in _registered_stat_tests.items()
           for test in tests.values()}
    values = {m["config"]["column"]: m for m in snapshot.dict()["metrics"]
              if m["config"]["type"] == "evidently:metric_v2:ValueDrift"}
    tables = [res.drift_by_columns for res, _ in snapshot.context._legacy_metrics.values()
              if hasattr(res, "drift_by_columns")]
    assert len(tables) == 1, f"expected one DataDriftTable result, found {len(tables)}"
    table = tables[0]
    out = []
    for column in (*NUMERIC, *CATEGORICAL):
        metric, row = values[column], table[column]
        out.append({
            "column": column,
            "kind": "numeric" if column in NUMERIC else "categorical",
            "stattest": metric["config"]["method"],
            "stattest_id": ids[metric["config"]["method"]],
            "value": metric["value"],
            "threshold": metric["config"]["threshold"],
            "drift_detected": bool(row.drift_detected),
            "table_stattest": row.stattest_name,
            "table_value": float(row.drift_score),
            "table_threshold": row.stattest_threshold,
        })
    return out


def one_run(data: Path, mode: str, out: Path | None) -> dict:
    """Exactly one measured run in this process."""
    import evidently  # noqa: F401  (imported before the timer, like pandas)
    import pandas as pd

    rss_import = _max_rss_mb()
    cpu0, t0 = _cpu_seconds(), time.perf_counter()
    reference = pd.read_parquet(data / "reference.parquet")
    current = pd.read_parquet(data / "current.parquet")
    t1 = time.perf_counter()
    rss_read = _max_rss_mb()
    result = _preset(reference, current) if mode == "preset" else _stattests(reference, current)
    t2, cpu = time.perf_counter(), _cpu_seconds() - cpu0
    peak = _max_rss_mb()
    run = {"mode": mode, "read_seconds": round(t1 - t0, 3), "drift_seconds": round(t2 - t1, 3),
           "seconds": round(t2 - t0, 3), "cpu_seconds": round(cpu, 2), "peak_rss_mb": peak,
           "rss_after_import_mb": rss_import, "rss_after_read_mb": rss_read,
           "reference_rows": len(reference), "current_rows": len(current)}
    if mode == "preset":
        columns = _columns(result)
        run["drifted_columns"] = sum(c["drift_detected"] for c in columns)
        if out is not None:
            recomputed = _recomputed(reference, current)
            for c in columns:
                c["recomputed"] = recomputed[c["column"]]
            out.parent.mkdir(parents=True, exist_ok=True)
            versions = {f"{p}_version": version(p) for p in ("evidently", "pandas", "scipy")}
            out.write_text(json.dumps({**versions, "columns": columns}, indent=1) + "\n")
            run["max_abs_diff_value_vs_table"] = max(abs(c["value"] - c["table_value"]) for c in columns)
            run["max_abs_diff_value_vs_recomputed"] = max(abs(c["value"] - c["recomputed"]) for c in columns)
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--mode", choices=("preset", "stattests"), default="preset")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)  # internal: one run here
    parser.add_argument("--no-out", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.one:
        print(json.dumps(one_run(args.data, args.mode, None if args.no_out else args.out)))
        return

    gen = subprocess.run([sys.executable, str(BENCH / "drift_data.py"), str(args.data), "--seed",
                          str(args.seed)], check=True, stdout=subprocess.PIPE, text=True)
    data = json.loads(gen.stdout.strip().splitlines()[-1])
    runs = []
    for i in range(args.runs):
        cmd = [sys.executable, __file__, "--one", "--mode", args.mode, "--data", str(args.data),
               "--out", str(args.out)] + (["--no-out"] if i else [])
        proc = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True)
        run = json.loads(proc.stdout.strip().splitlines()[-1])
        print(f"run {i + 1}/{args.runs}: {run}", file=sys.stderr, flush=True)
        runs.append(run)
    print(json.dumps({"evidently_version": version("evidently"), "mode": args.mode, "rows": data["rows"],
                      "runs": runs, "out": str(args.out) if args.mode == "preset" else None}))


if __name__ == "__main__":
    main()
