"""Find the dbt project Keel runs, and run dbt in it."""

from __future__ import annotations

import os
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


def run_dbt(args: list[str], quiet: bool = False) -> bool:
    """Run a dbt command in-process against Keel's project and profile; True when it succeeded.

    The warehouse path is exported as an absolute path first so dbt and Python open the same file
    whatever the working directory.
    """
    from dbt.cli.main import dbtRunner  # imported here: dbt takes a second to import

    from keel.warehouse import WAREHOUSE_ENV, warehouse_path

    os.environ[WAREHOUSE_ENV] = str(warehouse_path())
    root = project_dir()
    dirs = ["--project-dir", str(root), "--profiles-dir", str(root)]
    result = dbtRunner().invoke([*(["--quiet"] if quiet else []), *args, *dirs])
    return bool(result.success)
