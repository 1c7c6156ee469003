"""The one place that opens warehouse connections.

The default warehouse is an embedded DuckDB file. Its path comes from ``KEEL_WAREHOUSE`` (the
same variable profiles.yml reads, so Python and dbt always agree), else ``warehouse/keel.duckdb``
under the project directory.

DuckDB allows one writing process at a time and a second process cannot open the file even
read-only while it is held, so connections here are short-lived: open, do one job, close.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

import duckdb
import yaml

from keel.project import project_dir

# libyaml's parser where it is built in (0.4 ms for profiles.yml, against 2 ms in pure Python)
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

WAREHOUSE_ENV = "KEEL_WAREHOUSE"

# Raw history is never a dbt model: Keel's entrypoints append to it and dbt reads it as a source,
# so `dbt build --full-refresh` cannot touch it. The DDL lives here only.
#
# Raw records are stored as one immutable Parquet file per batch under raw_dir()/events/, and
# raw.events is a view over those files joined to raw.batches. Measured on this machine, DuckDB's
# own table storage takes long JSON strings at 450-750k rows/s and writes them twice (optimistic
# write, then checkpoint); LZ4 Parquet is 3.5x smaller than the text and written from parallel
# threads (zstd halves the size again but costs a third more CPU, too much for 1M rows/s). The join
# also makes a batch visible only once its raw.batches row is committed, which is what keeps a
# crash between writing the file and committing from leaving half a batch behind.
RAW_DDL = (
    "create schema if not exists raw",
    """
    create table if not exists raw.batches (
        batch_id     bigint primary key,   -- increases by one per ingested file
        source       varchar not null,     -- the log stream, e.g. clickstream
        file         varchar not null,     -- absolute path of the file as ingested
        format       varchar not null,     -- jsonl, csv or parquet
        sha256       varchar not null unique,  -- of the file's bytes: same content, same batch
        bytes        bigint not null,
        rows         bigint not null,
        ingested_at  timestamp not null    -- UTC
    )
    """,
)
RAW_EVENTS_VIEW = """
create or replace view raw.events as
select
    b.batch_id,
    b.source,
    b.file,
    e.line,          -- 1-based line (JSON lines) or record number (CSV, Parquet)
    e.payload,       -- the record exactly as received
    e.payload_bytes, -- the original bytes, only when they are not UTF-8
    b.ingested_at
from {scan} as e
inner join raw.batches as b on e.batch_id = b.batch_id
"""
_EMPTY_SCAN = (
    "(select null::bigint as batch_id, null::bigint as line, null::varchar as payload, "
    "null::blob as payload_bytes where false)"
)


def warehouse_path() -> Path:
    """Where the warehouse file is; relative paths are taken from the project directory."""
    path = Path(os.environ.get(WAREHOUSE_ENV, "warehouse/keel.duckdb")).expanduser()
    return path if path.is_absolute() else project_dir() / path


@contextmanager
def connect() -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the warehouse for one job and always close it, even on error.

    Always read-write: a read-only connection would not let a second process in anyway (DuckDB
    locks the file for one process), and in-process DuckDB refuses to mix the two modes.
    """
    path = warehouse_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        con = duckdb.connect(str(path))
    except duckdb.IOException as e:
        if "lock" in str(e).lower():
            raise RuntimeError(
                f"the warehouse {path} is in use by another process (DuckDB allows one writer); "
                "wait for it to finish"
            ) from None
        raise
    try:
        for name, value in profile_settings().items():
            con.execute(f"set {name} = '{value}'")
        con.execute("set enable_progress_bar = false")
        yield con
    finally:
        con.close()


@lru_cache(maxsize=1)
def profile_settings() -> dict[str, str]:
    """The DuckDB settings of profiles.yml's duckdb output, which dbt applies to its connections:
    Python's connections run with the same ones (the time zone, how doubles are stored)."""
    profile = yaml.load((project_dir() / "profiles.yml").read_text(), Loader=_YAML_LOADER)
    settings = profile["keel"]["outputs"]["duckdb"].get("settings") or {}
    return {str(name): str(value).replace("'", "''") for name, value in settings.items()}


def raw_dir(path: Path | None = None) -> Path:
    """Where raw batch files live: beside the warehouse file, named after it."""
    path = path or warehouse_path()
    return path.with_name(f"{path.stem}_raw")


def batch_file(batch_id: int) -> Path:
    """The Parquet file holding one batch's records (hive-style, so scans prune by batch_id)."""
    return raw_dir() / "events" / f"batch_id={batch_id}" / "records.parquet"


def ensure_raw_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create raw.batches if missing and point the raw.events view at this warehouse's files."""
    for ddl in RAW_DDL:
        con.execute(ddl)
    scan = files_scan(raw_dir() / "events", "batch_id=*/records.parquet", {"batch_id": "bigint"}, _EMPTY_SCAN)
    con.execute(RAW_EVENTS_VIEW.format(scan=scan))


def files_scan(directory: Path, pattern: str, hive_types: dict[str, str], empty: str) -> str:
    """SQL reading the hive-partitioned Parquet files matching `pattern` under `directory`, or
    `empty` (a query with the same columns and no rows) while there are none: DuckDB's
    read_parquet fails on a glob that matches nothing."""
    if not any(directory.glob(pattern)):
        return empty
    glob = str(directory / pattern).replace("'", "''")
    types = ", ".join(f"'{name}': {kind}" for name, kind in hive_types.items())
    return f"read_parquet('{glob}', hive_partitioning = true, hive_types = {{{types}}})"
