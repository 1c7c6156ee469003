import hashlib
import json

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import keel.ingest as ingest_module
from keel.ingest import IngestError, ingest
from keel.warehouse import raw_dir

# Every awkward kind of line: good JSON, truncated JSON, non-UTF-8 bytes, a blank line, CRLF,
# and no newline after the last record.
AWKWARD = (
    b'{"event_id":"a","event_name":"page_view"}\n'
    b'{"event_id":"b","event_na\n'
    b'\xff\xfe not utf-8 \xc3\x28\n'
    b"\n"
    b'{"event_id":"c"}\r\n'
    b'{"event_id":"d","note":"caf\xc3\xa9"}'
)


def _raw(path, query="select line, payload, payload_bytes from raw.events order by batch_id, line"):
    con = duckdb.connect(str(path))
    try:
        return con.execute(query).fetchall()
    finally:
        con.close()


def test_every_record_is_kept_byte_for_byte(warehouse, tmp_path):
    log = tmp_path / "awkward.jsonl"
    log.write_bytes(AWKWARD)
    [result] = ingest([log])
    assert result.rows == 6 and not result.skipped
    rows = _raw(warehouse)
    expected = AWKWARD.split(b"\n")
    assert [r[0] for r in rows] == [1, 2, 3, 4, 5, 6]
    for (_, payload, original), want in zip(rows, expected):
        assert (original if original is not None else payload.encode("utf-8")) == want
    assert rows[2][2] == b"\xff\xfe not utf-8 \xc3\x28"  # kept as bytes, text copy beside it


def test_ingestion_metadata_is_recorded(warehouse, tmp_path):
    log = tmp_path / "one.jsonl"
    log.write_bytes(AWKWARD)
    ingest([log], source="clickstream")
    [(batch_id, source, file, fmt, sha, nbytes, rows)] = _raw(
        warehouse, "select batch_id, source, file, format, sha256, bytes, rows from raw.batches")
    assert (batch_id, source, file, fmt, rows) == (1, "clickstream", str(log.resolve()), "jsonl", 6)
    assert sha == hashlib.sha256(AWKWARD).hexdigest() and nbytes == len(AWKWARD)
    [(n, distinct_times)] = _raw(warehouse, "select count(*), count(distinct ingested_at) from raw.events")
    assert n == 6 and distinct_times == 1


def test_reingesting_the_same_content_changes_nothing(warehouse, tmp_path):
    log = tmp_path / "a.jsonl"
    log.write_bytes(AWKWARD)
    ingest([log])
    before = _raw(warehouse)
    copy = tmp_path / "renamed.jsonl"
    copy.write_bytes(AWKWARD)
    results = ingest([log, copy])
    assert all(r.skipped and r.batch_id == 1 for r in results)
    assert _raw(warehouse) == before
    assert _raw(warehouse, "select count(*) from raw.batches") == [(1,)]


def test_the_same_content_twice_in_one_call_is_one_batch(warehouse, tmp_path):
    (tmp_path / "logs").mkdir()
    for name in ("x.jsonl", "y.jsonl"):
        (tmp_path / "logs" / name).write_bytes(AWKWARD)
    results = ingest([tmp_path / "logs"])
    assert [r.skipped for r in results] == [False, True]
    assert _raw(warehouse, "select count(*) from raw.events") == [(6,)]
    assert len(list(raw_dir(warehouse).rglob("*.parquet"))) == 1


def test_a_crash_mid_batch_leaves_none_of_its_rows(warehouse, tmp_path, monkeypatch):
    good, bad = tmp_path / "1.jsonl", tmp_path / "2.jsonl"
    good.write_bytes(b'{"event_id":"g"}\n')
    bad.write_bytes(b'{"event_id":"x"}\n{"event_id":"y"}\n')
    ingest([good])
    real = ingest_module._record_batch

    def crash(con, batch):
        if batch["file"].endswith("2.jsonl"):
            raise OSError("disk full (injected)")
        real(con, batch)

    monkeypatch.setattr(ingest_module, "_record_batch", crash)
    with pytest.raises(OSError, match="injected"):
        ingest([bad])
    assert _raw(warehouse, "select count(*) from raw.events") == [(1,)]
    assert _raw(warehouse, "select count(*) from raw.batches") == [(1,)]
    assert len(list(raw_dir(warehouse).rglob("*.parquet"))) == 1  # its file was removed too

    monkeypatch.setattr(ingest_module, "_record_batch", real)
    [result] = ingest([bad])  # and the file can simply be ingested again
    assert not result.skipped and result.rows == 2
    assert _raw(warehouse, "select count(*) from raw.events") == [(3,)]


def test_csv_records_are_stored_as_json_text(warehouse, tmp_path):
    log = tmp_path / "events.csv"
    log.write_text("event_id,price\ne1,9.5\ne2,oops,extra\ne3\n", encoding="utf-8")
    [result] = ingest([log])
    assert result.rows == 3
    payloads = [json.loads(p) for _, p, _ in _raw(warehouse)]
    assert payloads == [
        {"event_id": "e1", "price": "9.5"},
        {"event_id": "e2", "price": "oops", "_extra_fields": ["extra"]},
        {"event_id": "e3", "price": None},
    ]


def test_parquet_rows_are_stored_as_json_text_in_order(warehouse, tmp_path):
    log = tmp_path / "events.parquet"
    pq.write_table(pa.table({"event_id": ["p1", "p2", "p3"], "price": [1.5, None, 3.0]}), log)
    ingest([log])
    rows = _raw(warehouse)
    assert [r[0] for r in rows] == [1, 2, 3]
    assert [json.loads(r[1]) for r in rows] == [
        {"event_id": "p1", "price": 1.5}, {"event_id": "p2", "price": None},
        {"event_id": "p3", "price": 3.0},
    ]


def test_bad_input_gets_a_clear_error(warehouse, tmp_path):
    with pytest.raises(IngestError, match="no such file"):
        ingest([tmp_path / "missing.jsonl"])
    log = tmp_path / "a.jsonl"
    log.write_text("{}\n")
    with pytest.raises(IngestError, match="source must be"):
        ingest([log], source="x; drop table raw.batches")
    not_parquet = tmp_path / "fake.parquet"
    not_parquet.write_text("hello")
    with pytest.raises(IngestError, match="cannot read as Parquet"):
        ingest([not_parquet])
    latin = tmp_path / "latin.csv"
    latin.write_bytes(b"name\ncaf\xe9\n")
    with pytest.raises(IngestError, match="not UTF-8"):
        ingest([latin])


def test_compressed_files_are_read_as_what_they_hold_and_hashed_as_received(warehouse, tmp_path):
    import gzip
    import zipfile

    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "day.jsonl.gz").write_bytes(gzip.compress(b'{"event_id":"a"}\n{"event_id":"b"}\n'))
    with zipfile.ZipFile(logs / "flights.csv.zip", "w") as archive:
        archive.writestr("flights.csv", "carrier,flight\nUA,1\nAA,NA\n")
    results = ingest([logs], source="mixed")
    assert sorted((r.file.name, r.rows) for r in results) == [("day.jsonl.gz", 2), ("flights.csv.zip", 2)]
    rows = _raw(warehouse, "select b.format, e.payload from raw.events as e join raw.batches as b "
                           "using (batch_id) order by b.file, e.line")
    assert rows == [("jsonl", '{"event_id":"a"}'), ("jsonl", '{"event_id":"b"}'),
                    ("csv", '{"carrier": "UA", "flight": "1"}'), ("csv", '{"carrier": "AA", "flight": "NA"}')]
    digests = dict(_raw(warehouse, "select file, sha256 from raw.batches"))
    assert digests[str((logs / "day.jsonl.gz").resolve())] == hashlib.sha256(
        (logs / "day.jsonl.gz").read_bytes()).hexdigest()

    two = tmp_path / "two.csv.zip"
    with zipfile.ZipFile(two, "w") as archive:
        archive.writestr("a.csv", "x\n1\n")
        archive.writestr("b.csv", "x\n2\n")
    with pytest.raises(IngestError, match="exactly one file"):
        ingest([two], source="mixed")
    garbled = tmp_path / "garbled.jsonl.gz"
    garbled.write_bytes(b"not gzip at all")
    with pytest.raises(IngestError, match="cannot decompress"):
        ingest([garbled], source="mixed")
