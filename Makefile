# Two commands on a fresh machine with Python 3.11+:  `make demo`  and  `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export DAGSTER_HOME := $(CURDIR)
export ARCAST_DAGSTER_STORAGE := $(CURDIR)/.arcast/dagster/storage

.PHONY: install browser demo test lint dagster mlflow screenshots bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

install: $(VENV)/.installed

CHROMIUM ?= $(shell command -v chromium || command -v chromium-browser)
browser:  ## Debian's chromium, for the test that renders the CFO report (apt-get as root or sudo)
	@if [ -z "$(CHROMIUM)" ]; then \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; \
	fi

demo: install  ## generate the demo ledger and run the whole pipeline on it
	$(BIN)/arcast demo

test: install browser  ## lint, format check and the test suite
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest -q

dagster: install  ## Dagster UI on http://127.0.0.1:3000
	$(BIN)/dagster dev -m pipelines.definitions -h 127.0.0.1 -p 3000

mlflow: install  ## MLflow UI on http://127.0.0.1:5000
	$(BIN)/mlflow ui --backend-store-uri sqlite:///$(abspath $(or $(ARCAST_HOME),.arcast))/mlflow.db -h 127.0.0.1 -p 5000

screenshots: install browser  ## re-take the README tour's screenshots (after make demo)
	$(BIN)/python docs/screenshots.py

bench: install  ## time and memory per stage (see benchmarks/)
	$(BIN)/python benchmarks/bench_pipeline.py --invoices 100000

clean:
	rm -rf .arcast out
