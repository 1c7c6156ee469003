"""Simulate e-commerce clickstream logs, as two real producers would send them.

shop_a (the web shop) logs flat JSON with ISO-8601 timestamps; shop_b (the app) logs GA-style
JSON: epoch-microsecond timestamps, session id under ``event_params``, a nested ``items`` array.
Both describe the same events, so staging has to unify them.

Generation is vectorised: numpy draws every random number from one seeded generator (so a seed
gives the same files on every machine) and DuckDB formats the JSON text in parallel. Python
never loops over events, which is what lets 10M events be written in well under a minute.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

PRODUCERS = ("shop_a", "shop_b")
EVENT_NAMES = (
    "page_view",
    "view_item",
    "add_to_cart",
    "remove_from_cart",
    "begin_checkout",
    "purchase",
)
CATEGORIES = (
    "apparel", "shoes", "electronics", "home", "beauty",
    "books", "toys", "sports", "grocery", "garden",
)
# The kinds of bad record the simulator mixes in, each named by the reason code staging gives it
# (seeds/quarantine_reasons.csv), except `duplicate_event`, which staging counts as a duplicate.
DEFECTS = (
    "invalid_json",
    "missing_required_field",
    "wrong_type",
    "unknown_event_name",
    "unparseable_timestamp",
    "future_timestamp",
    "duplicate_event",
    "oversized_payload",
)
# Oversized records are ~70 KB each; keep them rare so a 10M-event run stays a few GB.
_DEFECT_WEIGHTS = np.array([1, 1, 1, 1, 1, 1, 1, 0.02])
OVERSIZED_PADDING = 70_000
_MEAN_EVENTS_PER_SESSION = 5.1


@dataclass(frozen=True)
class SimulationConfig:
    """What to simulate. Every knob has a default a newcomer can explore in seconds."""

    events: int = 450_000
    users: int = 5_000
    products: int = 400
    days: int = 90
    start: date = date(2026, 1, 1)
    seed: int = 42
    malformed_rate: float = 0.01
    # From drift_date on, purchase probability is multiplied by drift_conversion and
    # prices by drift_price: a shift monitoring should notice.
    drift_date: date | None = None
    drift_conversion: float = 1.0
    drift_price: float = 1.0

    def check(self) -> None:
        """Fail with one line naming the knob, before any work."""
        if self.events < 1:
            raise ValueError("events must be at least 1")
        if self.users < 1 or self.products < 1 or self.days < 1:
            raise ValueError("users, products and days must each be at least 1")
        if not 0 <= self.malformed_rate <= 0.5:
            raise ValueError("malformed_rate must be between 0 and 0.5")
        if self.drift_conversion < 0 or self.drift_price <= 0:
            raise ValueError("drift_conversion must be >= 0 and drift_price > 0")


@dataclass
class SimulationResult:
    out_dir: Path
    files: list[Path] = field(default_factory=list)
    records: int = 0
    defects: dict[str, int] = field(default_factory=dict)


def _sessions(cfg: SimulationConfig, rng: np.random.Generator, n_sessions: int) -> dict:
    """Draw sessions and, for each, how far down the funnel it goes."""
    # Users differ in how often they come back and how likely they are to buy: the signal
    # a purchase-propensity model can learn.
    activity = rng.lognormal(0.0, 1.0, cfg.users)
    propensity = rng.beta(2.0, 8.0, cfg.users)
    user = rng.choice(cfg.users, n_sessions, p=activity / activity.sum())

    # Sessions cluster in the evening (UTC), spread evenly over the days.
    hour_weights = np.array([2, 1, 1, 1, 1, 2, 3, 4, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 9, 10, 10, 8, 5, 3.0])
    day = rng.integers(0, cfg.days, n_sessions)
    hour = rng.choice(24, n_sessions, p=hour_weights / hour_weights.sum())
    start_s = day * 86_400 + hour * 3_600 + rng.integers(0, 3_600, n_sessions)

    drifted = np.zeros(n_sessions, dtype=bool)
    if cfg.drift_date is not None:
        drifted = day >= (cfg.drift_date - cfg.start).days

    p = propensity[user]
    n_page_view = 1 + rng.poisson(1.5, n_sessions)
    n_view_item = rng.poisson(1.2 + 4.0 * p, n_sessions)
    add = (n_view_item > 0) & (rng.random(n_sessions) < 0.25 + 0.6 * p)
    remove = add & (rng.random(n_sessions) < 0.2)
    checkout = add & ~remove & (rng.random(n_sessions) < 0.6)
    p_buy = np.clip(0.35 + 1.5 * p, 0, 0.95) * np.where(drifted, cfg.drift_conversion, 1.0)
    purchase = checkout & (rng.random(n_sessions) < np.clip(p_buy, 0, 1))
    counts = np.stack(
        [n_page_view, n_view_item, add, remove, checkout, purchase], axis=1
    ).astype(np.int64)
    return {
        "user": user,
        "start_s": start_s,
        "drifted": drifted,
        "producer": (rng.random(n_sessions) < 0.5).astype(np.int8),
        "quantity": 1 + rng.poisson(0.3, n_sessions),
        "counts": counts,
    }


def _events(cfg: SimulationConfig, rng: np.random.Generator, n_events: int) -> dict:
    """Expand sessions into exactly ``n_events`` events, in funnel order within each session."""
    n_sessions = int(n_events / _MEAN_EVENTS_PER_SESSION * 1.2) + 16
    s = _sessions(cfg, rng, n_sessions)
    counts = s["counts"]
    per_session = counts.sum(axis=1)
    session = np.repeat(np.arange(n_sessions), per_session)[:n_events]
    stage = np.repeat(np.tile(np.arange(len(EVENT_NAMES)), n_sessions), counts.ravel())[:n_events]
    if len(session) < n_events:  # pragma: no cover - the 1.2 margin makes this unreachable
        raise RuntimeError("simulator drew too few sessions")

    # Times: session start plus exponential gaps, accumulated within each session.
    gaps = rng.exponential(40.0, n_events)
    gaps_us = np.round(gaps * 1e6).astype(np.int64)
    cum = np.cumsum(gaps_us)
    first = np.flatnonzero(np.r_[True, session[1:] != session[:-1]])
    offset_us = cum - np.repeat(cum[first] - gaps_us[first], np.diff(np.r_[first, n_events]))
    start_us = (cfg.start - date(1970, 1, 1)).days * 86_400 * 1_000_000
    ts_us = start_us + s["start_s"][session] * 1_000_000 + offset_us

    # Items: each view_item shows a product drawn by popularity; the cart holds the last one viewed.
    popularity = 1.0 / np.arange(1, cfg.products + 1) ** 0.8
    viewed = rng.choice(cfg.products, n_events, p=popularity / popularity.sum())
    session_start = np.r_[0, np.cumsum(per_session)[:-1]]
    last_view = session_start + counts[:, 0] + counts[:, 1] - 1
    cart_product = viewed[np.minimum(last_view, n_events - 1)]
    item = np.where(stage == 1, viewed, cart_product[session])
    item = np.where(stage == 0, -1, item)
    quantity = np.where(stage >= 2, s["quantity"][session], np.where(stage == 1, 1, 0))
    return {
        "session": session,
        "user": s["user"][session],
        "producer": s["producer"][session],
        "stage": stage.astype(np.int8),
        "ts_us": ts_us,
        "item": item,
        "quantity": quantity,
        "drifted": s["drifted"][session],
    }


def _catalog(cfg: SimulationConfig, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Each product's category (index into CATEGORIES) and base price."""
    category = rng.integers(0, len(CATEGORIES), cfg.products)
    base = np.array([30, 60, 150, 40, 25, 15, 20, 45, 8, 35.0])[category]
    price = np.maximum(np.round(base * rng.lognormal(0.0, 0.5, cfg.products), 2), 0.5)
    return category, price


def _defect_kinds(cfg: SimulationConfig, rng: np.random.Generator) -> np.ndarray:
    """Draw the kind of every bad record: codes k > 0 meaning DEFECTS[k - 1]."""
    n_bad = int(round(cfg.events * cfg.malformed_rate))
    return rng.choice(len(DEFECTS), n_bad, p=_DEFECT_WEIGHTS / _DEFECT_WEIGHTS.sum()) + 1


def _place_defects(rng: np.random.Generator, kinds: np.ndarray, stage: np.ndarray) -> np.ndarray:
    """Put each drawn defect on a distinct event; returns a code per event (0 = good record).

    Type errors need a price to break, so on an event without one they become invalid JSON.
    """
    code = np.zeros(len(stage), dtype=np.int32)
    rows = rng.choice(len(stage), len(kinds), replace=False)
    wrong_type = DEFECTS.index("wrong_type") + 1
    code[rows] = np.where(
        (kinds == wrong_type) & (stage[rows] == 0), DEFECTS.index("invalid_json") + 1, kinds
    )
    return code


# One JSON shape per producer; every value comes precomputed from the `events` Arrow table. A
# plain projection keeps DuckDB's output in input order, so the rows stream out file by file.
_RECORDS_SQL = """
with e as (
    select
        file_id,
        producer,
        defect,
        stage,
        price,
        quantity,
        printf('u%07d', "user") as user_id,
        substr(md5($seed || ':s:' || session), 1, 16) as session_id,
        md5($seed || ':e:' || idx) as event_id,
        case when item >= 0 then printf('p%05d', item) end as item_id,
        case when item >= 0 then $categories[category + 1] end as item_category,
        case when defect = 'unknown_event_name' then 'add_to_wishlist'
            else $names[stage + 1] end as event_name,
        make_timestamp(ts_us) + case when defect = 'future_timestamp'
            then interval 75 years else interval 0 days end as ts,
        case when stage >= 2 then round(price * quantity, 2)
            when stage = 1 then price end as value
    from (select *, $defects[defect_code + 1] as defect from events)
),
lines as (
    select
        file_id,
        defect,
        case producer
            when 0 then to_json(struct_pack(
                event_id := event_id,
                event_name := event_name,
                event_time := strftime(ts, '%Y-%m-%dT%H:%M:%S.%fZ'),
                user_id := user_id,
                session_id := session_id,
                item_id := item_id,
                item_category := item_category,
                price := price,
                quantity := case when stage > 0 then quantity end,
                value := value,
                currency := case when stage > 0 then 'USD' end
            ))
            else to_json(struct_pack(
                event_id := event_id,
                event_name := event_name,
                event_timestamp := epoch_us(ts),
                user_pseudo_id := user_id,
                event_params := struct_pack(ga_session_id := session_id),
                ecommerce := case when stage > 0
                    then struct_pack(value := value, currency := 'USD') end,
                items := case when stage > 0 then [struct_pack(
                    item_id := item_id,
                    item_category := item_category,
                    price := price,
                    quantity := quantity
                )] else [] end
            ))
        end::varchar as line
    from e
)
select
    file_id,
    case defect
        when 'invalid_json' then left(line, length(line) // 2)
        when 'missing_required_field'
            then regexp_replace(line, '"(user_id|user_pseudo_id)":"[^"]*",', '')
        when 'wrong_type' then regexp_replace(line, '"price":[0-9.]+', '"price":"N/A"', 'g')
        when 'unparseable_timestamp' then regexp_replace(
            line,
            '"(event_time|event_timestamp)":("[^"]*"|[0-9]+)',
            '"\\1":"yesterday evening"'
        )
        when 'oversized_payload'
            then left(line, length(line) - 1) || ',"debug_dump":"' || repeat('x', $padding) || '"}'
        else line
    end || chr(10) as line
from lines
"""


def _write_lines(f, chunk: pa.Array) -> None:
    """Write strings that already end in a newline, straight from Arrow's buffers (no Python loop)."""
    chunk = chunk.cast(pa.large_string())
    if len(chunk) == 0:
        return
    offsets = np.frombuffer(chunk.buffers()[1], dtype=np.int64)
    lo, hi = offsets[chunk.offset], offsets[chunk.offset + len(chunk)]
    f.write(memoryview(chunk.buffers()[2])[lo:hi])


def simulate(
    cfg: SimulationConfig,
    out_dir: Path,
    progress: Callable[[str, int, int], None] | None = None,
) -> SimulationResult:
    """Write ``cfg.events`` records as JSON lines under ``out_dir/<producer>/<day>.jsonl``.

    ``progress(stage, done, total)`` is called as work advances (the CLI draws a bar from it).
    """
    cfg.check()
    report = progress or (lambda *_: None)
    rng = np.random.default_rng(cfg.seed)
    report("generating events", 0, 1)
    kinds = _defect_kinds(cfg, rng)
    duplicate = DEFECTS.index("duplicate_event") + 1
    n_copies = int((kinds == duplicate).sum())
    ev = _events(cfg, rng, cfg.events - n_copies)
    category, base_price = _catalog(cfg, rng)
    code = _place_defects(rng, kinds, ev["stage"])
    # A duplicate is a resent copy of a good event: both the original and the copy are written.
    copied = np.flatnonzero(code == duplicate)
    code[copied] = 0
    rows = np.r_[np.arange(len(code)), copied]
    code = np.r_[code, np.full(len(copied), duplicate, dtype=np.int32)]
    # One file per producer and UTC day of the event; within a file, records in time order and
    # a resent copy right after its original.
    day = ev["ts_us"][rows] // 86_400_000_000
    file_key = ev["producer"][rows].astype(np.int64) * 1_000_000 + (day - day.min())
    order = np.lexsort((code == duplicate, rows, ev["ts_us"][rows], file_key))
    rows, code, file_key = rows[order], code[order], file_key[order]
    file_keys, file_id = np.unique(file_key, return_inverse=True)
    item = ev["item"][rows]
    price = np.where(item >= 0, base_price[item] * np.where(ev["drifted"][rows], cfg.drift_price, 1), np.nan)
    events = pa.table({
        "idx": rows,
        "file_id": file_id.astype(np.int32),
        "user": ev["user"][rows],
        "session": ev["session"][rows],
        "producer": ev["producer"][rows],
        "stage": ev["stage"][rows],
        "ts_us": ev["ts_us"][rows],
        "item": item,
        "category": np.where(item >= 0, category[np.maximum(item, 0)], 0),
        "price": pa.array(np.round(price, 2), from_pandas=True),
        "quantity": ev["quantity"][rows],
        "defect_code": code,
    })
    names = []
    for key in file_keys:
        producer, day_offset = divmod(int(key), 1_000_000)
        day_text = str(date(1970, 1, 1) + timedelta(days=int(day.min()) + day_offset))
        names.append(out_dir / PRODUCERS[producer] / f"{day_text}.jsonl")
    report("generating events", 1, 1)

    defects = {DEFECTS[k - 1]: int(n) for k, n in zip(*np.unique(code[code > 0], return_counts=True))}
    result = SimulationResult(out_dir=out_dir, records=cfg.events, defects=defects)
    con = duckdb.connect()
    con.execute("set enable_progress_bar = false")
    con.register("events", events)
    params = {
        "seed": str(cfg.seed),
        "names": list(EVENT_NAMES),
        "categories": list(CATEGORIES),
        "defects": [None, *DEFECTS],
        "padding": OVERSIZED_PADDING,
    }
    reader = con.execute(_RECORDS_SQL, params).to_arrow_reader(1_000_000)
    current, f = -1, None
    for batch in reader:
        ids = batch.column(0).to_numpy()
        cuts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
        for lo, hi in zip(cuts, np.r_[cuts[1:], len(ids)]):
            if ids[lo] != current:
                if f is not None:
                    f.close()
                current = int(ids[lo])
                names[current].parent.mkdir(parents=True, exist_ok=True)
                f = names[current].open("wb")
                result.files.append(names[current])
                report("writing files", current + 1, len(names))
            _write_lines(f, batch.column(1).slice(lo, hi - lo))
    if f is not None:
        f.close()
    con.close()
    return result


def parse_date(text: str) -> date:
    """A YYYY-MM-DD date, or a clear error."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"not a date (want YYYY-MM-DD): {text!r}") from None


def end_date(cfg: SimulationConfig) -> date:
    return cfg.start + timedelta(days=cfg.days - 1)
