"""`keel report`: the registry, a card per model and the monitoring tables, as one static HTML file.

The file opens from disk with no server and no network: styles are inline, charts are SVG drawn
by keel.charts, and there is no script at all. Its Content-Security-Policy forbids every fetch
and every script, so a stray external link or an injection that escaped html.escape would be
blocked (and shows as a console error, which the report's browser test looks for).

Reading and rendering are apart: `read_report_data` is the only part that opens the warehouse,
once, reads every relation into plain rows and closes it; `render` is a pure function of those
rows. Relations are read by column name, and a missing relation, an unreadable one or an empty
one becomes a note on the page, never an error: the monitoring models are younger than the report
and a new warehouse has none of them.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from html import escape
from pathlib import Path

import duckdb

from keel import charts
from keel.warehouse import connect, warehouse_path

VERSION_RUNS = "run_id in (select run_id from registry.model_versions)"  # not search trials
# relation -> (columns to read, or None for all; where; order by). Monitoring columns are the
# planned ones: any the relation lacks come back as null.
RELATIONS: dict[str, tuple[tuple[str, ...] | None, str, tuple[str, ...]]] = {
    "registry.model_versions_current": (None, "", ("model", "version desc")),
    "registry.model_alias_history": (None, "", ("valid_from desc", "model", "alias")),
    "registry.runs": (
        ("run_id", "model", "kind", "status", "started_at", "duration_seconds", "rows", "estimator",
         "error"), "", ("started_at desc", "run_id")),
    "registry.metrics": (None, VERSION_RUNS, ("model", "run_id", "slice", "metric")),
    "registry.calibration": (None, VERSION_RUNS, ("model", "run_id", "bin")),
    "registry.model_lineage": (None, "", ("model", "version", "feature_view", "feature")),
    "registry.feature_catalog": (None, "", ("feature_view", "feature")),
    "registry.exposure_catalog": (None, "", ("exposure", "depends_on", "consumes")),
    "monitoring.mon_feature_drift": (
        ("model", "version", "day", "column_name", "kind", "reference_rows", "current_rows", "psi", "ks",
         "wasserstein_norm", "js_distance", "null_rate_reference", "null_rate_current", "null_rate_change",
         "mean_shift_std"), "", ("model", "version", "day", "column_name")),
    "monitoring.mon_prediction_drift": (
        ("model", "version", "day", "column_name", "kind", "reference_rows", "current_rows", "psi", "ks",
         "wasserstein_norm", "js_distance", "null_rate_reference", "null_rate_current", "null_rate_change",
         "mean_shift_std"), "", ("model", "version", "day", "column_name")),
    "monitoring.mon_performance": (
        ("model", "version", "day", "rows", "positives", "roc_auc", "log_loss", "brier", "precision",
         "recall", "threshold", "expected_calibration_error"), "", ("model", "version", "day")),
    "monitoring.mon_data_quality": (None, "", ("source", "day")),  # all columns: more may come
    "monitoring.mon_alerts": (
        ("alert_id", "day", "check_name", "severity", "model", "version", "source", "subject", "statistic",
         "value", "threshold", "message"), "", ("day desc", "severity", "check_name", "subject", "alert_id")),
    "monitoring.mon_ingestion_daily": (None, "", ("ingested_date desc", "source")),
}
ALERT_ROWS_SHOWN = 200
RUN_ROWS_SHOWN = 50
DRIFT_SERIES = 8  # lines on one drift chart; the table below it lists every column
HEADLINE = ("roc_auc", "pr_auc", "log_loss", "brier", "precision", "recall", "positive_rate", "rows")


@dataclass(frozen=True)
class Relation:
    """What was read from one relation: its rows, or why there are none to show."""

    name: str
    rows: list[dict] = field(default_factory=list)
    problem: str | None = None  # "does not exist", "could not be read: ..."


@dataclass
class ReportData:
    warehouse: Path
    generated_at: datetime
    relations: dict[str, Relation]
    specs: dict[str, object]  # model -> ModelSpec, or a string saying why it could not be read
    notes: list[str]          # page-wide problems: no warehouse, no manifest


def report_path() -> Path:
    """Where the report goes by default: beside the warehouse, named after it."""
    path = warehouse_path()
    return path.with_name(f"{path.stem}_report.html")


# ---------------------------------------------------------------------------------------------
# reading (the only part that touches the warehouse)


def read_relation(con, relation: str, columns: Sequence[str] | None = None, where: str = "",
                  order_by: Sequence[str] = ()) -> Relation:
    """Rows of `relation` as dicts keyed by column name. Asked-for columns the relation lacks come
    back as None; `order_by` terms on missing columns are dropped. Never raises for a missing or
    broken relation: the Relation says what went wrong."""
    schema, name = relation.split(".")
    present = [r[0] for r in con.execute(
        "select column_name from information_schema.columns where table_catalog = current_database() "
        "and table_schema = ? and table_name = ? order by ordinal_position", [schema, name]).fetchall()]
    if not present:
        return Relation(relation, problem="does not exist")
    wanted = list(columns) if columns else present
    select = ", ".join(f'"{c}"' if c in present else f'null as "{c}"' for c in wanted)
    order = [term for term in order_by if term.split()[0] in present]
    sql = (f'select {select} from "{schema}"."{name}"' + (f" where {where}" if where else "")
           + (f" order by {', '.join(order)}" if order else ""))
    try:
        rows = con.execute(sql).fetchall()
    except duckdb.Error as e:  # e.g. a view over a table that was dropped
        return Relation(relation, problem=f"could not be read ({str(e).splitlines()[0]})")
    # DECIMAL columns (a literal in SQL arithmetic makes one) come back as Decimal: draw and
    # format them as the floats they stand for
    return Relation(relation, rows=[{c: float(v) if isinstance(v, Decimal) else v
                                     for c, v in zip(wanted, row)} for row in rows])


def read_specs() -> tuple[dict[str, object], list[str]]:
    """Each declared ML model's spec (or why it could not be read), from dbt's manifest if there
    is one; never runs dbt (parsing would open, and could create, the warehouse)."""
    from keel.project import project_dir
    from keel.spec import SpecError, load_spec, model_names

    try:
        has_manifest = (project_dir() / "target" / "manifest.json").is_file()
    except FileNotFoundError as e:
        return {}, [f"Model specs are not shown: {e}."]
    if not has_manifest:
        return {}, ["Model specs are not shown: the dbt project has no manifest yet "
                    "(run `keel dbt parse` or `keel run`)."]
    specs: dict[str, object] = {}
    for name in model_names():
        try:
            specs[name] = load_spec(name)
        except SpecError as e:
            specs[name] = str(e)
    return specs, []


def read_report_data() -> ReportData:
    """Everything the report shows, read in one short connection."""
    path = warehouse_path()
    specs, notes = read_specs()
    now = datetime.now(UTC).replace(tzinfo=None)
    if not path.exists():
        notes.insert(0, f"There is no warehouse at {path} yet: run `keel run` (or `keel ingest` and "
                        "`keel dbt build`) to create one.")
        relations = {name: Relation(name, problem="does not exist (no warehouse yet)") for name in RELATIONS}
        return ReportData(path, now, relations, specs, notes)
    with connect() as con:
        relations = {name: read_relation(con, name, *spec) for name, spec in RELATIONS.items()}
    return ReportData(path, now, relations, specs, notes)


def write_report(out: Path | None = None) -> Path:
    """Read, render and write the report (aside, then renamed into place); returns its path."""
    target = out or report_path()
    if target.is_dir():
        target = target / report_path().name
    html = render(read_report_data())
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.write_text(html, encoding="utf-8")
    os.replace(tmp, target)
    return target


# ---------------------------------------------------------------------------------------------
# rendering (pure)


def esc(value) -> str:
    return escape(str(value), quote=True)


def fmt(value) -> str:
    """A cell's text: numbers short, times to the second, missing values as a dash."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        if value.is_integer() and abs(value) >= 10:
            return f"{int(value):,}"
        return charts.fmt_number(value)
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def as_day(value) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            return None
    return None


def note(text: str) -> str:
    return f'<p class="note">{esc(text)}</p>'


class Markup(str):
    """Markup built here from escaped parts: a table puts it into a cell as it is."""


def table(rows: Sequence[dict], columns: Sequence[str], headers: Sequence[str] | None = None) -> str:
    head = "".join(f"<th>{esc(h)}</th>" for h in (headers or columns))
    body = []
    for row in rows:
        cells = []
        for c in columns:
            value = row.get(c)
            raw = isinstance(value, Markup)
            numeric = isinstance(value, int | float) and not isinstance(value, bool)
            text = str(value) if raw else esc(fmt(value))
            kind = "num" if numeric else "text" if not raw and len(text) > 40 else ""
            cells.append(f'<td class="{kind}">{text}</td>' if kind else f"<td>{text}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    return (f'<div class="scroll"><table><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table></div>')


def figure(svg: str | None, kind: str, caption: str, model: str | None = None,
           legend: Sequence[str] = (), empty: str = "no values to draw yet.") -> str:
    if svg is None:
        return note(f"{caption}: {empty}")
    key = "".join(f'<span class="key"><i style="background:{charts.color(i)}"></i>{esc(name)}</span>'
                  for i, name in enumerate(legend))
    model_attr = f' data-model="{esc(model)}"' if model is not None else ""
    return (f'<figure class="chart" data-chart="{esc(kind)}"{model_attr}>{svg}'
            f'<figcaption>{esc(caption)}{"<br>" + key if key else ""}</figcaption></figure>')


def missing_note(relation: Relation, what: str) -> str | None:
    """The note for a relation with nothing to show, or None when it has rows."""
    if relation.problem:
        return note(f"No {what} yet: {relation.name} {relation.problem}.")
    if not relation.rows:
        return note(f"No {what} yet: {relation.name} is empty.")
    return None


def _short(value, n: int = 12) -> str | None:
    return str(value)[:n] if value else None


def _window(start, end) -> str:
    return f"{fmt(start)} → {fmt(end)}" if start or end else "—"


def _by(rows: Iterable[dict], key: str) -> dict:
    out: dict = {}
    for row in rows:
        out.setdefault(row.get(key), []).append(row)
    return out


def _version_label(version) -> str:
    return f"v{version}" if version is not None else "no version"


def _day_series(rows: Iterable[dict], key: str, value: str) -> dict[str, list]:
    series: dict[str, list] = {}
    for row in rows:
        day = as_day(row.get("day"))
        if day is not None:
            series.setdefault(str(row.get(key)), []).append((day, row.get(value)))
    return series


# ----- sections


def render(data: ReportData) -> str:
    rel = data.relations
    versions = rel["registry.model_versions_current"].rows
    models = sorted(set(data.specs) | {v["model"] for v in versions if v.get("model") is not None}, key=str)
    anchors = {m: f"model-{i}" for i, m in enumerate(models)}
    body = [
        _header(data, models, versions),
        _alerts_section(rel["monitoring.mon_alerts"]),
        _registry_section(data, anchors),
        '<section id="models"><h2>Model cards</h2>',
        *([_model_card(data, m, anchors[m]) for m in models] or
          [note("No ML models yet: declare one as a dbt exposure of type ml "
                "(models/training/_ml_models.yml) and run `keel train MODEL`.")]),
        "</section>",
        _data_quality_section(rel["monitoring.mon_data_quality"], rel["monitoring.mon_ingestion_daily"]),
    ]
    sections = (("alerts", "Alerts"), ("registry", "Registry"), ("models", "Model cards"),
                ("data-quality", "Data quality"))
    nav = "".join(f'<a href="#{a}">{esc(h)}</a>' for a, h in sections)
    nav += "".join(f'<a class="sub" href="#{anchors[m]}">{esc(m)}</a>' for m in models)
    return PAGE.format(title=esc(f"Keel report · {data.warehouse.name}"), style=STYLE, nav=nav,
                       body="\n".join(body))


def _header(data: ReportData, models: list[str], versions: list[dict]) -> str:
    champions = [v for v in versions if "champion" in str(v.get("aliases") or "").split(", ")]
    alerts = data.relations["monitoring.mon_alerts"].rows
    days = [d for d in (as_day(a.get("day")) for a in alerts) if d]
    facts = [f"{len(models)} ML model{'s' * (len(models) != 1)}",
             f"{len(versions)} registered version{'s' * (len(versions) != 1)}",
             f"{len(champions)} champion{'s' * (len(champions) != 1)}"]
    if days:
        latest = max(days)
        today = [a for a in alerts if as_day(a.get("day")) == latest]
        critical = sum(a.get("severity") == "critical" for a in today)
        facts.append(f"alerts on {latest.isoformat()}: {critical} critical, {len(today) - critical} other")
    problems = "".join(f'<p class="note problem">{esc(n)}</p>' for n in data.notes)
    return (f"<header><h1>Keel report</h1><p>Warehouse <code>{esc(data.warehouse)}</code>, "
            f"generated {esc(fmt(data.generated_at))} UTC. {esc(' · '.join(facts))}.</p>{problems}</header>")


def _alerts_section(alerts: Relation) -> str:
    out = ['<section id="alerts"><h2>Alerts</h2>']
    empty = missing_note(alerts, "alerts")
    if empty:
        out.append(empty)
    else:
        order = {"critical": 0, "warning": 1}
        rows = sorted(alerts.rows, key=lambda a: (-(as_day(a.get("day")) or date.min).toordinal(),
                                                  order.get(a.get("severity"), 2), str(a.get("check_name")),
                                                  str(a.get("subject")), str(a.get("alert_id"))))
        shown = [{**a, "severity": Markup(f'<span class="badge {esc(a.get("severity"))}">'
                                          f'{esc(fmt(a.get("severity")))}</span>')}
                 for a in rows[:ALERT_ROWS_SHOWN]]
        if len(rows) > ALERT_ROWS_SHOWN:
            out.append(note(f"The newest {ALERT_ROWS_SHOWN} of {len(rows):,} alerts; query "
                            "monitoring.mon_alerts for the rest."))
        out.append(table(shown, ["day", "severity", "check_name", "model", "version", "source", "subject",
                                 "statistic", "value", "threshold", "message"],
                         ["day", "severity", "check", "model", "version", "source", "subject", "statistic",
                          "value", "threshold", "message"]))
    out.append("</section>")
    return "".join(out)


def _checks_cell(checks) -> Markup:
    try:
        parsed = json.loads(checks) if isinstance(checks, str) else checks
    except ValueError:
        return Markup(esc(checks))
    if not isinstance(parsed, list):
        return Markup(esc(fmt(checks)))
    passed = sum(bool(c.get("passed")) for c in parsed if isinstance(c, dict))
    summary = f"{passed} passed, {len(parsed) - passed} failed"
    return Markup(f"<details><summary>{esc(summary)}</summary>"
                  f"<pre>{esc(json.dumps(parsed, indent=1, sort_keys=True))}</pre></details>")


def _registry_section(data: ReportData, anchors: dict[str, str]) -> str:
    rel = data.relations
    out = ['<section id="registry"><h2>Registry</h2>', "<h3>Model versions</h3>"]
    versions = rel["registry.model_versions_current"]
    out.append(missing_note(versions, "model versions") or table(
        [{**v, "model": Markup(f'<a href="#{anchors[v["model"]]}">{esc(v["model"])}</a>'),
          "train_window": _window(v.get("train_from"), v.get("train_to")),
          "test_window": _window(v.get("test_from"), v.get("test_to")),
          "git_commit": _short(v.get("git_commit"))} for v in versions.rows],
        ["model", "version", "aliases", "created_at", "estimator", "roc_auc", "pr_auc", "log_loss", "brier",
         "test_rows", "training_set_rows", "train_window", "test_window", "git_commit"],
        ["model", "version", "aliases", "created (UTC)", "estimator", "ROC AUC", "PR AUC", "log loss",
         "Brier", "test rows", "training rows", "train window", "test window", "git commit"]))
    out.append("<h3>Alias history</h3>")
    history = rel["registry.model_alias_history"]
    out.append(missing_note(history, "alias changes (run `keel promote MODEL VERSION`)") or table(
        [{**h, "valid_to": h.get("valid_to") or "now", "checks": _checks_cell(h.get("checks"))}
         for h in history.rows],
        ["model", "alias", "version", "valid_from", "valid_to", "changed_by", "forced", "reason", "checks"],
        ["model", "alias", "version", "from (UTC)", "until", "changed by", "forced", "reason", "gates"]))
    out.append("<h3>Runs</h3>")
    runs = rel["registry.runs"]
    shown = [{**r, "run_id": _short(r.get("run_id"))} for r in runs.rows[:RUN_ROWS_SHOWN]]
    if len(runs.rows) > RUN_ROWS_SHOWN:
        out.append(note(f"The newest {RUN_ROWS_SHOWN} of {len(runs.rows):,} runs."))
    out.append(missing_note(runs, "training runs (run `keel train MODEL`)") or table(
        shown, ["started_at", "model", "kind", "status", "duration_seconds", "rows", "estimator", "run_id",
                "error"],
        ["started (UTC)", "model", "kind", "status", "seconds", "rows", "estimator", "run", "error"]))
    out.append("</section>")
    return "".join(out)


def _spec_rows(spec) -> list[dict]:
    from keel.spec import METRICS

    gates = ", ".join(f"{m} {'≥' if METRICS[m] else '≤'} {t}" for m, t in sorted(spec.min_metrics.items()))
    if spec.beats_champion_by is not None:
        beats = f"beats the champion's {spec.primary_metric} by ≥ {spec.beats_champion_by}"
        gates = f"{gates}; {beats}" if gates else beats
    rows = [
        ("owner", spec.owner), ("training relation", spec.training_relation), ("entity", spec.entity),
        ("timestamp", spec.timestamp), ("label", spec.label),
        ("features", f"{', '.join(spec.feature_refs)} ({len(spec.features)} columns)"),
        ("estimator", spec.estimator), ("params", json.dumps(spec.params, sort_keys=True)),
        ("search grid", json.dumps(spec.search, sort_keys=True) if spec.search else "—"),
        ("split", f"last {spec.test_days} days held out for test, {spec.gap_days} days gap before them"),
        ("primary metric", spec.primary_metric), ("threshold", spec.threshold),
        ("calibration bins", spec.calibration_bins), ("slices", ", ".join(spec.slices) or "none"),
        ("promotion gates", gates or "none"), ("serving relation", spec.serving or "—"),
    ]
    return [{"field": k, "value": fmt(v)} for k, v in rows]


def _model_card(data: ReportData, model: str, anchor: str) -> str:
    rel = data.relations
    spec = data.specs.get(model)
    versions = [v for v in rel["registry.model_versions_current"].rows if v.get("model") == model]
    out = [f'<article class="card" id="{anchor}"><h3>{esc(model)}</h3>']
    if spec is None:
        out.append(note("This model is in the registry but not declared in the dbt project (no ML "
                        "exposure of this name); its spec is not shown."))
    elif isinstance(spec, str):
        out.append(note(f"The spec could not be read: {spec}"))
    else:
        if spec.description:
            out.append(f"<p>{esc(spec.description)}</p>")
        out.append("<h4>Spec</h4>" + table(_spec_rows(spec), ["field", "value"]))
    if not versions:
        problem = rel["registry.model_versions_current"].problem
        out.append(note(f"No versions to show: registry.model_versions_current {problem}." if problem
                        else f"Not trained yet: no registered version (run `keel train {model}`)."))
        out.append("</article>")
        return "".join(out)
    champion = next((v for v in versions if "champion" in str(v.get("aliases") or "").split(", ")), None)
    featured = champion or max(versions, key=lambda v: v.get("version") or 0)
    which = "the champion" if champion else "the newest version (no champion yet)"
    out.append(f"<h4>Version {esc(featured['version'])}, {esc(which)}</h4>")
    window = [
        ("aliases", featured.get("aliases") or "none"),
        ("train window", _window(featured.get("train_from"), featured.get("train_to"))),
        ("test window", _window(featured.get("test_from"), featured.get("test_to"))),
        ("training set rows", featured.get("training_set_rows")),
        ("raw watermark (last batch read)", featured.get("raw_watermark")),
        ("training data sha256", _short(featured.get("data_sha256"), 16)),
        ("run", featured.get("run_id")),
    ]
    out.append(table([{"what": k, "value": fmt(v)} for k, v in window], ["what", "value"],
                     ["data window", ""]))
    out.append(_metrics_block(rel["registry.metrics"], versions, featured, spec))
    out.append(_calibration_block(rel["registry.calibration"], model, featured))
    out.append(_lineage_block(data, model, featured, spec))
    out.append(_drift_block(rel["monitoring.mon_feature_drift"], model, "feature drift"))
    out.append(_drift_block(rel["monitoring.mon_prediction_drift"], model, "prediction drift"))
    out.append(_performance_block(rel["monitoring.mon_performance"], model))
    out.append("</article>")
    return "".join(out)


def _metrics_block(metrics: Relation, versions: list[dict], featured: dict, spec) -> str:
    out = ["<h4>Test metrics</h4>"]
    empty = missing_note(metrics, "metrics")
    if empty:
        return out[0] + empty
    by_run = _by((m for m in metrics.rows if m.get("split") == "test"), "run_id")
    recent = sorted(versions, key=lambda v: v.get("version") or 0, reverse=True)[:5]
    names = sorted({m["metric"] for v in recent for m in by_run.get(v["run_id"], [])
                    if m.get("slice") is None},
                   key=lambda n: (HEADLINE.index(n) if n in HEADLINE else len(HEADLINE), n))
    rows = []
    for name in names:
        row = {"metric": name}
        for v in recent:
            row[f"v{v['version']}"] = next((m["value"] for m in by_run.get(v["run_id"], [])
                                            if m.get("slice") is None and m["metric"] == name), None)
        rows.append(row)
    columns = [f"v{v['version']}" for v in recent]
    out.append(table(rows, ["metric", *columns]) if rows else note("No test metrics were recorded."))
    out.append("<h4>Slice metrics</h4>")
    sliced = [m for m in by_run.get(featured["run_id"], []) if m.get("slice") is not None]
    if not sliced:
        declared = spec is not None and not isinstance(spec, str) and spec.slices
        out.append(note("No slice metrics for this version." if declared else
                        "No slices are declared for this model (meta.keel.slices is empty)."))
    else:
        pivot: dict[str, dict] = {}
        for m in sliced:
            pivot.setdefault(m["slice"], {"slice": m["slice"]})[m["metric"]] = m["value"]
        present = [n for n in HEADLINE if any(n in r for r in pivot.values())]
        out.append(table([pivot[k] for k in sorted(pivot)], ["slice", *present]))
    return "".join(out)


def _calibration_block(calibration: Relation, model: str, featured: dict) -> str:
    empty = missing_note(calibration, "calibration bins")
    if empty:
        return "<h4>Calibration</h4>" + empty
    bins = [b for b in calibration.rows if b.get("run_id") == featured["run_id"]]
    svg = charts.calibration_chart(bins)
    caption = (f"Calibration of v{featured['version']} on its test window: each dot is a score bin "
               "(area ∝ rows); the dashed diagonal is perfect calibration")
    return "<h4>Calibration</h4>" + figure(svg, "calibration", caption, model,
                                             empty="no calibration bins were recorded for this version.")


def _lineage_block(data: ReportData, model: str, featured: dict, spec) -> str:
    out = ["<h4>Lineage</h4>"]
    lineage = data.relations["registry.model_lineage"]
    empty = missing_note(lineage, "lineage")
    if empty:
        return out[0] + empty
    rows = [r for r in lineage.rows if r.get("model") == model and r.get("version") == featured["version"]]
    if not rows:
        return out[0] + note("No lineage rows for this version.")
    catalog = {(c.get("feature_view"), c.get("feature")): c
               for c in data.relations["registry.feature_catalog"].rows}
    sources = {}
    for r in rows:
        for s in str(r.get("upstream_sources") or "").split(", "):
            if s:
                sources.setdefault(s, set()).add(r.get("feature_view"))
    views = sorted({str(r.get("feature_view")) for r in rows if r.get("feature_view")})
    training = spec.training_model if spec is not None and not isinstance(spec, str) else None
    node = f"{model} v{featured['version']}"
    edges = [(s, str(v)) for s, vs in sorted(sources.items()) for v in sorted(vs, key=str) if v]
    if training:
        edges += [(v, training) for v in views] + [(training, node)]
    else:
        edges += [(v, node) for v in views]
    consumers = sorted({str(r.get("exposure")) for r in data.relations["registry.exposure_catalog"].rows
                        if r.get("consumes") == model})
    edges += [(node, c) for c in consumers]
    layers = [sorted(sources), views, [training] if training else [], [node], consumers]
    out.append(figure(charts.lineage_chart(layers, edges), "lineage",
                      "Raw sources → feature views → training set → model version → what uses its "
                      "predictions (exposures naming it in meta.keel.consumes)", model))
    shown = [{**r, "ttl": catalog.get((r.get("feature_view"), r.get("feature")), {}).get("ttl"),
              "owner": catalog.get((r.get("feature_view"), r.get("feature")), {}).get("owner")} for r in rows]
    out.append(table(sorted(shown, key=lambda r: (str(r.get("feature_view")), str(r.get("feature")))),
                     ["feature", "feature_view", "description", "ttl", "owner", "upstream_sources"],
                     ["feature", "view", "description", "ttl", "owner", "raw sources"]))
    return "".join(out)


def _monitored_version(rows: list[dict]):
    """The version with the newest monitoring day (the highest on a tie)."""
    return max(rows, key=lambda r: ((as_day(r.get("day")) or date.min), r.get("version") or 0)).get("version")


def _drift_block(drift: Relation, model: str, what: str) -> str:
    out = [f"<h4>{esc(what.capitalize())}</h4>"]
    empty = missing_note(drift, what)
    if empty:
        return out[0] + empty
    rows = [r for r in drift.rows if r.get("model") == model]
    if not rows:
        return out[0] + note(f"No {what} yet for this model in {drift.name}.")
    version = _monitored_version(rows)
    rows = [r for r in rows if r.get("version") == version]
    series = _day_series(rows, "column_name", "psi")
    worst = sorted(series, key=lambda c: (-max((v for _, v in series[c] if charts.finite(v)), default=-1), c))
    shown = {c: series[c] for c in worst[:DRIFT_SERIES]}
    more = f", the {DRIFT_SERIES} with the largest PSI" if len(series) > DRIFT_SERIES else ""
    out.append(figure(charts.line_chart(shown, y_label="PSI"), what.replace(" ", "-"),
                      f"PSI per day against the training reference, {_version_label(version)}{more}",
                      model, legend=list(shown)))
    latest = max((d for d in (as_day(r.get("day")) for r in rows) if d), default=None)
    last = [r for r in rows if as_day(r.get("day")) == latest]
    last.sort(key=lambda r: (-(r["psi"] if charts.finite(r.get("psi")) else -1), str(r.get("column_name"))))
    out.append(f"<p>On {esc(fmt(latest))}:</p>" + table(
        last, ["column_name", "kind", "psi", "ks", "wasserstein_norm", "js_distance", "null_rate_reference",
               "null_rate_current", "null_rate_change", "mean_shift_std", "reference_rows", "current_rows"],
        ["column", "kind", "PSI", "KS", "Wasserstein (norm.)", "JS distance", "null rate (ref.)",
         "null rate (now)", "null rate change", "mean shift (std)", "reference rows", "current rows"]))
    return "".join(out)


def _performance_block(performance: Relation, model: str) -> str:
    out = ["<h4>Performance over time</h4>"]
    empty = missing_note(performance, "performance over time")
    if empty:
        return out[0] + empty
    rows = [r for r in performance.rows if r.get("model") == model]
    if not rows:
        return out[0] + note(f"No performance rows yet for this model in {performance.name}.")
    rows = [{**r, "version_label": _version_label(r.get("version"))} for r in rows]
    for metric, label, zero in (("roc_auc", "ROC AUC", False), ("expected_calibration_error",
                                                                 "expected calibration error", True)):
        series = _day_series(rows, "version_label", metric)
        out.append(figure(charts.line_chart(series, y_label=label, zero_based=zero), f"performance-{metric}",
                          f"{label} per day of labelled predictions, by version", model, legend=list(series)))
    recent = sorted(rows, key=lambda r: (-(as_day(r.get("day")) or date.min).toordinal(),
                                         -(r.get("version") or 0)))[:30]
    out.append(table(recent, ["day", "version", "rows", "positives", "roc_auc", "log_loss", "brier",
                              "precision", "recall", "threshold", "expected_calibration_error"],
                     ["day", "version", "rows", "positives", "ROC AUC", "log loss", "Brier", "precision",
                      "recall", "threshold", "ECE"]))
    return "".join(out)


def _data_quality_section(quality: Relation, ingestion: Relation) -> str:
    out = ['<section id="data-quality"><h2>Data quality</h2>']
    empty = missing_note(quality, "data-quality checks")
    if empty:
        out.append(empty)
    else:
        rows = quality.rows
        for metric, label in (("quarantine_rate", "quarantine rate"), ("rows", "rows"),
                              ("freshness_hours", "hours since the newest record")):
            series = _day_series(rows, "source", metric)
            out.append(figure(charts.line_chart(series, y_label=label), f"quality-{metric}",
                              f"{label.capitalize()} per day, by source", legend=list(series)))
        latest = max((d for d in (as_day(r.get("day")) for r in rows) if d), default=None)
        columns = list(rows[0])  # every column the model has, new ones included
        out.append(f"<p>On {esc(fmt(latest))}:</p>"
                   + table([r for r in rows if as_day(r.get("day")) == latest], columns))
    out.append("<h3>Ingestion by day</h3>")
    out.append(missing_note(ingestion, "ingested batches") or table(
        ingestion.rows[:30], ["ingested_date", "source", "batches", "raw_rows", "valid_rows",
                              "quarantined_rows", "duplicate_rows", "quarantine_rate"],
        ["ingested (UTC)", "source", "batches", "raw rows", "valid", "quarantined", "duplicates",
         "quarantine rate"]))
    out.append("</section>")
    return "".join(out)


# Scripts are not needed (charts are SVG) and not allowed: default-src 'none' also blocks every
# fetch, so the page cannot reach the network even if a link to it slipped in.
PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>{title}</title>
<style>{style}</style>
</head>
<body>
<nav>{nav}</nav>
<main>
{body}
</main>
</body>
</html>
"""

STYLE = """
:root { --fg: #1d2330; --muted: #5b6577; --line: #d9dee7; --soft: #f4f6f9; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--fg); background: var(--soft);
       font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; }
nav { position: sticky; top: 0; z-index: 1; background: #1d2330; padding: 6px 16px; }
nav a { color: #fff; margin-right: 16px; text-decoration: none; font-weight: 600; }
nav a.sub { font-weight: 400; color: #c9d1e0; }
main { max-width: 1180px; margin: 0 auto; padding: 8px 20px 40px; }
header p { margin: 4px 0; }
h1 { font-size: 24px; margin: 16px 0 4px; }
h2 { font-size: 20px; margin: 28px 0 8px; border-bottom: 2px solid var(--line); }
h3 { font-size: 16px; margin: 18px 0 6px; }
h4 { font-size: 14px; margin: 16px 0 4px; color: var(--muted); text-transform: uppercase;
     letter-spacing: .03em; }
section, article.card { background: #fff; border: 1px solid var(--line); border-radius: 6px;
                        padding: 4px 20px 16px; margin: 16px 0; }
article.card { margin: 16px 0 24px; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; margin: 4px 0; }
th, td { padding: 3px 10px 3px 0; border-bottom: 1px solid var(--line); text-align: left;
         vertical-align: top; white-space: nowrap; }
td.text { white-space: normal; min-width: 18em; }
th { color: var(--muted); font-weight: 600; white-space: nowrap; }
td.num { text-align: right; }
code, pre { font: 12px ui-monospace, SFMono-Regular, Menlo, monospace; }
pre { margin: 4px 0; white-space: pre-wrap; }
details summary { cursor: pointer; }
.note { color: var(--muted); font-style: italic; }
.note.problem { color: #b45309; font-style: normal; font-weight: 600; }
.badge { padding: 0 6px; border-radius: 8px; font-size: 12px; background: #eef1f5; }
.badge.critical { background: #fde2e2; color: #b91c1c; }
.badge.warning { background: #fef3c7; color: #92400e; }
figure.chart { margin: 8px 0 12px; }
figcaption { color: var(--muted); font-size: 12px; max-width: 640px; }
.key { display: inline-block; margin-right: 12px; white-space: nowrap; }
.key i { display: inline-block; width: 10px; height: 10px; margin-right: 4px; border-radius: 2px; }
svg text { font-size: 11px; fill: var(--muted); }
svg .grid { stroke: #eceff4; }
svg .axis { stroke: #9aa3b2; }
svg .guide { stroke: #9aa3b2; stroke-dasharray: 4 4; }
svg path.line { fill: none; stroke-width: 1.8; }
svg path.edge { fill: none; stroke: #9aa3b2; stroke-width: 1.2; }
svg .node rect { fill: #eef3fb; stroke: #0072B2; }
svg .node text { font: 12px ui-monospace, SFMono-Regular, Menlo, monospace; fill: var(--fg); }
"""
