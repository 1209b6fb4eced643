# One-command set-up, tests, demo and documentation on a fresh machine.
#
# PyTorch is installed first, and only when missing, as the CPU build
# torch==2.13.0 (a bare `torch` requirement would pull a multi-GB CUDA build).

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH_SPEC ?= torch==2.13.0
STAMP := $(VENV)/.installed
DOCS_STAMP := $(VENV)/.installed-docs
BENCH_STAMP := $(VENV)/.installed-bench

.PHONY: setup test test-all demo docs lint bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install --quiet "$(TORCH_SPEC)"
	$(PY) -m pip install --quiet -e ".[test]"
	touch $(STAMP)

test: setup
	$(PY) -m pytest

test-all: setup
	$(PY) -m pytest -m "slow or not slow"

demo: setup
	$(PY) examples/demo.py

# The docs extra (Sphinx, numpydoc, sphinx-gallery, ...) goes into the same
# .venv; reinstalled only when pyproject.toml changes. Warnings are errors,
# and the gallery runs examples/plot_*.py (a failing example fails the build).
$(DOCS_STAMP): $(STAMP) pyproject.toml
	$(PY) -m pip install --quiet -e ".[docs]"
	touch $(DOCS_STAMP)

docs: $(DOCS_STAMP)
	$(PY) -m sphinx -W --keep-going -b html docs docs/_build/html

lint: setup
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

# The benchmark suite (docs/benchmarks.md): the bench extra adds umap-learn
# for supervised UMAP. Tables and plots go to benchmarks/results/. Run it on an
# otherwise idle machine: the timings are compared side by side, but torch's
# threads slow down badly when other processes share the cores.
$(BENCH_STAMP): $(STAMP) pyproject.toml
	$(PY) -m pip install --quiet -e ".[bench]"
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(PY) benchmarks/bench_vs_torch.py
	$(PY) benchmarks/bench_overrides.py
	$(PY) benchmarks/bench_startup.py
	$(PY) benchmarks/bench_scale.py
	$(PY) benchmarks/bench_batch_size.py
	$(PY) benchmarks/bench_out_of_core.py
	$(PY) benchmarks/bench_sparse.py
	$(PY) benchmarks/bench_quality.py
	$(PY) benchmarks/bench_open_set.py
	$(PY) benchmarks/label_efficiency.py semi --seeds 0 1 2 3 4
	$(PY) benchmarks/label_efficiency.py unsupervised

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
	rm -rf docs/_build docs/auto_examples docs/generated docs/sg_execution_times.rst
