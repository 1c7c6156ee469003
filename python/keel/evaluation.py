"""Pure functions from labels and scores (or feature values) to the numbers the registry keeps.

No warehouse and no I/O here: each function takes arrays and returns plain Python values, so it
can be tested on its own and its results written anywhere.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn import metrics as skm


def classification_metrics(y: np.ndarray, p: np.ndarray, threshold: float) -> dict[str, float | None]:
    """Headline metrics of probability scores `p` for binary labels `y`.

    ROC AUC and PR AUC are undefined (None) when only one class is present.
    """
    y = np.asarray(y, dtype=int)
    p = np.clip(np.asarray(p, dtype=float), 1e-15, 1 - 1e-15)
    predicted = p >= threshold
    both = len(np.unique(y)) == 2
    return {
        "rows": float(len(y)),
        "positive_rate": float(y.mean()) if len(y) else None,
        "roc_auc": float(skm.roc_auc_score(y, p)) if both else None,
        "pr_auc": float(skm.average_precision_score(y, p)) if both else None,
        "log_loss": float(skm.log_loss(y, p, labels=[0, 1])) if len(y) else None,
        "brier": float(skm.brier_score_loss(y, p)) if len(y) else None,
        "precision": float(skm.precision_score(y, predicted, zero_division=0)),
        "recall": float(skm.recall_score(y, predicted, zero_division=0)),
    }


def calibration_bins(y: np.ndarray, p: np.ndarray, bins: int = 10) -> list[dict]:
    """Equal-width score bins: rows, mean score and observed positive rate in each non-empty bin."""
    y, p = np.asarray(y, dtype=float), np.asarray(p, dtype=float)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1], right=False), 0, bins - 1)
    out = []
    for b in range(bins):
        mask = which == b
        if mask.any():
            out.append({"bin": b, "lower": float(edges[b]), "upper": float(edges[b + 1]),
                        "rows": int(mask.sum()), "mean_score": float(p[mask].mean()),
                        "positive_rate": float(y[mask].mean())})
    return out


def slice_metrics(frame: pd.DataFrame, y: np.ndarray, p: np.ndarray, columns, threshold: float) -> list[dict]:
    """classification_metrics per value of each slice column (nulls as their own slice)."""
    out = []
    for column in columns:
        values = frame[column].astype("object").where(frame[column].notna(), None)
        for value in sorted(values.unique(), key=lambda v: (v is None, str(v))):
            mask = (values == value).to_numpy() if value is not None else values.isna().to_numpy()
            out.append({"slice": f"{column}={value}",
                        **classification_metrics(y[mask], p[mask], threshold)})
    return out


def value_counts(frame: pd.DataFrame, columns) -> pd.DataFrame:
    """A frozen, exact description of each column's distribution, the form macros/drift.sql
    compares: one row per column with its distinct values and how many rows had each, as
    parallel numpy arrays.

    Numeric columns fill `value` (NaN for the nulls' count), others `category` (as text, None for
    the nulls'); the other is None. Value counts are exact, so drift statistics on them equal those
    on the rows, and they stay small for counts, flags and categories. One row per column, not one
    per value, because the registry writes them in the registration transaction, where ~30k rows
    that repeat names cost ~4x the bytes and time of the same counts as lists; and numpy arrays in
    a DataFrame rather than an Arrow table, because DuckDB's first Arrow scan in a process imports
    pyarrow.dataset (~20 ms).
    """
    names, values, categories, rows = [], [], [], []
    for column in columns:
        series = frame[column]
        counts = series.value_counts(dropna=False, sort=False)
        keys = counts.index.to_numpy(dtype=object)
        present = pd.notna(keys)
        numeric = pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
        names.append(column)
        values.append(np.where(present, keys, np.nan).astype(float) if numeric else None)
        categories.append(None if numeric else np.where(present, keys.astype(str), None))
        rows.append(counts.to_numpy(dtype="int64"))
    return pd.DataFrame({"column_name": names, "value": values, "category": categories, "rows": rows})
