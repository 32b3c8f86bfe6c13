# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

# Two commands do everything on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
REAL_IDDS_VENV ?= .venv-real-idds
REAL_IDDS_STAMP := $(REAL_IDDS_VENV)/.installed-stamp

.PHONY: venv test check demo demo-restart bench bench-decoder bench-engines bench-prepare bench-suite lint clean published-decoder published-suite system-packages screenshots license-headers

venv: $(STAMP)

$(STAMP): pyproject.toml python/lsst/ctrl/bps/panda/version.py
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

# The published plugin's own test suite (tests/test_published_suite.py runs it against this package): the
# sdist's tests/, fetched once by pip and unpacked into a git-ignored directory; the test run itself is offline.
PUBLISHED_SUITE_DIR := .published-suite
PUBLISHED_SUITE_STAMP := $(PUBLISHED_SUITE_DIR)/$(PUBLISHED_PANDA_VERSION)/pytest.ini

published-suite: $(PUBLISHED_SUITE_STAMP)

$(PUBLISHED_SUITE_STAMP): | $(STAMP)
	rm -rf $(PUBLISHED_SUITE_DIR)
	$(PY) -m pip download --quiet --no-deps --no-binary :all: --dest $(PUBLISHED_SUITE_DIR) \
		'lsst-ctrl-bps-panda==$(PUBLISHED_PANDA_VERSION)'
	$(PY) tests/support/published_suite.py $(PUBLISHED_SUITE_DIR) $(PUBLISHED_PANDA_VERSION)

# The suite mostly waits (servers, daemons, payloads, the conductor), so more xdist workers than
# the 2 cores pay; each worker starts its own servers and iDDS stack. The fault suite and the browser
# tests share one group (xdist_group "serial"), which --dist loadgroup runs on a single worker.
TEST_WORKERS ?= 4
# Live tests against the real PanDA stack (marker real_panda) need GitHub-only sources: `make test-real-panda`.
test: $(STAMP) $(PUBLISHED_STAMP) $(PUBLISHED_SUITE_STAMP) system-packages
	$(PY) -m pytest -m "not real_panda" -n $(TEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

# The unit tier, for the edit-test loop: no servers, no engines, no browser (about a minute).
UNIT_TIER := not slow and not idds_engine and not browser and not real_servers and not real_idds and not published_suite and not real_panda
check: $(STAMP)
	$(PY) -m pytest -m "$(UNIT_TIER)" -n 2 $(PYTEST_ARGS)

# Debian packages of the notebook/monitor tests and the task-graph picture (issue 17): Graphviz's dot,
# Chromium and its driver. apt-get runs only when a binary is missing: as root, else through passwordless
# sudo (GitHub Actions' runner user); a user with neither gets a failure naming what to install.
SYSTEM_BINARIES := /usr/bin/dot /usr/bin/chromium /usr/bin/chromedriver
SYSTEM_PACKAGES := graphviz chromium chromium-driver fonts-dejavu-core
system-packages:
	@for binary in $(SYSTEM_BINARIES); do test -x $$binary || missing=1; done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ]; then as_root=""; \
		elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then as_root="sudo -n"; \
		else \
			echo "make test needs $(SYSTEM_BINARIES): install them with" \
				"'sudo apt-get install $(SYSTEM_PACKAGES)', or run make test as root or with passwordless sudo" >&2; \
			exit 1; \
		fi; \
		$$as_root apt-get update -qq && $$as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			$(SYSTEM_PACKAGES) >/dev/null; \
	fi

# The README's pictures: the notebook's HTML report and the monitor pages, from the tests.
screenshots: $(STAMP) system-packages
	PANDA_SCREENSHOT_DIR=$(CURDIR)/docs/images $(PY) -m pytest -q \
		tests/notebook/test_notebook.py tests/local/http/test_monitor_pages.py::test_browser_follows_links_from_requests_to_a_failed_jobs_log

# ENGINE=idds runs the demo on the real iDDS daemons (their virtualenv is built first); ENGINE=panda
# on the real iDDS with the real panda-server + JEDI (PANDA_DATABASE_DIR: the schema checkout).
ENGINE ?= embedded
DEMO_DEPS := $(STAMP) $(if $(filter idds panda,$(ENGINE)),$(REAL_IDDS_STAMP))

demo: $(DEMO_DEPS)
	ENGINE=$(ENGINE) PANDA_DATABASE_DIR=$(PANDA_DATABASE_DIR) bash examples/demo/run_demo.sh

demo-restart: $(DEMO_DEPS)
	ENGINE=$(ENGINE) PANDA_DATABASE_DIR=$(PANDA_DATABASE_DIR) bash examples/demo/run_demo.sh --fail-one

bench: $(STAMP) bench-decoder
	$(PY) bench/run_bench.py --sizes 10000 100000 1000000 --submit --results bench/RESULTS.md
	$(PY) bench/cycle_check.py --sizes 100000 1000000 --results bench/RESULTS.md
	$(PY) bench/local_overhead.py --results bench/RESULTS.md

# The published plugin in a virtualenv of its own, for bench-prepare: 30.0.0 with its dependencies from PyPI,
# pinned to the versions in .venv (lsst-ctrl-bps, iDDS, panda-client), so the two plugins differ in nothing else.
PUBLISHED_PLUGIN_VENV := .venv-published-plugin
PUBLISHED_PLUGIN_STAMP := $(PUBLISHED_PLUGIN_VENV)/.installed-$(PUBLISHED_PANDA_VERSION)

$(PUBLISHED_PLUGIN_STAMP): | $(STAMP)
	rm -rf $(PUBLISHED_PLUGIN_VENV)
	$(PYTHON) -m venv $(PUBLISHED_PLUGIN_VENV)
	$(PUBLISHED_PLUGIN_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(PY) -m pip freeze --exclude-editable | grep -i -E '^(lsst-|idds-|panda-client|networkx|psutil)' \
		> $(PUBLISHED_PLUGIN_VENV)/constraints.txt
	$(PUBLISHED_PLUGIN_VENV)/bin/python -m pip install --quiet -c $(PUBLISHED_PLUGIN_VENV)/constraints.txt \
		'lsst-ctrl-bps-panda==$(PUBLISHED_PANDA_VERSION)' psutil
	touch $@

# PanDAService.prepare against the published plugin in the same run, each with its shipped defaults
# (bench/prepare_speed.py): 100k jobs for both, 1M for this plugin, fastest of 3, peak RSS, steps.
bench-prepare: $(STAMP) $(PUBLISHED_PLUGIN_STAMP)
	$(PY) bench/prepare_speed.py --sizes 100000 1000000 --published-sizes 100000 \
		--published-python $(PUBLISHED_PLUGIN_VENV)/bin/python --results bench/RESULTS.md

# Start-up of the worker-side decoder as a file (the default runner) and with python -m.
bench-decoder: $(STAMP)
	$(PY) bench/decoder_startup.py --results bench/RESULTS.md

# numpydoc lint runs the checks [tool.numpydoc_validation] in pyproject.toml selects; resources/ holds
# only links to the edgenode modules, which are checked where they live.
lint: $(STAMP)
	$(PY) -m pip install --quiet ruff mypy types-PyYAML types-psutil 'numpydoc>=1.6'
	$(VENV)/bin/ruff check python tests bench examples tools
	$(VENV)/bin/ruff format --check python tests bench examples tools
	$(VENV)/bin/mypy python/lsst/ctrl/bps/panda
	$(PY) -m numpydoc lint $$(find python -name '*.py' -not -path '*/resources/*')
	# The import direction ([tool.importlinter] in pyproject.toml); tests/test_layers.py runs it too.
	$(PY) tests/support/import_contracts.py

# Every tracked source file's licence header (tools/license_headers.py); rerun after a merge that adds files.
license-headers:
	$(PYTHON) tools/license_headers.py

# The suite's time CI's way: a fresh clone's `CI=true bash .ci/run`, then make check and make lint.
bench-suite: $(STAMP)
	$(PY) bench/suite_time.py --results bench/RESULTS.md

# Start-up time of each engine and the demo's wall time on each (bench/engines.py).
# The panda engine needs PANDA_DATABASE_DIR (the schema checkout) and pg_cron (make real-panda-install).
bench-engines: $(STAMP) $(REAL_IDDS_STAMP)
	PANDA_DATABASE_DIR=$(PANDA_DATABASE_DIR) $(PY) bench/engines.py --results bench/RESULTS.md

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

# Re-record the real servers' envelopes: python/lsst/ctrl/bps/panda/testing/envelopes/real/ (kit package data).
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

# The live tests: they start the stack in REAL_PANDA_HOME if it is not running; the shared engine
# suite's panda cases start `panda_local --engine panda` (a new state directory: PANDA_DATABASE_DIR).
test-real-panda: $(STAMP) $(REAL_IDDS_STAMP)
	$(REAL_PANDA_ENV) $(PY) -m pytest -m real_panda $(PYTEST_ARGS)

clean: clean-real-idds
clean-real-idds:
	rm -rf $(REAL_IDDS_VENV)

clean:
	rm -rf $(VENV) $(PUBLISHED_DIR) $(PUBLISHED_SUITE_DIR) $(PUBLISHED_PLUGIN_VENV) build *.egg-info python/*.egg-info .pytest_cache
