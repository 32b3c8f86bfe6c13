# Two commands do everything on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: venv test demo demo-restart bench lint clean published-decoder system-packages screenshots

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# The published plugin's decoder, for tests/test_decoder_compat.py: the wheel alone (--no-deps) in its
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

test: $(STAMP) $(PUBLISHED_STAMP) system-packages
	$(PY) -m pytest $(PYTEST_ARGS)

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
		tests/test_notebook.py tests/test_local_monitor.py::test_browser_follows_links_from_requests_to_a_failed_jobs_log

demo: $(STAMP)
	bash examples/demo/run_demo.sh

demo-restart: $(STAMP)
	bash examples/demo/run_demo.sh --fail-one

bench: $(STAMP)
	$(PY) bench/run_bench.py --sizes 10000 100000 1000000 --submit --results bench/RESULTS.md
	$(PY) bench/local_overhead.py --results bench/RESULTS.md

lint: $(STAMP)
	$(PY) -m pip install --quiet ruff
	$(VENV)/bin/ruff check python tests bench examples
	$(VENV)/bin/ruff format --check python tests bench examples

clean:
	rm -rf $(VENV) $(PUBLISHED_DIR) build *.egg-info python/*.egg-info .pytest_cache
