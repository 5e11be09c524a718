# relay: `make run` serves the embedded default; `make test` runs every test.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
RUN_STAMP := $(VENV)/.installed-run
CONFIG ?= config/relay.yml
COMPOSE := docker compose -f deploy/docker-compose.yml

.PHONY: venv run test test-fast test-shifted-clock lint bench screenshots stack-up stack-down stack-status stack-logs clean

venv: $(STAMP)

# `make run` installs what running needs; `make test` (and lint, bench) add the dev tools.
$(RUN_STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) (Python 3.11+) on PATH, or make PYTHON=python3.12"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $(RUN_STAMP)

$(STAMP): $(RUN_STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(RUN_STAMP)
	$(BIN)/relay serve --config $(CONFIG) --log-format text

test: $(STAMP)
	$(BIN)/python -m pytest -q

# Units, the store contract (real redis-server) and the model tests, on every core: the
# tier to run while editing. `make test` runs these and every slow tier, one at a time
# (see tests/conftest.py).
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -n auto -m "not (e2e or chaos or browser or deploy or wheel or fuzz)"

# The unit, store and model tests with the clock a year ahead (libfaketime): no test may
# depend on the day it runs. The machine's servers keep the real clock (system_env()).
test-shifted-clock: $(STAMP)
	faketime -f '+365d' $(BIN)/python -m pytest -q -p no:cacheprovider \
		--ignore=tests/e2e --ignore=tests/chaos --ignore=tests/fuzz --ignore=tests/deploy

lint: $(STAMP)
	$(BIN)/ruff check relay tests bench
	$(BIN)/ruff format --check relay tests bench
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python -m bench.ingest --redis
	$(BIN)/python -m bench.delivery
	$(BIN)/python -m bench.isolation --rounds 5
	$(BIN)/python -m bench.storm
	$(BIN)/python -m bench.console
	$(BIN)/python -m bench.render
	$(BIN)/python -m bench.transport
	$(BIN)/python -m bench.big_group
	$(BIN)/python -m bench.oncall
	$(BIN)/python -m bench.capacity

# A PNG of every console page into docs/ui/ (docs/ui.md shows them): a real relay, a sink
# and Debian's chromium; fonts-noto-cjk for the Chinese pages' glyphs.
screenshots: $(STAMP)
	$(BIN)/python -m tests.browser.screenshots docs/ui

stack-up:
	$(COMPOSE) up -d --build

stack-down:
	$(COMPOSE) down

stack-status:
	$(COMPOSE) ps

stack-logs:
	$(COMPOSE) logs -f --tail=100

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
