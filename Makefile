# embedcli — everything installs into .venv from a bare machine with python3.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
export NUMBA_CACHE_DIR := $(CURDIR)/.numba_cache

.PHONY: demo test test-nojit lint format bench clean venv

$(VENV)/.stamp-test: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip
	$(PY) -m pip install -q --disable-pip-version-check -e '.[test]'
	touch $@

venv: $(VENV)/.stamp-test

demo: venv
	bash sample_data/demo.sh

test: venv
	$(PY) -m pytest tests

# The kernel tests as plain Python (numba off): tracebacks and line coverage reach inside kernels.py
test-nojit: venv
	NUMBA_DISABLE_JIT=1 $(PY) -m coverage run --include='embedcli/kernels.py' -m pytest -q \
		-W ignore::RuntimeWarning tests/test_kernels.py tests/test_gradients.py
	$(PY) -m coverage report --show-missing

lint: venv
	$(VENV)/bin/ruff check embedcli tests benchmarks
	$(VENV)/bin/ruff format --check embedcli tests benchmarks

format: venv
	$(VENV)/bin/ruff format embedcli tests benchmarks
	$(VENV)/bin/ruff check --fix embedcli tests benchmarks

bench: venv
	$(PY) benchmarks/bench_vocab_encode.py
	$(PY) benchmarks/bench_train.py

clean:
	rm -rf $(VENV) .numba_cache .pytest_cache .hypothesis .ruff_cache demo_out bench_out *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
