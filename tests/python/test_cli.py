"""The `keel` command as a user runs it: a real process, real files, a temporary warehouse."""

import os
import subprocess
import sys
from pathlib import Path

import duckdb

KEEL = str(Path(sys.executable).with_name("keel"))


def _keel(*args: str, warehouse: Path, **env_vars: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "KEEL_WAREHOUSE": str(warehouse), "COLUMNS": "200", **env_vars}
    return subprocess.run([KEEL, *args], capture_output=True, text=True, env=env, timeout=300)


def test_run_goes_from_logs_to_a_summary(tmp_path):
    done = _keel("run", "--events", "4000", "--users", "200", "--days", "3",
                 "--malformed-rate", "0.02", "--out", str(tmp_path / "logs"),
                 warehouse=tmp_path / "wh" / "keel.duckdb")
    assert done.returncode == 0, done.stderr
    assert "rows ingested" in done.stderr and "4,000" in done.stderr
    assert "invalid_json" in done.stderr
    assert str(tmp_path / "wh" / "keel.duckdb") in done.stderr
    # three days: no as-of day has a closed 7-day label window yet, and the run says so
    assert "training set training.train_purchase_propensity: empty" in done.stderr
    assert "online store" in done.stderr and "fv_user_activity" in done.stderr
    assert "purchase_propensity not trained" in done.stderr and "is empty" in done.stderr
    report = tmp_path / "wh" / "keel_report.html"
    assert f"report: {report}" in done.stderr
    assert "Not trained yet" in report.read_text()

    again = _keel("ingest", str(tmp_path / "logs"), warehouse=tmp_path / "wh" / "keel.duckdb")
    assert again.returncode == 0
    assert "0 new batches" in again.stderr and "already ingested" in again.stderr

    # the simulated logs (January 2026) are long expired "now": an empty store says how to replay
    now = _keel("materialize", warehouse=tmp_path / "wh" / "keel.duckdb")
    assert now.returncode == 0 and "fv_user_activity 0" in now.stderr, now.stderr
    said = " ".join(now.stderr.split())  # as one line, however the console wrapped it
    assert "no live rows in" in said and "keel materialize --as-of '2026-01-0" in said
    # a store path that is a directory: one line naming it and the setting
    bad_store = _keel("materialize", warehouse=tmp_path / "wh" / "keel.duckdb",
                      KEEL_ONLINE_STORE=str(tmp_path))
    assert bad_store.returncode == 2 and "Traceback" not in bad_store.stderr, bad_store.stderr
    assert "cannot write the online store" in bad_store.stderr and "KEEL_ONLINE_STORE" in bad_store.stderr

    # a training relation missing (a build that stopped early) is named, not skipped
    with duckdb.connect(str(tmp_path / "wh" / "keel.duckdb")) as con:
        con.execute("drop table training.train_flight_delay")
    summary = _keel("summary", warehouse=tmp_path / "wh" / "keel.duckdb")
    said = " ".join(summary.stderr.split())
    assert summary.returncode == 0, summary.stderr
    assert "training set of flight_delay:" in said and "train_flight_delay" in said and "is not built" in said
    assert "training set training.train_purchase_propensity: empty" in said
    # one built before its spec changed (a renamed label, say) is named too, not a traceback
    with duckdb.connect(str(tmp_path / "wh" / "keel.duckdb")) as con:
        con.execute("alter table training.train_purchase_propensity rename column label to old_label")
    summary = _keel("summary", warehouse=tmp_path / "wh" / "keel.duckdb")
    said = " ".join(summary.stderr.split())
    assert summary.returncode == 0 and "Traceback" not in summary.stderr, summary.stderr
    assert "training set of purchase_propensity:" in said and "does not match its spec" in said


def test_user_errors_are_one_line_without_a_traceback(tmp_path):
    wh = tmp_path / "wh" / "keel.duckdb"
    for args in (["ingest", str(tmp_path / "nope.jsonl")],
                 ["simulate", "--events", "0", "--out", str(tmp_path / "x")],
                 ["ingest", "--source", "Bad Name!", str(tmp_path)]):
        done = _keel(*args, warehouse=wh)
        assert done.returncode == 2, (args, done.stderr)
        assert "Traceback" not in done.stderr
        assert "error:" in done.stderr
    no_warehouse = _keel("summary", warehouse=wh)
    assert no_warehouse.returncode == 2 and "no warehouse" in no_warehouse.stderr
    bad_date = _keel("simulate", "--start", "yesterday", warehouse=wh)
    assert bad_date.returncode == 2 and "Traceback" not in bad_date.stderr
    bad_time = _keel("materialize", "--as-of", "noon", warehouse=wh)
    assert bad_time.returncode == 2 and "not a date or time" in bad_time.stderr
    no_store_yet = _keel("materialize", warehouse=wh)
    assert no_store_yet.returncode == 2 and "no warehouse" in no_store_yet.stderr and not wh.exists()
