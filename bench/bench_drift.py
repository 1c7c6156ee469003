"""Drift statistics: Keel's `keel.drift.drift_between` side by side with Evidently 0.7.23's
DataDriftPreset (bench/peers/evidently), on the same Parquet files (bench/drift_data.py: 500k
reference and 500k current rows, 10 numeric and 2 categorical columns).

Target (issue 6, item 8): at least 10x faster than Evidently, with identical values (1e-9 absolute)
for the statistics both compute: Evidently's default per column here is the Wasserstein distance
normed by the reference's std for the numeric columns and the Jensen-Shannon distance for the
categorical ones (bench/peers/evidently/README.md); Keel returns them as wasserstein_norm and
js_distance.

Run: .venv/bin/python bench/bench_drift.py [--runs 3] [--no-evidently] [--no-cold] [--no-profile]

Each measured run is a fresh process that imports its libraries before its timer and reports its own
peak RSS (getrusage ru_maxrss, imports included); this controlling process imports nothing heavy (on
Linux a child's ru_maxrss starts at its parent's peak). A round is, in this order:

- evidently   bench/peers/evidently/evidently_drift.py --one: pd.read_parquet of both files (read),
              then Report([DataDriftPreset()]).run(current, reference) with explicit column types
              (drift).
- floor       the same script in mode "stattests": only each column's default statistic, called
              directly on the pandas Series (no report): what the statistics cost in pandas/scipy.
- keel load   a fresh warehouse file (bench/.data/drift_keel/keel.duckdb): both Parquet files into
              tables with `create table ... as select * from read_parquet(...)` and a checkpoint
              (load), then drift_between(con, 'bench_reference', 'bench_current', numeric=[...],
              categorical=[...]) (drift).
- keel drift  the warehouse as the previous run left it: connect, drift_between, close.
- keel cold   (first round only; --no-cold skips it) drift_between as a user's first call in a
              process makes it: macros/drift.sql rendered by dbt (import + project parse; timed on
              its own as "dbt", by calling the lru-cached render first), then the call.

Then (--profile, on by default) the SQL once more with DuckDB's profiler on: the operators that took
the most time, to bench/.data/drift_keel/profile.json.

In "keel load" and "keel drift" the SQL is the one drift_between renders, rendered once by dbt in a
setup process and saved to bench/.data/drift_keel/drift.sql; the measured process swaps
keel.drift._compiled (the lru-cached render) for a function returning it, so that it never imports
dbt and drift_between's own code runs unchanged: the same split as bench_features.py's
point-in-time join. Writes every figure to bench/.data/drift/results.json and exits 1 when a
statistic both compute differs by more than 1e-9.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCH_DATA = HERE / ".data"                    # = common.BENCH_DATA (common imports keel: not here)
DATA = BENCH_DATA / "drift"                    # = drift_data.DEFAULT_OUT
KEEL_DIR = BENCH_DATA / "drift_keel"
WAREHOUSE = KEEL_DIR / "keel.duckdb"
SQL = KEEL_DIR / "drift.sql"
KEEL_RESULT = KEEL_DIR / "keel_result.json"
EVIDENTLY_RESULT = DATA / "evidently_result.json"
RESULTS = DATA / "results.json"
EVIDENTLY_PYTHON = HERE / ".venv-evidently" / "bin" / "python"
EVIDENTLY_SCRIPT = HERE / "peers" / "evidently" / "evidently_drift.py"

NUMERIC = ("num_normal", "num_normal_shift", "num_normal_scale", "num_lognormal", "num_lognormal_shift",
           "int_poisson", "int_poisson_shift", "int_uniform", "num_nulls", "num_tiny_scale")  # = drift_data
CATEGORICAL = ("cat_small", "cat_large")
REFERENCE, CURRENT = "bench_reference", "bench_current"
TOLERANCE = 1e-9
# Evidently's statistic (its registry name, per column kind) -> the column of Keel's frame it equals
SAME_STATISTIC = {("numeric", "wasserstein"): "wasserstein_norm",
                  ("categorical", "jensenshannon"): "js_distance"}


def _max_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # Linux: KiB


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _load() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def _json_run(cmd: list, env: dict | None = None) -> dict:
    """Run a command whose last stdout line is JSON (stderr passes through)."""
    proc = subprocess.run([str(c) for c in cmd], check=True, stdout=subprocess.PIPE, text=True,
                          env={**os.environ, **(env or {})})
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _dbt_env() -> None:
    # dbt's target/ and logs/ of its own, so as not to disturb the project's (or a test run's)
    os.environ["DBT_TARGET_PATH"] = str(KEEL_DIR / "target")
    os.environ["DBT_LOG_PATH"] = str(KEEL_DIR / "logs")
    os.environ["KEEL_WAREHOUSE"] = str(WAREHOUSE)


# -- Keel: setup and one measured run (subprocesses) ----------------------------------------------

def keel_setup() -> dict:
    """drift_between's SQL for these columns, rendered by dbt as its first call would, saved."""
    _dbt_env()
    import keel.drift

    KEEL_DIR.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    SQL.write_text(keel.drift._compiled(NUMERIC, CATEGORICAL))
    return {"render_seconds": round(time.perf_counter() - t0, 2), "rss_after_render_mb": _max_rss_mb(),
            "sql": str(SQL)}


def keel_one(mode: str, out: Path | None) -> dict:
    """One measured run in this process: mode load (fresh warehouse, load, drift), drift (warehouse
    already loaded) or cold (drift_between rendering its SQL with dbt first)."""
    _dbt_env()
    import keel.drift
    from keel.warehouse import connect

    duckdb_version = sys.modules["duckdb"].__version__

    if mode != "cold":
        sql = SQL.read_text()
        keel.drift._compiled = lambda numeric, categorical: sql  # what the lru cache would return
    if mode == "load":
        for path in (WAREHOUSE, WAREHOUSE.with_name(WAREHOUSE.name + ".wal")):
            path.unlink(missing_ok=True)
    rss_import = _max_rss_mb()
    run: dict = {"mode": mode}
    cpu0, t0 = _cpu_seconds(), time.perf_counter()
    with connect() as con:
        if mode == "load":
            for table, name in ((REFERENCE, "reference"), (CURRENT, "current")):
                path = str(DATA / f"{name}.parquet").replace("'", "''")
                con.execute(f"create table {table} as select * from read_parquet('{path}')")
            con.execute("checkpoint")
            run["load_seconds"] = round(time.perf_counter() - t0, 3)
            run["rss_after_load_mb"] = _max_rss_mb()
        if mode == "cold":  # drift_between's first step, timed on its own: the render fills its cache
            keel.drift._compiled(NUMERIC, CATEGORICAL)
            run["render_seconds"] = round(time.perf_counter() - t0, 3)
            run["rss_after_render_mb"] = _max_rss_mb()
        t1 = time.perf_counter()
        frame = keel.drift.drift_between(con, REFERENCE, CURRENT, numeric=NUMERIC, categorical=CATEGORICAL)
        t2 = time.perf_counter()
    cpu = _cpu_seconds() - cpu0
    if mode != "cold":
        assert "dbt" not in sys.modules, "the measured process imported dbt"
    run.update({"drift_seconds": round(t2 - t1, 3), "seconds": round(t2 - t0, 3),
                "cpu_seconds": round(cpu, 2), "peak_rss_mb": _max_rss_mb(), "rss_after_import_mb": rss_import,
                "warehouse_mb": round(WAREHOUSE.stat().st_size / 1e6, 1), "duckdb_version": duckdb_version})
    if out is not None:
        out.write_text(json.dumps(frame.to_dict(orient="records"), indent=1) + "\n")
    return run


def keel_profile() -> dict:
    """The saved SQL under DuckDB's profiler: the operators with the most time (summed over threads)."""
    import duckdb

    profile = KEEL_DIR / "profile.json"
    con = duckdb.connect(str(WAREHOUSE))
    con.execute("set enable_progress_bar = false")
    con.execute("pragma enable_profiling = 'json'")
    con.execute(f"pragma profiling_output = '{profile}'")
    sql = SQL.read_text().replace("keel_drift_reference", REFERENCE).replace("keel_drift_current", CURRENT)
    t0 = time.perf_counter()
    con.execute(sql).fetchall()
    seconds = time.perf_counter() - t0
    con.close()
    tree = json.loads(profile.read_text())
    operators = []

    def walk(node: dict) -> None:
        extra = node.get("extra_info") or {}
        what = extra.get("Projections") or extra.get("Aggregates") or extra.get("Conditions") or ""
        operators.append({"operator": (node.get("operator_name") or "").strip(),
                          "seconds": round(node.get("operator_timing", 0.0), 2),
                          "rows": node.get("operator_cardinality", 0), "what": str(what)[:160]})
        for child in node.get("children", []):
            walk(child)

    walk(tree)
    operators.sort(key=lambda o: -o["seconds"])
    return {"seconds": round(seconds, 2), "cpu_seconds": round(tree.get("cpu_time", 0.0), 2),
            "operator_seconds": round(sum(o["seconds"] for o in operators), 2), "top": operators[:8],
            "profile": str(profile)}


# -- comparison (pure Python on the two JSON files) ------------------------------------------------

def compare(evidently_path: Path, keel_path: Path) -> dict:
    evidently = {c["column"]: c for c in json.loads(evidently_path.read_text())["columns"]}
    keel = {r["column_name"]: r for r in json.loads(keel_path.read_text())}
    rows, worst = [], {}
    for column in (*NUMERIC, *CATEGORICAL):
        e, k = evidently[column], keel[column]
        statistic = SAME_STATISTIC.get((e["kind"], e["stattest_id"]))
        row = {"column": column, "kind": e["kind"], "evidently_stattest": e["stattest"],
               "threshold": e["threshold"], "evidently_drift_detected": e["drift_detected"],
               "evidently": e["value"], "keel_statistic": statistic,
               "keel": k[statistic] if statistic else None}
        if statistic is None or row["keel"] is None:
            row["abs_diff"], row["same"] = None, False
        else:
            row["abs_diff"] = abs(row["keel"] - row["evidently"])
            row["same"] = row["abs_diff"] <= TOLERANCE
            worst[statistic] = max(worst.get(statistic, 0.0), row["abs_diff"])
        rows.append(row)
    return {"columns": rows, "max_abs_diff": worst, "all_same": all(r["same"] for r in rows),
            "tolerance": TOLERANCE}


# -- the controller --------------------------------------------------------------------------------

def _best_median(values: list[float]) -> str:
    return f"{min(values):.2f} / {statistics.median(values):.2f}" if values else "-"


def _summary(runs: list[dict], key: str) -> list[float]:
    return [r[key] for r in runs if key in r]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="rounds: one run of each configuration per round")
    parser.add_argument("--no-evidently", action="store_true", help="Keel's side only")
    parser.add_argument("--no-cold", action="store_true", help="skip the first-call (dbt render) run")
    parser.add_argument("--no-profile", action="store_true", help="skip the profiled run of Keel's SQL")
    # internal: the measured subprocesses
    parser.add_argument("--keel-setup", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--keel-one", choices=("load", "drift", "cold"), help=argparse.SUPPRESS)
    parser.add_argument("--keel-profile", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.keel_setup:
        print(json.dumps(keel_setup()))
        return
    if args.keel_one:
        print(json.dumps(keel_one(args.keel_one, args.out)))
        return
    if args.keel_profile:
        print(json.dumps(keel_profile()))
        return

    evidently = not args.no_evidently
    if evidently and not EVIDENTLY_PYTHON.exists():
        print(f"building {EVIDENTLY_PYTHON.parent.parent} (bench/peers/evidently/setup.sh)", flush=True)
        subprocess.run(["bash", str(HERE / "peers" / "evidently" / "setup.sh")], check=True)
    data = _json_run([sys.executable, HERE / "drift_data.py", DATA])
    print(f"data: {data['rows']:,} reference and {data['rows']:,} current rows, {len(NUMERIC)} numeric and "
          f"{len(CATEGORICAL)} categorical columns ({DATA})", flush=True)
    setup = _json_run([sys.executable, __file__, "--keel-setup"])
    print(f"setup (not timed): drift_between's SQL rendered by dbt in {setup['render_seconds']} s "
          f"(dbt import + project parse; {setup['rss_after_render_mb']:.0f} MB peak RSS) -> {setup['sql']}",
          flush=True)

    result: dict = {"data": data, "setup": setup, "rounds": []}
    sides: dict[str, list[dict]] = {}
    for round_ in range(args.runs):
        first = round_ == 0
        load = _load()
        print(f"round {round_ + 1}/{args.runs} (load average {load})", flush=True)
        plan = []
        if evidently:
            plan.append(("evidently", [EVIDENTLY_PYTHON, "-u", EVIDENTLY_SCRIPT, "--one", "--mode", "preset",
                                       "--data", DATA, "--out", EVIDENTLY_RESULT]
                         + ([] if first else ["--no-out"])))
            plan.append(("floor", [EVIDENTLY_PYTHON, "-u", EVIDENTLY_SCRIPT, "--one", "--mode", "stattests",
                                   "--data", DATA, "--no-out"]))
        plan.append(("keel load", [sys.executable, __file__, "--keel-one", "load"]
                     + (["--out", KEEL_RESULT] if first else [])))
        plan.append(("keel drift", [sys.executable, __file__, "--keel-one", "drift"]))
        if first and not args.no_cold:
            plan.append(("keel cold", [sys.executable, __file__, "--keel-one", "cold"]))
        runs = {}
        for name, cmd in plan:
            run = runs[name] = _json_run(cmd)
            sides.setdefault(name, []).append(run)
            first_part = next((f"{k.split('_')[0]} {run[k]:.2f} + " for k in
                               ("read_seconds", "load_seconds", "render_seconds") if k in run), "")
            split = f"{first_part}drift {run['drift_seconds']:.2f}"
            print(f"  {name}: {run['seconds']:.2f} s ({split}; cpu {run['cpu_seconds']:.2f} s), "
                  f"peak RSS {run['peak_rss_mb']:.0f} MB (after imports {run['rss_after_import_mb']:.0f} MB)",
                  flush=True)
        result["rounds"].append({"load_average": load, "load_average_after": _load(), "runs": runs})

    print("\nbest / median of the runs (seconds; peak RSS in MB):")
    print(f"  {'configuration':<12} {'runs':>4}  {'read/load/dbt':>13}  {'drift':>13}  {'total':>13}  "
          f"{'cpu':>13}  {'peak RSS':>13}")
    for name, runs in sides.items():
        before = next((v for k in ("read_seconds", "load_seconds", "render_seconds")
                       if (v := _summary(runs, k))), [])
        peaks = _summary(runs, "peak_rss_mb")
        print(f"  {name:<12} {len(runs):>4}  {_best_median(before):>13}  "
              f"{_best_median(_summary(runs, 'drift_seconds')):>13}  "
              f"{_best_median(_summary(runs, 'seconds')):>13}  "
              f"{_best_median(_summary(runs, 'cpu_seconds')):>13}  "
              f"{min(peaks):>6.0f} / {statistics.median(peaks):.0f}")
    if evidently:
        speedups = {}
        for label, (e_key, e_side, k_key, k_side) in {
            "end to end (evidently read + drift vs keel load + drift)":
                ("seconds", "evidently", "seconds", "keel load"),
            "drift only (evidently drift vs keel drift, loaded warehouse)":
                ("drift_seconds", "evidently", "drift_seconds", "keel drift"),
        }.items():
            e, k = _summary(sides[e_side], e_key), _summary(sides[k_side], k_key)
            speedups[label] = {"best_vs_best": round(min(e) / min(k), 2),
                               "median_vs_median": round(statistics.median(e) / statistics.median(k), 2)}
            print(f"speed-up {label}: {speedups[label]['best_vs_best']:.2f}x best vs best, "
                  f"{speedups[label]['median_vs_median']:.2f}x median vs median (target >= 10x)")
        result["speedup"] = speedups
        cmp = result["compare"] = compare(EVIDENTLY_RESULT, KEEL_RESULT)
        print(f"\nvalues (Evidently's statistic vs Keel's, tolerance {TOLERANCE:g}):")
        for row in cmp["columns"]:
            if row["keel_statistic"] is None:
                print(f"  {row['column']:<20} {row['evidently_stattest']}: no Keel statistic to compare")
                continue
            verdict = "same" if row["same"] else "DIFFERS"
            print(f"  {row['column']:<20} {row['keel_statistic']:<17} evidently {row['evidently']:<22.17g}  "
                  f"keel {row['keel']:<22.17g}  |diff| {row['abs_diff']:.3g}  {verdict}")
        worst = ", ".join(f"{k} {v:.3g}" for k, v in cmp["max_abs_diff"].items())
        print(f"max |diff| per statistic: {worst}")
    if not args.no_profile:
        load = _load()
        prof = _json_run([sys.executable, __file__, "--keel-profile"])
        result["profile"] = {"load_average": load, **prof}
        print(f"\nKeel's SQL under DuckDB's profiler (load average {load}): {prof['seconds']:.2f} s wall, "
              f"{prof['cpu_seconds']:.2f} s cpu; operators by time (summed over threads; all operators "
              f"{prof['operator_seconds']:.2f} s):")
        for op in prof["top"]:
            print(f"  {op['seconds']:7.2f} s  {op['rows']:>11,} rows  {op['operator']}  {op['what']}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=1) + "\n")
    print(f"figures written to {RESULTS}")
    if evidently and not result["compare"]["all_same"]:
        sys.exit("values differ: see DIFFERS above")


if __name__ == "__main__":
    main()
