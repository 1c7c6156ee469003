"""Simulate 10M events (target: under a minute) and ingest them into raw (target: >= 1M rows/s).

Run: .venv/bin/python bench/bench_ingest.py   (writes ~2.6 GB of logs under bench/.data)
"""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import BENCH_DATA, TEN_MILLION, fresh_warehouse, logs  # noqa: E402
from keel.ingest import ingest  # noqa: E402
from keel.simulate import simulate  # noqa: E402
from keel.warehouse import raw_dir  # noqa: E402


def main() -> None:
    # Simulation, timed from scratch every run.
    out = BENCH_DATA / "simulate_timing"
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    simulate(TEN_MILLION, out)
    sim_s = time.perf_counter() - t0
    shutil.rmtree(out, ignore_errors=True)
    print(f"simulate 10M events: {sim_s:.1f} s")

    data, _ = logs("ten_million", TEN_MILLION)
    size = sum(p.stat().st_size for p in data.rglob("*.jsonl"))
    for attempt in range(3):
        path = fresh_warehouse("ingest_warehouse")
        t0 = time.perf_counter()
        results = ingest([data])
        seconds = time.perf_counter() - t0
        rows = sum(r.rows for r in results)
        stored = sum(p.stat().st_size for p in raw_dir(path).rglob("*.parquet"))
        print(f"ingest run {attempt + 1}: {rows:,} rows, {size / 1e9:.2f} GB of logs in {seconds:.2f} s "
              f"= {rows / seconds / 1e6:.2f} M rows/s, {size / seconds / 1e6:.0f} MB/s; "
              f"raw stored in {stored / 1e6:.0f} MB")
    t0 = time.perf_counter()
    again = ingest([data])
    print(f"re-ingest (all skipped: {all(r.skipped for r in again)}): {time.perf_counter() - t0:.2f} s")


if __name__ == "__main__":
    main()
