# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause

# Two commands do everything on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
REAL_IDDS_VENV ?= .venv-real-idds
REAL_IDDS_STAMP := $(REAL_IDDS_VENV)/.installed-stamp

.PHONY: venv test check demo demo-restart bench bench-decoder bench-engines bench-suite lint clean published-decoder system-packages screenshots

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,local]'
	touch $(STAMP)

# The published plugin's decoder, for tests/edgenode/test_decoder_compat.py: the wheel alone (--no-deps) in its
# own directory, never on the venv's path, so it cannot mix with our editable install.
PUBLISHED_PANDA_VERSION := 30.0.0
PUBLISHED_DIR := .published-decoder
PUBLISHED_STAMP := $(PUBLISHED_DIR)/.installed-$(PUBLISHED_PANDA_VERSION)

published-decoder: $(PUBLISHED_STAMP)

$(PUBLISHED_STAMP): | $(STAMP)
	rm -rf $(PUBLISHED_DIR)
	$(PY) -m pip install --quiet --no-deps --no-compile --only-binary :all: \
		--target $(PUBLISHED_DIR) 'lsst-ctrl-bps-panda==$(PUBLISHED_PANDA_VERSION)'
	touch $@

# The suite mostly waits (servers, daemons, payloads, the conductor), so more xdist workers than
# the 2 cores pay; each worker starts its own servers and iDDS stack. The fault suite and the browser
# tests share one group (xdist_group "serial"), which --dist loadgroup runs on a single worker.
TEST_WORKERS ?= 4
# Live tests against the real PanDA stack (marker real_panda) need GitHub-only sources: `make test-real-panda`.
test: $(STAMP) $(PUBLISHED_STAMP) system-packages
	$(PY) -m pytest -m "not real_panda" -n $(TEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

# The unit tier, for the edit-test loop: no servers, no engines, no browser (about a minute).
UNIT_TIER := not slow and not idds_engine and not browser and not real_servers and not real_idds and not real_panda
check: $(STAMP)
	$(PY) -m pytest -m "$(UNIT_TIER)" -n 2 $(PYTEST_ARGS)

# Debian packages of the notebook/monitor tests and the task-graph picture (issue 17): Graphviz's dot,
# Chromium and its driver. apt-get runs only when a binary is missing (CI runs as root).
SYSTEM_BINARIES := /usr/bin/dot /usr/bin/chromium /usr/bin/chromedriver
system-packages:
	@for binary in $(SYSTEM_BINARIES); do test -x $$binary || missing=1; done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
				graphviz chromium chromium-driver fonts-dejavu-core >/dev/null; \
		else \
			echo "missing $(SYSTEM_BINARIES): sudo apt-get install graphviz chromium chromium-driver"; \
			test "$$CI" != true; \
		fi; \
	fi

# The README's pictures: the notebook's HTML report and the monitor pages, from the tests.
screenshots: $(STAMP) system-packages
	PANDA_SCREENSHOT_DIR=$(CURDIR)/docs/images $(PY) -m pytest -q \
		tests/notebook/test_notebook.py tests/local/http/test_monitor_pages.py::test_browser_follows_links_from_requests_to_a_failed_jobs_log

# ENGINE=idds runs the demo on the real iDDS daemons (their virtualenv is built first).
ENGINE ?= embedded
DEMO_DEPS := $(STAMP) $(if $(filter idds,$(ENGINE)),$(REAL_IDDS_STAMP))

demo: $(DEMO_DEPS)
	ENGINE=$(ENGINE) bash examples/demo/run_demo.sh

demo-restart: $(DEMO_DEPS)
	ENGINE=$(ENGINE) bash examples/demo/run_demo.sh --fail-one

bench: $(STAMP) bench-decoder
	$(PY) bench/run_bench.py --sizes 10000 100000 1000000 --submit --results bench/RESULTS.md
	$(PY) bench/cycle_check.py --sizes 100000 1000000 --results bench/RESULTS.md
	$(PY) bench/local_overhead.py --results bench/RESULTS.md

# Start-up of the worker-side decoder as a file (the default runner) and with python -m.
bench-decoder: $(STAMP)
	$(PY) bench/decoder_startup.py --results bench/RESULTS.md

# numpydoc lint runs the checks [tool.numpydoc_validation] in pyproject.toml selects; resources/ holds
# only links to the edgenode modules, which are checked where they live.
lint: $(STAMP)
	$(PY) -m pip install --quiet ruff mypy types-PyYAML types-psutil 'numpydoc>=1.6'
	$(VENV)/bin/ruff check python tests bench examples
	$(VENV)/bin/ruff format --check python tests bench examples
	$(VENV)/bin/mypy python/lsst/ctrl/bps/panda
	$(PY) -m numpydoc lint $$(find python -name '*.py' -not -path '*/resources/*')
	# The import direction ([tool.importlinter] in pyproject.toml); tests/test_layers.py runs it too.
	$(PY) tests/support/import_contracts.py

# The suite's time CI's way: a fresh clone's `CI=true bash .ci/run`, then make check and make lint.
bench-suite: $(STAMP)
	$(PY) bench/suite_time.py --results bench/RESULTS.md

# Start-up time of each engine and the demo's wall time on each (bench/engines.py).
bench-engines: $(STAMP) $(REAL_IDDS_STAMP)
	$(PY) bench/engines.py --results bench/RESULTS.md

# --- The real PanDA relay, iDDS REST server and daemons -------------------------------------------
# The real servers live in their own virtualenv (tests/real_idds/install_servers.sh): the contract
# tests and `panda_local start --engine idds` (the shared suite of `make test`) need it. A stamp
# makes a second run free.
REAL_IDDS_INPUTS := $(wildcard tests/real_idds/requirements.txt tests/real_idds/constraints.txt \
	tests/real_idds/install_servers.sh tests/real_idds/fetch_sdist.py)

.PHONY: real-idds-venv test-real-idds record-envelopes clean-real-idds

real-idds-venv: $(REAL_IDDS_STAMP)

$(REAL_IDDS_STAMP): $(REAL_IDDS_INPUTS)
	bash tests/real_idds/install_servers.sh $(abspath $(REAL_IDDS_VENV))
	touch $@

test: $(REAL_IDDS_STAMP)

# Only the contract tests.
test-real-idds: $(STAMP) $(REAL_IDDS_STAMP)
	$(PY) -m pytest -m real_idds $(PYTEST_ARGS)

# Re-record tests/data/envelopes/real/ from the real servers.
record-envelopes: $(STAMP) $(REAL_IDDS_STAMP)
	$(PY) tests/real_idds/record_envelopes.py

# --- The real PanDA: panda-server 1.0.4 + JEDI + PostgreSQL with pg_cron (issue 24) -------------
# The servers' virtualenv above holds panda-server; the schema is GitHub's PanDAWMS/panda-database
# (not on PyPI): name a checkout with PANDA_DATABASE_DIR (needed when the database is new).  The
# stack lives in REAL_PANDA_HOME and keeps running after `make real-panda` returns; workarounds and
# JEDI's loop cycles are documented in python/lsst/ctrl/bps/panda/local/panda/.
REAL_PANDA_HOME ?= $(CURDIR)/.real-panda
PANDA_DATABASE_DIR ?=
PG_MAJOR ?= 15
REAL_PANDA_ENV := REAL_PANDA_HOME=$(REAL_PANDA_HOME) REAL_PANDA_VENV=$(abspath $(REAL_IDDS_VENV)) \
	PANDA_DATABASE_DIR=$(PANDA_DATABASE_DIR)
REAL_PANDA_CLI := $(PY) -m lsst.ctrl.bps.panda.local.panda.stack_cli

.PHONY: real-panda-install real-panda real-panda-stop real-panda-status record-real-panda test-real-panda

# Installing (once, as root or with sudo): PostgreSQL's pg_cron.  Running needs no root.
real-panda-install:
	@if ls /usr/lib/postgresql/*/lib/pg_cron.so >/dev/null 2>&1; then echo "pg_cron is installed"; \
	elif [ "$$(id -u)" = 0 ]; then DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql-$(PG_MAJOR)-cron; \
	else sudo -n env DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql-$(PG_MAJOR)-cron; fi

real-panda: $(STAMP) $(REAL_IDDS_STAMP)
	$(REAL_PANDA_ENV) $(REAL_PANDA_CLI) start

real-panda-stop: $(STAMP)
	$(REAL_PANDA_ENV) $(REAL_PANDA_CLI) stop

real-panda-status: $(STAMP)
	$(REAL_PANDA_ENV) $(REAL_PANDA_CLI) status

# Re-record tests/data/real_panda/ from the running stack (make real-panda first).
record-real-panda: $(STAMP)
	$(REAL_PANDA_ENV) $(PY) tests/real_panda/record_real_panda.py $(SCENARIOS)

# The live tests: they start the stack in REAL_PANDA_HOME if it is not running.
test-real-panda: $(STAMP) $(REAL_IDDS_STAMP)
	$(REAL_PANDA_ENV) $(PY) -m pytest -m real_panda $(PYTEST_ARGS)

clean: clean-real-idds
clean-real-idds:
	rm -rf $(REAL_IDDS_VENV)

clean:
	rm -rf $(VENV) $(PUBLISHED_DIR) build *.egg-info python/*.egg-info .pytest_cache
