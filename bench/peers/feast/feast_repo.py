"""A throwaway Feast repo over bench/pit_data.py's features.parquet, shared by feast_pit.py and
feast_online.py (both run in bench/.venv-feast).

Offline store DuckDB, online store SQLite, local provider; one Entity entity_id (INT64), one
FileSource over features.parquet (timestamp_field feature_ts) and one FeatureView "pit" with
ttl = 30 days and the float features f0..f4.
"""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(BENCH))

import pit_data  # noqa: E402  (bench/pit_data.py: numpy and pyarrow only)

FEATURE_VIEW = "pit"
TTL = timedelta(days=30)
FEATURE_REFS = [f"{FEATURE_VIEW}:{f}" for f in pit_data.FEATURES]

FEATURE_STORE_YAML = """\
project: keel_bench
provider: local
registry: {repo}/registry.db
online_store:
  type: sqlite
  path: {repo}/online.db
offline_store:
  type: duckdb
entity_key_serialization_version: 3
"""


def write_repo(repo: Path) -> None:
    """Writes feature_store.yaml into repo (an existing, empty directory)."""
    (repo / "feature_store.yaml").write_text(FEATURE_STORE_YAML.format(repo=repo))


def apply(repo: Path, features_path: Path):
    """Writes the repo's config, registers the entity, source and feature view, and returns the
    FeatureStore."""
    from feast import Entity, FeatureStore, FeatureView, Field, FileSource, ValueType
    from feast.types import Float64

    write_repo(repo)
    store = FeatureStore(repo_path=str(repo))
    entity = Entity(name="entity_id", join_keys=["entity_id"], value_type=ValueType.INT64)
    source = FileSource(name="pit_features", path=str(Path(features_path).resolve()),
                        timestamp_field="feature_ts")
    view = FeatureView(name=FEATURE_VIEW, entities=[entity], ttl=TTL, source=source, online=True,
                       schema=[Field(name=f, dtype=Float64) for f in pit_data.FEATURES])
    store.apply([entity, source, view])
    return store
