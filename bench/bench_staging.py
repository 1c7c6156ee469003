"""Staging over 10M raw events: a full refresh (target <= 30 s) and an incremental run over 1% new
events (target: at most a tenth of the full refresh).

Run after (or without) bench_ingest.py: .venv/bin/python bench/bench_staging.py
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ONE_PERCENT_MORE, TEN_MILLION, fresh_warehouse, logs  # noqa: E402
from keel.ingest import ingest  # noqa: E402
from keel.project import project_dir, run_dbt  # noqa: E402

SELECT = ["--select", "staging"]


def timed_dbt(args: list[str]) -> tuple[float, float, float]:
    """Wall seconds of the dbt invocation, the summed execution time of its models, and the CPU
    seconds of this process (dbt and DuckDB run in it) over the invocation: the machine is shared,
    so wall times are noisy and CPU is the steadier figure."""
    t0, cpu0 = time.perf_counter(), time.process_time()
    assert run_dbt(args, quiet=True), f"dbt {' '.join(args)} failed"
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    results = json.loads((project_dir() / "target" / "run_results.json").read_text())["results"]
    models = sum(r["execution_time"] for r in results if r["unique_id"].startswith("model."))
    return wall, models, cpu


def load() -> str:
    """The 1-minute load average (2 cores: above 2 means other work competed for them)."""
    return f"load {os.getloadavg()[0]:.1f}"


def main() -> None:
    data, _ = logs("ten_million", TEN_MILLION)
    more, _ = logs("one_percent_more", ONE_PERCENT_MORE)
    fresh_warehouse("staging_warehouse")
    ingest([data])
    assert run_dbt(["seed"], quiet=True)
    run_dbt(["run", *SELECT], quiet=True)  # warm-up: parse the project once

    for attempt in range(2):
        wall, models, cpu = timed_dbt(["run", "--full-refresh", *SELECT])
        print(f"full refresh of 10M raw events, run {attempt + 1}: dbt {wall:.1f} s "
              f"(models {models:.1f} s, CPU {cpu:.1f} s, {load()})")
    ingest([more])
    wall, models, cpu = timed_dbt(["run", *SELECT])
    print(f"incremental run over 1% new events: dbt {wall:.1f} s "
          f"(models {models:.2f} s, CPU {cpu:.1f} s, {load()})")
    wall0, models0, cpu0 = timed_dbt(["run", *SELECT])
    print(f"incremental run with nothing new: dbt {wall0:.1f} s "
          f"(models {models0:.2f} s, CPU {cpu0:.1f} s, {load()})")


if __name__ == "__main__":
    main()
