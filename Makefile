# reuseprior: every command sets up what it needs first (a pinned virtualenv,
# created once per lock file, outside the clone so that fresh clones reuse it).
SHELL := /bin/bash
PYTHON ?= python3
LOCK_HASH := $(shell sha256sum requirements-lock.txt | cut -c1-12)
VENV ?= $(HOME)/.cache/reuseprior/venv-$(LOCK_HASH)
PY := $(VENV)/bin/python
STAMP := $(VENV)/.reuseprior-ready
export PYTHONPATH := $(CURDIR)$(if $(PYTHONPATH),:$(PYTHONPATH))
export MPLBACKEND := Agg
PROFILE ?= quick

.PHONY: env figures full test test-fast lab bench lock clean help

help:
	@echo "make figures   regenerate every notebook (quick profile): build/notebooks, figures/"
	@echo "make test      all tests: pytest on the package, then nbval over every notebook"
	@echo "make full      paper-scale profile of every notebook (hours; GPU for ch3/ch4 training)"
	@echo "make lab       open the chapters in JupyterLab"
	@echo "make bench     benchmarks (analyze vs a SynFlow pass; shared vs separate proxy passes; a proxy's peak memory)"

env: $(STAMP)

# The stamp is written last, so an interrupted install is redone next time.
# PIP_CONSTRAINT=/dev/null: some machines carry a site-wide pip constraint
# file capping torch below the locked release; the lock is the contract here.
$(STAMP): requirements-lock.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	PIP_CONSTRAINT=/dev/null $(PY) -m pip install --quiet --upgrade pip
	PIP_CONSTRAINT=/dev/null $(PY) -m pip install --quiet -r requirements-lock.txt
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	@touch $(STAMP)

figures: env
	$(PY) -m reuseprior build --profile $(PROFILE)

full:
	$(MAKE) figures PROFILE=full

# Two workers (one per core), one torch thread each; --dist loadscope keeps
# every notebook's cells in order on one worker.
test: env
	OMP_NUM_THREADS=1 $(PY) -m pytest -n 2 --dist loadscope tests notebooks --nbval-lax -p no:cacheprovider

test-fast: env
	$(PY) -m pytest tests -x -q -p no:cacheprovider

lab: env
	$(VENV)/bin/jupyter lab notebooks/

bench: env
	$(PY) benchmarks/bench_analyze.py
	$(PY) benchmarks/bench_proxies.py
	$(PY) benchmarks/bench_proxy_memory.py

lock: env
	$(PY) -m pip freeze --exclude-editable | grep -v '^reuseprior' > requirements-lock.new && mv requirements-lock.new requirements-lock.txt

clean:
	rm -rf build .pytest_cache
