"""Shared fixtures: a real warehouse built once per session with real dbt runs."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from keel.ingest import ingest
from keel.project import run_dbt
from keel.simulate import SimulationConfig, simulate
from keel.train import train
from keel.warehouse import WAREHOUSE_ENV

# Small, but with every kind of bad record several times over, and long enough (40 days) for the
# training set's 30-day warm-up to leave as-of days with closed labels.
SMALL = SimulationConfig(events=20_000, users=500, days=40, malformed_rate=0.05, seed=7)


@pytest.fixture
def warehouse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty warehouse of the test's own."""
    path = tmp_path / "warehouse" / "keel.duckdb"
    monkeypatch.setenv(WAREHOUSE_ENV, str(path))
    return path


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory):
    """Simulated logs ingested and the dbt project built on them, once for the whole session."""
    root = tmp_path_factory.mktemp("built")
    path = root / "warehouse" / "keel.duckdb"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(WAREHOUSE_ENV, str(path))
        sim = simulate(SMALL, root / "logs")
        ingest([root / "logs"])
        assert run_dbt(["build"], quiet=True), "dbt build failed on the test warehouse"
        yield {"path": path, "simulation": sim, "root": root}


@pytest.fixture
def sql(built):
    """Run a query on the session warehouse and return all rows."""
    con = duckdb.connect(str(built["path"]))

    def run(query: str, params=None) -> list[tuple]:
        return con.execute(query, params or []).fetchall()

    yield run
    con.close()


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """A warehouse with 56 days of logs (after the 30-day warm-up and the 7-day label window, 7 test
    days after a 7-day gap leave training days), built, and the model trained once."""
    root = tmp_path_factory.mktemp("registry")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(WAREHOUSE_ENV, str(root / "wh" / "keel.duckdb"))
        simulate(SimulationConfig(events=75_000, users=400, days=56, seed=11), root / "logs")
        ingest([root / "logs"])
        assert run_dbt(["build"], quiet=True)
        first = train("purchase_propensity")
        yield {"root": root, "first": first, "path": root / "wh" / "keel.duckdb"}
