"""The feature store, side by side with Feast 0.67 where it has a peer (bench/peers/feast):

- pit          point-in-time join: 100k spine rows x 10M feature rows (bench/pit_data.py), ttl 30 days;
               targets: >= 5x faster than Feast's DuckDB offline store, < 1/3 of its peak memory,
               the same rows. Keel: keel.features.get_historical_features itself, once per fresh
               process, after one call has rendered the join (kept under target/, as every
               call after a project's first finds it); and once with nothing rendered (cold).
- online       one-entity lookups from the online store, in-process: p50/p99 of 10,000 calls.
- incremental  `dbt build` over 10M events, then over one more day (1% more events): what the
               features/* and training/* models cost each time. --history-days 60 (or any) keeps
               the events per day over a longer history: a new day should cost the same.

Run: .venv/bin/python bench/bench_features.py [pit] [online] [incremental] [--runs 3] [--no-feast]
(all three when none is named). The Feast side needs `bash bench/peers/feast/setup.sh` first; without
it only Keel's side runs. Writes under bench/.data: pit_keel/, features_warehouse/, and
features/{pit,online,incremental}.json with every figure.

The controlling process imports nothing heavy (no duckdb, pandas or dbt) until the point-in-time runs
are over: on Linux a child's ru_maxrss starts at its parent's peak RSS (see feast_pit.py), so the
measured children are spawned from a lean parent.
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
BENCH_DATA = HERE / ".data"                  # = common.BENCH_DATA (common imports keel: not here)
PIT_DATA = BENCH_DATA / "pit"                # = pit_data.DEFAULT_OUT
PIT_KEEL = BENCH_DATA / "pit_keel"
TABLE_DB = PIT_KEEL / "keel.duckdb"          # features.fv_bench: a table
PARQUET_DB = PIT_KEEL / "keel_parquet.duckdb"  # features.fv_bench: a view over features.parquet
DAILY_DB = PIT_KEEL / "keel_daily.duckdb"    # features.fv_bench: a table, times cut to the day
PIT_SQL = PIT_KEEL / "point_in_time.sql"
LATEST_SQL = PIT_KEEL / "latest_values.sql"
ONLINE_STORE = PIT_KEEL / "online.sqlite"
KEEL_RESULT = PIT_KEEL / "keel_pit_result.parquet"
FEAST_RESULT = PIT_DATA / "feast_pit_result.parquet"  # feast_pit.py's default --out
RESULTS = BENCH_DATA / "features"
FEAST_PYTHON = HERE / ".venv-feast" / "bin" / "python"
FEAST_DIR = HERE / "peers" / "feast"

FEATURES = ("f0", "f1", "f2", "f3", "f4")
ENTITIES = 100_000  # = pit_data.ENTITIES
# the bench's table as an ad-hoc view (keel.features.ad_hoc_view): not a model of the project
BENCH_VIEW = {"relation": "features.fv_bench", "entity": "entity_id", "timestamp": "feature_ts",
              "ttl": "30 days", "features": list(FEATURES)}
LATEST_JINJA = f"{{{{ latest_feature_values({BENCH_VIEW!r}) }}}}"

# (name, warehouse, DuckDB statements run after Keel's own settings). "table/default" is what Keel
# does (keel.features.run_join caps DuckDB's memory); the others show what a setting
# would change.
PIT_CONFIGS = {
    "table/default": (TABLE_DB, []),
    # not `reset memory_limit`, which leaves DuckDB's buffer pool at the cap (see run_join)
    "table/no_memory_limit": (TABLE_DB, ["set memory_limit = '-1'"]),
    "table/memory_limit=100MB": (TABLE_DB, ["set memory_limit = '100MB'"]),
    "table/threads=1": (TABLE_DB, ["set threads = 1"]),
    "parquet/default": (PARQUET_DB, []),
    # the same rows stamped at midnight, as Keel's own daily views are: many entities share each
    # time (and ties arise, so the rows are not Feast's)
    "daily/default": (DAILY_DB, []),
}


def _max_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # Linux: KiB


def _hwm_mb() -> float:
    """This address space's own peak (VmHWM): unlike ru_maxrss, not inherited from the parent."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _load() -> str:
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def _json_run(cmd: list, env: dict | None = None) -> dict:
    """Run a command whose last stdout line is JSON (stderr passes through)."""
    proc = subprocess.run([str(c) for c in cmd], check=True, stdout=subprocess.PIPE, text=True,
                          env={**os.environ, **(env or {})})
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _save(name: str, result: dict) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=1) + "\n")
    print(f"figures written to {RESULTS / f'{name}.json'}")


def _stats(values: list[float]) -> str:
    return f"first {values[0]:.2f}, best {min(values):.2f}, all " + ", ".join(f"{v:.2f}" for v in values)


# -- point-in-time join: setup (subprocess: imports duckdb and dbt) ------------------------------

def pit_setup() -> dict:
    """Both warehouses with features.fv_bench, and the join's SQL rendered as get_historical_features
    renders it (and keeps it under target/: later calls, in any process, read it). Also the peak
    RSS of a process that has rendered it."""
    import shutil

    import pyarrow.parquet as pq

    from keel.features import get_historical_features, point_in_time_sql, resolve
    from keel.project import compile_sql
    from keel.warehouse import WAREHOUSE_ENV, connect

    rss_imports = _max_rss_mb()
    shutil.rmtree(PIT_KEEL, ignore_errors=True)
    PIT_KEEL.mkdir(parents=True)
    # dbt's target/ and logs/ of its own, so as not to disturb the project's (or a test run's)
    os.environ["DBT_TARGET_PATH"] = str(PIT_KEEL / "target")
    os.environ["DBT_LOG_PATH"] = str(PIT_KEEL / "logs")
    os.environ[WAREHOUSE_ENV] = str(TABLE_DB)

    features = str(PIT_DATA / "features.parquet").replace("'", "''")
    # naive UTC, how Keel stores times; from the epoch, not `cast(... as timestamp)`, which goes
    # through ICU (1.25 s per 10M rows, on every read of the Parquet view)
    columns = "entity_id, make_timestamp(epoch_us(feature_ts)) as feature_ts, " + ", ".join(FEATURES)
    t0 = time.perf_counter()
    with connect() as con:
        con.execute("create schema if not exists features")
        con.execute(f"create table features.fv_bench as select {columns} from read_parquet('{features}')")
        rows = con.execute("select count(*) from features.fv_bench").fetchone()[0]
        con.execute("checkpoint")
    os.environ[WAREHOUSE_ENV] = str(PARQUET_DB)
    with connect() as con:
        con.execute("create schema features")
        con.execute(f"create view features.fv_bench as select {columns} from read_parquet('{features}')")
    os.environ[WAREHOUSE_ENV] = str(DAILY_DB)
    with connect() as con:
        con.execute("create schema features")
        con.execute(f"attach '{TABLE_DB}' as bench (read_only)")
        con.execute("create table features.fv_bench as select * replace "
                    "(date_trunc('day', feature_ts)::timestamp as feature_ts) from bench.features.fv_bench")
        con.execute("checkpoint")
    load_seconds = time.perf_counter() - t0

    # a first call on a few spine rows renders the join (unless an earlier run left the render);
    # the warehouse file is part of a render's key (relation names carry it): one per warehouse
    spine = pq.read_table(PIT_DATA / "spine.parquet").to_pandas().head(1_000)
    for db in (DAILY_DB, PARQUET_DB, TABLE_DB):
        os.environ[WAREHOUSE_ENV] = str(db)
        t0 = time.perf_counter()
        get_historical_features(spine, [BENCH_VIEW], timestamp="event_timestamp")
        first_call = round(time.perf_counter() - t0, 2)
    PIT_SQL.write_text(point_in_time_sql(resolve([BENCH_VIEW]), "event_timestamp") + "\n")
    LATEST_SQL.write_text(compile_sql(LATEST_JINJA) + "\n")
    return {"feature_rows": rows, "load_seconds": round(load_seconds, 1), "first_call_seconds": first_call,
            "rss_after_imports_mb": rss_imports,
            "table_db_mb": round(TABLE_DB.stat().st_size / 1e6), "sql": str(PIT_SQL)}


# -- point-in-time join: one measured run (a fresh subprocess) ----------------------------------

def pit_one(config: str, out: str | None, cold: bool = False) -> dict:
    """One call in a fresh process. table/default: keel.features.get_historical_features itself,
    which reads the render pit_setup left (so dbt is never imported). The other configurations:
    the same steps with their DuckDB statements after Keel's own settings. `cold`: nothing
    rendered yet (a render directory of its own), as a process's first call ever."""
    import pyarrow.parquet as pq

    import keel.features
    from keel.features import get_historical_features, historical_frame, resolve

    if cold:
        import tempfile
        keel.features.rendered_cache_dir = lambda: Path(tempfile.mkdtemp(prefix="keel_cold_"))
    _, statements = PIT_CONFIGS[config]
    spine = pq.read_table(PIT_DATA / "spine.parquet").to_pandas()  # before the timer, as Feast's
    rss_before = _max_rss_mb()
    cpu0, t0 = _cpu_seconds(), time.perf_counter()
    if not statements:
        result = get_historical_features(spine, [BENCH_VIEW], timestamp="event_timestamp")
    else:
        result = historical_frame(spine, resolve([BENCH_VIEW]), "event_timestamp", tuple(statements))
    seconds, cpu = time.perf_counter() - t0, _cpu_seconds() - cpu0
    peak, hwm = _max_rss_mb(), _hwm_mb()
    imported_dbt = "dbt.cli" in sys.modules
    assert cold or not imported_dbt, "the measured call imported dbt: no render kept (run --pit-setup)"
    import pandas as pd
    times = pd.to_datetime(spine["event_timestamp"], utc=True).dt.tz_localize(None).astype("datetime64[us]")
    same_order = bool((result["entity_id"].to_numpy() == spine["entity_id"].to_numpy()).all()
                      and (result["event_timestamp"].to_numpy() == times.to_numpy()).all())
    unmatched = int(result[list(FEATURES)].isna().all(axis=1).sum())
    if out:
        result[["entity_id", "event_timestamp", *FEATURES]].to_parquet(out, index=False)
    return {"seconds": round(seconds, 3), "cpu_seconds": round(cpu, 2), "peak_rss_mb": peak,
            "vm_hwm_mb": hwm, "rss_before_call_mb": rss_before, "rows": len(result),
            "spine_rows": len(spine), "in_spine_order": same_order, "unmatched_rows": unmatched,
            "imported_dbt": imported_dbt}


# -- point-in-time join: Keel's rows vs Feast's (subprocess: imports duckdb) ----------------------

def pit_compare() -> dict:
    import duckdb

    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    fs = ", ".join(FEATURES)
    keys = "entity_id, cast(event_timestamp as timestamp) as event_timestamp"  # naive UTC
    for name, path, columns in (
        ("keel", KEEL_RESULT, f"{keys}, {fs}"),
        ("feast", FEAST_RESULT, f"{keys}, {fs}"),
        ("spine", PIT_DATA / "spine.parquet", keys),
        ("feature_rows", PIT_DATA / "features.parquet",
         f"entity_id, cast(feature_ts as timestamp) as feature_ts, {fs}"),
    ):
        con.execute(f"create view {name} as select {columns} from read_parquet('{path}')")

    def one(q: str):
        return con.execute(q).fetchone()[0]

    same = " and ".join(f"((k.{f} is null and e.{f} is null) or abs(k.{f} - e.{f}) <= 1e-12)"
                        for f in FEATURES)
    exact = " and ".join(f"k.{f} is not distinct from e.{f}" for f in FEATURES)
    con.execute(f"""
        create table compared as
        select
            coalesce(k.entity_id, e.entity_id) as entity_id,
            coalesce(k.event_timestamp, e.event_timestamp) as event_timestamp,
            k.entity_id is not null as in_keel, e.entity_id is not null as in_feast,
            coalesce({same}, false) as same, coalesce({exact}, false) as exact,
            k.f0 as keel_f0, e.f0 as feast_f0
        from keel as k
        full outer join feast as e using (entity_id, event_timestamp)
    """)
    # ties: (entity_id, feature_ts) repeated in features.parquet; which spine rows' latest in-window
    # feature row is one of them (only those may differ between two correct joins)
    con.execute("""
        create table tied as
        select entity_id, feature_ts, count(*) as n from feature_rows group by all having count(*) > 1
    """)
    con.execute("""
        create table chosen as
        select s.entity_id, s.event_timestamp, max(f.feature_ts) as feature_ts
        from spine as s
        inner join feature_rows as f
            on f.entity_id = s.entity_id and f.feature_ts <= s.event_timestamp
            and f.feature_ts >= s.event_timestamp - interval 30 day
        group by all
    """)
    con.execute("""
        create table differing as
        select c.*, t.n is not null as tied, ch.feature_ts as chosen_ts
        from compared as c
        left join chosen as ch using (entity_id, event_timestamp)
        left join tied as t on t.entity_id = ch.entity_id and t.feature_ts = ch.feature_ts
        where not (c.same and c.in_keel and c.in_feast)
    """)
    examples = con.execute(
        "select * from differing where not tied order by entity_id, event_timestamp limit 5").fetchall()
    return {
        "spine_rows": one("select count(*) from spine"),
        "keel_rows": one("select count(*) from keel"),
        "keel_spine_rows_covered": one(
            "select count(*) from spine semi join keel using (entity_id, event_timestamp)"),
        "feast_rows": one("select count(*) from feast"),
        "feast_spine_rows_covered": one(
            "select count(*) from spine semi join feast using (entity_id, event_timestamp)"),
        "rows_in_both": one("select count(*) from compared where in_keel and in_feast"),
        "rows_equal": one("select count(*) from compared where in_keel and in_feast and same"),
        "rows_exactly_equal": one("select count(*) from compared where in_keel and in_feast and exact"),
        "rows_without_match_both": one("select count(*) from compared where in_keel and in_feast "
                                       "and keel_f0 is null and feast_f0 is null"),
        "tied_feature_keys": one("select count(*) from tied"),
        "spine_rows_whose_match_is_tied": one(
            "select count(*) from chosen semi join tied using (entity_id, feature_ts)"),
        "differing_rows": one("select count(*) from differing"),
        "differing_tied": one("select count(*) from differing where tied"),
        "real_mismatches": one("select count(*) from differing where not tied"),
        "mismatch_examples": [[str(v) for v in row] for row in examples],
    }


# -- point-in-time join: the controller ---------------------------------------------------------

def _print_run(label: str, run: dict) -> None:
    print(f"  {label}: {run['seconds']:.2f} s (cpu {run['cpu_seconds']:.2f} s), peak RSS "
          f"{run['peak_rss_mb']:.0f} MB (before the call {run['rss_before_call_mb']:.0f} MB), "
          f"{run['rows']:,} rows" + (f", in spine order: {run['in_spine_order']}"
                                     if "in_spine_order" in run else ""), flush=True)


def pit(runs: int, feast: bool, configs: list[str]) -> dict:
    data = _json_run([sys.executable, HERE / "pit_data.py", PIT_DATA])
    print(f"data: {data['feature_rows']:,} feature rows, {data['spine_rows']:,} spine rows, "
          f"{data['feature_ties']} tied feature rows ({PIT_DATA})", flush=True)
    setup = _json_run([sys.executable, __file__, "--pit-setup"])
    print(f"setup (not timed): features.fv_bench loaded in {setup['load_seconds']} s "
          f"({setup['table_db_mb']} MB); a get_historical_features call on 1,000 spine rows per "
          f"warehouse renders the join with dbt unless a render is kept (the last: "
          f"{setup['first_call_seconds']} s) "
          f"-> {setup['sql']}; a process importing keel.features: {setup['rss_after_imports_mb']:.0f} MB",
          flush=True)
    result = {"data": data, "setup": setup, "keel": {}, "load": {}}
    # once: the first call a process makes when nothing is rendered yet (dbt imported, parsed, compiled)
    cold = result["keel_cold"] = _json_run([sys.executable, __file__, "--pit-one", "table/default", "--cold"],
                                           env={"KEEL_WAREHOUSE": str(TABLE_DB)})
    _print_run("keel get_historical_features, nothing rendered yet (cold, once)", cold)

    # Rounds: one Feast run, then one run of each Keel configuration, each in a fresh process; the
    # load other work puts on the box then hits both sides alike.
    for round_ in range(runs):
        load = result["load"][f"round {round_ + 1}"] = _load()
        print(f"round {round_ + 1}/{runs} ({load})", flush=True)
        if feast:
            out = _json_run([FEAST_PYTHON, "-u", FEAST_DIR / "feast_pit.py", "--runs", 1,
                             "--data", PIT_DATA, "--out", FEAST_RESULT])
            run = {k: v[0] if isinstance(v, list) else v for k, v in out.items()}
            kept = ("feast_version", "rows", "unmatched_rows")
            sides = result.setdefault("feast", {k: run[k] for k in kept})
            for key in ("seconds", "cpu_seconds", "peak_rss_mb", "rss_before_call_mb"):
                sides.setdefault(key, []).append(run[key])
            _print_run(f"feast {run['feast_version']}", run)
        for name in configs:
            db, _ = PIT_CONFIGS[name]
            write = name == "table/default" and round_ == 0
            cmd = [sys.executable, __file__, "--pit-one", name] + (["--out", KEEL_RESULT] if write else [])
            run = _json_run(cmd, env={"KEEL_WAREHOUSE": str(db)})
            result["keel"].setdefault(name, []).append(run)
            _print_run(f"keel {name}", run)

    print("\npoint-in-time join, 100k spine rows x 10M feature rows, ttl 30 days:")
    if "feast" in result:
        f = result["feast"]
        f_best, f_cpu, f_peak = min(f["seconds"]), min(f["cpu_seconds"]), min(f["peak_rss_mb"])
        print(f"  feast: seconds {_stats(f['seconds'])}; cpu {_stats(f['cpu_seconds'])}; "
              f"peak MB {_stats(f['peak_rss_mb'])}")
    for name, rs in result["keel"].items():
        secs, cpus, peaks = ([r[k] for r in rs] for k in ("seconds", "cpu_seconds", "peak_rss_mb"))
        line = f"  keel {name}: seconds {_stats(secs)}; cpu {_stats(cpus)}; peak MB {_stats(peaks)}"
        if "feast" in result:
            # each round's Feast run over its Keel run: the machine's speed drifts between rounds
            # (seen here: the same run 30% slower ten minutes later), and hits both runs of a round
            ratios = sorted(fs / ks for fs, ks in zip(f["seconds"], secs))
            line += (f"; best vs best: {f_best / min(secs):.1f}x faster (cpu {f_cpu / min(cpus):.1f}x), "
                     f"{min(peaks) / f_peak:.2f} of feast's peak; per round: "
                     f"{', '.join(f'{r:.1f}x' for r in ratios)} (median {statistics.median(ratios):.1f}x)")
        print(line)

    if "feast" in result and KEEL_RESULT.exists():
        cmp = _json_run([sys.executable, __file__, "--pit-compare"])
        result["compare"] = cmp
        print(f"rows: keel {cmp['keel_rows']:,} (covering {cmp['keel_spine_rows_covered']:,} spine rows), "
              f"feast {cmp['feast_rows']:,}; equal (1e-12) {cmp['rows_equal']:,}, exactly equal "
              f"{cmp['rows_exactly_equal']:,} (both without a match: {cmp['rows_without_match_both']}); "
              f"differing {cmp['differing_rows']} (tied {cmp['differing_tied']}, "
              f"real {cmp['real_mismatches']}); "
              f"spine rows whose latest feature row is tied: {cmp['spine_rows_whose_match_is_tied']}")
        for row in cmp["mismatch_examples"]:
            print("  mismatch:", row)
    _save("pit", result)
    return result


# -- online lookups (in-process) ------------------------------------------------------------------

def online(calls: int, warmup: int, feast: bool, seed: int = 0) -> dict:
    if not (TABLE_DB.exists() and LATEST_SQL.exists()):
        _json_run([sys.executable, __file__, "--pit-setup"])
    import numpy as np

    from keel.features import FeatureView, get_online_features
    from keel.online_store import ONLINE_STORE_ENV, OnlineStore, _epoch_us, _write_store
    from keel.warehouse import WAREHOUSE_ENV, connect

    os.environ[WAREHOUSE_ENV] = str(TABLE_DB)
    view = FeatureView(name="fv_bench", entity="entity_id", timestamp="feature_ts", ttl="30 days",
                       owner="bench", features=FEATURES, descriptions={}, relation="features.fv_bench",
                       latest_relation="")
    # what `keel materialize` does: the latest-values SQL (the fv_*_latest models' macro, as of the
    # view's newest feature_ts), rows not expired at as_of, into a new SQLite store
    t0 = time.perf_counter()
    with connect() as con:
        as_of = con.execute("select max(feature_ts) from features.fv_bench").fetchone()[0]
        as_of_us = _epoch_us(as_of)
        latest = con.execute(f"select * exclude (expires_at), epoch_us(expires_at) as expires_at_us "
                             f"from ({LATEST_SQL.read_text()}) as latest where epoch_us(expires_at) > ?",
                             [as_of_us]).to_arrow_table()
    query_seconds = time.perf_counter() - t0
    _write_store(ONLINE_STORE, [view], {"fv_bench": latest}, as_of_us, _epoch_us(None))
    materialize_seconds = time.perf_counter() - t0
    print(f"online store: {latest.num_rows:,} entities as of {as_of} in {materialize_seconds:.1f} s "
          f"(latest-values query {query_seconds:.1f} s, "
          f"SQLite write {materialize_seconds - query_seconds:.1f} s)", flush=True)
    expected = {r["entity_id"]: r for r in latest.select(["entity_id", *FEATURES]).to_pylist()}

    store = OnlineStore(ONLINE_STORE)
    keys = [int(k) for k in np.random.default_rng(seed).integers(0, ENTITIES, warmup + calls)]  # as Feast's
    result = {"entities": latest.num_rows, "as_of": str(as_of),
              "materialize_seconds": round(materialize_seconds, 2),
              "latest_query_seconds": round(query_seconds, 2), "calls": calls, "warmup": warmup,
              "load": _load()}
    print(f"keel lookups ({result['load']})", flush=True)
    os.environ[ONLINE_STORE_ENV] = str(ONLINE_STORE)
    # the store's reader (dicts; what serving calls), its DataFrame, and the documented Python API
    # (a DataFrame, through the process's default reader of KEEL_ONLINE_STORE)
    calls_by_kind = {"lookup": store.lookup, "frame": store.frame, "get_online_features": get_online_features}
    for kind, call in calls_by_kind.items():
        for k in keys[:warmup]:
            call([k], ["fv_bench"])
        ns = np.empty(calls, dtype=np.int64)
        missing = wrong = 0
        for i, k in enumerate(keys[warmup:]):
            t = time.perf_counter_ns()
            got = call([k], ["fv_bench"])
            ns[i] = time.perf_counter_ns() - t
            row = got[0] if kind == "lookup" else got.iloc[0].to_dict()
            missing += row["f0"] is None or row["f0"] != row["f0"]
            want = expected.get(k)
            wrong += want is not None and any(row[f] != want[f] for f in FEATURES)
        ms = ns / 1e6
        result[kind] = {"p50_ms": round(float(np.percentile(ms, 50)), 4),
                        "p99_ms": round(float(np.percentile(ms, 99)), 4),
                        "mean_ms": round(float(ms.mean()), 4),
                        "p999_ms": round(float(np.percentile(ms, 99.9)), 4),
                        "max_ms": round(float(ms.max()), 3), "missing": int(missing), "wrong": int(wrong)}
        print(f"  keel {kind}: {result[kind]}", flush=True)
    if feast:
        result["feast_load"] = _load()
        print(f"feast ({result['feast_load']})", flush=True)
        result["feast"] = _json_run([FEAST_PYTHON, "-u", FEAST_DIR / "feast_online.py", "--data", PIT_DATA,
                                     "--calls", calls, "--warmup", warmup, "--seed", seed])
        print(f"  feast get_online_features().to_dict(): {result['feast']}")
        for kind in calls_by_kind:
            feast_ms, keel_ms = result["feast"], result[kind]
            print(f"  feast / keel {kind}: p50 {feast_ms['p50_ms'] / keel_ms['p50_ms']:.1f}x, "
                  f"p99 {feast_ms['p99_ms'] / keel_ms['p99_ms']:.1f}x")
    _save("online", result)
    return result


# -- incremental features (in-process dbt) --------------------------------------------------------

COUNTED = ("features.user_activity_daily", "features.fv_user_activity", "features.fv_product_popularity",
           "training.train_purchase_propensity")


def timed_build(label: str, target: Path) -> dict:
    """`dbt build` on one thread: wall seconds, execution seconds per layer and per model, and row
    counts."""
    from keel.project import run_dbt
    from keel.warehouse import connect

    load = _load()
    t0 = time.perf_counter()
    # one dbt thread: each model's seconds are its own, not shared with a model running beside it
    assert run_dbt(["build", "--threads", "1"], quiet=True), f"dbt build failed ({label})"
    wall = time.perf_counter() - t0
    nodes = json.loads((target / "manifest.json").read_text())["nodes"]
    models, layers = {}, {}
    for r in json.loads((target / "run_results.json").read_text())["results"]:
        node = nodes.get(r["unique_id"], {})
        kind = node.get("resource_type", r["unique_id"].split(".")[0])
        layer = node["fqn"][1] if kind == "model" else kind  # staging, features, training, ...
        layers[layer] = layers.get(layer, 0.0) + r["execution_time"]
        if kind == "model":
            models[node["name"]] = round(r["execution_time"], 2)
    with connect() as con:
        def one(q: str) -> int:
            return con.execute(q).fetchone()[0]

        rows = {t: one(f"select count(*) from {t}") for t in COUNTED}
        rows["fv_user_activity rows at the newest watermark"] = one(
            "select count(*) from features.fv_user_activity where loaded_through_batch = "
            "(select max(loaded_through_batch) from features.fv_user_activity)")
        rows["fv_user_activity days"] = one(
            "select count(distinct feature_ts) from features.fv_user_activity")
    out = {"label": label, "load": load, "wall_seconds": round(wall, 1),
           "layer_seconds": {k: round(v, 1) for k, v in layers.items()}, "models": models, "rows": rows}
    print(f"  {label} ({load}): dbt build {wall:.1f} s; by layer "
          + ", ".join(f"{k} {v:.1f} s" for k, v in out["layer_seconds"].items()), flush=True)
    print("    " + ", ".join(f"{k} {v:.2f}" for k, v in models.items() if not k.startswith(("stg_", "mon_"))),
          flush=True)
    print(f"    rows: {rows}", flush=True)
    return out


def incremental(rounds: int, history_days: int = 30) -> dict:
    """Full build, then one new day; `history_days` other than 30 keeps TEN_MILLION's events per
    day over that many days, so that runs with different histories show what a day's cost follows."""
    sys.path.insert(0, str(HERE))
    from dataclasses import replace
    from datetime import timedelta

    from common import ONE_PERCENT_MORE, TEN_MILLION, fresh_warehouse, logs
    from keel.ingest import ingest

    if history_days == TEN_MILLION.days:
        history, new_day, name = TEN_MILLION, ONE_PERCENT_MORE, "incremental"
        data, _ = logs("ten_million", history)
        more, _ = logs("one_percent_more", new_day)
    else:
        events = TEN_MILLION.events * history_days // TEN_MILLION.days
        history = replace(TEN_MILLION, days=history_days, events=events)
        new_day = replace(ONE_PERCENT_MORE, start=history.start + timedelta(days=history_days))
        name = f"incremental_{history_days}d"
        data, _ = logs(f"history_{history_days}d", history)
        more, _ = logs(f"history_{history_days}d_next_day", new_day)
    millions = history.events / 1e6
    all_rounds = []
    for round_ in range(rounds):
        path = fresh_warehouse("features_warehouse")
        target = path.parent / "target"
        os.environ["DBT_TARGET_PATH"] = str(target)  # not the project's target/: a test run may use it
        os.environ["DBT_LOG_PATH"] = str(path.parent / "logs")
        print(f"incremental round {round_ + 1}/{rounds}: warehouse {path}", flush=True)
        t0 = time.perf_counter()
        ingest([data])
        print(f"  ingest {millions:g}M events: {time.perf_counter() - t0:.1f} s", flush=True)
        full = timed_build(f"full build over {millions:g}M events ({history_days} days)", target)
        t0 = time.perf_counter()
        ingest([more])
        print(f"  ingest 100k more events (1 later day): {time.perf_counter() - t0:.1f} s", flush=True)
        inc = timed_build("incremental build over 1% more events", target)
        ratios = {m: round(inc["models"][m] / full["models"][m], 3) for m in full["models"]
                  if m in inc["models"] and full["models"][m] > 0}
        print("  incremental / full, per model: "
              + ", ".join(f"{m} {r:.2f}" for m, r in ratios.items() if not m.startswith(("stg_", "mon_"))))
        all_rounds.append({"full": full, "incremental": inc, "ratios": ratios})
    result = {"history_days": history_days, "events": history.events, "rounds": all_rounds}
    _save(name, result)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("parts", nargs="*", metavar="PART", help="pit, online, incremental (default: all)")
    parser.add_argument("--runs", type=int, default=3, help="point-in-time runs, each side and setting")
    parser.add_argument("--no-feast", action="store_true", help="Keel's side only")
    parser.add_argument("--configs", default=",".join(PIT_CONFIGS),
                        help="point-in-time configurations, comma-separated (default: all)")
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--warmup", type=int, default=2_000)
    parser.add_argument("--rounds", type=int, default=1, help="incremental: full + incremental builds")
    parser.add_argument("--history-days", type=int, default=30,
                        help="incremental: days of history before the new day, at 10M events per 30 days")
    # internal: the subprocesses of the point-in-time benchmark
    parser.add_argument("--pit-setup", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--pit-one", metavar="CONFIG", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--cold", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--pit-compare", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.pit_setup:
        print(json.dumps(pit_setup()))
        return
    if args.pit_one:
        print(json.dumps(pit_one(args.pit_one, args.out, cold=args.cold)))
        return
    if args.pit_compare:
        print(json.dumps(pit_compare()))
        return

    parts = args.parts or ["pit", "online", "incremental"]
    unknown = sorted(set(parts) - {"pit", "online", "incremental"})
    if unknown:
        parser.error(f"unknown part(s) {', '.join(unknown)}: choose from pit, online, incremental")
    feast = not args.no_feast
    if feast and not FEAST_PYTHON.exists():
        print(f"no {FEAST_PYTHON}, so Keel's side only (bench/peers/feast/setup.sh builds it)", flush=True)
        feast = False
    configs = [c for c in args.configs.split(",") if c]
    bad = [c for c in configs if c not in PIT_CONFIGS]
    if bad:
        parser.error(f"unknown configuration(s) {', '.join(bad)}: {', '.join(PIT_CONFIGS)}")
    if "pit" in parts:  # first: the controller must still be lean when it spawns the measured runs
        pit(args.runs, feast, configs)
    if "online" in parts:
        online(args.calls, args.warmup, feast)
    if "incremental" in parts:
        incremental(args.rounds, args.history_days)


if __name__ == "__main__":
    main()
