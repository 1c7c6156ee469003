"""Append log files to the raw layer exactly as received.

Each file is one batch: every record becomes one row of ``raw.events`` (its original text in
``payload``, even when it is not JSON) and the batch one row of ``raw.batches``, in a single
transaction, so a failure part-way leaves nothing behind. A file whose bytes were ingested before
(same sha256) is skipped: re-ingesting is a no-op.

JSON lines are split with numpy and handed to DuckDB as one Arrow array, without a Python loop
over records: that is what keeps ingestion above a million records a second.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from keel.warehouse import connect, ensure_raw_tables

FORMATS = {
    ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".log": "jsonl",
    ".csv": "csv", ".parquet": "parquet",
}


class IngestError(ValueError):
    """A user-facing problem with the input: the message says what and where."""


@dataclass(frozen=True)
class BatchResult:
    file: Path
    batch_id: int
    rows: int
    skipped: bool  # True when this content was already ingested (as batch_id)


def discover(paths: Iterable[Path]) -> list[Path]:
    """Files to ingest: each path itself, or the log files under a directory, sorted."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in FORMATS)
        elif path.is_file():
            found.append(path)
        else:
            raise IngestError(f"no such file or directory: {path}")
    return found


def file_format(path: Path, fmt: str | None = None) -> str:
    if fmt:
        if fmt not in set(FORMATS.values()):
            raise IngestError(f"unknown format {fmt!r}: use jsonl, csv or parquet")
        return fmt
    return FORMATS.get(path.suffix.lower(), "jsonl")


def split_lines(data: bytes) -> pa.Table:
    """One row per line: ``line`` (1-based), ``payload`` (text), ``payload_bytes`` (non-UTF-8 only).

    A final newline ends the last record rather than starting an empty one. Blank lines are
    records like any other (staging quarantines them): nothing in a file is dropped.
    """
    if not data:
        return pa.table({"line": pa.array([], pa.int64()), "payload": pa.array([], pa.large_string()),
                         "payload_bytes": pa.array([], pa.large_binary())})
    buf = np.frombuffer(data, dtype=np.uint8)
    newlines = np.flatnonzero(buf == 10)
    if len(newlines) and newlines[-1] == len(data) - 1:
        ends = newlines
    else:
        ends = np.r_[newlines, len(data)]
    n = len(ends)
    # Drop the newline bytes; record i then starts i bytes earlier than in the file.
    body = buf[buf != 10] if len(newlines) else buf
    starts = np.r_[0, ends[:-1] + 1] - np.arange(n)
    offsets = np.r_[starts, ends[-1] - (n - 1)].astype(np.int64)
    payload = pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(body))
    raw = pa.array([None] * n, pa.large_binary())
    try:
        payload.validate(full=True)  # checks every record is valid UTF-8
    except pa.ArrowInvalid:
        # Rare path: keep the exact bytes of the records that are not UTF-8 beside a readable copy.
        binary = pa.LargeBinaryArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(body))
        texts, originals = [], []
        for record in binary.to_pylist():
            try:
                texts.append(record.decode("utf-8"))
                originals.append(None)
            except UnicodeDecodeError:
                texts.append(record.decode("utf-8", errors="replace"))
                originals.append(record)
        payload, raw = pa.array(texts, pa.large_string()), pa.array(originals, pa.large_binary())
    return pa.table({"line": np.arange(1, n + 1), "payload": payload, "payload_bytes": raw})


def read_csv_records(data: bytes, path: Path) -> pa.Table:
    """One row per CSV record, as a JSON object of its header's fields (all values text, as sent).

    Extra fields go under ``_extra_fields`` and missing ones are null, so no record is dropped.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise IngestError(f"{path}: not UTF-8 at byte {e.start}; convert the file to UTF-8") from None
    reader = csv.DictReader(io.StringIO(text, newline=""), restkey="_extra_fields")
    try:
        payloads = [json.dumps(row, ensure_ascii=False) for row in reader]
    except csv.Error as e:
        raise IngestError(f"{path}: bad CSV at line {reader.line_num}: {e}") from None
    n = len(payloads)
    return pa.table({"line": np.arange(1, n + 1), "payload": pa.array(payloads, pa.large_string()),
                     "payload_bytes": pa.array([None] * n, pa.large_binary())})


def read_parquet_records(con: duckdb.DuckDBPyConnection, path: Path) -> pa.Table:
    """One row per Parquet row, as its JSON text, numbered in file order."""
    try:
        rows = con.execute(
            "select file_row_number + 1 as line, "
            "to_json(columns(* exclude (file_row_number)))::varchar as payload "
            "from read_parquet(?, file_row_number = true) order by line",
            [str(path)],
        ).fetch_arrow_table()
    except duckdb.Error as e:
        raise IngestError(f"{path}: cannot read as Parquet: {e}") from None
    return rows.append_column("payload_bytes", pa.array([None] * rows.num_rows, pa.large_binary()))


def _next_batch_id(con: duckdb.DuckDBPyConnection) -> int:
    return con.execute("select coalesce(max(batch_id), 0) + 1 from raw.batches").fetchone()[0]


def _append(con, records: pa.Table, batch: dict) -> None:
    """Insert the batch's rows and its batch row. Runs inside the caller's transaction."""
    con.register("incoming", records)
    con.execute(
        """
        insert into raw.events
        select $batch_id, $source, $file, line, payload, payload_bytes, $ingested_at
        from incoming
        """,
        {k: batch[k] for k in ("batch_id", "source", "file", "ingested_at")},
    )
    con.unregister("incoming")
    _record_batch(con, batch)


def _record_batch(con, batch: dict) -> None:
    con.execute(
        "insert into raw.batches values "
        "($batch_id, $source, $file, $format, $sha256, $bytes, $rows, $ingested_at)",
        batch,
    )


def ingest(
    paths: Iterable[Path],
    source: str = "clickstream",
    fmt: str | None = None,
    on_file: Callable[[BatchResult], None] | None = None,
) -> list[BatchResult]:
    """Ingest every file under ``paths`` as its own batch of ``source``; returns one result per file."""
    if not re.fullmatch(r"[a-z][a-z0-9_]{0,62}", source or ""):
        raise IngestError(f"source must be letters, digits and underscores: {source!r}")
    files = discover(paths)
    results: list[BatchResult] = []
    with connect() as con:
        ensure_raw_tables(con)
        for path in files:
            data = path.read_bytes()
            digest = hashlib.sha256(data).hexdigest()
            seen = con.execute(
                "select batch_id, rows from raw.batches where sha256 = ?", [digest]
            ).fetchone()
            if seen:
                result = BatchResult(path, seen[0], seen[1], skipped=True)
            else:
                kind = file_format(path, fmt)
                if kind == "csv":
                    records = read_csv_records(data, path)
                elif kind == "parquet":
                    records = read_parquet_records(con, path)
                else:
                    records = split_lines(data)
                con.begin()
                try:
                    batch = {
                        "batch_id": _next_batch_id(con),
                        "source": source,
                        "file": str(path.resolve()),
                        "format": kind,
                        "sha256": digest,
                        "bytes": len(data),
                        "rows": records.num_rows,
                        "ingested_at": datetime.now(UTC).replace(tzinfo=None),
                    }
                    _append(con, records, batch)
                    con.commit()
                except BaseException:
                    con.rollback()
                    raise
                result = BatchResult(path, batch["batch_id"], records.num_rows, skipped=False)
            results.append(result)
            if on_file:
                on_file(result)
    return results
