"""Shared setup for the benchmarks: cached simulated logs and a fresh warehouse per run."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from keel.simulate import SimulationConfig, simulate
from keel.warehouse import WAREHOUSE_ENV

BENCH_DATA = Path(__file__).resolve().parent / ".data"
TEN_MILLION = SimulationConfig(events=10_000_000, users=200_000, days=30, malformed_rate=0.01)
# 1% more events, later days, another seed: what a day or so of new logs looks like.
ONE_PERCENT_MORE = SimulationConfig(events=100_000, users=200_000, days=1, malformed_rate=0.01,
                                    seed=4242, start=TEN_MILLION.start.replace(day=31))


def logs(name: str, cfg: SimulationConfig) -> tuple[Path, float | None]:
    """Simulated logs for cfg, generated once and cached; returns (dir, seconds if generated now)."""
    out = BENCH_DATA / name
    marker = out / ".complete"
    if marker.exists() and marker.read_text() == repr(cfg):
        return out, None
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    simulate(cfg, out)
    seconds = time.perf_counter() - t0
    marker.write_text(repr(cfg))
    return out, seconds


def fresh_warehouse(name: str) -> Path:
    """An empty warehouse under bench/.data, set as Keel's warehouse for this process."""
    root = BENCH_DATA / name
    shutil.rmtree(root, ignore_errors=True)
    path = root / "keel.duckdb"
    os.environ[WAREHOUSE_ENV] = str(path)
    return path
