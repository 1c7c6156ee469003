"""`keel promote MODEL VERSION --alias NAME`: move an alias after the spec's gates pass.

Aliases, not stages (as MLflow since 2.9). Every change is an append-only row in
registry.alias_events with who, when, why and every check's numbers, so "which version was
champion on date D" is one query over history. The gates: absolute thresholds on the version's
test metrics, and "beats the current holder of the alias on the spec's primary metric by at least
a margin", both scored on the candidate's test window (the holder's artifact is re-scored there,
after its hash is checked).
"""

from __future__ import annotations

import getpass
import json
import re
from datetime import UTC, datetime

import numpy as np

from keel.evaluation import classification_metrics
from keel.registry import (
    as_json,
    current_alias,
    ensure_registry,
    feature_matrix,
    load_artifact,
    positive_scores,
    test_metrics,
    version_row,
    write_serving_catalog,
)
from keel.spec import METRICS, ModelSpec, load_spec
from keel.warehouse import connect

ALIAS = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


class PromotionRefused(ValueError):
    """The gates failed; the message lists each failed check."""


def _gate(metric: str, value, threshold) -> dict:
    higher = METRICS[metric]
    passed = value is not None and (value >= threshold if higher else value <= threshold)
    return {"check": f"{metric} {'>=' if higher else '<='} {threshold}", "value": value, "passed": passed}


def _score_on_window(con, spec: ModelSpec, version: dict, test_from, test_to) -> tuple[float, int]:
    """The primary metric of one version's artifact on the rows of a test window."""
    features = [f["name"] for f in json.loads(version["features"])]
    quoted = ", ".join(f'"{c}"' for c in [spec.label, *features])
    frame = con.execute(f'select {quoted} from {spec.training_relation} '
                        f'where "{spec.timestamp}" between ? and ?', [test_from, test_to]).df()
    pipeline = load_artifact(version["artifact_path"], version["artifact_sha256"])
    p = positive_scores(pipeline, feature_matrix(frame, features), features)
    y = frame[spec.label].to_numpy(dtype=int)
    return classification_metrics(y, p, spec.threshold)[spec.primary_metric], len(frame)


def promote(model: str, version: int, alias: str = "champion", force: bool = False,
            reason: str | None = None) -> list[dict]:
    """Point `alias` at `version` if every gate passes (or `force`, with a reason); the checks."""
    if not ALIAS.match(alias):
        raise ValueError(f"alias {alias!r}: use lower-case letters, digits and _ (e.g. champion)")
    if force and not (reason and reason.strip()):
        raise ValueError("--force needs --reason: say why the gates are overridden")
    spec = load_spec(model)
    with connect() as con:
        ensure_registry(con)
        candidate = version_row(con, model, version)
        metrics = test_metrics(con, candidate["run_id"])
        checks = [_gate(m, metrics.get(m), t) for m, t in sorted(spec.min_metrics.items())]
        holder = current_alias(con, model, alias)
        if spec.beats_champion_by is not None and holder is not None and holder != version:
            window = (candidate["test_from"], candidate["test_to"])
            mine, rows = _score_on_window(con, spec, candidate, *window)
            theirs, _ = _score_on_window(con, spec, version_row(con, model, holder), *window)
            margin = float(spec.beats_champion_by)
            higher = METRICS[spec.primary_metric]
            passed = bool(mine is not None and theirs is not None
                          and (mine >= theirs + margin if higher else mine <= theirs - margin))
            checks.append({"check": f"{spec.primary_metric} beats {alias} v{holder} by >= {margin} "
                                    f"on v{version}'s test window ({rows:,} rows)",
                           "value": mine, "holder_value": theirs, "passed": passed})
        failed = [c for c in checks if not c["passed"]]
        if failed and not force:
            listed = "; ".join(f"{c['check']} (got {_fmt(c['value'])}"
                               + (f" vs {_fmt(c['holder_value'])})" if "holder_value" in c else ")")
                               for c in failed)
            raise PromotionRefused(f"{model} v{version} not promoted to {alias}: {listed}")
        con.execute("insert into registry.alias_events values (?, ?, ?, ?, ?, ?, ?, ?)",
                    [model, alias, version, datetime.now(UTC).replace(tzinfo=None), getpass.getuser(),
                     reason, force, as_json(checks)])
        write_serving_catalog(con)
    return checks


def _fmt(value) -> str:
    return "none" if value is None or (isinstance(value, float) and np.isnan(value)) else f"{value:.4f}"
