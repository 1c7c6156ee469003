"""Registering a model version (target: <= 50 ms beyond the fit) and `keel train`'s fixed overhead
(imports and manifest load; target: < 2 s), with MLflow 3.17 (SQLite backend) as the peer.

Run: .venv/bin/python bench/bench_registry.py [--runs 10] [--cli-runs 5] [--growth 200] [--no-peer]
     [--no-build] [--out FILE]

Builds a fresh warehouse under bench/.data/registry/ from the demo data as it was measured
(300k events, 5,000 users, 60 days; logs cached in bench/.data/demo_logs), as `keel run` does:
simulate, ingest, dbt build (in a child process, against a copy of the dbt project: see
build_warehouse). Then:

1. `keel.train.train("purchase_propensity")` --runs times in this process (after a warm-up): the
   distribution of its per-step `.seconds` (spec, read, fit, evaluate, register) and of what it
   does after the register step. Then --runs more with the warehouse connection, save_artifact and
   write_serving_catalog wrapped, timing every statement of the registration transaction, the
   artifact write and the connection's close. Then on their own: save_artifact's pieces (joblib.dump,
   fsync, rename, sha256); the transaction replayed with three ways of inserting the multi-row
   tables; its commit and close as the registry grows to --growth versions; and the per-run work
   train() counts in `fit` that is not the fit (git, data hash, library versions).
2. `keel train purchase_propensity` as a subprocess, end to end, --cli-runs times; the same command
   in a child that also reports train()'s steps and wall-clock marks (fixed overhead = wall - read -
   fit - evaluate - register, split into start-up, imports, spec, teardown); a fresh `python -c`
   that imports keel.train and loads the spec (imports + manifest load); interpreter teardown after
   those imports with and without gc.freeze(); and `python -X importtime` per main module.
3. The MLflow peer (bench/peers/mlflow/mlflow_register.py in bench/.venv-mlflow, built by its
   setup.sh if needed) on a synthetic frame of the training set's shape, and the fresh-process cost
   of the imports a training script that uses MLflow needs.

Prints a line per measurement (with the load averages before each part) and, at the end, one JSON
line with every run of everything (also written to --out).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from common import BENCH_DATA, fresh_warehouse, logs  # noqa: E402
from keel.simulate import SimulationConfig  # noqa: E402

MODEL = "purchase_propensity"
ROOT = HERE.parent
BIN = Path(sys.executable).parent
MLFLOW_DIR = HERE / "peers" / "mlflow"
MLFLOW_PYTHON = HERE / ".venv-mlflow" / "bin" / "python"
STEPS = ("spec", "read", "fit", "evaluate", "register")
PROJECT = BENCH_DATA / "registry" / "project"  # a snapshot of the dbt project; see build_warehouse


def ms(seconds: float) -> float:
    return round(seconds * 1e3, 2)


def summary(values: list[float]) -> str:
    """'median (min-max)' of a list of ms."""
    return f"{statistics.median(values):.1f} ms ({min(values):.1f}-{max(values):.1f})"


def load() -> str:
    """The load averages (1, 5, 15 min), as `uptime` shows them."""
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


# -- setup --------------------------------------------------------------------------------------

def build_warehouse() -> None:
    """Simulate (cached), ingest and dbt build into a fresh bench/.data/registry/keel.duckdb.

    Runs in a child process (--build-only): dbt-duckdb keeps the warehouse file open in the process
    that ran dbt, and DuckDB lets one process hold it, so `keel train` subprocesses could not open it.
    The dbt project is a copy (PROJECT below, KEEL_PROJECT_DIR): the checkout's target/manifest.json
    is rewritten by every dbt run in it, and a train() reading it mid-write fails.
    """
    import shutil

    from keel.ingest import ingest
    from keel.project import run_dbt

    data, _ = logs("demo_logs", SimulationConfig(events=300_000, users=5_000, days=60))
    fresh_warehouse("registry")
    for part in ("dbt_project.yml", "profiles.yml", "models", "macros", "seeds", "analyses", "tests/dbt"):
        if (ROOT / part).is_dir():
            shutil.copytree(ROOT / part, PROJECT / part)
        else:
            PROJECT.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / part, PROJECT / part)
    ingest([data])
    assert run_dbt(["build"], quiet=True), "dbt build failed"


# -- 1. registration in process -----------------------------------------------------------------

class TimedConnection:
    """A DuckDB connection that records the wall time of every execute/register/unregister."""

    def __init__(self, con, log: list):
        self._con, self._log = con, log

    def _timed(self, what: str, fn, *args):
        t = time.perf_counter()
        try:
            return fn(*args)
        finally:
            end = time.perf_counter()
            self._log.append((what, end - t, end))  # (statement, seconds, when it ended)

    def execute(self, sql, *args):
        self._timed(" ".join(sql.split())[:60], self._con.execute, sql, *args)
        return self

    def register(self, *args):
        return self._timed(f"register {args[0]}", self._con.register, *args)

    def unregister(self, *args):
        return self._timed(f"unregister {args[0]}", self._con.unregister, *args)

    def __getattr__(self, name):
        return getattr(self._con, name)


def registration_breakdown(runs: int) -> dict:
    """train() with its connection, save_artifact (and write_serving_catalog, where train() calls
    it) wrapped: where `register` goes, and what train() does after the register lap."""
    import keel.train as kt
    from keel.warehouse import connect as real_connect

    log: list = []
    marks: dict = {}
    real = {"connect": real_connect, "save_artifact": kt.save_artifact,
            "write_serving_catalog": getattr(kt, "write_serving_catalog", None)}

    @contextlib.contextmanager
    def connect():
        with real_connect() as con:
            try:
                yield TimedConnection(con, log)
            finally:
                marks["closing"] = time.perf_counter()
        marks["close"] = time.perf_counter() - marks["closing"]

    def wrap(name: str):
        def timed(*args, **kwargs):
            t = time.perf_counter()
            try:
                return real[name](*args, **kwargs)
            finally:
                marks[name] = time.perf_counter() - t
        return timed

    kt.connect, kt.save_artifact = connect, wrap("save_artifact")
    if real["write_serving_catalog"] is not None:
        kt.write_serving_catalog = wrap("write_serving_catalog")
    out = []
    try:
        for _ in range(runs):
            log.clear()
            marks.clear()
            result = kt.train(MODEL)
            whats = [what for what, _, _ in log]
            tx = log[whats.index("begin transaction"):whats.index("commit") + 1]
            tx_sql = sum(s for _, s, _ in tx)
            # the transaction: from just before `begin` to just after `commit`
            tx_wall = tx[-1][2] - (tx[0][2] - tx[0][1])
            row = {"register": ms(result.seconds["register"]), "artifact": ms(marks["save_artifact"]),
                   "transaction": ms(tx_wall), "statements": ms(tx_sql),
                   "python_in_transaction": ms(tx_wall - tx_sql)}
            for what, s, _ in tx:
                key = what.split(" (")[0].split(" values")[0].split(" select")[0].split(" from")[0]
                row[key] = round(row.get(key, 0) + ms(s), 2)
            # after the register lap (not in `register`): the serving catalog, closing the connection
            if "write_serving_catalog" in marks:
                row["after: write_serving_catalog"] = ms(marks["write_serving_catalog"])
            row["after: close (checkpoint)"] = ms(marks["close"])
            out.append(row)
    finally:
        kt.connect, kt.save_artifact = real_connect, real["save_artifact"]
        if real["write_serving_catalog"] is not None:
            kt.write_serving_catalog = real["write_serving_catalog"]
    return {k: [r[k] for r in out] for k in out[0]}


def artifact_pieces(runs: int) -> dict:
    """save_artifact's parts on the last registered pipeline: dump, fsync, rename, sha256."""
    import joblib

    from keel.registry import artifact_dir, load_artifact, save_artifact, sha256_file
    from keel.warehouse import connect

    with connect() as con:
        path, sha = con.execute("select artifact_path, artifact_sha256 from registry.model_versions "
                                "where model = ? order by version desc limit 1", [MODEL]).fetchone()
    pipeline = load_artifact(path, sha)
    scratch = artifact_dir() / "bench"
    scratch.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(runs):
        tmp, final = scratch / f"{i}.tmp", scratch / f"{i}.joblib"
        t0 = time.perf_counter()
        joblib.dump(pipeline, tmp)
        t1 = time.perf_counter()
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        t2 = time.perf_counter()
        os.replace(tmp, final)
        t3 = time.perf_counter()
        sha256_file(final)
        t4 = time.perf_counter()
        save_artifact(pipeline, "bench_whole", f"{i}")
        t5 = time.perf_counter()
        rows.append({"dump": ms(t1 - t0), "fsync": ms(t2 - t1), "rename": ms(t3 - t2),
                     "sha256": ms(t4 - t3), "save_artifact": ms(t5 - t4)})
    size = Path(path).stat().st_size
    return {"artifact_bytes": size, **{k: [r[k] for r in rows] for k in rows[0]}}


SCRATCH = "bench_scratch"
TABLES = ("metrics", "calibration")  # the multi-row tables; the reference is written as train() does


def _scratch_registry(con) -> dict:
    """Empty copies of the registry tables (same DDL, so the same keys) in schema bench_scratch,
    and the rows the last registered version wrote, to write again."""
    from keel.registry import REGISTRY_DDL

    con.execute(f"drop schema if exists {SCRATCH} cascade")
    for ddl in REGISTRY_DDL:
        con.execute(ddl.replace("schema if not exists registry", f"schema {SCRATCH}")
                    .replace("registry.", f"{SCRATCH}."))
    run_id, version = con.execute("select run_id, version from registry.model_versions where model = ? "
                                  "order by version desc limit 1", [MODEL]).fetchone()
    rows, columns = {}, {}
    for table, where, params in (("runs", "run_id = ?", [run_id]), ("model_versions", "run_id = ?", [run_id]),
                                 ("metrics", "run_id = ?", [run_id]), ("calibration", "run_id = ?", [run_id]),
                                 ("reference_distributions", "model = ? and version = ?", [MODEL, version])):
        rows[table] = [list(r) for r in con.execute(f"select * from registry.{table} where {where}", params)
                       .fetchall()]
        columns[table] = [d[0] for d in con.description]
    return {"rows": rows, "columns": columns}


def _transaction(con, scratch: dict, strategy: str, version: int) -> tuple[float, float]:
    """train()'s registration transaction on the scratch tables, for a new run id and version,
    with the multi-row inserts done by `strategy`; returns (seconds before commit, commit)."""
    import uuid

    import numpy as np
    import pandas as pd

    from keel.registry import write_reference
    from keel.train import _insert

    rows, columns, run_id = scratch["rows"], scratch["columns"], uuid.uuid4().hex
    fresh = {
        "runs": [[run_id, *r[1:]] for r in rows["runs"]],
        "model_versions": [[r[0], version, run_id, *r[3:]] for r in rows["model_versions"]],
        "metrics": [(run_id, *r[1:]) for r in rows["metrics"]],
        "calibration": [(run_id, *r[1:]) for r in rows["calibration"]],
    }
    ref = rows["reference_distributions"]
    reference = pd.DataFrame({  # as keel.evaluation.value_counts gives it: numpy arrays, NaN for null
        "role": [r[2] for r in ref], "column_name": [r[3] for r in ref],
        "value": [None if r[4] is None else np.array(r[4], dtype=float) for r in ref],
        "category": [None if r[5] is None else np.array(r[5], dtype=object) for r in ref],
        "rows": [np.array(r[6], dtype="int64") for r in ref],
    })
    t0 = time.perf_counter()
    con.execute("begin transaction")
    for table in ("runs", "model_versions"):
        marks = ", ".join("?" * len(columns[table]))
        con.execute(f"insert into {SCRATCH}.{table} values ({marks})", fresh[table][0])
    con.execute(f"select coalesce(max(version), 0) + 1 from {SCRATCH}.model_versions where model = ?",
                [MODEL]).fetchone()
    for table in TABLES:
        target, data, cols = f"{SCRATCH}.{table}", fresh[table], columns[table]
        if strategy == "pandas_register":  # a pandas DataFrame registered, then insert ... select
            frame = pd.DataFrame(data, columns=cols)
            con.register("bench_rows", frame)
            con.execute(f"insert into {target} select * from bench_rows")
            con.unregister("bench_rows")
        elif strategy == "keel":  # what train._insert does now
            _insert(con, target, data, cols)
        else:
            con.executemany(f"insert into {target} values ({', '.join('?' * len(cols))})", data)
    write_reference(con, MODEL, version, reference, table=f"{SCRATCH}.reference_distributions")
    t1 = time.perf_counter()
    con.execute("commit")
    return t1 - t0, time.perf_counter() - t1


def insert_strategies(runs: int) -> dict:
    """The registration transaction (a runs row, a version row, then metrics, calibration and the
    reference distributions: the last registered version's rows) replayed on
    scratch copies of the registry tables, with the multi-row inserts (metrics, calibration) done
    three ways: a pandas DataFrame registered with DuckDB, then insert ... select; as train._insert
    does now (one parameterized multi-row `insert ... values (?, ...), (?, ...)` per table); and
    executemany. The reference is written as train() writes it (registry.write_reference).
    Strategies alternate run by run so background load hits them alike."""
    from keel.warehouse import connect

    strategies = ("pandas_register", "keel", "executemany")
    out = {f"{name}_{part}": [] for name in strategies for part in ("inserts", "commit")}
    with connect() as con:
        scratch = _scratch_registry(con)
        try:
            version = 0
            for _ in range(runs):
                for name in strategies:
                    version += 1
                    inserts, commit = _transaction(con, scratch, name, version)
                    out[f"{name}_inserts"].append(ms(inserts))
                    out[f"{name}_commit"].append(ms(commit))
        finally:
            con.execute(f"drop schema {SCRATCH} cascade")
    out["rows"] = {t: len(scratch["rows"][t]) for t in TABLES}
    return out


def registry_growth(versions: int) -> dict:
    """The same transaction (as train() does it now) `versions` times into initially empty scratch
    tables, each in its own connection like train(): commit and close (DuckDB checkpoints the WAL
    on close, rewriting the tables' appended row groups) as the registry grows; medians per block
    of ten versions."""
    from keel.warehouse import connect

    with connect() as con:
        scratch = _scratch_registry(con)
    commit, close = [], []
    try:
        for version in range(1, versions + 1):
            with connect() as con:
                commit.append(_transaction(con, scratch, "keel", version)[1])
                t = time.perf_counter()
            close.append(time.perf_counter() - t)
    finally:
        with connect() as con:
            con.execute(f"drop schema {SCRATCH} cascade")
    blocks = {}
    for first in sorted({1, 41, 91, versions - 9} if versions >= 100 else {1, versions - 9}):
        block = slice(first - 1, first + 9)
        blocks[f"{first}-{first + 9}"] = {"commit": ms(statistics.median(commit[block])),
                                          "close": ms(statistics.median(close[block]))}
    return {"versions": versions, "blocks": blocks, "close": [ms(c) for c in close],
            "commit": [ms(c) for c in commit]}


def per_run_extras(runs: int) -> dict:
    """Work train() does per run that is counted in its `fit` step but is not the fit."""
    import keel.train as kt
    from keel.evaluation import value_counts
    from keel.spec import load_spec
    from keel.warehouse import connect

    spec = load_spec(MODEL)
    with connect() as con:
        frame = kt.read_training_frame(con, spec)
    rows = []
    for _ in range(runs):
        t0 = time.perf_counter()
        kt._git_commit()
        t1 = time.perf_counter()
        kt.data_hash(frame)
        t2 = time.perf_counter()
        kt._library_versions()
        t3 = time.perf_counter()
        value_counts(frame, spec.features)  # in `evaluate`: the frozen reference distributions
        t4 = time.perf_counter()
        rows.append({"git_commit": ms(t1 - t0), "data_hash": ms(t2 - t1), "library_versions": ms(t3 - t2),
                     "reference_value_counts": ms(t4 - t3)})
    shape = {"rows": len(frame), "features": len(spec.features),
             "null_share": round(float(frame[list(spec.features)].isna().mean().mean()), 4),
             "positive_rate": round(float(frame[spec.label].mean()), 4)}
    return {"frame": shape, **{k: [r[k] for r in rows] for k in rows[0]}}


def in_process(runs: int) -> dict:
    from keel.train import train

    train(MODEL)  # warm-up: first-call imports (sklearn metrics, joblib) and caches
    results, walls = [], []
    for _ in range(runs):
        t = time.perf_counter()
        results.append(train(MODEL))
        walls.append(time.perf_counter() - t)
    out = {step: [ms(r.seconds[step]) for r in results] for step in STEPS}
    # after the register lap: leaving `with connect()`, i.e. closing the connection, which makes
    # DuckDB checkpoint the WAL into the database file
    out["after_register"] = [ms(w - sum(r.seconds.values())) for w, r in zip(walls, results)]
    for step in (*STEPS, "after_register"):
        print(f"  train() {step:<9} {summary(out[step])}", flush=True)
    return out


# -- 2. fixed overhead of `keel train` ----------------------------------------------------------

# the `keel train` command in a child that also prints train()'s steps (seconds) as JSON
CLI_WITH_STEPS = """
import json, sys, time
start = time.time()
t0 = time.perf_counter()
import keel.cli, keel.train
imported = time.perf_counter() - t0
real, seen = keel.train.train, {}
def train(*a, **kw):
    t = time.perf_counter()
    result = real(*a, **kw)
    seen.update(result.seconds, train_wall=time.perf_counter() - t)
    return result
keel.train.train = train
t0 = time.perf_counter()
code = keel.cli.main(["train", sys.argv[1]])
seen["main"] = time.perf_counter() - t0
print(json.dumps({"start": start, "import": imported, **seen, "end": time.time()}), file=sys.stderr)
sys.exit(code)
"""
IMPORT_AND_SPEC = """
import json, time
t0 = time.perf_counter()
import keel.train
from keel.spec import load_spec
t1 = time.perf_counter()
load_spec("purchase_propensity")
t2 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "load_spec": t2 - t1}))
"""


# imports as `keel train` does them, then exit, with or without gc.freeze() first: interpreter
# teardown walks every object the imports created (scipy.stats, pandas, sklearn), and a frozen
# generation is left alone by the final collections
IMPORT_AND_EXIT = """
import json, sys, time
t0 = time.perf_counter()
import keel.cli, keel.train
imported = time.perf_counter() - t0
if sys.argv[1] == "freeze":
    import gc
    gc.freeze()
print(json.dumps({"import": imported, "end": time.time()}))
"""
# first imports of the modules that matter, by cumulative time (python -X importtime)
IMPORT_MODULES = ("keel.cli", "rich.console", "keel.simulate", "numpy", "pyarrow", "duckdb", "keel.train",
                  "pandas", "sklearn.impute", "sklearn.base", "scipy.stats", "scipy.sparse", "joblib",
                  "sklearn.model_selection", "keel.evaluation", "sklearn.metrics", "keel.spec")


def timed_child(cmd: list[str]) -> tuple[float, subprocess.CompletedProcess]:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[:3]} failed: {proc.stderr[-2000:]}")
    return wall, proc


def fixed_overhead(runs: int) -> dict:
    python = str(BIN / "python")
    bare = [ms(timed_child([python, "-c", "pass"])[0]) for _ in range(runs)]
    print(f"  python -c pass                  {summary(bare)}", flush=True)
    cli = [ms(timed_child([str(BIN / "keel"), "train", MODEL])[0]) for _ in range(runs)]
    print(f"  keel train (end to end)         {summary(cli)}", flush=True)
    steps = []
    for _ in range(runs):
        spawned = time.time()
        wall, proc = timed_child([python, "-c", CLI_WITH_STEPS, MODEL])
        exited = time.time()
        s = json.loads(proc.stderr.strip().splitlines()[-1])
        work = sum(s[k] for k in ("read", "fit", "evaluate", "register"))
        steps.append({
            "wall": ms(wall), "work": ms(work), "fixed": ms(wall - work),
            "startup": ms(s["start"] - spawned),  # interpreter start to the child's first line
            **{k: ms(s[k]) for k in ("import", *STEPS)},
            # train() beyond its laps: closing the connection (DuckDB checkpoints the WAL)
            "train_unlapped": ms(s["train_wall"] - sum(s[k] for k in STEPS)),
            "cli_other": ms(s["main"] - s["train_wall"]),  # argparse, printing the result
            "exit": ms(exited - s["end"]),  # interpreter teardown after the last line
        })
    steps = {k: [r[k] for r in steps] for k in steps[0]}
    print("  keel train, fixed = wall - read - fit - evaluate - register:", flush=True)
    for k in ("wall", "work", "fixed", "startup", "import", "spec", "train_unlapped", "cli_other", "exit"):
        print(f"    {k:<16} {summary(steps[k])}", flush=True)
    spec = []
    for _ in range(runs):
        wall, proc = timed_child([python, "-c", IMPORT_AND_SPEC])
        s = json.loads(proc.stdout.strip().splitlines()[-1])
        spec.append({"wall": ms(wall), "import": ms(s["import"]), "load_spec": ms(s["load_spec"])})
    spec = {k: [r[k] for r in spec] for k in spec[0]}
    print(f"  python -c 'import keel.train; load_spec(...)': {summary(spec['wall'])} "
          f"(import {summary(spec['import'])}, load_spec {summary(spec['load_spec'])})", flush=True)
    teardown = {"import_plain": [], "exit_plain": [], "import_freeze": [], "exit_freeze": []}
    for _ in range(runs):
        for how in ("plain", "freeze"):
            _, proc = timed_child([python, "-c", IMPORT_AND_EXIT, how])
            exited = time.time()
            s = json.loads(proc.stdout.strip().splitlines()[-1])
            teardown[f"import_{how}"].append(ms(s["import"]))
            teardown[f"exit_{how}"].append(ms(exited - s["end"]))
    print(f"  import keel.cli + keel.train, then exit: teardown {summary(teardown['exit_plain'])}; "
          f"with gc.freeze() before exit {summary(teardown['exit_freeze'])}", flush=True)
    imports = {m: [] for m in IMPORT_MODULES}
    for _ in range(min(runs, 3)):
        _, proc = timed_child([python, "-X", "importtime", "-c", "import keel.cli, keel.train"])
        seen = set()
        for line in proc.stderr.splitlines():
            parts = line.split("|")
            name = parts[-1].strip()
            if len(parts) == 3 and name in imports and name not in seen and parts[1].strip().isdigit():
                seen.add(name)
                imports[name].append(round(int(parts[1]) / 1e3, 1))
    imports = {m: v for m, v in imports.items() if v}
    print("  python -X importtime (cumulative ms where first imported, median): " + ", ".join(
        f"{m} {statistics.median(v):.0f}" for m, v in imports.items()), flush=True)
    return {"python_bare": bare, "keel_train_cli": cli, "keel_train_cli_steps": steps,
            "import_and_load_spec": spec, "teardown": teardown, "importtime": imports}


# -- 3. the MLflow peer -------------------------------------------------------------------------

MLFLOW_IMPORTS = """
import json, time
t0 = time.perf_counter()
import mlflow, mlflow.sklearn, pandas, sklearn.impute, sklearn.linear_model, sklearn.pipeline
print(json.dumps({"import": time.perf_counter() - t0, "end": time.time()}))
"""


def mlflow_peer(runs: int, rows: int, features: int, cli_runs: int) -> dict:
    """mlflow_register.py's JSON, plus the fresh-process cost of the imports a training script
    that registers with MLflow needs (mlflow, mlflow.sklearn, pandas, the sklearn modules)."""
    subprocess.run(["bash", str(MLFLOW_DIR / "setup.sh")], check=True)
    imports = {"wall": [], "import": [], "exit": []}
    for _ in range(cli_runs):
        wall, proc = timed_child([str(MLFLOW_PYTHON), "-c", MLFLOW_IMPORTS])
        exited = time.time()
        out = json.loads(proc.stdout.strip().splitlines()[-1])
        imports["wall"].append(ms(wall))
        imports["import"].append(ms(out["import"]))
        imports["exit"].append(ms(exited - out["end"]))
    print(f"  python -c 'import mlflow, mlflow.sklearn, ...': {summary(imports['wall'])} (import "
          f"{summary(imports['import'])}, exit {summary(imports['exit'])})", flush=True)
    cmd = [str(MLFLOW_PYTHON), "-u", str(MLFLOW_DIR / "mlflow_register.py"), "--runs", str(runs),
           "--default-runs", str(min(runs, 5)), "--rows", str(rows), "--features", str(features)]
    proc = subprocess.run(cmd, capture_output=True, text=True)  # stderr: MLflow's "Created version" lines
    if proc.returncode != 0:
        raise RuntimeError(f"mlflow_register.py failed: {proc.stderr[-3000:]}")
    return {**json.loads(proc.stdout.strip().splitlines()[-1]), "imports": imports}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10, help="in-process train() calls (default 10)")
    parser.add_argument("--cli-runs", type=int, default=5, help="subprocesses per kind (default 5)")
    parser.add_argument("--growth", type=int, default=200,
                        help="versions written into scratch tables to time the checkpoint (default 200)")
    parser.add_argument("--no-peer", action="store_true", help="skip MLflow")
    parser.add_argument("--no-build", action="store_true", help="reuse bench/.data/registry as built")
    parser.add_argument("--out", type=Path, default=BENCH_DATA / "registry_results.json")
    parser.add_argument("--build-only", action="store_true", help=argparse.SUPPRESS)  # internal
    args = parser.parse_args()
    if args.build_only:  # in a child of main(), which set KEEL_PROJECT_DIR
        build_warehouse()
        return

    from keel.project import PROJECT_ENV
    from keel.warehouse import WAREHOUSE_ENV

    result: dict = {"load_start": load()}
    os.environ[WAREHOUSE_ENV] = str(BENCH_DATA / "registry" / "keel.duckdb")
    os.environ[PROJECT_ENV] = str(PROJECT)
    if not args.no_build:
        t0 = time.perf_counter()
        subprocess.run([sys.executable, __file__, "--build-only"], check=True)
        print(f"warehouse {os.environ[WAREHOUSE_ENV]}: simulate (cached), ingest, dbt build: "
              f"{time.perf_counter() - t0:.0f} s", flush=True)

    print(f"1. registration, in process (load {load()})", flush=True)
    result["train"] = in_process(args.runs)
    result["breakdown"] = registration_breakdown(args.runs)
    for k, v in result["breakdown"].items():
        print(f"  register breakdown: {k:<45} {summary(v)}", flush=True)
    result["artifact_pieces"] = artifact_pieces(args.runs)
    result["insert_strategies"] = insert_strategies(args.runs)
    result["registry_growth"] = registry_growth(args.growth)
    for block, v in result["registry_growth"]["blocks"].items():
        print(f"  registry growth: versions {block:<9} commit {v['commit']} ms, close {v['close']} ms",
              flush=True)
    result["per_run_extras"] = per_run_extras(args.runs)
    for part in ("artifact_pieces", "insert_strategies", "per_run_extras"):
        for k, v in result[part].items():
            print(f"  {part}: {k:<20} {summary(v) if isinstance(v, list) else v}", flush=True)

    print(f"2. fixed overhead of `keel train` (load {load()})", flush=True)
    result["cli"] = fixed_overhead(args.cli_runs)

    if not args.no_peer:
        print(f"3. MLflow peer (load {load()})", flush=True)
        shape = result["per_run_extras"]["frame"]
        result["mlflow"] = mlflow_peer(args.runs, shape["rows"], shape["features"], args.cli_runs)
        for variant in ("lean", "combined", "default"):
            for k, v in result["mlflow"][variant].items():
                if isinstance(v, list):
                    print(f"  mlflow {variant}: {k:<22} {summary(v)}", flush=True)
    result["load_end"] = load()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
