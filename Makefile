# embedcli — everything installs into .venv from a bare machine with python3.
#
# Compiled kernels are cached where embedcli itself puts them (embedcli/__init__.py: the package's
# __pycache__, or ~/.cache/embedcli/numba for a read-only install), so `make demo`, `make test`
# and a direct `.venv/bin/embedcli` share one warm cache. Set NUMBA_CACHE_DIR to override it.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip install -q --disable-pip-version-check

.PHONY: demo test test-slow test-fuzz test-nojit test-interop lint format bench clean venv

# what the demo needs: embedcli and its runtime dependencies only
$(VENV)/.stamp-run: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) --upgrade pip
	$(PIP) -e .
	touch $@

# + pytest, pytest-xdist, hypothesis, ruff, gensim, matplotlib
# (.ci/test-constraints.txt: the boto3/botocore/aiobotocore set, else pip backtracks for minutes)
$(VENV)/.stamp-test: $(VENV)/.stamp-run .ci/test-constraints.txt
	$(PIP) -e '.[test]' -c .ci/test-constraints.txt
	touch $@

venv: $(VENV)/.stamp-test

demo: $(VENV)/.stamp-run
	bash sample_data/demo.sh

# the fast tests (tests/conftest.py SLOW_FILES/SLOW_TESTS and @pytest.mark.slow go to test-slow),
# in pytest-xdist workers: one per core (`make test TEST_WORKERS=0` runs them in one process)
TEST_WORKERS ?= auto
test: $(VENV)/.stamp-test
	$(PY) -m pytest tests -m "not slow" -n $(TEST_WORKERS)

# the heavy tests (CI runs them after `make test`); test_fuzz.py is make test-fuzz's
test-slow: $(VENV)/.stamp-test
	$(PY) -m pytest tests -m slow --ignore=tests/test_fuzz.py

# The kernel tests as plain Python (numba off): tracebacks and line coverage reach inside kernels.py
test-nojit: venv
	NUMBA_DISABLE_JIT=1 $(PY) -m coverage run --include='embedcli/kernels.py' -m pytest -q \
		-W ignore::RuntimeWarning tests/test_kernels.py tests/test_gradients.py
	$(PY) -m coverage report --show-missing

# the fuzz properties with their whole budget (CI runs it after `make test`)
test-fuzz: $(VENV)/.stamp-test
	EMBEDCLI_FUZZ=full $(PY) -m pytest tests/test_fuzz.py

# The real TensorFlow/Keras, keras-preprocessing, fastText, PyTorch and TensorBoard, in a venv of
# their own (never in the test extra): tests/test_compat_real.py checks every --compat claim on
# them, tests/test_interop_real.py the exports (EmbeddingBag, Keras, the projector's parser).
# torch==2.13.0 is the CPU build this machine kind keeps in pip's find-links (/opt/wheels, 183 MB);
# PyPI alone has only the CUDA build of torch for x86_64 Linux (several GB with its nvidia-* wheels).
IVENV := .venv-interop
INTEROP := tensorflow-cpu==2.21.0 keras-preprocessing==1.1.2 fasttext-wheel==0.9.2 \
	torch==2.13.0 tensorboard==2.21.0

$(IVENV)/.stamp: pyproject.toml
	$(PYTHON) -m venv $(IVENV)
	$(IVENV)/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
	$(IVENV)/bin/python -m pip install -q --disable-pip-version-check -e . pytest hypothesis $(INTEROP)
	# tf_keras (the legacy Tokenizer and pad_sequences) without a second TensorFlow
	$(IVENV)/bin/python -m pip install -q --disable-pip-version-check --no-deps tf-keras==2.21.0
	touch $@

test-interop: $(IVENV)/.stamp
	$(IVENV)/bin/python -m pytest tests/test_compat_real.py tests/test_interop_real.py

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
