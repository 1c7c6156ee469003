"""Append log files to the raw layer exactly as received.

Each file is one batch: every record becomes one row of ``raw.events`` (its original text in
``payload``, even when it is not JSON) and the batch one row of ``raw.batches``. The records are
written first, to an immutable Parquet file, and become visible only when the batch row commits,
so a failure part-way leaves nothing behind (see keel.warehouse). A file whose bytes were
ingested before (same sha256) is skipped: re-ingesting is a no-op.

JSON lines are split with numpy into one Arrow array, without a Python loop over records: that
is what keeps ingestion above a million records a second.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import os
import re
import zipfile
import zlib
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from keel.warehouse import batch_file, connect, ensure_raw_tables

FORMATS = {
    ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".log": "jsonl",
    ".csv": "csv", ".parquet": "parquet",
}
# A compressed file is read as what it holds (`flights.csv.zip` as CSV, `day.jsonl.gz` as JSON
# lines); the batch's sha256 is the compressed file's, exactly as received.
COMPRESSIONS = (".gz", ".zip")


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
            found += sorted(p for p in path.rglob("*") if p.is_file() and _inner_suffix(p) in FORMATS)
        elif path.is_file():
            found.append(path)
        else:
            raise IngestError(f"no such file or directory: {path}")
    return found


def _inner_suffix(path: Path) -> str:
    """The suffix that says a file's format, under a compression suffix if there is one."""
    suffix = path.suffix.lower()
    return Path(path.stem).suffix.lower() if suffix in COMPRESSIONS else suffix


def file_format(path: Path, fmt: str | None = None) -> str:
    if fmt:
        if fmt not in set(FORMATS.values()):
            raise IngestError(f"unknown format {fmt!r}: use jsonl, csv or parquet")
        return fmt
    return FORMATS.get(_inner_suffix(path), "jsonl")


def decompress(data: bytes, path: Path) -> bytes:
    """The bytes a .gz or .zip file holds (a zip must hold exactly one file); others as they are."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".gz":
            return gzip.decompress(data)
        if suffix == ".zip":
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                members = [m for m in archive.infolist() if not m.is_dir()]
                if len(members) != 1:
                    raise IngestError(f"{path}: a zip must hold exactly one file; it holds {len(members)}")
                return archive.read(members[0])
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as e:
        raise IngestError(f"{path}: cannot decompress: {e}") from None
    return data


def split_lines(data: bytes) -> pa.Table:
    """One row per line: ``line`` (1-based), ``payload`` (text), ``payload_bytes`` (non-UTF-8 only).

    A final newline ends the last record rather than starting an empty one. Blank lines are
    records like any other (staging quarantines them): nothing in a file is dropped.

    The lines are found and checked as UTF-8 in place (an Arrow array pointing into the file's
    bytes), then one vectorised byte slice drops each newline: no Python loop, one copy.
    """
    if not data:
        return _records(pa.array([], pa.large_string()))
    if not data.endswith(b"\n"):
        data += b"\n"
    newlines = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 10)
    n = len(newlines)
    offsets = np.r_[0, newlines + 1].astype(np.int64)
    buffers = [None, pa.py_buffer(offsets), pa.py_buffer(data)]
    payload = pa.Array.from_buffers(pa.large_string(), n, buffers)
    raw = None
    try:
        payload.validate(full=True)  # checks every record is valid UTF-8
        without_newline = pc.binary_slice(payload.view(pa.large_binary()), 0, -1)
        payload = without_newline.view(pa.large_string())
    except pa.ArrowInvalid:
        # Rare path: keep the exact bytes of the records that are not UTF-8 beside a readable copy.
        texts, originals = [], []
        for record in pa.Array.from_buffers(pa.large_binary(), n, buffers).to_pylist():
            try:
                texts.append(record[:-1].decode("utf-8"))
                originals.append(None)
            except UnicodeDecodeError:
                texts.append(record[:-1].decode("utf-8", errors="replace"))
                originals.append(record[:-1])
        payload, raw = pa.array(texts, pa.large_string()), pa.array(originals, pa.large_binary())
    return _records(payload, raw)


def _records(payload: pa.Array, payload_bytes: pa.Array | None = None) -> pa.Table:
    """The table one batch file holds: line numbers from 1, the text, and the non-UTF-8 bytes."""
    n = len(payload)
    if payload_bytes is None:
        payload_bytes = pa.nulls(n, pa.large_binary())
    return pa.table({"line": np.arange(1, n + 1, dtype=np.int64), "payload": payload,
                     "payload_bytes": payload_bytes})


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
    return _records(pa.array(payloads, pa.large_string()))


def read_parquet_records(data: bytes, path: Path) -> pa.Table:
    """One row per Parquet row, as its JSON text, numbered in file order."""
    try:
        rows = pq.read_table(pa.BufferReader(data))
    except (pa.ArrowException, OSError) as e:
        raise IngestError(f"{path}: cannot read as Parquet: {e}") from None
    # An in-memory DuckDB only formats JSON here; a plain projection keeps the rows in order.
    con = duckdb.connect()
    try:
        con.register("parquet_rows", rows)
        payload = con.execute("select to_json(r)::varchar from parquet_rows as r").to_arrow_table()
    finally:
        con.close()
    return _records(payload.column(0).combine_chunks().cast(pa.large_string()))


def read_records(data: bytes, path: Path, kind: str) -> pa.Table:
    if kind == "csv":
        return read_csv_records(data, path)
    if kind == "parquet":
        return read_parquet_records(data, path)
    return split_lines(data)


def write_segment(records: pa.Table, target: Path) -> None:
    """Write one batch's records to ``target`` atomically: a temp file, fsync, then rename."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    pq.write_table(records, tmp, compression="lz4", use_dictionary=False,
                   write_statistics=["line"], row_group_size=122_880)
    with tmp.open("rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, target)


def _record_batch(con: duckdb.DuckDBPyConnection, batch: dict) -> None:
    """Commit the batch's row: the moment its records become visible in raw.events."""
    con.begin()
    try:
        con.execute(
            "insert into raw.batches values "
            "($batch_id, $source, $file, $format, $sha256, $bytes, $rows, $ingested_at)",
            batch,
        )
        con.commit()
    except BaseException:
        con.rollback()
        raise


def _prepare(path: Path, kind: str, target: Path, known: dict) -> tuple[str, int, int | None]:
    """Hash one file and, unless its content is in ``known``, parse it and write its batch file.

    Runs on a worker thread. Returns (sha256, bytes, rows), rows None when nothing was written.
    """
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest in known:
        return digest, len(data), None
    records = read_records(decompress(data, path), path, kind)
    write_segment(records, target)
    return digest, len(data), records.num_rows


def ingest(
    paths: Iterable[Path],
    source: str = "clickstream",
    fmt: str | None = None,
    on_file: Callable[[BatchResult], None] | None = None,
) -> list[BatchResult]:
    """Ingest every file under ``paths`` as its own batch of ``source``; returns one result per file.

    Two worker threads hash, parse and write batch files while this thread commits batch rows
    in file order (hashlib, numpy, Arrow and Parquet release the GIL).
    """
    if not re.fullmatch(r"[a-z][a-z0-9_]{0,62}", source or ""):
        raise IngestError(f"source must be lower-case letters, digits and underscores: {source!r}")
    files = discover(paths)
    kinds = [file_format(p, fmt) for p in files]
    results: list[BatchResult] = []

    def done(result: BatchResult) -> None:
        results.append(result)
        if on_file:
            on_file(result)

    with connect() as con:
        ensure_raw_tables(con)
        known = {sha: (bid, rows) for sha, bid, rows in
                 con.execute("select sha256, batch_id, rows from raw.batches").fetchall()}
        seen = dict(known)  # grows as this call commits batches
        next_id = con.execute("select coalesce(max(batch_id) + 1, 1) from raw.batches").fetchone()[0]
        pending: deque = deque()

        def commit_oldest() -> None:
            path, kind, batch_id, future = pending.popleft()
            digest, nbytes, rows = future.result()
            if digest in seen:  # ingested before, or earlier in this very call
                if rows is not None:
                    batch_file(batch_id).unlink(missing_ok=True)
                done(BatchResult(path, seen[digest][0], seen[digest][1], skipped=True))
                return
            try:
                _record_batch(con, {
                    "batch_id": batch_id, "source": source, "file": str(path.resolve()),
                    "format": kind, "sha256": digest, "bytes": nbytes, "rows": rows,
                    "ingested_at": datetime.now(UTC).replace(tzinfo=None),
                })
            except BaseException:
                batch_file(batch_id).unlink(missing_ok=True)
                raise
            seen[digest] = (batch_id, rows)
            done(BatchResult(path, batch_id, rows, skipped=False))

        with ThreadPoolExecutor(max_workers=2) as pool:
            try:
                for path, kind in zip(files, kinds):
                    # Ids are handed out in file order; a file found to be a repeat leaves a gap,
                    # which is harmless (incremental models only need ids to grow).
                    future = pool.submit(_prepare, path, kind, batch_file(next_id), known)
                    pending.append((path, kind, next_id, future))
                    next_id += 1
                    while len(pending) > 3:
                        commit_oldest()
                while pending:
                    commit_oldest()
            except BaseException:
                # Batches not committed never show in raw.events (it joins raw.batches); remove
                # their files too, so nothing half-done is left on disk. The workers stop first,
                # so none can write a file after it was removed.
                pool.shutdown(wait=True, cancel_futures=True)
                for _, _, batch_id, _ in pending:
                    batch_file(batch_id).unlink(missing_ok=True)
                raise
        ensure_raw_tables(con)  # the raw.events view now has files to read
    return results
