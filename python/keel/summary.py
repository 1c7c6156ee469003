"""A one-screen account of what the warehouse holds, read from the monitoring models."""

from __future__ import annotations

import duckdb
from rich.console import Console
from rich.table import Table

from keel.warehouse import connect, warehouse_path


def ingestion_totals(con) -> dict:
    """Rows ingested, valid, quarantined and duplicated, over every batch of every source."""
    row = con.execute(
        """
        select count(*), coalesce(sum(raw_rows), 0), coalesce(sum(valid_rows), 0),
               coalesce(sum(quarantined_rows), 0), coalesce(sum(duplicate_rows), 0)
        from monitoring.mon_ingestion
        """
    ).fetchone()
    reasons = con.execute(
        """
        select reason, sum(quarantined_rows) as n
        from monitoring.mon_quarantine_reasons
        group by reason
        order by n desc, reason
        """
    ).fetchall()
    keys = ("batches", "raw_rows", "valid_rows", "quarantined_rows", "duplicate_rows")
    return {**dict(zip(keys, row)), "reasons": dict(reasons)}


def training_totals(con, spec) -> dict:
    """Size, label rate and time window of an ML model's training set (from its spec)."""
    rows, entities, positives, first, last = con.execute(
        f'select count(*), count(distinct "{spec.entity}"), sum("{spec.label}"), min("{spec.timestamp}"), '
        f'max("{spec.timestamp}") from {spec.training_relation}'
    ).fetchone()
    shown = ".".join(spec.training_relation.replace('"', "").split(".")[-2:])  # schema.table
    return {"relation": shown, "rows": rows, "entities": entities,
            "entity": spec.entity, "label_rate": (positives or 0) / rows if rows else None,
            "first_as_of": first, "last_as_of": last}


def _training_sets() -> list[dict]:
    """training_totals of every ML model, or why there are none: its spec's error, or its
    training relation not built (a build that stopped early, say)."""
    from keel.spec import SpecError, load_spec, model_names

    found = []
    with connect() as con:
        for name in model_names():
            try:
                spec = load_spec(name)
            except SpecError as e:
                found.append({"model": name, "problem": f"its spec is invalid: {e}"})
                continue
            try:
                found.append(training_totals(con, spec))
            except duckdb.CatalogException:
                found.append({"model": name, "problem": f"{spec.training_relation} is not built: "
                                                        "`keel dbt build` builds it"})
            except duckdb.Error as e:  # built before its spec changed (a renamed label, say)
                found.append({"model": name, "problem": f"{spec.training_relation} does not match its "
                                                        f"spec: {str(e).splitlines()[0]}: rebuild it"})
    return found


def print_summary(console: Console) -> None:
    path = warehouse_path()
    if not path.exists():
        raise FileNotFoundError(f"no warehouse at {path}: run `keel run` first")
    with connect() as con:
        try:
            totals = ingestion_totals(con)
        except duckdb.CatalogException:
            raise RuntimeError(
                f"{path} has no monitoring tables yet: run `keel dbt build` (or `keel run`)"
            ) from None
    table = Table(title="Ingestion", show_header=False, box=None)
    table.add_row("batches", f"{totals['batches']:,}")
    table.add_row("rows ingested", f"{totals['raw_rows']:,}")
    table.add_row("valid", f"{totals['valid_rows']:,}")
    table.add_row("duplicates", f"{totals['duplicate_rows']:,}")
    table.add_row("quarantined", f"{totals['quarantined_rows']:,}")
    for reason, n in totals["reasons"].items():
        table.add_row(f"  {reason}", f"{n:,}")
    console.print(table)
    for training in _training_sets():
        if "problem" in training:
            console.print(f"[yellow]training set of {training['model']}: {training['problem']}[/]")
        elif training["rows"]:
            console.print(
                f"training set {training['relation']}: {training['rows']:,} rows "
                f"({training['entities']:,} {training['entity']}s), label rate {training['label_rate']:.1%}, "
                f"as-of {training['first_as_of']:%Y-%m-%d} to {training['last_as_of']:%Y-%m-%d}"
            )
        else:  # e.g. another use case's model whose logs were not ingested here
            console.print(f"training set {training['relation']}: empty (no logs for it yet, "
                          "or no as-of time has a closed label window)")
    with connect() as con:
        try:
            versions = con.execute(
                "select model, version, coalesce(aliases, ''), roc_auc, test_rows, created_at "
                "from registry.model_versions_current order by model, version desc limit 10"
            ).fetchall()
        except duckdb.CatalogException:
            versions = []
    if versions:
        registry = Table(title="Registry (newest versions)", box=None)
        for column in ("model", "version", "aliases", "test roc_auc", "test rows", "created (UTC)"):
            registry.add_column(column)
        for model, version, aliases, auc, rows, created in versions:
            registry.add_row(model, str(version), aliases, f"{auc:.4f}" if auc is not None else "",
                             f"{int(rows or 0):,}", f"{created:%Y-%m-%d %H:%M}")
        console.print(registry)
    print_alerts(console)
    console.print(f"warehouse: {path}")
    console.print("explore it with SQL: from staging.stg_events, staging.stg_flights, "
                  "features.fv_user_activity, training.train_purchase_propensity, "
                  "registry.model_versions_current, monitoring.mon_ingestion, monitoring.mon_alerts "
                  "(see README)")


def print_alerts(console: Console, shown: int = 8) -> None:
    """Alerts now open in monitoring.mon_alerts: counts per check and severity, then the most
    severe and most recent few."""
    with connect() as con:
        try:
            counts = con.execute(
                "select check_name, count(case when severity = 'critical' then 1 end), "
                "count(case when severity = 'warning' then 1 end) from monitoring.mon_alerts "
                "group by check_name order by check_name").fetchall()
            worst = con.execute(
                "select severity, message from monitoring.mon_alerts "
                "order by severity = 'critical' desc, day desc, value - threshold desc limit ?",
                [shown]).fetchall()
        except duckdb.CatalogException:
            return
    if not counts:
        console.print("alerts: none (monitoring.mon_alerts is empty)")
        return
    table = Table(title="Alerts (monitoring.mon_alerts)", box=None)
    for column in ("check", "critical", "warning"):
        table.add_column(column)
    for check, critical, warning in counts:
        table.add_row(check, f"[red]{critical}[/]" if critical else "0", str(warning))
    console.print(table)
    for severity, message in worst:
        console.print(f"  [{'red' if severity == 'critical' else 'yellow'}]{message}[/]")
