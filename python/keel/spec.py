"""ML model specs: dbt exposures of type `ml`, read from the manifest and checked before any work.

A spec error names the field and the fix in one line (`purchase_propensity: meta.keel.label:
...`). Names that later reach SQL (columns, relations) come from here only after they have been
checked against the training relation's real columns or the manifest.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field

from keel.features import IDENTIFIER, choose, feature_views
from keel.project import manifest, relation_name

# name -> True when larger is better
METRICS = {"roc_auc": True, "pr_auc": True, "precision": True, "recall": True,
           "log_loss": False, "brier": False}
ESTIMATOR_PREFIX = "sklearn."
GRAINS = ("day", "week", "month")   # monitoring periods (meta.keel.monitoring.grain)


class SpecError(ValueError):
    """A spec that cannot be trained; the message names the model and the field."""


@dataclass(frozen=True)
class ModelSpec:
    name: str
    description: str
    owner: str
    training_model: str         # dbt model name of the training relation
    training_relation: str      # as dbt built it, quoted
    entity: str
    timestamp: str
    label: str
    feature_refs: tuple[str, ...]   # as declared: 'view' or 'view:feature'
    features: tuple[str, ...]       # the training relation's feature columns
    estimator: str
    params: dict = field(default_factory=dict)
    search: dict = field(default_factory=dict)
    test_days: int = 7
    gap_days: int = 0
    primary_metric: str = "roc_auc"
    threshold: float = 0.5
    calibration_bins: int = 10
    slices: tuple[str, ...] = ()
    min_metrics: dict = field(default_factory=dict)
    beats_champion_by: float | None = None
    serving: str = ""
    monitoring_grain: str | None = None   # None: var monitoring_grain (the project's default)
    feature_views: dict = field(default_factory=dict)   # feature -> the view it comes from
    raw: dict = field(default_factory=dict)   # the meta.keel block as declared

    def estimator_class(self):
        return import_estimator(self.estimator, self.name)


def import_estimator(path: str, model: str):
    """The scikit-learn class at `path` (only sklearn.* is importable from a spec)."""
    if not isinstance(path, str) or not path.startswith(ESTIMATOR_PREFIX) or "." not in path:
        raise SpecError(f"{model}: meta.keel.estimator: {path!r} is not a scikit-learn class path "
                        "like sklearn.linear_model.LogisticRegression")
    module, _, name = path.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        raise SpecError(f"{model}: meta.keel.estimator: no class {name} in {module}") from None
    if not (isinstance(cls, type) and hasattr(cls, "fit") and hasattr(cls, "predict_proba")):
        raise SpecError(f"{model}: meta.keel.estimator: {path} is not a classifier with predict_proba")
    return cls


def model_names() -> list[str]:
    return sorted(e["name"] for e in manifest()["exposures"].values() if e.get("type") == "ml")


def load_spec(name: str) -> ModelSpec:
    """The spec of ML model `name`, checked against the manifest (not yet against the data)."""
    m = manifest()
    exposure = next((e for e in m["exposures"].values() if e["name"] == name and e.get("type") == "ml"), None)
    if exposure is None:
        known = ", ".join(model_names()) or "none (declare an exposure of type ml)"
        raise SpecError(f"unknown model {name!r}; models: {known}")
    meta = (exposure.get("config", {}).get("meta") or exposure.get("meta") or {}).get("keel")
    if not isinstance(meta, dict):
        raise SpecError(f"{name}: the exposure has no meta.keel block")

    def need(key: str, kind=str):
        value = meta.get(key)
        if value is None or (kind is str and not isinstance(value, str)) or (kind is not str and not value):
            raise SpecError(f"{name}: meta.keel.{key} is missing or not a {kind.__name__}")
        return value

    nodes = [n for n in exposure["depends_on"]["nodes"] if n.startswith("model.")]
    if len(nodes) != 1:
        raise SpecError(f"{name}: depends_on must name exactly one training model, not {nodes}")
    training = m["nodes"][nodes[0]]
    entity, timestamp, label = need("entity"), need("timestamp"), need("label")
    for key, value in (("entity", entity), ("timestamp", timestamp), ("label", label)):
        if not IDENTIFIER.match(value):
            raise SpecError(f"{name}: meta.keel.{key}: {value!r} is not a plain column name")
    feature_refs = tuple(need("features", list))
    catalog = {v: fv.features for v, fv in feature_views().items()}
    try:
        chosen = choose(list(feature_refs), catalog)
    except ValueError as e:
        raise SpecError(f"{name}: meta.keel.features: {e}") from None
    features = tuple(f for fs in chosen.values() for f in fs)
    estimator = need("estimator")
    import_estimator(estimator, name)
    params = meta.get("params") or {}
    search = meta.get("search") or {}
    if not isinstance(params, dict) or not isinstance(search, dict):
        raise SpecError(f"{name}: meta.keel.params and meta.keel.search must be mappings")
    if any(not isinstance(v, list) or not v for v in search.values()):
        raise SpecError(f"{name}: meta.keel.search: each parameter needs a non-empty list of values")
    split = meta.get("split") or {}
    test_days = split.get("test_days", 7)
    if not isinstance(test_days, int) or test_days < 1:
        raise SpecError(f"{name}: meta.keel.split.test_days must be a whole number of days >= 1")
    gap_days = split.get("gap_days", 0)
    if not isinstance(gap_days, int) or gap_days < 0:
        raise SpecError(f"{name}: meta.keel.split.gap_days must be a whole number of days >= 0")
    metrics = meta.get("metrics") or {}
    primary = metrics.get("primary", "roc_auc")
    if primary not in METRICS:
        raise SpecError(f"{name}: meta.keel.metrics.primary: {primary!r} is not one of {', '.join(METRICS)}")
    threshold = metrics.get("threshold", 0.5)
    if not isinstance(threshold, int | float) or not 0 < threshold < 1:
        raise SpecError(f"{name}: meta.keel.metrics.threshold must be between 0 and 1")
    gates = meta.get("gates") or {}
    min_metrics = gates.get("min") or {}
    unknown = [k for k in min_metrics if k not in METRICS]
    if unknown:
        raise SpecError(f"{name}: meta.keel.gates.min: unknown metric {', '.join(unknown)}")
    slices = tuple(meta.get("slices") or ())
    for column in slices:
        if not IDENTIFIER.match(str(column)):
            raise SpecError(f"{name}: meta.keel.slices: {column!r} is not a plain column name")
    monitoring = meta.get("monitoring") or {}
    grain = monitoring.get("grain") if isinstance(monitoring, dict) else monitoring
    if grain is not None and grain not in GRAINS:
        raise SpecError(f"{name}: meta.keel.monitoring.grain: {grain!r} is not one of {', '.join(GRAINS)}")
    owner = exposure.get("owner") or {}
    return ModelSpec(
        name=name, description=exposure.get("description", ""),
        owner=owner.get("name") or owner.get("email") or "",
        training_model=training["name"],
        training_relation=relation_name(training),
        entity=entity, timestamp=timestamp, label=label, feature_refs=feature_refs, features=features,
        feature_views={f: view for view, fs in chosen.items() for f in fs},
        estimator=estimator, params=params, search=search, test_days=test_days, gap_days=gap_days,
        primary_metric=primary,
        threshold=float(threshold), calibration_bins=int(metrics.get("calibration_bins", 10)),
        slices=slices, min_metrics=min_metrics, beats_champion_by=gates.get("beats_champion_by"),
        serving=str(meta.get("serving") or ""), monitoring_grain=grain, raw=meta,
    )


def check_columns(spec: ModelSpec, columns: list[str]) -> None:
    """Every column the spec names exists in the training relation."""
    for key, names in (("entity", [spec.entity]), ("timestamp", [spec.timestamp]), ("label", [spec.label]),
                       ("features", spec.features), ("slices", spec.slices)):
        missing = [c for c in names if c not in columns]
        if missing:
            raise SpecError(f"{spec.name}: meta.keel.{key}: no column {', '.join(missing)} in "
                            f"{spec.training_relation} (it has: {', '.join(columns)})")
