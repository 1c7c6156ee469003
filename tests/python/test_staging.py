"""Staging on a real warehouse: the contract, the accounting, incremental runs and full refresh."""

import json
from pathlib import Path

import duckdb
import pytest

from keel.ingest import ingest
from keel.project import run_dbt
from keel.simulate import DEFECTS, SimulationConfig, simulate
from keel.warehouse import WAREHOUSE_ENV


def test_every_raw_row_is_valid_quarantined_or_a_duplicate(sql):
    mismatched = sql(
        """
        select r.batch_id
        from (select batch_id, count(*) as n from raw.events group by all) as r
        join monitoring.mon_ingestion as m using (batch_id)
        where r.n != m.valid_rows + m.quarantined_rows + m.duplicate_rows or r.n != m.raw_rows
        """
    )
    assert mismatched == []
    [(raw,)] = sql("select count(*) from raw.events")
    assert raw == 20_000


def test_each_malformed_kind_lands_in_quarantine_with_its_code(built, sql):
    made = built["simulation"].defects
    quarantined = dict(sql("select reason, count(*) from staging.stg_events__quarantine group by all"))
    expected = {kind: n for kind, n in made.items() if kind != "duplicate_event"}
    assert quarantined == expected
    [(duplicates,)] = sql("select count(*) from staging.stg_events__validated where is_duplicate")
    assert duplicates == made["duplicate_event"]
    reasons = {r for (r,) in sql("select reason from reference.quarantine_reasons")}
    assert set(DEFECTS) - {"duplicate_event"} <= reasons


def test_quarantine_keeps_the_original_payload(sql):
    rows = sql(
        """
        select q.payload = r.payload
        from staging.stg_events__quarantine as q
        join raw.events as r using (batch_id, line)
        """
    )
    assert rows and all(same for (same,) in rows)


def test_valid_events_are_typed_and_unique(sql):
    [(n, distinct, nulls)] = sql(
        "select count(*), count(distinct event_id), count(*) - count(event_ts) from staging.stg_events"
    )
    assert n == distinct and nulls == 0
    producers = dict(sql("select producer, count(*) from staging.stg_events group by all"))
    assert set(producers) == {"shop_a", "shop_b"}


def _event(shape: str, event_id: str) -> str:
    """One add_to_cart as each producer logs it."""
    if shape == "shop_a":
        return json.dumps({
            "event_id": event_id, "event_name": "add_to_cart",
            "event_time": "2026-01-05T08:30:00.123456Z", "user_id": "u42", "session_id": "s9",
            "item_id": "p7", "item_category": "toys", "price": 12.25, "quantity": 2,
            "value": 24.5, "currency": "USD",
        })
    return json.dumps({
        "event_id": event_id, "event_name": "add_to_cart", "event_timestamp": 1767601800123456,
        "user_pseudo_id": "u42", "event_params": {"ga_session_id": "s9"},
        "ecommerce": {"value": 24.5, "currency": "USD"},
        "items": [{"item_id": "p7", "item_category": "toys", "price": 12.25, "quantity": 2}],
    })


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """A warehouse of this module's own, for tests that add batches and rebuild."""
    root = tmp_path_factory.mktemp("incremental")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(WAREHOUSE_ENV, str(root / "wh" / "keel.duckdb"))
        simulate(SimulationConfig(events=3_000, users=100, days=3, malformed_rate=0.05), root / "logs")
        ingest([root / "logs"])
        assert run_dbt(["build"], quiet=True)
        yield root


def _query(root: Path, q: str):
    con = duckdb.connect(str(root / "wh" / "keel.duckdb"))
    try:
        return con.execute(q).fetchall()
    finally:
        con.close()


VALIDATED_FINGERPRINT = """
    select count(*), sum(hash(batch_id, line, event_id, event_ts, reason, is_duplicate, price))
    from staging.stg_events__validated
"""


def test_same_event_from_each_producer_lands_once_with_identical_values(small, monkeypatch):
    monkeypatch.setenv(WAREHOUSE_ENV, str(small / "wh" / "keel.duckdb"))
    extra = small / "pair.jsonl"
    extra.write_text("\n".join([
        _event("shop_a", "same-1"), _event("shop_b", "same-1"),  # one event sent by both
        _event("shop_a", "pair-a"), _event("shop_b", "pair-b"),  # the same content, two ids
    ]) + "\n")
    ingest([extra])
    assert run_dbt(["build"], quiet=True)
    rows = _query(small, """
        select event_id, producer, user_id, session_id, item_id, item_category, event_name,
               event_ts, price, quantity, value, currency
        from staging.stg_events where event_id in ('same-1', 'pair-a', 'pair-b') order by event_id
    """)
    assert [r[0] for r in rows] == ["pair-a", "pair-b", "same-1"]
    assert rows[0][1] == "shop_a" and rows[1][1] == "shop_b"
    assert rows[0][2:] == rows[1][2:] == rows[2][2:]
    [(dup,)] = _query(small, "select count(*) from staging.stg_events__validated "
                             "where event_id = 'same-1' and is_duplicate")
    assert dup == 1


def test_incremental_runs_match_a_full_refresh_and_raw_survives(small, monkeypatch):
    monkeypatch.setenv(WAREHOUSE_ENV, str(small / "wh" / "keel.duckdb"))
    # A later batch that resends an event kept by an earlier batch, plus a new one.
    [(old_event, old_batch)] = _query(small, "select event_id, batch_id from staging.stg_events "
                                             "order by batch_id, line limit 1")
    resent = _query(small, f"select payload from raw.events where batch_id = {old_batch} and line = 1")[0][0]
    later = small / "later.jsonl"
    later.write_text(resent + "\n" + _event("shop_a", "brand-new") + "\n")
    ingest([later])
    assert run_dbt(["build"], quiet=True)
    [(is_dup,)] = _query(small, f"select is_duplicate from staging.stg_events__validated "
                                f"where event_id = '{old_event}' and batch_id > {old_batch}")
    assert is_dup
    assert _query(small, "select count(*) from staging.stg_events where event_id = 'brand-new'") == [(1,)]

    incremental = _query(small, VALIDATED_FINGERPRINT)
    raw_before = _query(small, "select count(*), count(distinct batch_id) from raw.events")
    assert run_dbt(["build", "--full-refresh"], quiet=True)
    assert _query(small, VALIDATED_FINGERPRINT) == incremental
    assert _query(small, "select count(*), count(distinct batch_id) from raw.events") == raw_before


def test_rerunning_the_build_changes_nothing(small, monkeypatch):
    monkeypatch.setenv(WAREHOUSE_ENV, str(small / "wh" / "keel.duckdb"))
    before = _query(small, VALIDATED_FINGERPRINT)
    assert run_dbt(["build"], quiet=True)
    assert _query(small, VALIDATED_FINGERPRINT) == before


def test_source_freshness_and_docs_generate(small, monkeypatch, tmp_path):
    monkeypatch.setenv(WAREHOUSE_ENV, str(small / "wh" / "keel.duckdb"))
    assert run_dbt(["source", "freshness", "--output", str(tmp_path / "sources.json")], quiet=True)
    assert run_dbt(["docs", "generate", "--target-path", str(tmp_path / "docs")], quiet=True)
    assert (tmp_path / "docs" / "catalog.json").exists()


def test_incremental_plan_joins_on_hashes_not_nested_loops(small, monkeypatch):
    """An incremental run must cost what the new batches cost: a nested-loop join against every
    event already kept (which an extra ON predicate once caused) would grow with history."""
    from keel.project import project_dir

    monkeypatch.setenv(WAREHOUSE_ENV, str(small / "wh" / "keel.duckdb"))
    assert run_dbt(["compile", "--select", "stg_events__validated"], quiet=True)
    compiled = project_dir() / "target" / "compiled" / "keel" / "models" / "staging"
    sql = (compiled / "stg_events__validated.sql").read_text()
    assert "already_valid" in sql  # compiled as an incremental run
    [(_, plan)] = _query(small, f"explain {sql}")
    assert "NL_JOIN" not in plan and "HASH_JOIN" in plan
