"""The feature store: feature views, point-in-time joins, the training set and the online store."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import datetime, time, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from keel.features import feature_views, get_historical_features, get_online_features
from keel.ingest import ingest
from keel.online_store import OnlineStore, materialize, store_path
from keel.project import compile_sql, run_dbt
from keel.simulate import SimulationConfig, simulate
from keel.warehouse import WAREHOUSE_ENV, connect

# The incremental models of the feature store, by schema: what a full refresh must reproduce.
INCREMENTAL_MODELS = (
    ("features", ("user_activity_daily", "user_categories_daily", "product_activity_daily",
                  "fv_user_activity", "fv_product_popularity")),
    ("training", ("train_purchase_propensity_spine", "train_purchase_propensity")),
)


def test_every_feature_view_declares_entity_timestamp_ttl_owner_and_described_features(built):
    views = feature_views()
    assert {"fv_user_activity", "fv_product_popularity"} <= set(views)
    for view in views.values():
        assert view.entity and view.timestamp and view.ttl and view.owner, view.name
        assert view.features and all(view.descriptions[f] for f in view.features), view.name
        assert view.latest_relation, f"{view.name} has no {view.name}_latest model"


# -- the training set: no leakage ----------------------------------------------------------------

# Every feature recomputed straight from stg_events with only events before as_of: a formulation
# independent of the daily models and window functions the feature views use. days_ago 0 is the
# day before as_of (as_of is a midnight). Sessions count once per day they have events in, and a
# cart session converts when it has a purchase that day (the view's documented rules).
_COUNTED = {"item_views": "view_item", "add_to_carts": "add_to_cart", "purchases": "purchase",
            "page_views": "page_view"}
_WINDOWS = {"item_views": (1, 7, 30), "add_to_carts": (1, 7, 30), "purchases": (1, 7, 30),
            "page_views": (7, 30), "spend": (1, 7, 30), "sessions": (7, 30), "distinct_categories": (7, 30)}
_RECOMPUTED_COLUMNS = {
    **{f"{m}_{w}d": f"count(*) filter (where b.event_name = '{e}' and b.days_ago < {w})"
       for m, e in _COUNTED.items() for w in _WINDOWS[m]},
    **{f"spend_{w}d": f"cast(coalesce(sum(cast(b.value as decimal(18, 2))) filter "
                      f"(where b.event_name = 'purchase' and b.days_ago < {w}), 0) as double)"
       for w in (1, 7, 30)},
    **{f"sessions_{w}d": f"count(distinct concat(b.session_id, '|', b.days_ago)) "
                         f"filter (where b.days_ago < {w})" for w in (7, 30)},
    **{f"distinct_categories_{w}d": f"count(distinct b.item_category) filter (where b.days_ago < {w})"
       for w in (7, 30)},
    "cart_sessions_30d": "any_value(c.carts)",
    "converted_cart_sessions_30d": "any_value(c.converted)",
    "cart_abandonment_rate_30d": "any_value(1 - c.converted / nullif(c.carts, 0))",
    "days_since_last_visit": "min(b.days_ago)",
    "days_since_last_purchase":
        "min(b.days_ago) filter (where b.event_name = 'purchase' and b.days_ago < 30)",
}
RECOMPUTED = f"""
with sample as (
    select user_id, as_of
    from training.train_purchase_propensity
    order by hash(user_id, as_of)
    limit 300
),
before as (
    select s.user_id, s.as_of, e.event_name, e.event_ts, e.session_id, e.item_category, e.value,
           date_diff('day', cast(e.event_ts as date), cast(s.as_of as date) - 1) as days_ago
    from sample as s
    join staging.stg_events as e on e.user_id = s.user_id and e.event_ts < s.as_of
),
session_days as (
    select user_id, as_of, session_id, days_ago,
           bool_or(event_name = 'add_to_cart') as has_cart, bool_or(event_name = 'purchase') as has_purchase
    from before where days_ago < 30
    group by all
),
carts as (
    select user_id, as_of, count(*) filter (where has_cart) as carts,
           count(*) filter (where has_cart and has_purchase) as converted
    from session_days group by all
)
select
    s.user_id, s.as_of,
    {", ".join(f"{sql} as {name}" for name, sql in _RECOMPUTED_COLUMNS.items())}
from sample as s
left join before as b on b.user_id = s.user_id and b.as_of = s.as_of
left join carts as c on c.user_id = s.user_id and c.as_of = s.as_of
group by all
"""
CHECKED = tuple(_RECOMPUTED_COLUMNS)


def _double_encodings(con, schema: str) -> dict[str, set[str]]:
    """{table.column: the encodings of its stored segments}, for the schema's double columns."""
    encodings: dict[str, set[str]] = {}
    for (table,) in con.execute("select table_name from duckdb_columns() where schema_name = ? "
                                "and data_type = 'DOUBLE' group by all", [schema]).fetchall():
        for column, compression in con.execute(
                f"select column_name, compression from pragma_storage_info('{schema}.{table}') "
                "where segment_type = 'DOUBLE'").fetchall():
            encodings.setdefault(f"{table}.{column}", set()).add(compression)
    return encodings


def test_dbt_and_python_connections_store_doubles_as_profiles_yml_says(warehouse):
    # Python's connections (registry rows, a bench's tables) run with the profile's settings
    with connect() as con:
        assert con.execute("select current_setting('TimeZone')").fetchone()[0] == "UTC"
        con.execute("create schema scratch")
        con.execute("create table scratch.t as select random() as x, i / 4 as quarter "
                    "from range(200000) as r(i)")
        con.execute("checkpoint")
        stored = _double_encodings(con, "scratch")
    assert stored["t.x"] == {"Uncompressed"}, stored       # ALP-RD without the setting
    assert "Uncompressed" not in stored["t.quarter"], stored  # few decimals: still compressed (ALP)
    # and dbt's (the one that builds the feature views) the same
    settings = ("{% if execute %}{{ run_query(\"select current_setting('TimeZone') || ' ' || "
                "current_setting('disabled_compression_methods')\").columns[0].values()[0] }}{% endif %}")
    assert compile_sql(settings).strip().upper() == "UTC ALPRD"


def test_training_features_equal_a_recomputation_from_events_before_as_of(sql):
    """The leakage test: no feature in the training set saw an event at or after its as_of."""
    expected = {(r[0], r[1]): r[2:] for r in sql(RECOMPUTED)}
    assert len(expected) == 300
    actual = {(r[0], r[1]): r[2:] for r in sql(
        f"select user_id, as_of, {', '.join(CHECKED)} from training.train_purchase_propensity")}
    for key, want in expected.items():
        got = actual[key]
        for name, w, g in zip(CHECKED, want, got):
            if isinstance(w, float) or isinstance(g, float):
                assert g == pytest.approx(w, abs=1e-9), (key, name)
            else:
                assert g == w, (key, name, g, w)


def test_training_set_labels_only_closed_windows_and_keeps_every_spine_row(sql):
    [(last_event,)] = sql("select max(event_ts) from staging.stg_events")
    [(rows, spine_rows, latest_as_of, positives)] = sql("""
        select count(*), (select count(*) from training.train_purchase_propensity_spine),
               max(as_of), sum(label)
        from training.train_purchase_propensity""")
    assert rows == spine_rows > 0
    assert latest_as_of + timedelta(days=7) <= last_event
    assert 0 < positives < rows


@pytest.mark.parametrize("sparse_limit", [1, 3, 8])
def test_portable_point_in_time_join_gives_the_same_rows_as_duckdb(built, sql, sparse_limit):
    """DuckDB's join sends users with at most `sparse_limit` spine times through its one-pass path
    and the others through its ASOF join. The test spine's users have 1 to 4 as-of times (most 4):
    limit 1 sends nearly all through the ASOF join, 3 splits them, 8 (the default) none."""
    jinja = ("select * from ({{ point_in_time_join('training.train_purchase_propensity_spine', 'as_of', "
             "['fv_user_activity']) }})")
    duck = compile_sql(jinja, dbt_vars={"point_in_time_sparse_limit": sparse_limit})
    portable = compile_sql(jinja, dbt_vars={"portable_point_in_time_join": True})
    assert "asof" in duck.lower() and "asof" not in portable.lower()
    [(n,)] = sql(f"select count(*) from ({duck})")
    assert n == sql("select count(*) from training.train_purchase_propensity_spine")[0][0]
    assert sql(f"select count(*) from (({duck}) except all ({portable}))") == [(0,)]
    assert sql(f"select count(*) from (({portable}) except all ({duck}))") == [(0,)]


# -- the Python API ------------------------------------------------------------------------------

def test_historical_features_keep_spine_order_and_rows_and_match_the_training_set(built, sql):
    sample = sql("select user_id, as_of, label, item_views_7d, spend_30d "
                 "from training.train_purchase_propensity order by hash(user_id, as_of) limit 50")
    spine = pd.DataFrame([(u, a, lbl) for u, a, lbl, *_ in sample], columns=["user_id", "as_of", "label"])
    spine = pd.concat([spine, pd.DataFrame({"user_id": ["nobody"], "as_of": [spine.as_of[0]], "label": [0]})])
    frame = get_historical_features(spine, ["fv_user_activity:item_views_7d", "fv_user_activity:spend_30d"])
    assert list(frame.columns) == ["user_id", "as_of", "label", "item_views_7d", "spend_30d"]
    assert list(frame.user_id) == list(spine.user_id)
    assert [tuple(r) for r in frame.iloc[:-1][["item_views_7d", "spend_30d"]].itertuples(index=False)] == \
        [(r[3], r[4]) for r in sample]
    assert frame.iloc[-1][["item_views_7d", "spend_30d"]].isna().all()


def test_historical_features_outgrowing_the_memory_cap_are_retried_uncapped(built, sql, monkeypatch):
    import duckdb

    import keel.features as features_module

    rows = sql("select user_id, as_of from training.train_purchase_propensity order by all")
    spine = pd.DataFrame(rows, columns=["user_id", "as_of"])
    asked = ["fv_user_activity:item_views_7d", "fv_user_activity:spend_30d"]
    expected = get_historical_features(spine, asked)
    # the cap is the database's: once the join is done, another connection in this process to
    # the same file (as dbt's, in `keel run`) has DuckDB's own limit back, not the cap; and its
    # optimizers as they were
    from keel.warehouse import warehouse_path
    limit = "select current_setting('memory_limit')"
    [(default,)] = duckdb.connect().execute(limit).fetchall()
    other = duckdb.connect(str(warehouse_path()))
    [(disabled,)] = other.execute("select current_setting('disabled_optimizers')").fetchall()
    get_historical_features(spine, asked)
    [(after,)] = other.execute(limit).fetchall()
    # so are the optimizers the join turns off for itself
    assert other.execute("select current_setting('disabled_optimizers')").fetchall() == [(disabled,)]
    other.close()
    # set back from its text, which DuckDB rounds to 0.1 of the unit shown ('18.7 GiB'), and
    # DuckDB's default follows the free memory: near it, not equal
    assert after.split()[1] == default.split()[1]
    assert float(after.split()[0]) == pytest.approx(float(default.split()[0]), rel=0.05)
    monkeypatch.setattr(features_module, "JOIN_MEMORY_FLOOR_MB", 8)
    monkeypatch.setattr(features_module, "JOIN_MEMORY_PER_SPINE_ROW", 0)
    ran_out = []
    real = features_module.run_join

    class Watched:  # the connection run_join gets, noting each time DuckDB runs out of memory
        def __init__(self, con):
            self.con = con

        def execute(self, *args):
            try:
                self.con.execute(*args)
            except duckdb.OutOfMemoryException:
                ran_out.append(args[0][:40])
                raise
            return self

        def df(self):  # DuckDB runs the query as it fetches it
            try:
                return self.con.df()
            except duckdb.OutOfMemoryException:
                ran_out.append("select * (fetched)")
                raise

        def __getattr__(self, name):
            return getattr(self.con, name)

    monkeypatch.setattr(features_module, "run_join", lambda con, *a: real(Watched(con), *a))
    got = get_historical_features(spine, asked)
    assert any(query.startswith("select *") for query in ran_out) and len(got) == len(spine), ran_out
    pd.testing.assert_frame_equal(got, expected)


def test_historical_features_refuse_bad_requests_with_one_clear_line(built):
    spine = pd.DataFrame({"user_id": ["u1"], "as_of": ["2026-01-05"]})
    cases = {
        "unknown feature view 'fv_nope'": (spine, ["fv_nope"]),
        "has no feature 'nope'": (spine, ["fv_user_activity:nope"]),
        "in both fv_user_activity and fv_product_popularity":
            (spine, ["fv_user_activity", "fv_product_popularity"]),
        "the spine has no column as_of": (spine.rename(columns={"as_of": "t"}), ["fv_user_activity"]),
        "does not hold timestamps": (spine.assign(as_of=["not a time"]), ["fv_user_activity"]),
        "no features asked for": (spine, None),
    }
    for message, (frame, features) in cases.items():
        with pytest.raises(ValueError, match=message):
            get_historical_features(frame, features)
    with pytest.raises(ValueError, match="not a plain column name"):
        get_historical_features(spine.assign(**{"as of; drop": 1}), ["fv_user_activity"],
                                timestamp="as of; drop")
    with pytest.raises(ValueError, match="'order' is an SQL keyword"):
        get_historical_features(spine.rename(columns={"as_of": "order"}), ["fv_user_activity"],
                                timestamp="order")
    # a frame that already holds a feature (the result of an earlier call, say) would come back
    # with the old values under the feature's name
    with pytest.raises(ValueError, match="already has a column named spend_7d"):
        get_historical_features(spine.assign(spend_7d=1.0), ["fv_user_activity:spend_7d"])
    # DuckDB's names ignore case: USER_ID beside user_id could be joined on instead, SPEND_7D
    # would push the feature to spend_7d_1
    with pytest.raises(ValueError, match="differ only in case.*user_id, USER_ID"):
        get_historical_features(spine.assign(USER_ID=["u2"]), ["fv_user_activity:spend_7d"])
    with pytest.raises(ValueError, match="already has a column named spend_7d"):
        get_historical_features(spine.assign(SPEND_7D=1.0), ["fv_user_activity:spend_7d"])
    with pytest.raises(ValueError, match="may not have a column named keel_spine_row"):
        get_historical_features(spine.assign(KEEL_SPINE_ROW=1), ["fv_user_activity:spend_7d"])
    # only ASCII case: DuckDB keeps É and é apart, and so does Keel
    kept = get_historical_features(spine.assign(**{"é": 1, "É": 2}), ["fv_user_activity:spend_7d"])
    assert kept[["é", "É"]].values.tolist() == [[1, 2]]
    for features in (5, [["fv_user_activity"]], [None]):
        with pytest.raises(ValueError, match="features: "):
            get_historical_features(spine, features)
    with pytest.raises(ValueError, match=r"not plain names: relation 'features.t; drop'"):
        get_historical_features(spine, [{"relation": "features.t; drop", "entity": "user_id",
                                         "timestamp": "ts", "ttl": "1 day", "features": ["x"]}])
    with pytest.raises(ValueError, match="an ad-hoc view has exactly the keys"):
        get_historical_features(spine, [{"relation": "features.t"}])
    # the views' keys are text: integer ids would fail in DuckDB's comparison
    with pytest.raises(ValueError, match=r"entity columns \(user_id int64\) do not match"):
        get_historical_features(spine.assign(user_id=[1]), ["fv_user_activity"])


def test_a_new_process_reads_the_kept_render_without_importing_dbt(tmp_path):
    # a project of its own (the macros and settings: an ad-hoc view needs no models), so the
    # renders kept and the macro touched below are not the checkout's
    root = Path(__file__).parents[2]
    project = tmp_path / "project"
    project.mkdir()
    for name in ("dbt_project.yml", "profiles.yml"):
        shutil.copy(root / name, project / name)
    shutil.copytree(root / "macros", project / "macros")
    path = tmp_path / "wh.duckdb"
    con = duckdb.connect(str(path))
    con.execute("create schema features")
    con.execute("create table features.t as select * from (values ('a', timestamp '2026-01-01', 1.0), "
                "('a', timestamp '2026-01-02', 2.0), ('b', timestamp '2026-01-01', 3.0)) as t(k, ts, x)")
    con.close()
    script = (
        "import sys, pandas as pd\n"
        "from keel.features import get_historical_features\n"
        "spine = pd.DataFrame({'k': ['a', 'a', 'b', 'c'], 'as_of': ['2026-01-01 12:00', '2026-01-03', "
        "'2026-01-03', '2026-01-03']})\n"
        "view = {'relation': 'features.t', 'entity': 'k', 'timestamp': 'ts', 'ttl': '1 day',\n"
        "        'features': ['x']}\n"
        "frame = get_historical_features(spine, [view])\n"
        "print(frame.x.tolist(), 'dbt' in sys.modules)\n"
    )

    def run() -> str:
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                              cwd=tmp_path, env={**os.environ, WAREHOUSE_ENV: str(path),
                                                 "KEEL_PROJECT_DIR": str(project)})
        return done.stdout.strip()

    # a row exactly one ttl old is taken (a at 01-03 gets 01-02's 2.0); b's is two days old
    assert run() == "[1.0, 2.0, nan, nan] True"   # nothing kept yet: dbt renders the join
    assert run() == "[1.0, 2.0, nan, nan] False"  # the render kept under target/: no dbt
    os.utime(project / "macros" / "point_in_time.sql")  # an edited macro is rendered again
    assert run() == "[1.0, 2.0, nan, nan] True"
    # a render cut short (a crash while writing it) is rendered again, never run
    [kept] = sorted((project / "target" / "keel_rendered").glob("*.sql"), key=os.path.getmtime)[-1:]
    kept.write_text(kept.read_text()[:200])
    assert run() == "[1.0, 2.0, nan, nan] True"
    assert run() == "[1.0, 2.0, nan, nan] False"


# -- the online store ----------------------------------------------------------------------------

@pytest.fixture
def online(built, tmp_path, monkeypatch):
    monkeypatch.setenv("KEEL_ONLINE_STORE", str(tmp_path / "online.sqlite"))
    [(newest,)] = duckdb.connect(str(built["path"])).execute(
        "select max(feature_ts) from features.fv_user_activity").fetchall()
    return newest


def test_online_features_equal_historical_features_at_the_materialized_instant(online, sql):
    as_of = online - timedelta(days=2)
    counts = materialize(as_of=as_of)
    assert counts["fv_user_activity"] > 0 and counts["fv_product_popularity"] > 0
    users = [u for (u,) in sql("select distinct user_id from features.fv_user_activity order by 1 limit 40")]
    # users whose latest row is exactly one ttl (a day) old at as_of: the one instant where the
    # two differ (the join's window keeps its old end, Feast's rule; online, a row expires then)
    edge = [u for (u,) in sql("select user_id from features.fv_user_activity group by user_id "
                              "having max(feature_ts) filter (where feature_ts <= ?) = ? order by 1 limit 10",
                              [as_of, as_of - timedelta(days=1)])]
    assert edge
    spine = pd.DataFrame({"user_id": users + ["nobody"] + edge, "as_of": as_of})
    historical = get_historical_features(spine, ["fv_user_activity"])
    live = get_online_features(spine, ["fv_user_activity"], now=as_of)
    features = list(feature_views()["fv_user_activity"].features)
    # the spine's own columns are kept, as get_historical_features keeps them: one-line switch
    assert list(live.columns) == ["user_id", "as_of", *features] == list(historical.columns)
    same = len(users) + 1
    for column in features:
        assert [None if pd.isna(v) else v for v in live[column][:same]] == \
            [None if pd.isna(v) else v for v in historical[column][:same]], column
    assert live.iloc[len(users)][features].isna().all()
    assert historical.item_views_1d[same:].notna().all() and live[features][same:].isna().all().all()


def test_online_store_never_serves_an_expired_value(online, sql):
    materialize(as_of=online)
    store = OnlineStore()
    [(user, feature_ts)] = sql("select user_id, feature_ts from features.fv_user_activity_latest "
                               "order by feature_ts, user_id limit 1")
    expires = feature_ts + timedelta(days=1)  # the view's ttl: a daily row holds for one day
    [fresh] = store.lookup([user], ["fv_user_activity:item_views_30d"], now=expires - timedelta(seconds=1))
    [stale] = store.lookup([user], ["fv_user_activity:item_views_30d"], now=expires)
    assert fresh["item_views_30d"] is not None and stale["item_views_30d"] is None
    # without `now`, the store's clock starts at its as_of and runs with the wall clock
    [live] = store.lookup([user], ["fv_user_activity:item_views_30d"])
    assert live["item_views_30d"] is not None


def test_materialize_swaps_the_store_atomically_under_a_reader(online, sql):
    materialize(as_of=online)
    reader = OnlineStore()
    [user] = [u for (u,) in sql("select user_id from features.fv_user_activity_latest limit 1")]
    before = reader.lookup([user], ["fv_user_activity"], now=online)[0]
    inode = os.stat(store_path()).st_ino
    materialize(as_of=online - timedelta(days=5))
    assert os.stat(store_path()).st_ino != inode
    assert not list(Path(store_path()).parent.glob(".*.tmp"))
    after = reader.lookup([user], ["fv_user_activity"], now=online - timedelta(days=5))[0]
    assert after != before  # five days earlier, the same reader sees the new store's values


def test_online_lookups_refuse_bad_requests(online, tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="keel materialize"):
        OnlineStore(tmp_path / "missing.sqlite").lookup(["u1"], ["fv_user_activity"])
    materialize(as_of=online)
    store = OnlineStore()
    with pytest.raises(ValueError, match="has no feature"):
        store.lookup(["u1"], ["fv_user_activity:nope"])
    with pytest.raises(ValueError, match="different entities"):
        store.lookup(["u1"], ["fv_user_activity:spend_7d", "fv_product_popularity:revenue_7d"])
    with pytest.raises(ValueError, match="no column item_id"):
        store.lookup({"user_id": ["u1"]}, ["fv_product_popularity"])
    # the store's ids are text, as the warehouse's: an integer is looked up as its digits (as
    # DuckDB compares them), anything else would silently find nothing
    assert store.lookup([42], ["fv_user_activity:spend_7d"]) == [{"user_id": 42, "spend_7d": None}]
    with pytest.raises(ValueError, match=r"user_id ids are text in this store; got 4.2 \(float\)"):
        store.lookup([4.2], ["fv_user_activity"])
    with pytest.raises(ValueError, match="already has a column named spend_7d"):
        get_online_features(pd.DataFrame({"user_id": ["u1"], "spend_7d": [1.0]}),
                            ["fv_user_activity:spend_7d"])
    with pytest.raises(ValueError, match="not a time"):
        store.lookup(["u1"], ["fv_user_activity"], now="yesterday-ish")
    with pytest.raises(ValueError, match="ad-hoc views .* warehouse only"):
        get_online_features(["u1"], [{"relation": "features.t", "entity": "user_id", "timestamp": "ts",
                                      "ttl": "1 day", "features": ["x"]}])
    for features in (5, [["fv_user_activity"]]):
        with pytest.raises(ValueError, match="features: "):
            store.lookup(["u1"], features)


def test_online_lookups_take_what_historical_lookups_take(online, sql):
    materialize(as_of=online)
    [(user,)] = sql("select user_id from features.fv_user_activity_latest order by user_id limit 1")
    asked = ["fv_user_activity:spend_7d"]
    # null ids match nothing (as in the point-in-time join) instead of failing the whole lookup
    rows = get_online_features([user, None, float("nan")], asked, now=str(online))
    assert rows.spend_7d.notna().tolist() == [True, False, False]
    # one id, alone or as a dict's value, is a list of one, not a string's characters
    assert len(get_online_features(user, asked, now=online)) == 1
    assert get_online_features({"user_id": user}, asked, now=online).user_id.tolist() == [user]
    # no entities: no rows, as with an empty spine
    empty = get_online_features(pd.DataFrame({"user_id": [], "as_of": []}), asked)
    assert len(empty) == 0 and list(empty.columns) == ["user_id", "as_of", "spend_7d"]


DAY = datetime(2026, 1, 1)


def _tiny_store(path: Path, columns: dict, view: str = "v") -> Path:
    """A store of one view written as `keel materialize` writes one: `columns` are the entity's
    (the first) and the features', one row each per entity, at DAY and live for a day."""
    import pyarrow as pa

    from keel.features import FeatureView
    from keel.online_store import _epoch_us, _write_store

    entity, *features = columns
    rows = len(columns[entity])
    table = pa.table({entity: columns[entity], "feature_ts": [DAY] * rows,
                      "expires_at_us": [_epoch_us(DAY + timedelta(days=1))] * rows,
                      **{f: columns[f] for f in features}})
    definition = FeatureView(name=view, entity=entity, timestamp="feature_ts", ttl="1 day", owner="",
                             features=tuple(features), descriptions={}, relation=view, latest_relation="")
    _write_store(path, [definition], {view: table}, _epoch_us(DAY), _epoch_us(DAY))
    return path


def test_online_ids_convert_as_the_warehouse_compares_them(tmp_path):
    store = OnlineStore(_tiny_store(tmp_path / "s.sqlite", {"k": [42], "x": [1.0]}))
    now = DAY + timedelta(hours=1)
    # an integer key: a whole number as text or as a float (a pandas integer column with a null
    # is float) finds the row; nulls and unknown ids find nothing
    found = store.lookup({"k": [42, "42", 42.0, None, float("nan"), 7]}, ["v"], now=now)
    assert [r["x"] for r in found] == [1.0, 1.0, 1.0, None, None, None]
    frame = store.frame(pd.DataFrame({"k": [42, None]}), ["v"], now=now)
    assert frame.x.tolist()[0] == 1.0 and pd.isna(frame.x.tolist()[1])
    with pytest.raises(ValueError, match=r"k ids are integers in this store; got 'u1' \(str\)"):
        store.lookup(["u1"], ["v"], now=now)
    for huge in (10**20, "99999999999999999999", 1e20):  # SQLite would raise OverflowError
        with pytest.raises(ValueError, match="out of range of the store's integer ids"):
            store.lookup([huge], ["v"], now=now)


def test_online_store_keeps_feature_types_and_takes_any_path(tmp_path):
    import decimal
    import sqlite3

    import pyarrow as pa

    # a DECIMAL feature (DuckDB's sum of decimals) is served as a double; booleans, dates and
    # times come back as the warehouse gives them, not as SQLite stores them (1, ISO text)
    columns = {"k": ["a", "b"], "x": pa.array([decimal.Decimal("12.34"), None], pa.decimal128(38, 2)),
               "flag": [True, None], "first_day": [DAY.date(), None],
               "last_seen": [DAY - timedelta(seconds=1.5), None], "opens": [time(9, 30), None],
               "recent": [[1, 2], None]}  # no SQLite class for a LIST: served as JSON text
    for folder in ("plain", "a#b?c%41d"):  # characters a file URI would otherwise take as syntax
        path = _tiny_store(tmp_path / folder / "s.sqlite", columns)
        found = OnlineStore(path).lookup(["a", "b"], ["v"], now=DAY + timedelta(hours=1))
        assert found == [{"k": "a", "x": 12.34, "flag": True, "first_day": DAY.date(),
                          "last_seen": DAY - timedelta(seconds=1.5), "opens": time(9, 30),
                          "recent": "[1, 2]"},
                         {"k": "b", "x": None, "flag": None, "first_day": None, "last_seen": None,
                          "opens": None, "recent": None}], folder
        assert type(found[0]["flag"]) is bool
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a#b?c%41d", "plain"]  # no stray file
    # as sqlite3 reads declared times ("YYYY-MM-DD HH:MM:SS"), for anyone opening it that way
    with sqlite3.connect(path, detect_types=sqlite3.PARSE_DECLTYPES) as con:
        [(seen,)] = con.execute("select last_seen from v where k = 'a'").fetchall()
        assert seen == DAY - timedelta(seconds=1.5)
    # ids of a view keyed by a date (or a time) are matched as text, as before
    by_day = _tiny_store(tmp_path / "by_day.sqlite", {"d": [DAY.date()], "y": [2.0]})
    assert OnlineStore(by_day).lookup(["2026-01-01"], ["v"], now=DAY) == [{"d": "2026-01-01", "y": 2.0}]


def test_the_default_online_reader_follows_a_repointed_link(tmp_path, monkeypatch):
    for value in (1, 2):
        _tiny_store(tmp_path / f"r{value}" / "s.sqlite", {"k": ["a"], "x": [float(value)]})
    (tmp_path / "current").symlink_to(tmp_path / "r1")
    monkeypatch.setenv("KEEL_ONLINE_STORE", str(tmp_path / "current" / "s.sqlite"))
    asked = (f for f in ["v:x"])  # any iterable of names, read once
    assert get_online_features(["a"], asked, now=DAY).x.tolist() == [1.0]
    (tmp_path / "next").symlink_to(tmp_path / "r2")
    os.replace(tmp_path / "next", tmp_path / "current")  # a deploy repoints the link
    assert get_online_features(["a"], ["v:x"], now=DAY).x.tolist() == [2.0]
    # and materializing to a link writes through it: the target replaced, the link kept
    (tmp_path / "link.sqlite").symlink_to(tmp_path / "r1" / "s.sqlite")
    _tiny_store(tmp_path / "link.sqlite", {"k": ["a"], "x": [3.0]})
    assert (tmp_path / "link.sqlite").is_symlink()
    assert OnlineStore(tmp_path / "r1" / "s.sqlite").lookup(["a"], ["v:x"], now=DAY) == [{"k": "a", "x": 3.0}]


_SWAPPING_READERS = """
import os, shutil, sys, threading, time
from pathlib import Path
from keel.online_store import OnlineStore
path = Path(sys.argv[1])
copies = [path.with_name(n) for n in ("a.sqlite", "b.sqlite")]
for c in copies:
    shutil.copy(path, c)
store, done, counts = OnlineStore(path), threading.Event(), []
def read():
    n = 0
    while not done.is_set():
        [row] = store.lookup([sys.argv[2]], ["fv_user_activity:spend_7d"], now=sys.argv[3])
        assert row["spend_7d"] is not None
        n += 1
    counts.append(n)
threads = [threading.Thread(target=read) for _ in range(3)]
for t in threads:
    t.start()
swaps, end = 0, time.monotonic() + 2
while time.monotonic() < end:
    tmp = path.with_name(f".swap{swaps}.tmp")
    shutil.copy(copies[swaps % 2], tmp)
    os.replace(tmp, path)
    swaps += 1
    time.sleep(0.002)
done.set()
for t in threads:
    t.join()
print(swaps, len(counts), sum(counts))
"""


def test_threads_reading_the_online_store_survive_swaps(online, sql, tmp_path):
    # A swap used to close the connection other threads were reading through: a segfault.
    # In a process of its own, so a crash fails this test rather than the whole run.
    materialize(as_of=online)
    path = tmp_path / "store.sqlite"
    shutil.copy(store_path(), path)
    [(user,)] = sql("select user_id from features.fv_user_activity_latest order by user_id limit 1")
    done = subprocess.run([sys.executable, "-c", _SWAPPING_READERS, str(path), user, str(online)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    swaps, threads, lookups = map(int, done.stdout.split())
    assert swaps > 50 and threads == 3 and lookups > 0


@pytest.mark.parametrize("content", [b"", b"not a database at all", "old"])
def test_an_unreadable_online_store_says_to_materialize_again(tmp_path, content):
    path = tmp_path / "store.sqlite"
    if content == "old":  # a store written before the catalog had its clock columns
        import sqlite3
        con = sqlite3.connect(path)
        con.execute("create table keel_feature_views (view text, entity text, features text)")
        con.commit()
        con.close()
    else:
        path.write_bytes(content)
    with pytest.raises(RuntimeError, match="not an online store this Keel can read.*keel materialize"):
        OnlineStore(path).lookup(["u1"], ["fv_user_activity"])


def test_materialize_as_of_a_past_instant_leaves_the_built_latest_values_alone(online, sql):
    latest = "select count(*), sum(hash(user_id, feature_ts)) from features.fv_user_activity_latest"
    before = sql(latest)
    counts = materialize(as_of=online - timedelta(days=3))
    assert sql(latest) == before  # `keel score` reads this table: it still describes the newest day
    # and the store holds what the latest-values model gives at that instant
    as_of = online - timedelta(days=3)  # a daily row holds for its day: (as_of - 1 day, as_of]
    [(n,)] = sql("select count(distinct user_id) from features.fv_user_activity "
                 "where feature_ts > ? and feature_ts <= ?", [as_of - timedelta(days=1), as_of])
    assert counts["fv_user_activity"] == n


# -- incremental feature views -------------------------------------------------------------------

def _fingerprints(path: Path) -> dict:
    con = duckdb.connect(str(path))
    try:
        out = {}
        for schema, models in INCREMENTAL_MODELS:
            for model in models:
                columns = [c for (c,) in con.execute(
                    "select column_name from information_schema.columns where table_schema = ? "
                    "and table_name = ? and column_name <> 'loaded_through_batch'",
                    [schema, model]).fetchall()]
                out[model] = con.execute(f"select count(*), sum(hash({', '.join(columns)})) "
                                         f"from {schema}.{model}").fetchone()
        return out
    finally:
        con.close()


def test_incremental_feature_views_and_training_sets_with_late_data_match_a_full_refresh(
        tmp_path, monkeypatch):
    path = tmp_path / "wh" / "keel.duckdb"
    monkeypatch.setenv(WAREHOUSE_ENV, str(path))
    # longer than the 30-day windows, so that incremental runs read only part of the history and
    # users fall out of the dense grid within it (the rows a run writes depend on both)
    base = SimulationConfig(events=8_000, users=150, days=40, malformed_rate=0.02, seed=3)
    simulate(base, tmp_path / "first")
    # and users who go quiet after the first 20 days: their rows end within the later runs' context
    simulate(SimulationConfig(events=3_000, users=300, days=20, seed=6), tmp_path / "early")
    ingest([tmp_path / "first", tmp_path / "early"])
    assert run_dbt(["build"], quiet=True)
    # Incremental runs by both ways, each checked by the full refresh at the end (so no later run
    # may rewrite its rows): a late file 16 days back (window functions), a late file 2 days back
    # (a slide over late data), then two new days after a day without any events (a slide from the
    # last stored day, which must write the empty day too). The training sets: the late files
    # change labels up to 7 days back; the new days close as-of times from before those 7 days.
    late = SimulationConfig(events=500, users=150, days=1, seed=5, start=datetime(2026, 1, 25).date())
    late_again = SimulationConfig(events=300, users=150, days=1, seed=7, start=datetime(2026, 2, 8).date())
    later = SimulationConfig(events=2_000, users=150, days=2, seed=4, start=datetime(2026, 2, 12).date())
    for name, cfg in (("late", late), ("late_again", late_again), ("later", later)):
        simulate(cfg, tmp_path / name)
        ingest([tmp_path / name])
        # Runs that leave some models behind (say those failed), which later runs must make up.
        # After the late file: training sets that see staging but not the activity and features
        # built from it, then the activity but not the features. After the new days: the features
        # built while user_categories_daily, one of their two inputs, still lags.
        lagging_runs = {"late": (["user_activity_daily", "fv_user_activity"], ["fv_user_activity"]),
                        "later": (["user_categories_daily"],)}
        for lagging in lagging_runs.get(name, ()):
            assert run_dbt(["run", "--select", "+train_purchase_propensity", "--exclude", *lagging],
                           quiet=True)
        assert run_dbt(["run", "--select", "+features", "+train_purchase_propensity"], quiet=True)
    incremental = _fingerprints(path)
    assert incremental["train_purchase_propensity"][0] > 0, "no training rows: the test checks nothing"
    assert run_dbt(["run", "--select", "features", "train_purchase_propensity_spine",
                    "train_purchase_propensity", "--full-refresh"], quiet=True)
    assert _fingerprints(path) == incremental
