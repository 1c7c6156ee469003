"""Feast's online lookups (SQLite online store), timed. Runs in bench/.venv-feast:

    bench/.venv-feast/bin/python -u bench/peers/feast/feast_online.py [--days 30] [--calls 10000]

Generates the data if missing (bench/pit_data.py), builds a throwaway Feast repo in a temp dir
(feast_repo.py), and materializes the feature view into SQLite with
`store.materialize(start, end)`, end = the last feature_ts in features.parquet and start = end -
--days (default 30 = the view's ttl; 0 = from the first feature_ts, all 10M rows). Feast keeps the
latest row per entity in the window, so the online store holds one row per entity either way.
(materialize_incremental is not used: with no earlier run it starts at *now* - ttl, which is after
this data's 90 days.)

Then, in this process: --warmup (2,000) untimed and --calls (10,000) timed calls of
`store.get_online_features(features=[pit:f0..f4], entity_rows=[{"entity_id": k}]).to_dict()`, each
for one entity drawn uniformly at random (seeded), timed one by one with time.perf_counter_ns.

Prints one JSON line: p50_ms, p99_ms, calls, plus mean_ms, p999_ms, max_ms, missing (timed calls
whose features came back null), materialize_seconds, the window and feast_version.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import feast_repo
import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq

import pit_data


def _ts_range(features: Path):
    column = pq.read_table(features, columns=["feature_ts"]).column(0)
    lo, hi = pc.min_max(column).values()
    return lo.as_py(), hi.as_py()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=2_000)
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--data", type=Path, default=pit_data.DEFAULT_OUT)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import feast

    data = pit_data.make(args.data, args.seed)
    first, end = _ts_range(Path(data["features_path"]))
    start = first if args.days == 0 else end - timedelta(days=args.days)

    with tempfile.TemporaryDirectory(prefix="feast-online-") as tmp:
        store = feast_repo.apply(Path(tmp), Path(data["features_path"]))
        t0 = time.perf_counter()
        store.materialize(start_date=start, end_date=end, feature_views=[feast_repo.FEATURE_VIEW])
        materialize_seconds = time.perf_counter() - t0

        refs = feast_repo.FEATURE_REFS
        keys = np.random.default_rng(args.seed).integers(0, pit_data.ENTITIES, args.warmup + args.calls)
        for k in keys[:args.warmup]:
            store.get_online_features(features=refs, entity_rows=[{"entity_id": int(k)}]).to_dict()
        ns = np.empty(args.calls, dtype=np.int64)
        missing = 0
        for i, k in enumerate(keys[args.warmup:]):
            t = time.perf_counter_ns()
            row = store.get_online_features(features=refs, entity_rows=[{"entity_id": int(k)}]).to_dict()
            ns[i] = time.perf_counter_ns() - t
            missing += row["f0"][0] is None

    ms = ns / 1e6
    print(json.dumps({
        "p50_ms": round(float(np.percentile(ms, 50)), 4),
        "p99_ms": round(float(np.percentile(ms, 99)), 4),
        "calls": args.calls,
        "mean_ms": round(float(ms.mean()), 4),
        "p999_ms": round(float(np.percentile(ms, 99.9)), 4),
        "max_ms": round(float(ms.max()), 3),
        "missing": missing,
        "warmup": args.warmup,
        "materialize_seconds": round(materialize_seconds, 2),
        "window": [start.isoformat(), end.isoformat()],
        "feast_version": feast.__version__,
    }))


if __name__ == "__main__":
    main()
