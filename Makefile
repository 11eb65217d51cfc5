# One task runner. Every target builds the project venv from the project's own files first.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PREFECT_HOME := $(CURDIR)/.prefect
export PREFECT_SERVER_ANALYTICS_ENABLED := false
# `make run`'s server deletes flow runs (their logs and artifacts) 90 days after they end: each ingest run
# stores a source-health table (~150 KB at 500 sources), ~20 MB a day at the default schedule.
export PREFECT_SERVER_SERVICES_DB_VACUUM_ENABLED := events,flow_runs
export PREFECT_UI_URL := http://127.0.0.1:4200
CONFIG ?= balkanwatch.toml

.PHONY: install demo run serve test bench lint clean

install: $(STAMP)

$(STAMP): pyproject.toml requirements.lock
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c requirements.lock -e '.[dev]'
	touch $(STAMP)

## demo: build the offline corpus from ../shared/seeds, serve it on 127.0.0.1, ingest it, show what landed
demo: $(STAMP)
	$(BIN)/python -m app.demo

## run: local Prefect server (UI on http://127.0.0.1:4200) + the scheduled deployments
run: $(STAMP)
	test -f $(CONFIG) || $(BIN)/balkanwatch init $(CONFIG)
	$(BIN)/python -m deployments.run_local --config $(CONFIG)

## test: the whole suite on loopback servers, a real DuckDB and a real Prefect test server
# Three test processes, each file's tests on one of them: on two cores, since many tests wait (on a
# PostgreSQL, a Prefect server, a timeout they provoke), three beat two (session 31, 503 tests back to back:
# 12.5 -> 10.5 min; one process took 11.8 against 8.1 for two in session 7); TEST_WORKERS=0 runs it in one.
TEST_WORKERS ?= 3
test: $(STAMP)
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile

## bench: throughput and quality benchmarks; writes bench/report.md, fails below the pinned floors
bench: $(STAMP)
	$(BIN)/python -m bench.run

## lint: ruff, then mypy (what it checks and how strictly: [tool.mypy] in pyproject.toml)
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .demo build *.egg-info
