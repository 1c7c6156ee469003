"""The online store: each feature view's latest values, in a SQLite file of its own.

Serving must never hold the warehouse's lock (DuckDB lets one process in), so `keel materialize`
copies every feature view's latest-values model (`<view>_latest`) out of the warehouse into
``<warehouse>_online.sqlite`` beside it (or ``KEEL_ONLINE_STORE``). SQLite because it is in the
standard library, answers a primary-key lookup in microseconds from any number of reader
processes, and any analyst can open it with plain SQL.

Swaps are atomic: the new store is written to a temporary file and renamed over the old one.
Readers notice the new file (its inode changes) on their next lookup and reopen; a reader
holding the old file keeps a consistent snapshot until then.

Expiry is checked against the store's clock, not only when it is written: a value is served
only while ``now < feature_ts + ttl`` (Feast keeps serving expired values: its issue 1802). The
store's clock is the wall clock, unless it was materialized ``--as-of`` a past instant (replaying
history, or simulated data); then it runs from that instant at the wall clock's pace.
"""

from __future__ import annotations

import json
import numbers
import os
import re
import sqlite3
import time
from collections.abc import Iterable
from datetime import UTC, date, datetime
from datetime import time as time_of_day
from pathlib import Path

import pandas as pd
import pyarrow as pa

from keel.features import FeatureView, choose, feature_items, feature_views, refuse_feature_columns
from keel.project import PROJECT_ENV, model_relation
from keel.warehouse import WAREHOUSE_ENV, connect, warehouse_path

ONLINE_STORE_ENV = "KEEL_ONLINE_STORE"
CATALOG = "keel_feature_views"


def store_path() -> Path:
    """``KEEL_ONLINE_STORE``, else ``<warehouse stem>_online.sqlite`` beside the warehouse."""
    if os.environ.get(ONLINE_STORE_ENV):
        # absolute, but symlinks kept: a link repointed to another store is followed
        return Path(os.environ[ONLINE_STORE_ENV]).expanduser().absolute()
    path = warehouse_path()
    return path.with_name(f"{path.stem}_online.sqlite")


def _epoch_us(moment: datetime | None) -> int:
    """Microseconds since the epoch; naive datetimes are UTC, like the warehouse's."""
    if moment is None:
        return time.time_ns() // 1000
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1_000_000)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# SQLite's storage classes, plus declared types it keeps but does not store (booleans are
# integers; dates and times ISO text, "YYYY-MM-DD HH:MM:SS" as sqlite3 reads naive ones): readers
# turn a feature's back (_FROM_STORED), so it comes back as the type the warehouse gives it. Keys
# and feature_ts keep their storage class as the type: ids are matched as they are given.
_SQLITE_TYPES = (
    (pa.types.is_boolean, "boolean"), (pa.types.is_integer, "integer"),
    (pa.types.is_floating, "real"), (pa.types.is_decimal, "real"),
    (pa.types.is_date, "date"), (pa.types.is_timestamp, "timestamp"), (pa.types.is_time, "time"),
)
_FROM_STORED = {"boolean": bool, "date": date.fromisoformat, "timestamp": datetime.fromisoformat,
                "time": time_of_day.fromisoformat}
_NATIVE = (type(None), int, float, str, bytes)


def _sqlite_type(arrow_type: pa.DataType, feature: bool = True) -> str:
    declared = next((t for test, t in _SQLITE_TYPES if test(arrow_type)), "text")
    return declared if feature else _sqlite_type_of_key(declared)


def _sqlite_type_of_key(declared: str) -> str:
    """Keys (and feature_ts) keep their storage class as their type: ids match as given."""
    return {"boolean": "integer", "date": "text", "timestamp": "text", "time": "text"}.get(declared, declared)


def _bound_as_is(arrow_type: pa.DataType) -> bool:
    """Numbers and text: SQLite takes their Python values as they are."""
    types = pa.types
    return types.is_integer(arrow_type) or types.is_floating(arrow_type) or types.is_string(arrow_type)


def _stored(value):
    """A value as SQLite takes it: dates and times as ISO text; anything else SQLite has no class
    for (an INTERVAL, a LIST or STRUCT feature) as JSON text, served as such, not a traceback."""
    if isinstance(value, _NATIVE):
        return value
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date | time_of_day):
        return value.isoformat()
    return json.dumps(value, default=str)


# -- writing -------------------------------------------------------------------------------------

def materialize(as_of: datetime | None = None) -> dict[str, int]:
    """Copy every feature view's latest unexpired values to a new online store; rows per view.

    `as_of` (default now) is the instant the store describes: each entity's latest row at that
    instant, none already expired then, and the store's clock starts there. With an `as_of`, the
    latest-values models are compiled for it (dbt var online_as_of) and read as queries; the
    tables dbt built are not touched.
    """
    if not warehouse_path().exists():
        raise FileNotFoundError(f"no warehouse at {warehouse_path()}: run `keel run` first")
    views = list(feature_views().values())
    if not views:
        raise RuntimeError("the project has no feature views (models with config.meta.keel)")
    missing = [v.name for v in views if not v.latest_relation]
    if missing:
        raise RuntimeError(f"no latest-values model for {', '.join(missing)}: add <view>_latest "
                           "(see models/features/fv_user_activity_latest.sql)")
    moment = None
    if as_of is not None:
        moment = as_of.astimezone(UTC).replace(tzinfo=None) if as_of.tzinfo else as_of
    # With an as_of, each latest-values model's SQL is compiled for that instant and read here,
    # in this connection: the built tables (which `keel score` reads) are left as dbt built them.
    latest = {v.name: model_relation(v.name + "_latest", moment) for v in views}
    as_of_us = _epoch_us(as_of)
    materialized_at_us = _epoch_us(None)
    tables = {}
    with connect() as con:
        for view in views:
            try:
                tables[view.name] = con.execute(
                    f"select * exclude (expires_at), epoch_us(expires_at) as expires_at_us "
                    f"from {latest[view.name]} where epoch_us(expires_at) > ?", [as_of_us]
                ).to_arrow_table()
            except Exception as e:  # duckdb.CatalogException and friends: not built yet
                if "does not exist" in str(e):
                    raise RuntimeError(f"{view.name} or {view.name}_latest is not built yet: "
                                       "run `keel dbt build`") from None
                raise
    _write_store(store_path(), views, tables, as_of_us, materialized_at_us)
    return {name: t.num_rows for name, t in tables.items()}


def newest_feature_times() -> dict[str, datetime | None]:
    """Each feature view's newest feature time in the warehouse: what `--as-of` can replay."""
    with connect() as con:
        return {v.name: con.execute(f"select max({v.timestamp}) from {v.relation}").fetchone()[0]
                for v in feature_views().values()}


def _write_store(path: Path, views: list[FeatureView], tables: dict[str, pa.Table],
                 as_of_us: int, materialized_at_us: int) -> None:
    """Write a complete store to a temporary file, then rename it over `path` (atomic). A path
    that is a symlink is written through: its target is replaced, the link kept."""
    path = path.resolve()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_dir():
            raise IsADirectoryError(f"{path} is a directory")
    except OSError as e:  # a parent that is a file, a path that is a directory: the user's setting
        raise RuntimeError(f"cannot write the online store at {path} ({e}): set {ONLINE_STORE_ENV} "
                           "to a file path") from None
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    try:
        con = sqlite3.connect(tmp)
        try:
            con.execute(f"create table {CATALOG} (view text primary key, entity text, features text, "
                        "ttl text, owner text, rows integer, as_of_us integer, materialized_at_us integer)")
            for view in views:
                table = tables[view.name]
                columns = [view.entity, "feature_ts", "expires_at_us", *view.features]
                table = table.select(columns)
                # decimals (DuckDB's sum of a DECIMAL, a HUGEINT) as doubles: the store declares
                # them real, and SQLite cannot take Python's Decimal
                table = table.cast(pa.schema([
                    f.with_type(pa.float64()) if pa.types.is_decimal(f.type) else f for f in table.schema]))
                ddl = ", ".join(f"{_quote(c)} {_sqlite_type(table.schema.field(c).type, i > 2)}"
                                for i, c in enumerate(columns))
                con.execute(f"create table {_quote(view.name)} ({ddl}, primary key ({_quote(view.entity)})) "
                            "without rowid")
                values = [table.column(c).to_pylist() for c in columns]
                for i, c in enumerate(columns):  # numbers and text as they are, the rest _stored
                    if not _bound_as_is(table.schema.field(c).type):
                        values[i] = [_stored(v) for v in values[i]]
                placeholders = ", ".join("?" * len(columns))
                con.executemany(f"insert into {_quote(view.name)} values ({placeholders})", zip(*values))
                con.execute(f"insert into {CATALOG} values (?, ?, ?, ?, ?, ?, ?, ?)",
                            (view.name, view.entity, json.dumps(view.features), view.ttl, view.owner,
                             table.num_rows, as_of_us, materialized_at_us))
            con.commit()
        finally:
            con.close()
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    finally:
        tmp.unlink(missing_ok=True)


# -- reading -------------------------------------------------------------------------------------

class OnlineStore:
    """A reader of the online store that follows swaps: each lookup first checks (one stat call)
    whether a new store has been renamed into place, and opens it if so (see current)."""

    def __init__(self, path: Path | None = None):
        self.path = Path(path) if path else store_path()
        self._version: StoreVersion | None = None

    @property
    def views(self) -> dict[str, dict]:
        """The views of the store now in place: entity, features, clock offset, key type."""
        return self.current().views

    def current(self) -> StoreVersion:
        """The store file now in place: the one already open, unless another was swapped in.

        A swap opens a new StoreVersion; the old one is not closed here, since a lookup in
        another thread may be using it: its connection closes when the last user lets go of it
        (closing it here crashed such a lookup). Several calls that must see one store (values
        and their clock, say) take one version and ask it."""
        try:
            inode = os.stat(self.path).st_ino
        except FileNotFoundError:
            raise FileNotFoundError(f"no online store at {self.path}: run `keel materialize`") from None
        version = self._version
        if version is None or version.inode != inode:
            version = self._version = StoreVersion.open(self.path, inode)
        return version

    def lookup(self, entities, features, now=None) -> list[dict]:
        """StoreVersion.lookup on the store now in place."""
        return self.current().lookup(entities, features, now)

    def clock(self, view: str) -> datetime:
        """StoreVersion.clock on the store now in place."""
        return self.current().clock(view)

    def frame(self, entities, features, now=None) -> pd.DataFrame:
        """lookup() as a DataFrame: the entity columns (every column of a DataFrame given, as
        get_historical_features keeps the spine's), then the features in the order asked."""
        features = tuple(feature_items(features, ad_hoc=False))  # read twice below (a generator once)
        version = self.current()
        rows = version.lookup(entities, features, now)
        plan = version.plan(features)
        entity_columns = list(dict.fromkeys(p[1] for p in plan))
        asked = [f for p in plan for f in p[2]]
        # column by column: ~20 us less than DataFrame.from_records on the rows
        out = pd.DataFrame({c: [r[c] for r in rows] for c in [*entity_columns, *asked]})
        if isinstance(entities, pd.DataFrame):
            refuse_feature_columns(entities.columns, asked, "entities")
            out = pd.concat([entities.reset_index(drop=True), out[asked]], axis=1)
        return out


class StoreVersion:
    """One store file as opened: its connection (read-only), its views and the queries planned
    for it. Never changes once opened: a swap makes a new one."""

    def __init__(self, con: sqlite3.Connection, inode: int, views: dict[str, dict]):
        self.con, self.inode, self.views = con, inode, views
        self._plans: dict[tuple, list] = {}

    @classmethod
    def open(cls, path: Path, inode: int) -> StoreVersion:
        con = None
        try:
            # a file URI, so that '#', '?' or '%' in the path are taken as part of it
            con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False)
            rows = con.execute(f"select view, entity, features, as_of_us, materialized_at_us from {CATALOG}")
            views = {
                view: {"entity": entity, "features": tuple(json.loads(features)),
                       "clock_offset_us": materialized_at_us - as_of_us}
                for view, entity, features, as_of_us, materialized_at_us in rows.fetchall()
            }
            for view, spec in views.items():  # the columns' types, as written
                types = {name: t.lower() for _, name, t, *_ in
                         con.execute(f"pragma table_info({_quote(view)})").fetchall()}
                # ids are matched by storage class (a store written by 3372ce4 declared date keys)
                spec["key_type"] = _sqlite_type_of_key(types[spec["entity"]])
                spec["from_stored"] = {f: _FROM_STORED[types[f]] for f in spec["features"]
                                       if types.get(f) in _FROM_STORED}
        except (sqlite3.Error, ValueError, KeyError) as e:
            if con is not None:
                con.close()
            raise RuntimeError(f"{path} is not an online store this Keel can read ({e}): "
                               "run `keel materialize` to write it again") from None
        return cls(con, inode, views)

    def plan(self, features) -> list[tuple]:
        """Per view: (view, entity, features, one-id query, many-ids query, the features to turn
        back from how they are stored); kept per request."""
        key = tuple(feature_items(features, ad_hoc=False))
        if key not in self._plans:
            chosen = choose(list(key), {v: d["features"] for v, d in self.views.items()})
            plan = []
            for view, fs in chosen.items():
                entity = self.views[view]["entity"]
                select = (f"select {_quote(entity)}, expires_at_us, {', '.join(map(_quote, fs))} "
                          f"from {_quote(view)} where {_quote(entity)}")
                from_stored = [(f, self.views[view]["from_stored"][f]) for f in fs
                               if f in self.views[view]["from_stored"]]
                plan.append((view, entity, fs, f"{select} = ?",
                             f"{select} in (select value from json_each(?))", from_stored))
            self._plans[key] = plan
        return self._plans[key]

    def lookup(self, entities, features, now=None) -> list[dict]:
        """One dict per entity: {entity column: id, feature: value or None, ...}.

        `entities` as for keel.features.get_online_features. Values expired by the store's clock
        (or `now`, if given: a datetime or a time as text, naive = UTC) are None, as are unknown
        and null entities. A value expires at feature_ts + ttl exactly (see latest_feature_values
        in macros/point_in_time.sql: the one instant where the point-in-time join differs).
        """
        plan = self.plan(features)
        keys = _entity_columns(entities, [p[1] for p in plan])
        n = len(next(iter(keys.values())))
        out = [{k: ids[i] for k, ids in keys.items()} for i in range(n)]
        wall = _epoch_us(_moment(now))
        for view, entity, fs, one, many, from_stored in plan:
            clock = wall if now is not None else wall - self.views[view]["clock_offset_us"]
            ids = [_key(v, entity, self.views[view]["key_type"]) for v in keys[entity]]
            wanted = [i for i in ids if i is not None]
            if len(wanted) == 1:
                found = {r[0]: r for r in self.con.execute(one, (wanted[0],))}
            elif wanted:
                found = {r[0]: r for r in self.con.execute(many, (json.dumps(wanted),))}
            else:
                found = {}
            for row, key in zip(out, ids):
                hit = found.get(key)
                live = hit is not None and hit[1] > clock
                for i, f in enumerate(fs):
                    row[f] = hit[i + 2] if live else None
                for f, read in from_stored:
                    if row[f] is not None:
                        row[f] = read(row[f])
        return out

    def clock(self, view: str) -> datetime:
        """The store's clock for a view now: the wall clock, shifted back to the store's as_of."""
        offset = self.views[view]["clock_offset_us"]
        return datetime.fromtimestamp((_epoch_us(None) - offset) / 1e6, UTC).replace(tzinfo=None)


def _moment(now) -> datetime | None:
    """`now` as a datetime: None, a datetime, or anything pandas reads as one ('2026-01-05')."""
    if now is None or isinstance(now, datetime):
        return now
    try:
        moment = pd.Timestamp(now)
    except (ValueError, TypeError):
        raise ValueError(f"now={now!r} is not a time") from None
    if pd.isna(moment):
        raise ValueError(f"now={now!r} is not a time")
    return moment.to_pydatetime()


def _key(value, entity: str, key_type: str):
    """An id as the store holds it (the entity column's SQLite type); None for a null id, which
    matches nothing, as a null entity gets nulls in the point-in-time join. Ids convert as the
    warehouse compares them (a whole number for integer keys, also as text or a float: a pandas
    integer column with a null is float; an integer for text keys, as its digits); anything else
    is refused, since the store would silently find nothing."""
    if value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, bool):
        pass
    elif key_type == "text":
        if isinstance(value, str):
            return value
        if isinstance(value, numbers.Integral):
            return str(int(value))
    elif key_type == "integer":
        whole = None
        if isinstance(value, numbers.Integral):
            whole = int(value)
        elif isinstance(value, numbers.Real) and float(value).is_integer():
            whole = int(value)
        elif isinstance(value, str) and _WHOLE.match(value):
            whole = int(value)
        if whole is not None:
            if not -(2**63) <= whole < 2**63:  # SQLite's integers are 64-bit: no key can be this
                raise ValueError(f"{entity} id {value!r} is out of range of the store's integer ids")
            return whole
    elif key_type == "real" and isinstance(value, numbers.Real):
        return float(value)
    kind = {"integer": "integers", "real": "numbers", "text": "text"}.get(key_type, key_type)
    raise ValueError(f"{entity} ids are {kind} in this store; got {value!r} ({type(value).__name__})")


_WHOLE = re.compile(r"^\s*[-+]?[0-9]+\s*$")


def _entity_columns(entities, needed: list[str]) -> dict[str, list]:
    """The id lists for each entity column the views need, from a frame, a dict or a plain list;
    a single id may stand for a list of one."""
    needed = list(dict.fromkeys(needed))
    if isinstance(entities, pd.DataFrame | dict):
        missing = [c for c in needed if c not in entities]
        if missing:
            raise ValueError(f"no column {', '.join(missing)} among the entities given")
        columns = {c: _listed(entities[c]) for c in needed}
    else:
        if len(needed) > 1:
            raise ValueError(f"these views have different entities ({', '.join(needed)}): "
                             "pass a DataFrame or dict with one column per entity")
        columns = {needed[0]: _listed(entities)}
    lengths = {len(ids) for ids in columns.values()}
    if len(lengths) > 1:
        raise ValueError(f"the entity columns differ in length ({', '.join(map(str, sorted(lengths)))})")
    return columns


def _listed(ids) -> list:
    """A column, list or other iterable of ids as a list; one id (text, a number) as a list of one."""
    if isinstance(ids, str | bytes) or not isinstance(ids, Iterable):
        return [ids]
    return list(ids)


_DEFAULT: dict[Path, OnlineStore] = {}
_DEFAULT_BY_SETTING: dict[tuple, OnlineStore] = {}


def default_store() -> OnlineStore:
    """One reader per store path per process, so repeated lookups reuse its connection. Found by
    the settings that decide the path (resolving it takes ~40 us, a fifth of a lookup's frame)."""
    setting = (os.environ.get(ONLINE_STORE_ENV), os.environ.get(WAREHOUSE_ENV),
               os.environ.get(PROJECT_ENV), os.getcwd())
    store = _DEFAULT_BY_SETTING.get(setting)
    if store is None:
        path = store_path()
        store = _DEFAULT_BY_SETTING[setting] = _DEFAULT.setdefault(path, OnlineStore(path))
    return store
