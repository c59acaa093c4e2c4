# Antrean — every entry point a newcomer needs. `make help` lists them.
# The two that matter: `make run` (start the product) and `make test` (run every test).

SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export PYTHONPATH := $(CURDIR)
# No telemetry or crash reports leave the machine (and no DNS look-ups where there is no network).
export RASA_TELEMETRY_ENABLED := false

.DEFAULT_GOAL := help
.PHONY: help run run-production test test-fast lint unit lock db-upgrade bench-booking bench-assistant bench-console bench-review-sync bench-rush bench-scale bench-retrain drill clean train shell evaluate evaluate-ocr bench-messages test-stories test-reviewed-stories validate screenshots

# The model is retrained when its training inputs change (rasa's own fingerprint check is slower).
MODEL := models/antrean.tar.gz
TRAINING_INPUTS := config.yml domain.yml $(shell find data -name '*.yml') $(wildcard antrean/assistant/nlu/*.py antrean/assistant/nlu/*.tsv)
RASA := PYTHONPATH=$(CURDIR) $(VENV)/bin/rasa

help:  ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

# The virtual environment is rebuilt only when the lock file changes.
$(STAMP): requirements.lock scripts/find-python310
	@test -x $(PY) || { py=$$(scripts/find-python310) && "$$py" -m venv $(VENV); }
	$(PY) -m pip install --quiet --upgrade 'pip>=23' 2>&1 | { grep -v '^WARNING: Location' || true; }
	$(PY) -m pip install --quiet --no-deps -r requirements.lock 2>&1 | { grep -v '^WARNING: Location' || true; }
	$(PY) -m pip check
	@touch $(STAMP)

venv: $(STAMP)  ## create .venv from requirements.lock (skipped when up to date)

run: $(STAMP) $(MODEL)  ## set up and start Antrean on the embedded default (SQLite under var/)
	$(PY) -m antrean db upgrade
	@# A model make just trained from changed data becomes the registry's live model (served to Rasa).
	$(PY) -m antrean model register $(MODEL) --live --by "make run"
	$(PY) -m antrean run

run-production: $(STAMP) $(MODEL)  ## production's topology here: 2 Rasa servers, 2 receivers, console, model server behind haproxy, on PostgreSQL + Redis (ANTREAN_DATABASE_URL, ANTREAN_TRACKER_URL)
	$(PY) -m antrean cluster $(ARGS)

$(MODEL): $(STAMP) $(TRAINING_INPUTS)
	$(RASA) train --fixed-model-name antrean --out models
	@touch $(MODEL)

train: $(MODEL)  ## train the assistant when its data, domain or config changed; keep it in the model registry
	@$(PY) -m antrean db upgrade >/dev/null
	$(PY) -m antrean model register $(MODEL) --live-if-none

shell: $(STAMP) $(MODEL)  ## chat with the assistant in the terminal (actions run in the same process)
	$(PY) -m antrean db upgrade
	$(RASA) shell --model $(MODEL) --endpoints endpoints.yml

validate: $(STAMP)  ## rasa data validate, failing on any warning it gives (see scripts/validate_data.py)
	$(PY) scripts/validate_data.py

test-stories: $(STAMP) $(MODEL)  ## conversation tests (tests/test_stories.yml)
	$(RASA) test core --model $(MODEL) --stories tests/test_stories.yml --fail-on-prediction-errors --out results/stories

test-reviewed-stories: $(STAMP) $(MODEL)  ## conversations exported from the console (tests/reviewed_stories/)
	@if ls tests/reviewed_stories/*.yml >/dev/null 2>&1; then \
	  $(RASA) test core --model $(MODEL) --stories tests/reviewed_stories --out results/reviewed-stories; \
	else echo "no exported stories in tests/reviewed_stories/"; fi

evaluate: $(STAMP)  ## NLU cross-validation over five seeded fold splits into results/nlu-cv (~5 min)
	$(PY) scripts/cross_validate.py --seeds 1 2 3 4 5 --folds 3 --out results/nlu-cv

evaluate-ocr: $(STAMP)  ## e-KTP reading over 80 generated card photos (seed 1) into results/ocr (~2 min)
	$(PY) scripts/evaluate_ocr.py --count 80 --seed 1 --out results/ocr $(ARGS)

lint: $(STAMP)  ## ruff
	$(VENV)/bin/ruff check .

# Tests run in parallel processes (pytest-xdist): most of the suite's time is spent waiting for
# servers it started, so three processes keep two cores busy. A module stays on one process
# (tests/conftest.py), so its servers start once. TEST_PROCESSES=0 runs them in this process.
TEST_PROCESSES ?= 3
PYTEST_PARALLEL := -n $(TEST_PROCESSES) --dist loadgroup --durations=15

test: $(STAMP) lint validate $(MODEL)  ## set up and run every test (lint, pytest, conversation tests)
	@$(VENV)/bin/pytest $(PYTEST_PARALLEL); rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; exit 0; fi; exit $$rc
	$(MAKE) --no-print-directory test-stories

test-fast: $(STAMP) lint  ## the inner loop: lint and every test not marked slow (no Rasa servers, no trained model)
	$(VENV)/bin/pytest $(PYTEST_PARALLEL) -m "not slow"

unit: $(STAMP)  ## the tests without databases or servers
	$(VENV)/bin/pytest -m "not integration"

screenshots: $(STAMP)  ## PNGs of the staff console's main pages into results/screenshots/ (Debian chromium)
	$(PY) tests/console/screenshots.py

db-upgrade: $(STAMP)  ## apply database migrations (ANTREAN_DATABASE_URL, default SQLite under var/)
	$(PY) -m antrean db upgrade

bench-booking: $(STAMP)  ## bookings per second, 16 concurrent clients, SQLite and PostgreSQL
	$(PY) -m benchmarks.booking

bench-assistant: $(STAMP) $(MODEL)  ## NLU parse rate vs. 32 concurrent REST conversations; add ARGS=--train
	$(PY) -m benchmarks.assistant $(ARGS)

bench-console: $(STAMP)  ## conversation pages: 100,000 conversations / 1,000,000 events, p50/p95 per page
	$(PY) -m benchmarks.console $(ARGS)

bench-review-sync: $(STAMP) $(MODEL)  ## console review: delay after a message with two Rasa servers, sync load at 100,000 conversations
	$(PY) -m benchmarks.review_sync $(ARGS)

bench-rush: $(STAMP) $(MODEL)  ## Batam's morning over WhatsApp: 750 applicants in 60 s, SQLite and PostgreSQL; ARGS=--applicants N
	$(PY) -m benchmarks.rush $(ARGS)

bench-scale: $(STAMP) $(MODEL)  ## turns and bookings/s with 1 and 2 Rasa servers behind haproxy (PostgreSQL, Redis), CPU per turn of each component
	$(PY) -m benchmarks.scale $(ARGS)

bench-messages: $(STAMP) $(MODEL)  ## applicant messages needed to book, three ways, e-KTP reading off and on
	$(PY) -m benchmarks.messages_to_book $(ARGS)

bench-retrain: $(STAMP) $(MODEL)  ## export → train → evaluate → compare → live on every worker, under load: time, PSS, slowest reply
	$(PY) -m benchmarks.retrain $(ARGS)

drill: $(STAMP) $(MODEL)  ## failure drills on the cluster during a rush (Rasa, receiver, PostgreSQL, Redis, console down): a table of what happened; ARGS=--applicants N
	$(PY) -m benchmarks.drill $(ARGS)

lock:  ## re-resolve requirements.in into requirements.lock (needs network)
	rm -rf .venv-lock && py=$$(scripts/find-python310) && "$$py" -m venv .venv-lock
	.venv-lock/bin/pip install --quiet --upgrade pip && .venv-lock/bin/pip install --quiet -r requirements.in
	.venv-lock/bin/pip check
	(echo "# Generated by 'make lock' from requirements.in with Python 3.10; do not edit by hand."; \
	  .venv-lock/bin/pip freeze --all --exclude-editable | grep -v "^pip==") > requirements.lock
	rm -rf .venv-lock

clean:  ## remove the virtual environment and local data
	rm -rf $(VENV) var/*.sqlite3
