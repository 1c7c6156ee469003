"""The feature store's Python side: feature view definitions and point-in-time training frames.

Feature views are dbt models whose yml carries ``config.meta.keel`` (entity, timestamp, ttl,
owner, features); this module reads them from dbt's manifest, never from a copy. Historical
frames are computed in the warehouse by the same ``point_in_time_join`` macro the training
models use, rendered by dbt, so a notebook and a dbt model can never disagree on the rules.

    frame = get_historical_features(spine, ["fv_user_activity"])   # from the warehouse
    frame = get_online_features(spine, ["fv_user_activity"])       # from the online store
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

import duckdb
import pandas as pd

from keel.project import compile_sql, manifest, relation_name, render_stamp, rendered_cache_dir
from keel.warehouse import connect, warehouse_path

# Names that reach SQL from a caller are checked against this before use; feature and view names
# are also checked against the manifest.
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
SPINE_RELATION = "keel_spine"
_ROW = "keel_spine_row"
# DuckDB's memory cap while it joins: without one its buffer pool keeps every block of the views it
# read (up to 80% of RAM by default). The join streams over the views, so what it needs grows with
# the spine, not the views. Measured on the bench's 10M-row view: 100k spine rows ran in 48 MB (not
# 40), 200k in 80 (not 64), 400k in 96, 800k in 128; so 480 bytes a spine row, never less than
# 64 MB (bench/README.md, "Point-in-time join").
JOIN_MEMORY_FLOOR_MB = 64
JOIN_MEMORY_PER_SPINE_ROW = 480


@dataclass(frozen=True)
class FeatureView:
    """One feature view, as its yml declares it."""

    name: str
    entity: str
    timestamp: str
    ttl: str
    owner: str
    features: tuple[str, ...]
    descriptions: dict[str, str]
    relation: str          # quoted "database"."schema"."table", as dbt built it
    latest_relation: str   # the view's latest-values model (what the online store holds)
    ad_hoc: bool = False   # a relation given by the caller, not a declared view (ad_hoc_view)


def feature_views() -> dict[str, FeatureView]:
    """Every feature view in the project, by name."""
    nodes = [n for n in manifest()["nodes"].values() if n["resource_type"] == "model"]
    by_name = {n["name"]: n for n in nodes}
    views = {}
    for node in nodes:
        meta = node["config"].get("meta", {}).get("keel", {})
        if "features" not in meta or "entity" not in meta:
            continue
        latest = by_name.get(f"{node['name']}_latest")
        columns = node.get("columns", {})
        views[node["name"]] = FeatureView(
            name=node["name"],
            entity=meta["entity"],
            timestamp=meta["timestamp"],
            ttl=str(meta["ttl"]),
            owner=meta.get("owner", ""),
            features=tuple(meta["features"]),
            descriptions={f: columns.get(f, {}).get("description", "") for f in meta["features"]},
            relation=relation_name(node),
            latest_relation=relation_name(latest) if latest else "",
        )
    return views


def choose(features, catalog: dict[str, tuple[str, ...]]) -> dict[str, list[str]]:
    """['view' | 'view:feature', ...] (a list, as feature_items gives) to {view: [features asked
    for]}, in the order asked.

    `catalog` maps each known view to its features. The same rules as the point_in_time_join
    macro: a bare view name means all its features; a feature name may come from only one view.
    """
    if not features:
        raise ValueError("no features asked for: name feature views ('fv_user_activity') "
                         "or features ('fv_user_activity:spend_7d')")
    chosen: dict[str, list[str]] = {}
    owner_of: dict[str, str] = {}
    for item in features:
        name, _, feature = str(item).partition(":")
        if name not in catalog:
            raise ValueError(f"unknown feature view {name!r}; feature views: {', '.join(sorted(catalog))}")
        for f in [feature] if feature else catalog[name]:
            if f not in catalog[name]:
                raise ValueError(f"feature view {name} has no feature {f!r}; "
                                 f"it has: {', '.join(catalog[name])}")
            if owner_of.setdefault(f, name) != name:
                raise ValueError(f"feature {f} is in both {owner_of[f]} and {name}; ask for one of them")
            if f not in chosen.setdefault(name, []):
                chosen[name].append(f)
    return chosen


def resolve(features) -> list[tuple[FeatureView, list[str]]]:
    """Like choose(), against the project's feature views: [(view, [features])]. An item may also
    be an ad-hoc view, as the macro takes one (see ad_hoc_view); those come after the others."""
    items = feature_items(features)
    if not items:
        choose(items, {})  # its error: no features asked for
    named = [f for f in items if not isinstance(f, dict)]
    out = []
    if named:
        known = feature_views()
        chosen = choose(named, {name: v.features for name, v in known.items()})
        out = [(known[name], fs) for name, fs in chosen.items()]
    out += [(v, list(v.features)) for v in map(ad_hoc_view, (f for f in items if isinstance(f, dict)))]
    seen: dict[str, str] = {}
    for view, fs in out:
        for f in fs:
            if seen.setdefault(f, view.name) != view.name:
                raise ValueError(f"feature {f} is in both {seen[f]} and {view.name}; ask for one of them")
    return out


def feature_items(features, ad_hoc: bool = True) -> list:
    """The `features` argument as a list: 'view' and 'view:feature' names (one may stand alone)
    and, where the warehouse is read (`ad_hoc`), ad-hoc views (dicts). Anything else is refused in
    one line, not left to fail later as a TypeError."""
    if features is None:
        return []
    items = [features] if isinstance(features, str | dict) else features
    if isinstance(items, bytes) or not isinstance(items, Iterable):
        raise ValueError(f"features: expected a list of names ('fv_user_activity', "
                         f"'fv_user_activity:spend_7d'), got {features!r}")
    items = list(items)
    for item in items:
        if isinstance(item, dict) and not ad_hoc:
            raise ValueError("features: ad-hoc views (dicts) are read from the warehouse only; the "
                             "online store holds the project's feature views")
        if not isinstance(item, str | dict):
            raise ValueError(f"features: {item!r} is not a name like 'fv_user_activity' or "
                             "'fv_user_activity:spend_7d'")
    return items


_AD_HOC_KEYS = ("relation", "entity", "timestamp", "ttl", "features")
_RELATION = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*){0,2}$")
_TTL = re.compile(r"^[0-9]+ [A-Za-z]+$")


def ad_hoc_view(item: dict) -> FeatureView:
    """A relation that is not a declared feature view, given as the point_in_time_join macro takes
    one: {relation, entity, timestamp, ttl ('30 days'), features}. For one-off analyses and
    bench/; its names are checked here, as they go into SQL."""
    if set(item) != set(_AD_HOC_KEYS):
        raise ValueError(f"an ad-hoc view has exactly the keys {', '.join(_AD_HOC_KEYS)}; "
                         f"this one has {', '.join(map(str, item))}")
    features = item["features"]
    if isinstance(features, str) or not len(features):
        raise ValueError("an ad-hoc view's features are a non-empty list of column names")
    bad = [repr(n) for n in (item["entity"], item["timestamp"], *features)
           if not (isinstance(n, str) and IDENTIFIER.match(n))]
    if not _RELATION.match(str(item["relation"])):
        bad.append(f"relation {item['relation']!r}")
    if not _TTL.match(str(item["ttl"])):
        bad.append(f"ttl {item['ttl']!r} (not like '30 days')")
    if bad:
        raise ValueError(f"ad-hoc view: not plain names: {', '.join(bad)}")
    return FeatureView(name=str(item["relation"]), entity=item["entity"], timestamp=item["timestamp"],
                       ttl=str(item["ttl"]), owner="", features=tuple(features), descriptions={},
                       relation=str(item["relation"]), latest_relation="", ad_hoc=True)


def _jinja_item(view: FeatureView, features: list[str]) -> str:
    """The view's part of the macro's `features` list: 'view:feature' items, or an ad-hoc dict."""
    if not view.ad_hoc:
        return ", ".join(repr(f"{view.name}:{f}") for f in features)
    return (f"{{'relation': {view.relation!r}, 'entity': {view.entity!r}, 'timestamp': {view.timestamp!r}, "
            f"'ttl': {view.ttl!r}, 'features': {list(view.features)!r}}}")


def point_in_time_sql(views: list[tuple[FeatureView, list[str]]], timestamp: str) -> str:
    """The point-in-time join of SPINE_RELATION for resolved `views`, as get_historical_features
    runs it (rendered once, then kept: see _point_in_time_sql)."""
    items = tuple(_jinja_item(v, fs) for v, fs in views)
    definitions = tuple((v.name, v.entity, v.timestamp, v.ttl, v.features, v.relation) for v, _ in views)
    return _point_in_time_sql(items, timestamp, definitions)


def _point_in_time_sql(items: tuple[str, ...], timestamp: str, definitions: tuple) -> str:
    """The macro rendered for a request: by dbt (its import and compile take seconds, and rewrite
    the manifest) once, then from a file under dbt's target/ keyed by the request, the views'
    definitions and everything the render depends on (project.render_stamp), so a new process (a
    training script run again) does not import dbt at all. The file ends with its key: a file cut
    short (a crash while writing) is rendered again, never run."""
    key = hashlib.sha256(repr((items, timestamp, definitions, render_stamp())).encode()).hexdigest()
    path = rendered_cache_dir() / f"point_in_time_{key[:32]}.sql"
    trailer = f"\n-- keel render {key}\n"
    try:
        kept = path.read_text()
        if kept.endswith(trailer):
            return kept[: -len(trailer)]
    except OSError:
        pass
    listed = ", ".join(items)
    sql = compile_sql(f"{{{{ point_in_time_join('{SPINE_RELATION}', '{timestamp}', [{listed}]) }}}}")
    try:  # written aside under a name of its own and renamed: a reader never sees half a file
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            f.write(sql + trailer)
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only project: render again next time
    return sql


def get_historical_features(
    spine: pd.DataFrame, features: list[str], timestamp: str = "as_of"
) -> pd.DataFrame:
    """The spine with, for each row, feature values as they were known at its `timestamp`.

    `features`: 'view' (all its features) and 'view:feature' items, and ad-hoc views (a dict,
    see ad_hoc_view) for a table that is not a declared feature view. `spine` needs the entity
    column of every view asked for and the `timestamp` column; other columns (a label, say) are
    kept. One output row per spine row, in the spine's order; a row whose entity has no feature row
    within a view's ttl gets nulls for that view. Naive times are taken as UTC, and the
    `timestamp` column comes back as naive UTC, as the warehouse holds times.

    The first call for a request renders the macro with dbt (seconds: dbt's import and compile);
    later calls, in this process or a new one, read the render kept under target/.
    """
    return historical_frame(spine, resolve(features), timestamp)


def historical_frame(spine, views: list[tuple[FeatureView, list[str]]], timestamp: str,
                     settings: tuple[str, ...] = ()) -> pd.DataFrame:
    """get_historical_features for resolved `views`; `settings` as for run_join (bench/)."""
    frame = _checked_spine(spine, [v.entity for v, _ in views], timestamp)
    refuse_feature_columns(frame.columns, [f for _, fs in views for f in fs], "spine")
    sql = point_in_time_sql(views, timestamp)
    frame[_ROW] = range(len(frame))
    with connect() as con:
        try:
            return run_join(con, sql, frame, settings)
        except (duckdb.ConversionException, duckdb.BinderException, duckdb.CatalogException) as e:
            error = str(e).splitlines()[0]
            if isinstance(e, duckdb.ConversionException) or "Cannot compare" in error:
                # an entity column of another type than the view's key (text ids against ints, say)
                keys = ", ".join(f"{c} {frame[c].dtype}" for c in dict.fromkeys(v.entity for v, _ in views))
                raise ValueError(f"the spine's entity columns ({keys}) do not match the feature views' "
                                 f"keys: {error}") from None
            # a view not built in this warehouse, an ad-hoc view's missing column
            raise ValueError(f"the point-in-time join could not run: {error} (is every view built in "
                             f"{warehouse_path()}? `keel dbt build` builds them)") from None


def sql_folded(name) -> str:
    """A column name as DuckDB compares names: ASCII letters without case (É and é stay apart)."""
    return str(name).encode().lower().decode()


def refuse_feature_columns(columns, features: list[str], what: str) -> None:
    """A frame that already has a column named as a feature asked for would come back with two
    (the warehouse renames the second): refused, for the spine here and the entities online."""
    # DuckDB's column names ignore (ASCII) case, so SPEND_7D would clash as well
    folded = {sql_folded(c) for c in columns}
    clash = [f for f in features if sql_folded(f) in folded]
    if clash:
        raise ValueError(f"the {what} already has a column named {', '.join(clash)}, a feature asked for: "
                         "drop or rename it")


def run_join(con: duckdb.DuckDBPyConnection, sql: str, frame: pd.DataFrame,
             settings: tuple[str, ...] = ()) -> pd.DataFrame:
    """The rendered join run for `frame` (a checked spine with its row-number column): one row
    per spine row, in order. `settings` (DuckDB statements) run after Keel's own: for bench/."""
    limit_mb = max(JOIN_MEMORY_FLOOR_MB, len(frame) * JOIN_MEMORY_PER_SPINE_ROW // 1_000_000)
    [(default, disabled)] = con.execute(
        "select current_setting('memory_limit'), current_setting('disabled_optimizers')").fetchall()
    # Both settings belong to the database, not this connection: set back in `finally`, or every
    # other connection to the same file in this process (dbt's, say) would keep them.
    try:
        try:
            con.execute(f"set memory_limit = '{limit_mb}MB'")
        except duckdb.OutOfMemoryException:
            pass  # the connection already holds more than the cap: run as it is
        # The macro puts the side that grows with the spine on the build side of every hash join,
        # which is what lets the cap above follow the spine. DuckDB's build_side_probe_side would
        # swap sides on its estimates, which the join's range conditions throw far off: on a view
        # stamped by the day it built a hash table over all 10M feature rows (1.7 GB, 1.9 s
        # instead of 0.6 s; bench/README.md, "daily" configuration).
        con.execute("set disabled_optimizers = '"
                    + ",".join(filter(None, [disabled, "build_side_probe_side"])) + "'")
        for statement in settings:
            con.execute(statement)
        con.register(SPINE_RELATION, frame)
        # the row number orders the result but is not returned: no copy of the frame to drop it
        query = f"select * exclude ({_ROW}) from ({sql}) as joined order by {_ROW}"
        try:
            return con.execute(query).df()
        except duckdb.OutOfMemoryException:
            # DuckDB spills what it can to disk; a join that still needs more gets the limit the
            # connection had. Set back explicitly: `reset memory_limit` shows DuckDB's default in
            # current_setting but leaves the buffer pool at the cap (DuckDB 1.5.6, measured).
            con.execute(f"set memory_limit = '{default}'")
            return con.execute(query).df()
    finally:
        con.execute(f"set memory_limit = '{default}'")
        con.execute(f"set disabled_optimizers = '{disabled}'")


@lru_cache(maxsize=1)
def _sql_keywords() -> frozenset[str]:
    """DuckDB's words that cannot stand as a bare column name (`order`, `end`, `at`): the macro
    uses the spine's time column unquoted, as dbt models pass it."""
    rows = duckdb.sql("select keyword_name from duckdb_keywords() "
                      "where keyword_category in ('reserved', 'type_function')").fetchall()
    return frozenset(w for (w,) in rows)


def _checked_spine(spine, entities: list[str], timestamp: str) -> pd.DataFrame:
    """A copy of the spine fit for the join: names checked, times as naive UTC."""
    if not isinstance(spine, pd.DataFrame):
        raise ValueError("the spine must be a pandas DataFrame with entity and timestamp columns")
    if not IDENTIFIER.match(timestamp):
        raise ValueError(f"timestamp column {timestamp!r} is not a plain column name")
    if timestamp.lower() in _sql_keywords():
        raise ValueError(f"timestamp column {timestamp!r} is an SQL keyword: rename it (as_of, say)")
    missing = [c for c in dict.fromkeys([*entities, timestamp]) if c not in spine.columns]
    if missing:
        raise ValueError(f"the spine has no column {', '.join(missing)} "
                         f"(it has: {', '.join(map(str, spine.columns))})")
    # DuckDB takes column names without regard to case: two that differ only in case would be
    # renamed, and the join could read the other one (USER_ID for user_id)
    by_folded: dict[str, list[str]] = {}
    for c in map(str, spine.columns):
        by_folded.setdefault(sql_folded(c), []).append(c)
    same = [names for names in by_folded.values() if len(names) > 1]
    if same:
        raise ValueError("the spine has columns whose names differ only in case, which the warehouse "
                         f"does not tell apart: {'; '.join(', '.join(n) for n in same)}")
    if _ROW in by_folded:
        raise ValueError(f"the spine may not have a column named {_ROW}")
    frame = spine.copy()
    try:
        # naive times are taken as UTC, like every timestamp in the warehouse
        ts = pd.to_datetime(frame[timestamp], format="ISO8601", utc=True)
    except (ValueError, TypeError) as e:
        raise ValueError(f"spine column {timestamp} does not hold timestamps: {e}") from None
    frame[timestamp] = ts.dt.tz_localize(None).astype("datetime64[us]")
    return frame


def get_online_features(entities, features: list[str], now=None) -> pd.DataFrame:
    """Latest unexpired feature values from the online store (see keel.online_store).

    `entities`: a DataFrame (or dict of columns) holding each view's entity column, as a spine
    does, or a plain list of ids (or one id) when every view asked for has the same entity. One
    row per entity, in order; an unknown, null or expired entity gets nulls. A DataFrame's other
    columns are kept, as get_historical_features keeps the spine's, so either call serves the
    same frame. `now` (default: the store's clock) may be a datetime or a time as text.
    """
    from keel.online_store import default_store

    return default_store().frame(entities, features, now=now)
