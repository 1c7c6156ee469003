"""The drift SQL (macros/drift.sql) against scipy and numpy on generated data, to 1e-9."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon

from keel.drift import drift_between
from keel.project import compile_sql

TOL = 1e-9


def psi_reference(ref: np.ndarray, cur: np.ndarray) -> float:
    """PSI over the reference's deciles: edge k is the smallest value whose cumulative count reaches
    k/10 of the rows; a value's bin is the number of distinct edges at or below it; empty bins
    count as a share of 0.0001."""
    ordered = np.sort(ref)
    n = len(ordered)
    edges = np.unique([ordered[(k * n + 9) // 10 - 1] for k in range(1, 10)])
    bins = len(edges) + 1
    r = np.bincount(np.searchsorted(edges, ref, side="right"), minlength=bins) / len(ref)
    c = np.bincount(np.searchsorted(edges, cur, side="right"), minlength=bins) / len(cur)
    r, c = np.maximum(r, 1e-4), np.maximum(c, 1e-4)
    return float(np.sum((c - r) * np.log(c / r)))


def categorical_reference(ref: pd.Series, cur: pd.Series) -> tuple[float, float]:
    keys = sorted(set(ref.dropna()) | set(cur.dropna()))
    r = ref.dropna().value_counts().reindex(keys, fill_value=0).to_numpy(float)
    c = cur.dropna().value_counts().reindex(keys, fill_value=0).to_numpy(float)
    rs, cs = np.maximum(r / r.sum(), 1e-4), np.maximum(c / c.sum(), 1e-4)
    return float(jensenshannon(r, c)), float(np.sum((cs - rs) * np.log(cs / rs)))


def frames(seed: int, n_ref: int, n_cur: int):
    rng = np.random.default_rng(seed)

    def one(n: int, shift: float) -> pd.DataFrame:
        frame = pd.DataFrame({
            "normal": rng.normal(shift, 1 + shift, n),
            "lognormal": rng.lognormal(shift, 1.0, n),
            "counts": rng.poisson(2 + 3 * shift, n).astype(float),        # many ties
            "flag": (rng.random(n) < 0.3 + shift / 3).astype(float),     # two values
            "sparse": rng.exponential(1 + shift, n),
            "small": rng.choice(["a", "b", "c"], n, p=[0.5, 0.3, 0.2] if shift == 0 else [0.2, 0.3, 0.5]),
            "wide": rng.choice([f"k{i}" for i in range(40 + int(20 * shift))], n),
        })
        frame.loc[rng.random(n) < 0.05 + shift / 10, "sparse"] = np.nan
        frame.loc[rng.random(n) < 0.02, "small"] = None
        return frame

    return one(n_ref, 0.0), one(n_cur, 0.5)


NUMERIC = ["normal", "lognormal", "counts", "flag", "sparse"]
CATEGORICAL = ["small", "wide"]


def assert_equal_scipy_and_numpy(got: pd.DataFrame, ref: pd.DataFrame, cur: pd.DataFrame) -> None:
    """Every statistic of `got` (indexed by column_name) equals its scipy/numpy definition."""
    for column in NUMERIC:
        row = got.loc[column]
        r, c = ref[column].dropna().to_numpy(), cur[column].dropna().to_numpy()
        assert row.kind == "numeric"
        assert row.reference_rows == len(ref) and row.current_rows == len(cur)
        assert row.ks == pytest.approx(stats.ks_2samp(r, c).statistic, abs=TOL)
        norm = max(np.std(r), 0.001)
        assert row.wasserstein_norm == pytest.approx(stats.wasserstein_distance(r, c) / norm, abs=TOL)
        assert row.psi == pytest.approx(psi_reference(r, c), abs=TOL)
        assert row.mean_shift_std == pytest.approx((c.mean() - r.mean()) / np.std(r), abs=TOL)
        ref_null, cur_null = ref[column].isna().mean(), cur[column].isna().mean()
        assert row.null_rate_reference == pytest.approx(ref_null, abs=TOL)
        assert row.null_rate_change == pytest.approx(cur_null - ref_null, abs=TOL)
        assert np.isnan(row.js_distance)

    for column in CATEGORICAL:
        row = got.loc[column]
        js, psi = categorical_reference(ref[column], cur[column])
        assert row.kind == "categorical"
        assert row.js_distance == pytest.approx(js, abs=TOL)
        assert row.psi == pytest.approx(psi, abs=TOL)
        assert row.null_rate_current == pytest.approx(cur[column].isna().mean(), abs=TOL)
        assert np.isnan(row.ks) and np.isnan(row.wasserstein_norm)


@pytest.mark.parametrize("seed, n_ref, n_cur", [(1, 3000, 2000), (2, 50, 7), (3, 20_000, 20_000)])
def test_drift_statistics_equal_scipy_and_numpy(seed, n_ref, n_cur):
    ref, cur = frames(seed, n_ref, n_cur)
    con = duckdb.connect()
    con.register("ref", ref)
    con.register("cur", cur)
    got = drift_between(con, "ref", "cur", NUMERIC, CATEGORICAL).set_index("column_name")
    assert list(got.index) == NUMERIC + CATEGORICAL
    assert_equal_scipy_and_numpy(got, ref, cur)


@pytest.fixture(scope="module")
def drift_by_day_sql() -> str:
    """drift_statistics over value counts, as the monitoring models call it (a reference per key,
    current rows per key and day), with the bins' width left as BINS_PER_STD to fill in."""
    counts = "(select 'all' as comparison, * from ({{{{ value_counts('{}', {}, {}, {}) }}}}) as counted)"
    return compile_sql(
        "{% set reference %}" + counts.format("ref", NUMERIC, CATEGORICAL, []) + "{% endset %}"
        + "{% set current %}" + counts.format("cur", NUMERIC, CATEGORICAL, ["day"]) + "{% endset %}"
        + "{{ drift_statistics(reference, current, ['comparison'], ['day'], bins_per_std='BINS_PER_STD') }}")


# bins from a few per std (most values walked one by one, or summed in closed form) to about one per
# value (nearly every bin holds one value)
@pytest.mark.parametrize("bins_per_std", ["0.5", "3", "1000", "100000"])
def test_value_counts_per_day_give_the_same_statistics_whatever_the_bins(drift_by_day_sql, bins_per_std):
    ref, cur = frames(6, 4000, 3000)
    _, later = frames(7, 10, 2500)
    cur = pd.concat([cur.assign(day=1), later.assign(day=2)], ignore_index=True)
    con = duckdb.connect()
    con.register("ref", ref)
    con.register("cur", cur)
    got = con.execute(drift_by_day_sql.replace("BINS_PER_STD", bins_per_std)).df()
    assert sorted(got.day.unique()) == [1, 2]
    for day, rows in cur.groupby("day"):
        assert_equal_scipy_and_numpy(got[got.day == day].set_index("column_name"), ref, rows)


def test_identical_data_shows_no_drift_and_the_statistics_move_with_a_shift():
    ref, cur = frames(4, 5000, 5000)
    con = duckdb.connect()
    con.register("ref", ref)
    con.register("cur", cur)
    same = drift_between(con, "ref", "ref", NUMERIC, CATEGORICAL)
    assert (same[["psi", "null_rate_change"]].abs() < 1e-12).all().all()
    assert (same["ks"].fillna(0) == 0).all() and (same["wasserstein_norm"].fillna(0).abs() < 1e-12).all()
    assert (same["js_distance"].fillna(0).abs() < 1e-6).all()
    shifted = drift_between(con, "ref", "cur", NUMERIC, CATEGORICAL).set_index("column_name")
    assert shifted.loc["normal", "wasserstein_norm"] > 0.1 and shifted.loc["small", "js_distance"] > 0.1


def test_a_side_without_values_gives_null_statistics_not_an_error():
    con = duckdb.connect()
    con.execute("create table ref as select range::double as x from range(100)")
    con.execute("create table cur as select cast(null as double) as x from range(10)")
    row = drift_between(con, "ref", "cur", ["x"]).iloc[0]
    assert np.isnan(row.ks) and np.isnan(row.psi) and row.null_rate_current == 1.0


def test_bad_column_names_are_refused_clearly():
    con = duckdb.connect()
    with pytest.raises(ValueError, match="not a plain column name"):
        drift_between(con, "a", "b", ["x; drop table y"])
    with pytest.raises(ValueError, match="at least one"):
        drift_between(con, "a", "b")
