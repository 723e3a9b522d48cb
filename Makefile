# Every target that needs the environment depends on .venv/installed, so one command works on a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/installed
PORT ?= 8888
# JupyterLab opens WORK, the learner's copy of the lessons (ignored by git), made on first use: saving there never
# touches the committed notebooks, which the tests compare against. `make reset` copies the lessons afresh.
# NOTEBOOK_DIR opens another folder as it is (tests serve their own copy).
WORK ?= work
NOTEBOOK_DIR ?= $(WORK)
NBVAL_TIMEOUT ?= 600
# Jupyter refuses to run as root (containers, CI) unless told to.
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root)
# Tests and committed outputs always run offline, so they match on any machine, online or not.
OFFLINE := TGAI_OFFLINE=1 TGAI_PROFILE=class TGAI_PROGRESS=0

.PHONY: install lab reset test unit integration coverage nbtest nbtest-portable notebooks check-seeds matrix colab colab-check shared hub-check html site dist assets bench bench-quick lint clean

# The pinned numpy, scipy, scikit-learn, matplotlib, pillow and keras need Python 3.11 or newer; 3.11 to 3.13
# are tested (`make matrix`). Checked before anything installs, with the fix in the message.
define CHECK_PYTHON
import sys
version = sys.version_info[:2]
if not (3, 11) <= version <= (3, 13):
    sys.exit(f"tgai needs Python 3.11, 3.12 or 3.13; {sys.executable} is Python {version[0]}.{version[1]}. "
             "Run `make distclean`, then `make install PYTHON=python3.12` (or another supported version).")
endef
export CHECK_PYTHON

install: $(STAMP)

$(STAMP): requirements.txt pyproject.toml jupyterlab/overrides.json
	@test -x $(BIN)/python || $(PYTHON) -c "$$CHECK_PYTHON"
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -c "$$CHECK_PYTHON"
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (tgai)" >/dev/null
	@# JupyterLab's defaults for this environment: no "get notified about Jupyter news?" popup in a classroom.
	mkdir -p $(VENV)/share/jupyter/lab/settings
	cp jupyterlab/overrides.json $(VENV)/share/jupyter/lab/settings/overrides.json
	touch $(STAMP)

lab: $(STAMP)
	@if [ "$(NOTEBOOK_DIR)" = "$(WORK)" ]; then \
		mkdir -p "$(WORK)" && for notebook in notebooks/[0-9][0-9]_*.ipynb; do \
			test -e "$(WORK)/$$(basename $$notebook)" || cp "$$notebook" "$(WORK)/"; done; \
		echo "JupyterLab opens $(WORK)/, your copy of the lessons; make reset gives a clean copy"; fi
	$(BIN)/jupyter lab --notebook-dir=$(NOTEBOOK_DIR) --port=$(PORT) $(ROOT_FLAG) $(LAB_ARGS)

# A clean copy of every lesson over the one in WORK (other files there are kept).
reset:
	mkdir -p "$(WORK)" && cp notebooks/[0-9][0-9]_*.ipynb "$(WORK)/"
	@echo "$(WORK)/ holds a clean copy of every lesson"

# Three tiers (CONTRIBUTING.md says which to run when): unit, the contributor's inner loop; integration, whatever
# starts a process, a server, a browser or a kernel (tests marked `integration`); nbtest, the lessons under nbval.
test: unit integration nbtest

# --durations lists the slowest tests, so a CI log shows where the suite's minutes go.
unit: $(STAMP)
	$(OFFLINE) $(BIN)/python -m pytest tests -q -m "not integration" --durations=15

integration: $(STAMP)
	$(OFFLINE) $(BIN)/python -m pytest tests -q -m integration --durations=15

# Line and branch coverage of tgai by both test tiers, measured in the test process (a child process or a kernel
# is not measured): a summary on the terminal, the details in build/coverage/ (index.html) and build/coverage.json.
coverage: $(STAMP)
	$(OFFLINE) $(BIN)/python -m pytest tests -q --cov=tgai --cov-branch --cov-report=term \
		--cov-report=html:build/coverage --cov-report=json:build/coverage.json

nbtest: $(STAMP)
	$(OFFLINE) $(BIN)/python -m pytest -q --nbval --nbval-current-env --nbval-cell-timeout=$(NBVAL_TIMEOUT) \
		--nbval-sanitize-with tests/sanitize.cfg notebooks

# The committed outputs must hold on any processor. Another CPU runs other floating-point kernels (oneDNN and XLA
# pick them per instruction set) and splits reductions over another number of threads; this runs the lessons under
# nbval with both changed on this machine: oneDNN's kernels on (tgai turns them off by default) and one thread for
# TensorFlow, XLA, BLAS and OpenMP. A compared cell that prints a trained number fails here. Run it before you
# commit notebooks (CONTRIBUTING.md).
PORTABLE := TF_ENABLE_ONEDNN_OPTS=1 TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1 OMP_NUM_THREADS=1 \
	OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1
nbtest-portable: $(STAMP)
	$(PORTABLE) $(MAKE) --no-print-directory nbtest

notebooks: $(STAMP)
	cd notebooks && for notebook in [0-9][0-9]_*.ipynb; do \
		echo "executing $$notebook"; \
		$(OFFLINE) ../$(BIN)/jupyter nbconvert --to notebook --execute --inplace \
			--ExecutePreprocessor.timeout=$(NBVAL_TIMEOUT) --ExecutePreprocessor.kernel_name=python3 $$notebook || exit 1; \
	done

# Every claim must hold for any seed: run each notebook under other seeds (papermill sets SEED) and stop at the
# first failing claim. Outputs go to build/seeds/, never over the committed notebooks.
SEEDS ?= 1 2
check-seeds: $(STAMP)
	mkdir -p build/seeds
	cd notebooks && for notebook in [0-9][0-9]_*.ipynb; do for seed in $(SEEDS); do \
		echo "$$notebook with SEED=$$seed"; \
		$(OFFLINE) ../$(BIN)/papermill --log-level ERROR -k python3 -p SEED $$seed $$notebook \
			../build/seeds/$${notebook%.ipynb}-seed$$seed.ipynb || exit 1; \
	done; done

# Every supported Python: a virtual environment each under build/matrix/ (from pyenv), installed by this Makefile's
# own `install` (so exactly as `.venv` is), the unit tests, and every notebook executed with its claims (outputs
# under build/matrix/, never committed).
PYTHONS ?= 3.11 3.12 3.13
MATRIX := build/matrix
matrix:
	@for version in $(PYTHONS); do \
		environment=$(MATRIX)/py$$version; \
		interpreter=$$(PYENV_VERSION=$$(pyenv latest $$version) pyenv which python) \
			|| { echo "pyenv has no Python $$version: pyenv install $$version"; exit 1; }; \
		echo "== Python $$version: $$interpreter -> $$environment"; \
		$(MAKE) --no-print-directory install VENV=$$environment PYTHON=$$interpreter || exit 1; \
		$(MAKE) --no-print-directory unit VENV=$$environment || exit 1; \
		mkdir -p $$environment/notebooks; \
		for notebook in notebooks/[0-9][0-9]_*.ipynb; do \
			echo "$$notebook on Python $$version"; \
			(cd notebooks && $(OFFLINE) ../$$environment/bin/papermill --log-level ERROR --no-progress-bar -k python3 \
				$$(basename $$notebook) ../$$environment/notebooks/$$(basename $$notebook)) || exit 1; \
		done; \
	done

# The kit's public address for Colab (colab/configure.py): `make colab REPOSITORY=owner/name` writes it into
# pyproject.toml's [project.urls], the "Open In Colab" badges into the README and every lesson, and each lesson's
# setup cell (install the release's wheel); `make colab` alone follows the address already there (none: no badges,
# and the setup cells ask for the wheel as an upload).
REPOSITORY ?=
colab: $(STAMP)
	$(BIN)/python colab/configure.py $(REPOSITORY)

# Colab's runtime (colab/requirements.txt: Python 3.13, TensorFlow 2.20, Keras 3.13, numpy 2.1, ...) in
# build/colab/, with a stand-in for Colab's own `google.colab` module (colab/standin/), and nothing of the kit:
# each lesson, copied outside the clone, runs its own setup cell in the kernel, which installs the wheel that
# `make dist` built (uninstalled again before the next lesson), then runs with its claims into build/colab/notebooks/.
PYTHON_COLAB ?= 3.13
COLAB := build/colab
COLAB_LESSONS ?= [0-9][0-9]_*.ipynb
colab-check: dist
	@interpreter=$$(PYENV_VERSION=$$(pyenv latest $(PYTHON_COLAB)) pyenv which python) \
		|| { echo "pyenv has no Python $(PYTHON_COLAB): pyenv install $(PYTHON_COLAB)"; exit 1; }; \
	test -x $(COLAB)/bin/python || $$interpreter -m venv $(COLAB)
	$(COLAB)/bin/python -m pip install --quiet --disable-pip-version-check -r colab/requirements.txt
	$(COLAB)/bin/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	packages=$$($(COLAB)/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])') && \
		mkdir -p $$packages/google && rm -rf $$packages/google/colab && cp -r colab/standin/colab $$packages/google/ && \
		cp colab/standin/sitecustomize.py $$packages/
	rm -rf $(COLAB)/notebooks && mkdir -p $(COLAB)/notebooks
	wheel=$$(ls $(abspath build/dist)/tgai-*.whl) && for notebook in notebooks/$(COLAB_LESSONS); do \
		name=$$(basename $$notebook); \
		echo "$$name with Colab's versions, its setup cell installing $$(basename $$wheel)"; \
		$(COLAB)/bin/python -m pip uninstall --quiet --yes tgai >/dev/null 2>&1; \
		cp $$notebook $(COLAB)/notebooks/; \
		(cd $(COLAB)/notebooks && TGAI_COLAB_WHEEL=$$wheel $(OFFLINE) ../bin/papermill --log-level ERROR \
			--no-progress-bar -k python3 $$name executed-$$name) || exit 1; \
	done

# A shared layer for a class on one server (docs/hub.md): unpack a bundle into it (BUNDLE=..., optional), run the
# lessons once into it so that its glyph and feature caches are warm, then make it read-only for everyone.
# Learners' kernels read it through TGAI_SHARED. Run it with the TGAI_OFFLINE your learners will have: the
# feature caches are keyed by the backbone's weights. Executed copies go to build/shared/, never over notebooks/.
SHARED ?= /srv/tgai
LESSONS ?= [0-9][0-9]_*.ipynb
shared: $(STAMP)
	mkdir -p $(SHARED) build/shared
	$(if $(BUNDLE),TGAI_SHARED= TGAI_HOME=$(abspath $(SHARED)) $(BIN)/python -m tgai unbundle $(BUNDLE))
	cd notebooks && for notebook in $(LESSONS); do \
		echo "filling $(SHARED) with $$notebook"; \
		TGAI_SHARED= TGAI_HOME=$(abspath $(SHARED)) TGAI_PROFILE=class ../$(BIN)/papermill --log-level ERROR \
			--no-progress-bar -k python3 $$notebook ../build/shared/$$notebook || exit 1; \
	done
	chmod -R a+rX,a-w $(SHARED)

# A real JupyterHub on loopback (hub/check.py): its pinned packages on top of the kit's, its proxy from npm's lock
# file, a shared layer from `make shared`, and lesson 00 run by HUB_USERS learners at once. Part of CI.
HUB_USERS ?= 4
$(VENV)/hub-installed: $(STAMP) hub/requirements.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r hub/requirements.txt
	touch $@

hub/node_modules/installed: hub/package.json hub/package-lock.json
	cd hub && npm ci --no-audit --no-fund --loglevel=error
	touch $@

hub-check: $(VENV)/hub-installed hub/node_modules/installed
	$(BIN)/python hub/check.py --users $(HUB_USERS)

# The published site: the committed, executed notebooks rendered by Sphinx with myst-nb and the book theme
# (navigation, search, rendered figures, formulas by MathJax served from the site), never re-executed; the guides
# beside them (site/prepare.py). The public address in pyproject.toml (`make colab`), or REPOSITORY=owner/name for
# this build only (and BRANCH=, default main), adds "Open in Colab" launch buttons. Opened in headless Chromium
# by tests/test_site.py.
SITE ?= build/site
BRANCH ?= main
site/node_modules/installed: site/package.json site/package-lock.json
	cd site && npm ci --no-audit --no-fund --loglevel=error
	touch $@

site: $(STAMP) site/node_modules/installed
	rm -rf $(SITE)-source
	$(BIN)/python site/prepare.py $(SITE)-source
	address=$$($(BIN)/python colab/configure.py --address $(REPOSITORY)) && \
		TGAI_SITE_REPOSITORY=$$address TGAI_SITE_BRANCH=$(BRANCH) $(BIN)/sphinx-build -q -W --keep-going -b html \
		$(SITE)-source $(SITE)
	@echo "site: $(SITE)/index.html"

# A wheel and an sdist in build/dist/ whose tgai carries the committed checkpoints (data/ as tgai/weights/), so that
# `pip install tgai-*.whl` works without a clone: on Colab, or on a machine that only gets the file.
dist: $(STAMP)
	rm -rf build/dist
	$(BIN)/python -m build --no-isolation --outdir build/dist .

html: $(STAMP)
	$(BIN)/jupyter nbconvert --to html --output-dir build/html notebooks/[0-9][0-9]_*.ipynb

assets: $(STAMP)
	$(BIN)/python -m tgai fetch --all

bench: $(STAMP)
	TGAI_PROGRESS=0 $(BIN)/python benchmarks/run.py

bench-quick: $(STAMP)
	TGAI_PROGRESS=0 $(BIN)/python benchmarks/run.py --quick

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check tgai tests benchmarks conftest.py colab site notebooks

clean:
	rm -rf build .pytest_cache .ruff_cache tgai.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
