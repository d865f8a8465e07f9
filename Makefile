# Two commands: `make run` (talk to the bot) and `make test` (everything CI runs).
# Each creates .venv and installs what it needs on first use (or when pyproject changes).

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint eval bench clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "Python 3.11 or newer is needed (set PYTHON=python3.12 for example)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

# On Telegram when a token is configured (environment or .env), else the local chat.
run: $(STAMP)
	@if [ -n "$$TELEGRAM_BOT_TOKEN" ] || grep -qs '^TELEGRAM_BOT_TOKEN=..*' .env; then \
		$(PY) -m bot run; \
	else \
		echo "No TELEGRAM_BOT_TOKEN: starting the local chat (see README to run on Telegram)."; \
		$(PY) -m bot chat; \
	fi

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy
	$(PY) -m bot kb check

# pytest exits 5 when it collects nothing: that is reported, not hidden as a failure.
test: lint
	@$(PY) -m pytest; status=$$?; \
	if [ $$status -eq 5 ]; then echo "pytest collected no tests"; exit 0; fi; exit $$status

eval: $(STAMP)
	$(PY) -m bot eval

bench: $(STAMP)
	$(PY) -m bench.accuracy
	$(PY) -m bench.latency
	$(PY) -m bench.throughput
	$(PY) -m bench.reminders
	$(PY) -m bench.registrations
	$(PY) -m bench.reports
	$(PY) -m bench.startup $(if $(BENCH_DATABASE_URL),--database-url $(BENCH_DATABASE_URL))
	@if [ -n "$(BENCH_DATABASE_URL)" ]; then $(PY) -m bench.webhook --database-url "$(BENCH_DATABASE_URL)"; \
	else echo "bench.webhook skipped: set BENCH_DATABASE_URL (PostgreSQL, name containing 'bench')"; fi

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
