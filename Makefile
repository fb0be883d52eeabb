# The two commands: `make up` (local stack) and `make test` (whole suite); `make lint` checks the code.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install catalogs up test lint bench chaos chaos-slice fuzz outage schemathesis compose-check clean

install: $(STAMP) catalogs

# Reinstall whenever the dependency list changes.
$(STAMP): setup.cfg pyproject.toml scripts/system-deps.sh
	bash scripts/system-deps.sh
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	$(BIN)/python -m crm.catalogs
	touch $(STAMP)

# The translations (crm/catalogs.py): each .mo is compiled from its .po, again whenever the .po is newer.
# The .mo files are build output and not in git.
PO_FILES := $(wildcard crm/locales/*/LC_MESSAGES/*.po)
MO_FILES := $(PO_FILES:.po=.mo)

catalogs: $(MO_FILES)

crm/locales/%.mo: crm/locales/%.po | $(STAMP)
	$(BIN)/python -m crm.catalogs $<

up: install
	$(BIN)/leadchain up

# pytest exits 5 when it collected nothing; make treats any non-zero exit as failure.
# Two xdist workers, one per core of the CI machine (PYTEST_JOBS=0: one process); each has its own
# Temporal dev server, OpenBao and PostgreSQL database, and the browser tests stay together on one
# (tests/conftest.py). Much of the suite waits on servers, so two workers overlap those waits.
PYTEST_JOBS ?= 2
test: install
	$(BIN)/python -m pytest -n $(PYTEST_JOBS) --dist loadfile $(PYTEST_ARGS)

# Every checker runs even when an earlier one fails, so one run shows all there is to fix; any failure
# fails the target. What each checks is configured in pyproject.toml: ruff (lint rules, format, line
# length), mypy (the packages in `files`, strict per module), import-linter (the layer contracts).
lint: install
	@status=0; \
	echo "ruff check"; $(BIN)/ruff check . || status=1; \
	echo "ruff format --check"; $(BIN)/ruff format --check . || status=1; \
	echo "mypy"; $(BIN)/mypy || status=1; \
	echo "lint-imports"; $(BIN)/lint-imports || status=1; \
	exit $$status

bench: install
	$(BIN)/python bench/intake.py

# The fault suite (docs/chaos.md): the stack as separate processes, deliveries while faults F1-F11 are
# injected, then lost / duplicated / time to quiet; summary in artifacts/chaos-summary.json.
CHAOS_ARGS ?=
chaos: install
	$(BIN)/python -m bench.chaos.run --deliveries 10000 $(CHAOS_ARGS)

chaos-slice: install
	$(BIN)/python -m bench.chaos.run --deliveries 1000 --out artifacts/chaos-slice-summary.json $(CHAOS_ARGS)

# Signed-body fuzzer, 2,000 bodies per provider and database (the suite runs 200): no 5xx, nothing stored for a 4xx.
fuzz: install
	LEADCHAIN_FUZZ_BODIES=2000 $(BIN)/python -m pytest -p no:randomly -q -n 0 tests/voice/test_provider_webhooks_fuzz.py

# The chain worker stopped for 5 minutes under provider webhooks and leads (docs/reliability.md §3.5):
# webhook p99, lead-intake p99 during against before, and the time for every result to reach its chain.
outage: install
	$(BIN)/python bench/worker_outage.py

# schemathesis over the OpenAPI spec, 20,000 requests per database (the suite runs 420): no 5xx.
schemathesis: install
	$(BIN)/python -m bench.schemathesis_run --requests 20000 --checks status_code_conformance,content_type_conformance

# Placeholder passwords only satisfy compose's required-variable checks, and the example settings
# file stands in for a host's deploy/leadchain.env; nothing is started.
compose-check:
	POSTGRES_SUPERUSER_PASSWORD=x LEADCHAIN_DB_PASSWORD=x TEMPORAL_DB_PASSWORD=x \
	  LEADCHAIN_ENV_FILE=deploy/leadchain.env.example \
	  docker-compose -f docker-compose.yml config -q

clean:
	rm -rf $(VENV) var/*.db
