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
from pathlib import Path

import duckdb

from keel.project import project_dir

WAREHOUSE_ENV = "KEEL_WAREHOUSE"

# Raw tables are history, not dbt models: Keel's entrypoints append to them and dbt reads them as
# sources, so `dbt build --full-refresh` can never drop them. The DDL lives here only.
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
    """
    create table if not exists raw.events (
        batch_id       bigint not null,
        source         varchar not null,
        file           varchar not null,
        line           bigint not null,    -- 1-based line (JSON lines) or record number (CSV, Parquet)
        payload        varchar not null,   -- the record exactly as received
        payload_bytes  blob,               -- the original bytes, only when they are not UTF-8
        ingested_at    timestamp not null
    )
    """,
)


def warehouse_path() -> Path:
    """Where the warehouse file is; relative paths are taken from the project directory."""
    path = Path(os.environ.get(WAREHOUSE_ENV, "warehouse/keel.duckdb")).expanduser()
    return path if path.is_absolute() else project_dir() / path


@contextmanager
def connect(path: Path | None = None, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the warehouse for one job and always close it, even on error."""
    path = path or warehouse_path()
    if read_only and not path.exists():
        raise FileNotFoundError(f"no warehouse at {path}: run `keel ingest` or `keel run` first")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        con = duckdb.connect(str(path), read_only=read_only)
    except duckdb.IOException as e:
        if "lock" in str(e).lower():
            raise RuntimeError(
                f"the warehouse {path} is in use by another process (DuckDB allows one writer); "
                "wait for it to finish"
            ) from None
        raise
    try:
        con.execute("set TimeZone = 'UTC'")
        con.execute("set enable_progress_bar = false")
        yield con
    finally:
        con.close()


def ensure_raw_tables(con: duckdb.DuckDBPyConnection) -> None:
    for ddl in RAW_DDL:
        con.execute(ddl)
