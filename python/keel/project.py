"""Find the dbt project Keel runs, and run dbt in it."""

from __future__ import annotations

import json
import os
import time
from datetime import datetime
from functools import lru_cache
from pathlib import Path

PROJECT_ENV = "KEEL_PROJECT_DIR"


def project_dir() -> Path:
    """The directory holding dbt_project.yml.

    ``KEEL_PROJECT_DIR`` wins; else the nearest parent of the working directory that has one;
    else the checkout this package was installed from (editable install).
    """
    if os.environ.get(PROJECT_ENV):
        return Path(os.environ[PROJECT_ENV]).resolve()
    for d in (Path.cwd(), *Path.cwd().parents):
        if (d / "dbt_project.yml").is_file():
            return d
    here = Path(__file__).resolve().parents[2]
    if (here / "dbt_project.yml").is_file():
        return here
    raise FileNotFoundError(
        f"no dbt_project.yml found: run keel inside the project or set {PROJECT_ENV}"
    )


def _invoke_dbt(args: list[str]):
    """Run dbt in-process against Keel's project and profile and return dbt's result.

    The warehouse path is exported as an absolute path first so dbt and Python open the same file
    whatever the working directory.
    """
    from dbt.cli.main import dbtRunner  # imported here: dbt takes a second to import

    from keel.warehouse import WAREHOUSE_ENV, warehouse_path

    os.environ[WAREHOUSE_ENV] = str(warehouse_path())
    root = project_dir()
    return dbtRunner().invoke([*args, "--project-dir", str(root), "--profiles-dir", str(root)])


def run_dbt(args: list[str], quiet: bool = False) -> bool:
    """Run a dbt command (e.g. ["build"]); True when it succeeded.

    The history tables dbt reads as sources (raw, registry, batch predictions) are created first
    if missing, so a new warehouse builds before anything has been ingested, trained or scored.
    """
    from keel.registry import ensure_registry
    from keel.score import ensure_predictions
    from keel.warehouse import connect, ensure_raw_tables

    with connect() as con:
        ensure_raw_tables(con)
        ensure_registry(con)
        ensure_predictions(con)
    return bool(_invoke_dbt([*(["--quiet"] if quiet else []), *args]).success)


_DBT_HEADERS = ("Runtime Error", "Compilation Error", "Database Error", "Parsing Error", ">")


def compile_sql(jinja_sql: str, dbt_vars: dict | None = None) -> str:
    """Render SQL that uses the project's macros (and ref) to the SQL dbt would run.

    A compile error (an unknown feature, say) is raised as a ValueError with dbt's message.
    """
    extra = ["--vars", json.dumps(dbt_vars)] if dbt_vars else []
    result = _invoke_dbt(["--log-level", "none", "compile", "--no-populate-cache", *extra,
                          "--inline", jinja_sql])
    if not result.success:
        # dbt's message is headers ("Runtime Error", "Compilation Error in ..."), the error itself,
        # then "> in macro ..." lines: keep the error
        lines = [line.strip() for line in str(result.exception or "").splitlines()]
        errors = [line for line in lines if line and not line.startswith(_DBT_HEADERS)]
        raise ValueError(errors[0] if errors else "dbt could not compile the query")
    return result.result.results[0].node.compiled_code


def render_stamp() -> tuple:
    """What SQL rendered from the project depends on besides the request itself: every file dbt
    parses for it (models' SQL and yml, where feature views declare their meta; macros;
    dbt_project.yml's vars; profiles.yml; installed packages), the target and warehouse file
    (relation names carry the database), and dbt's versions. Stat calls only, no dbt import (~2 ms):
    a key for keeping renders across processes, which also catches a manifest not yet re-parsed."""
    root = project_dir()
    files = [root / "dbt_project.yml", root / "profiles.yml"]
    for folder in ("models", "macros", "dbt_packages"):
        if (root / folder).is_dir():
            files += sorted(f for f in (root / folder).rglob("*") if f.suffix in (".sql", ".yml", ".yaml"))
    stats = tuple((str(f.relative_to(root)), st.st_mtime_ns, st.st_size) for f in files for st in [f.stat()])
    from keel.warehouse import warehouse_path

    return stats, os.environ.get("KEEL_TARGET", ""), str(warehouse_path()), _dbt_versions()


@lru_cache(maxsize=1)
def _dbt_versions() -> tuple[str, ...]:
    """dbt's installed packages and versions, by their dist-info folders beside dbt (without
    importing dbt; importlib.metadata takes ~30 ms, on get_historical_features's path)."""
    from importlib.util import find_spec

    site = Path(next(iter(find_spec("dbt").submodule_search_locations))).parent
    return tuple(sorted(p.name for p in site.glob("dbt_*.dist-info")))


def rendered_cache_dir() -> Path:
    """Where renders of the project's macros are kept between processes (dbt's target/)."""
    return project_dir() / "target" / "keel_rendered"


def manifest_path() -> Path:
    """dbt's manifest (target/manifest.json), parsing the project first if it has none yet."""
    path = project_dir() / "target" / "manifest.json"
    if not path.exists() and not run_dbt(["parse"], quiet=True):
        raise RuntimeError("dbt could not parse the project: run `keel dbt parse` to see why")
    return path


def manifest() -> dict:
    """dbt's manifest as a dict; read again only when dbt has rewritten it."""
    path = manifest_path()
    return _read_manifest(str(path), path.stat().st_mtime_ns)


def relation_name(node: dict) -> str:
    """The quoted relation dbt built for a manifest node."""
    return node.get("relation_name") or f'"{node["schema"]}"."{node["alias"]}"'


def model_relation(name: str, online_as_of: datetime | None = None) -> str:
    """A model as dbt built it (its quoted relation), or, with `online_as_of`, its SQL compiled
    with that var as a subquery: what the model would hold at that instant, read in the caller's
    own connection, so the built table (which `keel score` and others read) never changes."""
    nodes = [n for n in manifest()["nodes"].values() if n["resource_type"] == "model" and n["name"] == name]
    if not nodes:
        raise ValueError(f"no model named {name!r} in the project")
    if online_as_of is None:
        return relation_name(nodes[0])
    sql = compile_sql(nodes[0]["raw_code"], {"online_as_of": online_as_of.isoformat(sep=" ")})
    return f"({sql}) as {name}"


@lru_cache(maxsize=2)
def _read_manifest(path: str, mtime_ns: int) -> dict:
    # dbt rewrites the manifest in place: a read racing a dbt run can see half a file, so retry
    for attempt in range(5):
        try:
            return json.loads(Path(path).read_text())
        except json.JSONDecodeError:
            if attempt == 4:
                raise RuntimeError(f"{path} is not valid JSON: is a dbt run writing it? Try again") from None
            time.sleep(0.2)
