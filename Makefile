# embedcli — everything installs into .venv from a bare machine with python3.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
export NUMBA_CACHE_DIR := $(CURDIR)/.numba_cache

.PHONY: demo test test-interop lint format bench clean venv

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

# The real TensorFlow/Keras, keras-preprocessing and fastText, in a venv of their own (about
# 1 GB; never in the test extra): tests/test_compat_real.py checks every --compat claim on them.
IVENV := .venv-interop
INTEROP := tensorflow-cpu==2.21.0 keras-preprocessing==1.1.2 fasttext-wheel==0.9.2

$(IVENV)/.stamp: pyproject.toml
	$(PYTHON) -m venv $(IVENV)
	$(IVENV)/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
	$(IVENV)/bin/python -m pip install -q --disable-pip-version-check -e . pytest hypothesis $(INTEROP)
	# tf_keras (the legacy Tokenizer and pad_sequences) without a second TensorFlow
	$(IVENV)/bin/python -m pip install -q --disable-pip-version-check --no-deps tf-keras==2.21.0
	touch $@

test-interop: $(IVENV)/.stamp
	$(IVENV)/bin/python -m pytest tests/test_compat_real.py

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
	rm -rf $(VENV) $(IVENV) .numba_cache .pytest_cache .hypothesis .ruff_cache demo_out bench_out *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
