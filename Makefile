# The two commands: `make up` (local stack) and `make test` (whole suite); `make lint` checks the code.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

# Machines here export PYTHONDONTWRITEBYTECODE=1. Under it pytest keeps no rewritten test modules either, so
# each xdist worker parsed and rewrote every test file again, and every subprocess compiled what it imported.
# The project's commands write bytecode like a default Python does (the caches are in .gitignore).
unexport PYTHONDONTWRITEBYTECODE
STAMP  := $(VENV)/.installed

.PHONY: install keep-urllib3 bytecode catalogs up test lint lock audit bench bench-calendar learned-score-bench bench-inbound audio-bench inbound-personas chaos chaos-slice fuzz outage schemathesis fairness compose-check clean

install: $(STAMP) catalogs bytecode

# Reinstall whenever the dependency list changes. uv (from PyPI) resolves and installs the same pinned set
# as pip in about a fifth of the time: on a clean clone the install is part of `make test`'s 10 minutes.
# The versions are requirements.lock's, each file's hash checked (`make lock` writes it from setup.cfg); then
# the project itself, without resolving again.
$(STAMP): setup.cfg pyproject.toml requirements.lock scripts/system-deps.sh
	bash scripts/system-deps.sh
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip uv==0.13.9
	$(BIN)/uv pip install --quiet --python $(BIN)/python --require-hashes --compile-bytecode -r requirements.lock
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e '.[test]'
	$(MAKE) --no-print-directory keep-urllib3
	$(BIN)/python -m crm.catalogs
	touch $(STAMP)

# caldav needs niquests, which brings urllib3-future: its .pth copies urllib3-future over urllib3 at every
# interpreter start. requests, hvac and the SDKs are tested against the real urllib3, so the .pth goes and
# urllib3 is put back at the version pip chose (niquests keeps using urllib3_future under its own name).
SITE = $(VENV)/lib/python*/site-packages
keep-urllib3:
	rm -f $(SITE)/urllib3_future.pth
	version=$$($(BIN)/python -c 'import importlib.metadata as m; print(m.version("urllib3"))') && \
	rm -rf $(SITE)/urllib3 && \
	$(BIN)/python -m pip install --quiet --force-reinstall --no-deps "urllib3==$$version"

# Bytecode for the project's own packages. Machines here run with PYTHONDONTWRITEBYTECODE=1, so without
# .pyc files every process (each test's worker, web server and CLI subprocess) compiled every module from
# source again: `import workers.cli` took 10.3 s of CPU instead of 3.8 s. The dependencies are compiled by uv
# at install (--compile-bytecode); this recompiles only what changed since the last run.
PACKAGES := activities bench crm providers sandbox scripts tests voice workers workflows
bytecode: $(STAMP)
	@$(BIN)/python -m compileall -q -j 0 $(PACKAGES) > /dev/null

# The translations (crm/catalogs.py): each .mo is compiled from its .po, again whenever the .po is newer.
# The .mo files are build output and not in git.
PO_FILES := $(wildcard crm/locales/*/LC_MESSAGES/*.po)
MO_FILES := $(PO_FILES:.po=.mo)

catalogs: $(MO_FILES)

crm/locales/%.mo: crm/locales/%.po | $(STAMP)
	$(BIN)/python -m crm.catalogs $<

up: install
	$(BIN)/leadchain up

# The lock file from setup.cfg's dependencies and the test extra (docs/security.md "Supply chain"); run after
# changing a dependency, then `make install`.
lock:
	$(BIN)/pip-compile --quiet --extra test --generate-hashes --allow-unsafe --strip-extras \
	  --no-emit-index-url --no-emit-find-links --output-file requirements.lock setup.cfg

# pip-audit over the locked set; says SKIPPED (exit 0) where the advisory data is unreachable (scripts/audit.sh).
audit:
	BIN=$(BIN) bash scripts/audit.sh

# pytest exits 5 when it collected nothing; make treats any non-zero exit as failure.
# Four xdist workers on the CI machine's two cores (PYTEST_JOBS=0: one process); each has its own
# Temporal dev server, OpenBao and PostgreSQL database, and the browser tests stay together on one
# (tests/conftest.py). Much of the suite waits on servers and subprocesses: with two workers the run used
# 1.4 of the 2 cores (19m53s user + 1m51s sys in 16 min), and with three still only 1.5 (32m39s user +
# 2m34s sys in 23m35s, 2026-12-07); four took 19m43s for the same tests (30m57s user + 2m25s sys).
PYTEST_JOBS ?= 4
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

# The fault suite (docs/chaos.md): the stack as separate processes, deliveries while faults F1-F12 are
# injected, then lost / duplicated / time to quiet; summary in artifacts/chaos-summary.json.
CHAOS_ARGS ?=
chaos: install
	$(BIN)/python -m bench.chaos.run --deliveries 10000 $(CHAOS_ARGS)

chaos-slice: install
	$(BIN)/python -m bench.chaos.run --deliveries 1000 --out artifacts/chaos-slice-summary.json $(CHAOS_ARGS)

# Signed-body fuzzer, 2,000 bodies per provider and database (the suite runs 200): no 5xx, nothing stored for a 4xx.
# Then every UI route with 50 generated inputs per route and role (the suite runs 5).
fuzz: install
	LEADCHAIN_FUZZ_BODIES=2000 $(BIN)/python -m pytest -p no:randomly -q -n 0 tests/voice/test_provider_webhooks_fuzz.py
	LEADCHAIN_UI_FUZZ_EXAMPLES=50 $(BIN)/python -m pytest -p no:randomly -q -n 2 tests/ui/test_fuzz_routes.py

# The chain worker stopped for 5 minutes under provider webhooks and leads (docs/reliability.md §3.5):
# webhook p99, lead-intake p99 during against before, and the time for every result to reach its chain.
outage: install
	$(BIN)/python bench/worker_outage.py

# schemathesis over the OpenAPI spec, 20,000 requests per database (the suite runs 420): no 5xx.
schemathesis: install
	$(BIN)/python -m bench.schemathesis_run --requests 20000 --checks status_code_conformance,content_type_conformance

# Company A's 20,000-lead import queued while company B sends a lead every 2 s (issue 16 item 5): B's
# lead -> call placed p95 during against alone (goal <= 2x), intake with tenancy against without (>= 0.9x).
fairness: install
	$(BIN)/python bench/fairness.py --leads 20000

# Inbound-call webhook answer time, caller looked up among 1,000,000 leads, beside a constant endpoint (issue 17).
bench-inbound: install
	$(BIN)/python -m bench.inbound --leads 1000000

# Every inbound persona (issue 17) on Retell and Vapi through the sandbox and the voice bridge; the suite runs
# one provider per persona.
inbound-personas: install
	INBOUND_PERSONAS_FULL=1 $(BIN)/python -m pytest -n 0 -p no:randomly -q tests/inbound/test_inbound_personas.py

# The bridge's slot search for 20 reps over 14 days with 500 external calendar events each (10 % recurring)
# beside the same search with no external calendars, in one run (issue 18): goal p95 <= 20 ms and <= 2x.
# The voice bridge's own added latency on the Twilio Media Streams <-> OpenAI Realtime path at 1, 50 and 100
# concurrent sandbox calls, beside a bare pass-through relay (bench/audio_bridge.py, docs/audio-agent.md).
audio-bench: install
	$(BIN)/python bench/audio_bridge.py $(AUDIO_BENCH_ARGS)

bench-calendar: install
	$(BIN)/python -m bench.calendar_slots

# The learned lead score (issue 23): training on 100,000 generated leads beside reading them from the
# database, and one lead's score p50/p95 (a fresh SQLite file; LEARNED_SCORE_ARGS=--database-url=<PostgreSQL URL>).
learned-score-bench: install
	$(BIN)/python bench/learned_score.py $(LEARNED_SCORE_ARGS)

# Placeholder passwords only satisfy compose's required-variable checks, and the example settings
# file stands in for a host's deploy/leadchain.env; nothing is started.
compose-check:
	POSTGRES_SUPERUSER_PASSWORD=x LEADCHAIN_DB_PASSWORD=x TEMPORAL_DB_PASSWORD=x \
	  LEADCHAIN_ENV_FILE=deploy/leadchain.env.example \
	  docker-compose -f docker-compose.yml config -q

clean:
	rm -rf $(VENV) var/*.db
