"""Feast's point-in-time join over bench/pit_data.py's data, timed. Runs in bench/.venv-feast:

    bench/.venv-feast/bin/python -u bench/peers/feast/feast_pit.py [--runs 3] [--data DIR] [--out FILE]

Generates the data if missing (bench/pit_data.py), builds a throwaway Feast repo in a temp dir
(feast_repo.py: DuckDB offline store, ttl 30 days), applies it, then runs the timed call
`store.get_historical_features(entity_df=spine, features=[pit:f0..f4]).to_df()` once in each of
--runs fresh subprocesses. Each subprocess loads the spine into pandas and opens the store before
the timer, and reports its wall time and its peak RSS (getrusage(RUSAGE_SELF).ru_maxrss, whole
process: imports included) right after the call. The first run's result frame is written to --out
(entity_id, event_timestamp, f0..f4, sorted by entity_id, event_timestamp) after its measurement.

Prints one JSON line: seconds and peak_rss_mb per run, rows (of the first run's result),
feast_version, plus unmatched_rows (result rows whose features are null: no feature row within
ttl), spine_rows, and per run cpu_seconds (user + sys of all threads during the call: less
sensitive than wall time to other load on the machine) and rss_before_call_mb.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

# The orchestrating process imports neither feast nor numpy/pyarrow, and generates the data and
# applies the repo in subprocesses: on Linux a child's ru_maxrss starts at its parent's peak RSS
# (exec keeps the old address space's high-water mark), so a lean parent keeps the measured
# processes' figures their own.
HERE = Path(__file__).resolve().parent
BENCH = HERE.parents[1]
DEFAULT_DATA = BENCH / ".data" / "pit"  # = pit_data.DEFAULT_OUT
DEFAULT_OUT = DEFAULT_DATA / "feast_pit_result.parquet"


def _max_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # Linux: KiB


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)  # all threads of this process
    return usage.ru_utime + usage.ru_stime


def one_run(repo: Path, spine_path: Path, out: Path | None) -> dict:
    """Exactly one timed call in this process."""
    import feast_repo
    import pyarrow.parquet as pq
    from feast import FeatureStore

    import pit_data

    store = FeatureStore(repo_path=str(repo))
    store.get_feature_view(feast_repo.FEATURE_VIEW)  # registry loaded before the timer
    spine = pq.read_table(spine_path).to_pandas()
    spine_rows = len(spine)
    rss_before = _max_rss_mb()
    cpu0, t0 = _cpu_seconds(), time.perf_counter()
    df = store.get_historical_features(entity_df=spine, features=feast_repo.FEATURE_REFS).to_df()
    seconds, cpu = time.perf_counter() - t0, _cpu_seconds() - cpu0
    peak = _max_rss_mb()
    unmatched = int(df[list(pit_data.FEATURES)].isna().all(axis=1).sum())
    if out is not None:
        cols = ["entity_id", "event_timestamp", *pit_data.FEATURES]
        df = df[cols].sort_values(["entity_id", "event_timestamp"], kind="stable")
        out.parent.mkdir(parents=True, exist_ok=True)
        df.to_parquet(out, index=False)
    return {"seconds": round(seconds, 3), "cpu_seconds": round(cpu, 2), "peak_rss_mb": peak,
            "rss_before_call_mb": rss_before,
            "rows": len(df), "unmatched_rows": unmatched, "spine_rows": spine_rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--seed", type=int, default=0)
    # internal: one measured call in this process, against an applied repo
    parser.add_argument("--one", type=Path, metavar="REPO", help=argparse.SUPPRESS)
    parser.add_argument("--no-out", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--apply", nargs=2, type=Path, metavar=("REPO", "FEATURES"), help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.one is not None:
        out = None if args.no_out else args.out
        print(json.dumps(one_run(args.one, args.data / "spine.parquet", out)))
        return

    if args.apply is not None:
        import feast_repo

        feast_repo.apply(*args.apply)
        return

    gen = subprocess.run([sys.executable, str(BENCH / "pit_data.py"), str(args.data), "--seed",
                          str(args.seed)], check=True, stdout=subprocess.PIPE, text=True)
    data = json.loads(gen.stdout.strip().splitlines()[-1])
    runs = []
    with tempfile.TemporaryDirectory(prefix="feast-pit-") as tmp:
        repo = Path(tmp)
        subprocess.run([sys.executable, __file__, "--apply", str(repo), data["features_path"]], check=True)
        for i in range(args.runs):
            cmd = [sys.executable, __file__, "--one", str(repo), "--data", str(args.data),
                   "--out", str(args.out)] + (["--no-out"] if i else [])
            proc = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True)
            run = json.loads(proc.stdout.strip().splitlines()[-1])
            print(f"run {i + 1}/{args.runs}: {run}", file=sys.stderr, flush=True)
            runs.append(run)
    print(json.dumps({
        "seconds": [r["seconds"] for r in runs],
        "peak_rss_mb": [r["peak_rss_mb"] for r in runs],
        "rows": runs[0]["rows"],
        "feast_version": version("feast"),
        "unmatched_rows": runs[0]["unmatched_rows"],
        "spine_rows": runs[0]["spine_rows"],
        "cpu_seconds": [r["cpu_seconds"] for r in runs],
        "rss_before_call_mb": [r["rss_before_call_mb"] for r in runs],
        "out": str(args.out),
    }))


if __name__ == "__main__":
    main()
