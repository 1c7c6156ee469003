"""Drift between two ad-hoc relations, computed by the same SQL the monitoring models run.

`macros/drift.sql` is the one implementation: the monitoring models call it on frozen training
references and scored rows; this module compiles it for any two relations in a DuckDB
connection, for notebooks, tests and the benchmark against Evidently.
"""

from __future__ import annotations

from functools import lru_cache

import pandas as pd

from keel.features import IDENTIFIER
from keel.project import compile_sql

COLUMNS = ["column_name", "kind", "reference_rows", "current_rows", "psi", "ks", "wasserstein_norm",
           "js_distance", "null_rate_reference", "null_rate_current", "null_rate_change", "mean_shift_std"]

# Placeholders the compiled SQL is cached with; the relations are substituted per call.
_REFERENCE, _CURRENT = "keel_drift_reference", "keel_drift_current"


@lru_cache(maxsize=16)
def _compiled(numeric: tuple[str, ...], categorical: tuple[str, ...]) -> str:
    def counts(name: str, relation: str) -> str:
        # one constant key: drift_statistics compares per key, and here there is one comparison;
        # the rows as they are (grouped=false), not counted first: drift_statistics adds them up
        return (f"{{% set {name} %}}(select 'all' as comparison, * from ("
                f"{{{{ value_counts('{relation}', {list(numeric)}, {list(categorical)}, [], "
                f"grouped=false) }}}}"
                f") as counted){{% endset %}}")

    return compile_sql(counts("reference", _REFERENCE) + counts("current", _CURRENT)
                       + "{{ drift_statistics(reference, current, ['comparison'], []) }}")


def drift_between(con, reference: str, current: str, numeric: list[str] | tuple[str, ...] = (),
                  categorical: list[str] | tuple[str, ...] = ()) -> pd.DataFrame:
    """Drift statistics of each named column of `current` against `reference`.

    `reference` and `current` are relations (tables or views) in the DuckDB connection `con`
    holding at least the named columns. Returns one row per column, in the order given, with
    COLUMNS (see macros/drift.sql for each statistic's definition).
    """
    names = [*numeric, *categorical]
    if not names:
        raise ValueError("drift_between: name at least one numeric or categorical column")
    if len(set(names)) != len(names):
        raise ValueError("drift_between: a column is named twice")
    for name in names:
        if not IDENTIFIER.match(name):
            raise ValueError(f"drift_between: {name!r} is not a plain column name")
    sql = _compiled(tuple(numeric), tuple(categorical))
    sql = sql.replace(_REFERENCE, reference).replace(_CURRENT, current)
    frame = con.execute(sql).df()[COLUMNS]
    order = {name: i for i, name in enumerate(names)}
    return frame.sort_values("column_name", key=lambda c: c.map(order)).reset_index(drop=True)
