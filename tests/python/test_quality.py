"""Data quality monitoring on a real warehouse: mon_data_quality and its companions against direct
counts of the raw data, schema changes, and the volume z-score against numpy.

Three weeks of small simulated clickstream logs are ingested one event day per ingestion day (the
ingestion clock is set to 02:00 the next morning), with a few prediction-log batches beside them
and three incidents planted: a new field from one day on, a field missing from one day's batch,
and a day whose volume collapses.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pytest

import keel.ingest
from keel.ingest import ingest
from keel.project import run_dbt
from keel.simulate import SimulationConfig, simulate
from keel.warehouse import WAREHOUSE_ENV

SIM = SimulationConfig(events=16_000, users=300, days=21, malformed_rate=0.05, seed=5)
WINDOW = 14  # var quality_window_days (and quality_min_window_days) as in dbt_project.yml
MAX_PAYLOAD = 65536  # var max_payload_length
NEW_FIELD_FROM = 16  # from this day on shop_a adds a coupon_code field
MISSING_ON = 17  # this day's shop_b batch lacks the ecommerce field
COLLAPSE_ON = 19  # this day's batches keep one record in 25
PREDICTION_DAYS = (2, 3, 5)  # days the online prediction log is ingested (none on day 4)
INVENTORY_DAY = 6  # one CSV batch of a source no staging model reads
SELECT = ["--select", "+mon_data_quality", "+mon_data_quality_reasons", "quarantine_reasons"]


def _day(i: int) -> date:
    """Ingestion day i: the morning after simulated event day i."""
    return SIM.start + timedelta(days=i + 1)


def _ingest_at(paths: list[Path], at: datetime, monkeypatch, source: str = "clickstream") -> None:
    """Ingest as `keel ingest` would have at `at` (UTC): raw history is written with the clock."""

    class Clock(datetime):
        @classmethod
        def now(cls, tz=None):
            return at.replace(tzinfo=tz)

    monkeypatch.setattr(keel.ingest, "datetime", Clock)
    ingest(paths, source=source)


def _rewrite(path: Path, out: Path, change) -> Path:
    """A copy of a log file with `change(record)` applied to every JSON-object line."""
    lines = []
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            lines.append(line)
            continue
        lines.append(json.dumps(change(record)) if isinstance(record, dict) else line)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    return out


def _add_coupon(record: dict) -> dict:
    return {**record, "coupon_code": "SPRING" if record.get("event_name") == "purchase" else None}


def _prediction_log(i: int, out: Path) -> Path:
    """Twenty served predictions on event day i, one truncated line and one without a score."""
    served = datetime.combine(SIM.start + timedelta(days=i), datetime.min.time())
    lines = [json.dumps({
        "request_id": f"r{i}-{k}", "model": "purchase_propensity", "version": 1,
        "entity": f"u{k:07d}", "features": {"purchases_7d": k}, "features_as_of": None,
        "score": k / 20, "served_at": (served + timedelta(hours=k)).isoformat(),
    }) for k in range(20)]
    lines += [lines[0][:25], json.dumps({"request_id": f"r{i}-x", "model": "m", "version": 1,
                                          "served_at": served.isoformat()})]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    return out


@pytest.fixture(scope="module")
def quality(tmp_path_factory):
    """The warehouse, built after the first ten days and again after the rest (so the
    incremental models are built both ways)."""
    root = tmp_path_factory.mktemp("quality")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(WAREHOUSE_ENV, str(root / "wh" / "keel.duckdb"))
        simulate(SIM, root / "logs")
        files = sorted((root / "logs").rglob("*.jsonl"))
        by_day = defaultdict(list)
        for f in files:
            by_day[min((date.fromisoformat(f.stem) - SIM.start).days, SIM.days - 1)].append(f)
        for i in range(SIM.days):
            batch = []
            for f in by_day[i]:
                out = root / "changed" / str(i) / f.parent.name / f.name
                if f.parent.name == "shop_a" and i >= NEW_FIELD_FROM:
                    f = _rewrite(f, out, _add_coupon)
                if f.parent.name == "shop_b" and i == MISSING_ON:
                    f = _rewrite(f, out, lambda r: {k: v for k, v in r.items() if k != "ecommerce"})
                if i == COLLAPSE_ON:
                    kept = f.read_text().splitlines()[::25]
                    out.parent.mkdir(parents=True, exist_ok=True)
                    out.write_text("\n".join(kept) + "\n")
                    f = out
                batch.append(f)
            morning = datetime.combine(_day(i), datetime.min.time()) + timedelta(hours=2)
            for k, f in enumerate(batch):
                _ingest_at([f], morning + timedelta(minutes=k), mp)
            if i in PREDICTION_DAYS:
                log = _prediction_log(i, root / "predictions" / f"{i}.jsonl")
                _ingest_at([log], morning + timedelta(hours=1), mp, source="prediction_log")
            if i == INVENTORY_DAY:
                stock = root / "inventory.csv"
                stock.write_text("sku,stock\np1,4\np2,\np3,7\n")
                _ingest_at([stock], morning, mp, source="inventory")
            if i == 9:
                assert run_dbt(["build", *SELECT], quiet=True)
        assert run_dbt(["build", *SELECT], quiet=True)
        yield root


@pytest.fixture
def query(quality, monkeypatch):
    monkeypatch.setenv(WAREHOUSE_ENV, str(quality / "wh" / "keel.duckdb"))

    def run(q: str) -> list[tuple]:
        con = duckdb.connect(str(quality / "wh" / "keel.duckdb"))
        try:
            return con.execute(q).fetchall()
        finally:
            con.close()

    return run


def _quality(query, source: str = "clickstream") -> dict[date, dict]:
    """mon_data_quality's rows for one source, by day, as dicts."""
    names = [n for (n,) in query("select column_name from information_schema.columns where "
                                 "table_schema = 'monitoring' and table_name = 'mon_data_quality' "
                                 "order by ordinal_position")]
    rows = query(f"select * from monitoring.mon_data_quality where source = '{source}' order by day")
    return {r[1]: dict(zip(names, r)) for r in rows}


def test_volume_and_quarantine_by_reason_equal_a_direct_count_of_raw(query):
    raw = Counter({(s, d): n for s, d, n in query(
        "select source, cast(ingested_at as date), count(*) from raw.events group by all")})
    model = {(s, d): (n, b) for s, d, n, b in query(
        "select source, day, rows, batches from monitoring.mon_data_quality")}
    days = {s: sorted(d for (src, d) in raw if src == s) for s, _ in raw}
    assert set(days) == {"clickstream", "prediction_log", "inventory"}
    last = max(d for (_, d) in raw)
    # every day from the source's first batch to the newest batch of any source, none missing
    for source, seen in days.items():
        span = [seen[0] + timedelta(days=k) for k in range((last - seen[0]).days + 1)]
        assert sorted(d for (s, d) in model if s == source) == span
    assert {k: n for k, (n, _) in model.items()} == {k: raw[k] for k in model}
    # the prediction log's gap day is a day of zero volume, not a missing row
    assert model[("prediction_log", _day(4))] == (0, 0)
    # a source without a staging model is monitored too; what staging would make of it is unknown
    inventory = _quality(query, "inventory")[_day(INVENTORY_DAY)]
    assert (inventory["rows"], inventory["valid_rows"], inventory["quarantined"]) == (3, None, None)
    assert inventory["freshness_hours"] is None

    direct = {(s, d, r): n for s, d, r, n in query("""
        select b.source, cast(b.ingested_at as date), q.reason, count(*)
        from (select batch_id, reason from staging.stg_events__quarantine
              union all
              select batch_id, reason from staging.stg_prediction_log where reason is not null) as q
        join raw.batches as b using (batch_id)
        group by all
    """)}
    reasons = {(s, d, r): (n, rate) for s, d, r, n, rate in query(
        "select source, day, reason, quarantined, quarantine_rate from monitoring.mon_data_quality_reasons")}
    assert {k: n for k, (n, _) in reasons.items()} == direct
    for (s, d, _), (n, rate) in reasons.items():
        assert rate == pytest.approx(n / raw[(s, d)], abs=1e-12)
    assert {r for (_, _, r) in direct} >= {"invalid_json", "missing_required_field", "wrong_type"}
    # the wide model's quarantine is the sum over reasons, for the sources staging reads
    for s, d, n, quarantined, rate in query("select source, day, rows, quarantined, quarantine_rate "
                                            "from monitoring.mon_data_quality where source != 'inventory'"):
        in_reasons = [v for k, v in reasons.items() if k[:2] == (s, d)]
        assert quarantined == sum(q for q, _ in in_reasons)
        if n:
            assert rate == pytest.approx(sum(r for _, r in in_reasons), abs=1e-12)
        else:
            assert rate is None


def test_null_rates_equal_a_direct_count_of_payload_fields(query):
    rows: Counter = Counter()
    present: Counter = Counter()
    nulls: Counter = Counter()
    for source, day, payload, payload_bytes in query(
            "select source, cast(ingested_at as date), payload, payload_bytes from raw.events"):
        rows[(source, day)] += 1
        if payload_bytes is not None or len(payload) > MAX_PAYLOAD:
            continue
        try:
            record = json.loads(payload)
        except ValueError:
            continue
        if isinstance(record, dict):
            for key, value in record.items():
                present[(source, day, key)] += 1
                nulls[(source, day, key)] += value is None
    model = query("select source, day, field, rows, present_records, null_records, null_rate "
                  "from monitoring.mon_data_quality_fields")
    # every field seen on a day has its row; the others come from the trailing window (absent: all null)
    assert {(s, d, f) for s, d, f, *_ in model} >= set(present)
    assert len(model) > 100
    for source, day, field, n, p, null_records, rate in model:
        key = (source, day, field)
        assert (n, p) == (rows[(source, day)], present[key]), key
        assert null_records == n - present[key] + nulls[key], key
        assert rate == pytest.approx(null_records / n, abs=1e-12)
    # a field sent as JSON null is null, not just an absent one: the coupon is null off purchases
    [(coupon_nulls, coupon_absent)] = query(f"""
        select null_records, rows - present_records from monitoring.mon_data_quality_fields
        where source = 'clickstream' and field = 'coupon_code' and day = '{_day(NEW_FIELD_FROM)}'
    """)
    assert coupon_nulls > coupon_absent > 0


def test_a_new_field_and_a_missing_field_show_on_their_day(query):
    days = _quality(query)
    new = {d: r["new_fields"] for d, r in days.items() if r["new_fields"]}
    missing = {d: r["missing_fields"] for d, r in days.items() if r["missing_fields"]}
    assert new == {_day(NEW_FIELD_FROM): "coupon_code"}
    assert missing == {_day(MISSING_ON): "ecommerce"}
    # the source's first day has no baseline: nothing is new there
    assert days[_day(0)]["new_fields"] is None
    # the prediction log's schema never changed, and its empty days are no evidence of a missing field
    assert not any(r["new_fields"] or r["missing_fields"] for r in _quality(query, "prediction_log").values())
    [(is_new, is_missing, in_window)] = query(f"""
        select is_new, is_missing, in_window from monitoring.mon_data_quality_fields
        where source = 'clickstream' and field = 'ecommerce' and day = '{_day(MISSING_ON)}'
    """)
    assert (is_new, is_missing, in_window) == (False, True, True)


def test_a_volume_collapse_scores_far_below_and_normal_days_stay_small(query):
    days = _quality(query)
    collapse = days[_day(COLLAPSE_ON)]
    assert collapse["rows"] < collapse["volume_window_mean"] / 10
    assert collapse["volume_zscore"] < -10 and collapse["is_volume_anomaly"]
    normal = [r for d, r in days.items() if d != _day(COLLAPSE_ON) and r["volume_zscore"] is not None]
    assert len(normal) == SIM.days - WINDOW - 1
    assert all(abs(r["volume_zscore"]) < 3 and not r["is_volume_anomaly"] for r in normal)
    # too short a history: no score
    assert all(r["volume_zscore"] is None for d, r in days.items() if (d - _day(0)).days < WINDOW)


def test_volume_zscore_equals_numpy_over_the_trailing_window(query):
    """Mean and sample standard deviation (ddof=1) of the previous WINDOW days' raw row counts,
    zero-volume days included, the day itself excluded."""
    for source in ("clickstream", "prediction_log"):
        counts = dict(query(f"select cast(ingested_at as date), count(*) from raw.events "
                            f"where source = '{source}' group by all"))
        days = _quality(query, source)
        series = [counts.get(d, 0) for d in sorted(days)]
        scored = 0
        for k, d in enumerate(sorted(days)):
            window = np.array(series[max(0, k - WINDOW):k], dtype=float)
            row = days[d]
            assert row["volume_window_days"] == len(window)
            if len(window) < WINDOW or window.std() == 0:
                assert row["volume_zscore"] is None, (source, d)
                continue
            expected = (series[k] - window.mean()) / window.std(ddof=1)
            assert row["volume_zscore"] == pytest.approx(expected, rel=1e-9, abs=1e-9), (source, d)
            assert row["volume_window_stddev"] == pytest.approx(window.std(ddof=1), rel=1e-9)
            scored += 1
        assert scored > 0
    # the prediction log is silent after its third batch: a window of zeros has no score
    predictions = _quality(query, "prediction_log")
    assert predictions[max(predictions)]["volume_zscore"] is None


def test_freshness_is_the_newest_valid_event_to_its_days_last_batch(query):
    newest = dict(query("""
        select cast(b.ingested_at as date), max(e.event_ts)
        from staging.stg_events as e join raw.batches as b using (batch_id) group by all
    """))
    last = dict(query("select cast(ingested_at as date), max(ingested_at) from raw.batches "
                      "where source = 'clickstream' group by all"))
    for d, row in _quality(query).items():
        expected = (last[d] - newest[d]).total_seconds() / 3600
        assert row["freshness_hours"] == pytest.approx(expected, abs=1 / 3600)
        # a day's logs land at 02:00 the next morning: about two hours old
        assert 1.5 < row["freshness_hours"] < 3, d
    predictions = _quality(query, "prediction_log")
    # served at 19:00 on the event day at the latest, ingested at 03:00 the next morning
    assert predictions[_day(2)]["freshness_hours"] == pytest.approx(8.0)
    assert predictions[_day(4)]["freshness_hours"] is None


def test_a_full_refresh_reproduces_the_incrementally_built_tables(quality, query):
    fingerprint = """
        select count(*), sum(hash(source, day, rows, quarantined, freshness_hours, volume_zscore,
                                  new_fields, missing_fields))
        from monitoring.mon_data_quality
        union all
        select count(*), sum(hash(batch_id, field, present_records, null_value_records))
        from monitoring.mon_payload_fields
    """
    before = query(fingerprint)
    assert run_dbt(["build", "--full-refresh", "--select", "mon_payload_fields+", "--exclude", "mon_alerts+",
                    "tag:alerts"], quiet=True)
    assert query(fingerprint) == before
