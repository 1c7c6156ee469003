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


def reference_profile(values: pd.Series, sample_size: int = 1000, seed: int = 0) -> dict:
    """A frozen description of one feature's training distribution, for drift later.

    Numeric: decile bin edges (unique), the share of rows in each bin (the outer bins open-ended),
    mean, std, null rate and a seeded sample. Other types: category frequencies and null rate.
    """
    n = len(values)
    nulls = int(values.isna().sum())
    present = values.dropna()
    profile = {"rows": n, "null_rate": nulls / n if n else None}
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        x = present.to_numpy(dtype=float)
        edges = np.unique(np.quantile(x, np.linspace(0, 1, 11))) if len(x) else np.array([])
        inner = edges[1:-1]
        bins = np.searchsorted(inner, x, side="right")
        counts = np.bincount(bins, minlength=len(inner) + 1) if len(x) else []
        rng = np.random.default_rng(seed)
        sample = rng.choice(x, size=min(sample_size, len(x)), replace=False) if len(x) else np.array([])
        profile.update({
            "kind": "numeric",
            "bin_edges": [float(e) for e in edges],
            "bin_shares": [float(c) / len(x) for c in counts] if len(x) else [],
            "mean": float(x.mean()) if len(x) else None,
            "std": float(x.std(ddof=1)) if len(x) > 1 else None,
            "sample": [float(v) for v in np.sort(sample)],
        })
    else:
        shares = present.astype(str).value_counts(normalize=True).sort_index()
        profile.update({"kind": "categorical", "categories": {k: float(v) for k, v in shares.items()}})
    return profile
