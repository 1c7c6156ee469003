"""Batch scoring: `keel.score.score()` end to end on 1M entities, next to bare predict_proba.

Builds the demo pipeline (`keel run`) into bench/.data/scoring/demo once. The demo has ~4.4k
users, so the million rows are made, not simulated: a copy of that warehouse
(bench/.data/scoring/million) has its serving table, features.fv_user_activity_latest, replaced
by the demo's latest rows replicated to exactly 1,000,000 rows, each copy with its own entity id
(`<user_id>-<copy>`) and the same features and feature_ts. The registry, champion and artifact
are the demo's own (logistic regression behind SimpleImputer(add_indicator) + StandardScaler,
21 features).

Each run is a fresh process that imports its libraries (sklearn, pyarrow, duckdb, keel) before
its timer; the timer covers the whole `score("purchase_propensity")` call: reading the spec,
the alias and the hash-checked artifact, reading the features, predicting, and writing the
run's Parquet file and its predictions.scoring_runs row (predictions.batch_scores is a view over
them). Run 1 writes the scoring run; later runs are re-runs that replace its 1M rows (a new
attempt). Peak RSS is the process's own ru_maxrss,
imports included. Then, in one more fresh process: bare `pipeline.predict_proba` on the same
in-memory float matrix (keel.registry.feature_matrix of the same rows), timed several times,
and a check that every score written equals predict_proba's exactly.

    .venv/bin/python bench/bench_scoring.py [--runs 5] [--rows 1000000]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH / ".data" / "scoring"
KEEL = Path(sys.executable).with_name("keel")
MODEL = "purchase_propensity"
SERVING = "features.fv_user_activity_latest"


def build() -> Path:
    """The demo warehouse, built once."""
    demo = ROOT / "demo" / "keel.duckdb"
    if not demo.with_name("keel_serving.json").exists():
        env = {**os.environ, "KEEL_WAREHOUSE": str(demo)}
        subprocess.run([str(KEEL), "run", "--out", str(demo.parent / "logs")], env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return demo


def million(demo: Path, rows: int) -> Path:
    """A fresh copy of the demo warehouse whose serving table holds `rows` entities."""
    import duckdb

    path = ROOT / "million" / "keel.duckdb"  # keep the stem: dbt's relation names say "keel"
    shutil.rmtree(path.parent, ignore_errors=True)
    path.parent.mkdir(parents=True)
    shutil.copy(demo, path)
    con = duckdb.connect(str(path))
    try:
        n = con.execute(f"select count(*) from {SERVING}").fetchone()[0]
        copies = -(-rows // n)
        con.execute(f"""
            create or replace table {SERVING} as
            select user_id || '-' || lpad(copy::varchar, 3, '0') as user_id, * exclude (user_id)
            from {SERVING}, range({copies}) as copies (copy)
            order by copy, user_id
            limit {rows}""")
        con.execute("checkpoint")
        assert con.execute(f"select count(distinct user_id) from {SERVING}").fetchone()[0] == rows
    finally:
        con.close()
    return path


SCORE_RUN = """
import json, os, resource, time
import duckdb, numpy, pyarrow, sklearn.pipeline
import keel.score
load = os.getloadavg()[0]
usage = resource.getrusage(resource.RUSAGE_SELF)
clock = time.perf_counter()
r = keel.score.score(%r)
seconds = time.perf_counter() - clock
after = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"rows": r.rows, "seconds": seconds, "phases": getattr(r, "phases", {}),
                  "cpu_seconds": after.ru_utime + after.ru_stime - usage.ru_utime - usage.ru_stime,
                  "peak_rss_mb": after.ru_maxrss / 1024, "load_1m": load, "scoring_run": r.scoring_run}))
"""

BARE_PREDICT = """
import json, os, resource, time
import numpy as np
from keel.registry import feature_matrix, load_artifact, version_row, current_alias
from keel.warehouse import connect
runs = %d
with connect() as con:
    row = version_row(con, %r, current_alias(con, %r, "champion"))
    features = [f["name"] for f in json.loads(row["features"])]
    quoted = ", ".join(f'"{c}"' for c in features)
    table = con.execute(f"select cast(user_id as varchar) as entity, {quoted} from %s").to_arrow_table()
    pipeline = load_artifact(row["artifact_path"], row["artifact_sha256"])
    x = feature_matrix(table, features)
    load = os.getloadavg()[0]
    times = []
    for _ in range(runs):
        clock = time.perf_counter()
        p = pipeline.predict_proba(x)[:, 1]
        times.append(time.perf_counter() - clock)
    bare = table.select(["entity"]).append_column("bare", __import__("pyarrow").array(p))
    differ = con.execute("select count(*), count(s.score), count(*) filter (where s.score is distinct "
                         "from bare.bare) from bare left join predictions.batch_scores as s "
                         "on s.entity = bare.entity and s.scoring_run = ?", [%r]).fetchone()
print(json.dumps({"rows": len(x), "seconds": times, "load_1m": load, "compared": differ[0],
                  "matched": differ[1], "differing": differ[2],
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def child(code: str, env: dict) -> dict:
    out = subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True,
                         cwd=BENCH.parent)
    return json.loads(out.stdout.strip().splitlines()[-1])


def summary(values: list[float]) -> str:
    return f"best {max(values):,.0f} / median {statistics.median(values):,.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="score() runs, each in a fresh process")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--no-bare", action="store_true", help="skip bare predict_proba (e.g. when timing "
                        "older code, whose feature_matrix takes no Arrow table)")
    args = parser.parse_args()
    path = million(build(), args.rows)
    env = {**os.environ, "KEEL_WAREHOUSE": str(path)}
    runs = []
    for i in range(args.runs):
        result = {"run": i + 1, **child(SCORE_RUN % MODEL, env)}
        result["rows_per_second"] = round(result["rows"] / result["seconds"])
        runs.append(result)
        print(json.dumps(result), flush=True)
    rates = [r["rows_per_second"] for r in runs]
    print(f"score() end to end, {runs[0]['rows']:,} rows, {len(runs)} runs: {summary(rates)} rows/s "
          f"(the first run writes, the others replace); "
          f"peak RSS {max(r['peak_rss_mb'] for r in runs):,.0f} MB")
    for phase in runs[-1]["phases"]:
        print(f"  {phase}: median {statistics.median(r['phases'][phase] for r in runs):.3f} s")
    if args.no_bare:
        return
    bare = child(BARE_PREDICT % (args.runs, MODEL, MODEL, SERVING, runs[-1]["scoring_run"]), env)
    bare["rows_per_second"] = [round(bare["rows"] / s) for s in bare["seconds"]]
    print(json.dumps({"bare_predict_proba": bare}), flush=True)
    print(f"bare predict_proba: {summary(bare['rows_per_second'])} rows/s; "
          f"scores equal to it: {bare['matched'] - bare['differing']:,} of {bare['compared']:,}")


if __name__ == "__main__":
    main()
