# Two commands do everything on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: venv test demo demo-restart bench lint clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

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
	rm -rf $(VENV) build *.egg-info python/*.egg-info .pytest_cache
