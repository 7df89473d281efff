# Engagement Lab: two commands on a fresh machine.
#   make run    create .venv if missing, install the pinned stack, run the demo (sample world → every pipeline)
#   make test   same set-up, then the whole test suite
# The install is skipped while requirements.lock and pyproject.toml are unchanged.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml 2>/dev/null | sha1sum | cut -c1-12)

export DO_NOT_TRACK := true
export KEDRO_DISABLE_TELEMETRY := true
export MLFLOW_DISABLE_TELEMETRY := true
export MPLBACKEND := Agg

.PHONY: install run test lint format bench bench-run robustness browser viz mlflow-ui clean-data

$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock 2> >(grep -v "^WARNING: Location" >&2)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e . 2> >(grep -v "^WARNING: Location" >&2)
	@rm -f $(VENV)/.installed-*
	@touch $@

install: $(STAMP)

# The demo: the sample world, then every pipeline on it. Your own data: `kedro run` (README, "Your own data").
run: install
	$(BIN)/kedro run --pipelines=demo

test: install browser
	$(BIN)/ruff check src tests bench
	$(BIN)/lint-imports
	$(BIN)/pytest

# Headless Chromium for the browser tests (pytest -m browser): Debian's chromium, installed with apt-get
# when missing and we are root; otherwise those tests skip and say why.
browser:
	@command -v chromium >/dev/null || { if [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	else echo "chromium is not installed (apt-get install -y chromium as root): the browser tests will skip"; fi; }

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/lint-imports

format: install
	$(BIN)/ruff check --fix src tests bench
	$(BIN)/ruff format src tests bench

bench: install
	$(BIN)/python bench/bench_sample_world.py
	$(BIN)/python bench/bench_ingestion.py
	$(BIN)/python bench/bench_image_features.py
	$(BIN)/python bench/bench_memory_format.py
	$(BIN)/python bench/bench_pretraining.py
	$(BIN)/python bench/bench_lda.py
	$(BIN)/python bench/bench_engagement.py
	$(BIN)/python bench/bench_ppcl.py

# The demo on three world seeds, then each paper's claims across worlds (docs/results/robustness.md; about
# 25 min per world on 2 CPU cores). Other seeds: make robustness SEEDS="42 7 2024 11".
SEEDS ?= 42 7 2024
robustness: install
	$(BIN)/python bench/robustness.py --seeds $(SEEDS)

# The whole default pipeline, pipeline by pipeline: wall time and peak memory of each (about 25 min).
bench-run: install
	$(BIN)/python bench/bench_make_run.py

# Lineage and plots: http://127.0.0.1:4141
viz: install
	$(BIN)/kedro viz run --no-browser --host 127.0.0.1 --port 4141

# Runs and metrics: http://127.0.0.1:5000
mlflow-ui: install
	@echo "Runs: http://127.0.0.1:5000/#/experiments/1/runs?workflowType=machine_learning (MLflow's Model training view)"
	MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false $(BIN)/mlflow server --backend-store-uri sqlite:///mlflow.db --host 127.0.0.1 --port 5000 --workers 1

# The generated results pages, docs/results/, from the newest results contracts in data/08_reporting (after a run).
.PHONY: docs
docs: install
	$(BIN)/python -m engagement_lab.reporting.results_docs --reporting-dir data/08_reporting --out docs/results
