# The README's two commands: `make run` and `make test`. Everything else is a helper.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PYTEST_ARGS ?= -m "not slow"

.PHONY: run test lint i18n bench bench-compare screenshots clean

# A stamp per extra, rebuilt when pyproject.toml changes.
$(VENV)/.stamp-base: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
	  { echo "Python 3.11 or newer is required ($(PYTHON) is $$($(PYTHON) --version))"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	$(BIN)/pybabel compile --use-fuzzy -d idp/locale -D messages --statistics
	@touch $@

# The build backend of pyproject.toml's [build-system] too (python3 -m venv brings an older
# setuptools and no wheel): tests/test_packaging.py builds the wheel offline, without build
# isolation.
$(VENV)/.stamp-test: $(VENV)/.stamp-base
	$(BIN)/python -m pip install --quiet -e '.[test]'
	$(BIN)/python -m pip install --quiet $$($(BIN)/python -c 'import tomllib; \
	  print(*tomllib.load(open("pyproject.toml", "rb"))["build-system"]["requires"])')
	@touch $@

run: $(VENV)/.stamp-base
	$(BIN)/idp db upgrade
	$(BIN)/idp demo
	$(BIN)/python -m clients.run_demo

test: $(VENV)/.stamp-test
	$(BIN)/pybabel compile --use-fuzzy -d idp/locale -D messages
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Speed, measured against a real server process (production argon2 parameters).
# BENCH_DATABASE=postgresql+psycopg://…: on that database (wiped), not on SQLite.
bench: $(VENV)/.stamp-test
	$(BIN)/python tests/bench.py $(if $(BENCH_DATABASE),--database '$(BENCH_DATABASE)')

# Side by side with the certified peer in BENCH (an installed copy of the shared bench folder).
BENCH ?= ../shared/bench
bench-compare: $(VENV)/.stamp-test
	$(BIN)/python tests/bench_compare.py --bench $(BENCH) $(BENCH_ARGS)

# The main pages in Chromium (French and English, phone and desktop) into docs/screenshots/.
SCREENSHOTS ?= docs/screenshots
screenshots: $(VENV)/.stamp-test
	$(BIN)/pybabel compile --use-fuzzy -d idp/locale -D messages
	$(BIN)/python tests/screenshots.py --out $(SCREENSHOTS)

lint: $(VENV)/.stamp-test
	$(BIN)/ruff check .

# Extract the messages of idp/ and templates/, merge them into the catalogues, compile.
i18n: $(VENV)/.stamp-base
	$(BIN)/pybabel extract -F idp/locale/babel.cfg -o idp/locale/messages.pot \
	  --project "CPRO Connect" --no-location --sort-output .
	$(BIN)/pybabel update -i idp/locale/messages.pot -d idp/locale -D messages --no-fuzzy-matching
	$(BIN)/pybabel compile -d idp/locale -D messages --statistics

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
