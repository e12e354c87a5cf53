# Two commands do all the set-up on a fresh machine: `make serve` and `make test`.
# tools/setup.sh checks the system first (and says exactly what to install), then creates
# .venv and installs into it under a lock: both may be started at once, in two terminals.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
ARGS ?=
PYTEST_ARGS ?=
#: the official SDK: the banner's snippet needs it (the test extra pins the same version)
SDK := vilvik==0.5.7
SETUP := PYTHON='$(PYTHON)' VENV='$(VENV)' SDK='$(SDK)' tools/setup.sh
VERSION = $(shell sed -n 's/^__version__ = "\(.*\)"/\1/p' vilvik_emulator/__init__.py)
WHEEL = dist/vilvik_emulator-$(VERSION)-py3-none-any.whl

.PHONY: serve test bench install install-test prerequisites dist clean example-test lint test-lowest

# What the system must provide for `make test` (Python with venv, Debian's chromium);
# as root without a terminal (CI) it is installed, otherwise the command is printed.
prerequisites:
	@$(SETUP) prerequisites test

install:
	@$(SETUP) install serve

install-test:
	@$(SETUP) install test

serve: install
	$(BIN)/vilvik-emulator serve $(ARGS)

test: install-test
	$(BIN)/python -m pytest -n 2 $(PYTEST_ARGS)
	$(MAKE) example-test

bench: install-test
	$(BIN)/python bench/run_all.py

# The wheel an outside project installs (README: "Installing it in your project").
dist: install
	rm -rf dist
	$(BIN)/python -m pip wheel --quiet --no-deps --wheel-dir dist .
	@echo "built $(WHEEL)"

clean:
	rm -rf $(VENV) $(LOWEST_VENV) .pytest_cache build dist *.egg-info

# Lint and types, as CI runs them (.ci/run). The code keeps its hand layout: ruff's rules
# are checked, its formatter is not imposed.
lint: install-test
	$(BIN)/python -m ruff check .
	$(BIN)/python -m mypy

# The floors in pyproject.toml, proved: the lowest Python the package allows (3.10) and every
# runtime dependency pinned to its floor (.ci/lowest_constraints.py), running the tests that
# exercise those libraries (HTTP layer, schemas, store, runner, SDK end to end).
LOWEST_PYTHON ?= $(shell for p in $$(ls $$HOME/.pyenv/versions/3.10*/bin/python3.10 2>/dev/null) $$(command -v python3.10); do "$$p" -V >/dev/null 2>&1 && echo "$$p" && break; done)
LOWEST_VENV ?= .venv-lowest
LOWEST_TESTS ?= tests/test_sdk_e2e.py tests/test_submissions.py tests/test_results.py \
	tests/test_openapi.py tests/test_store.py tests/test_runner_messages.py tests/test_lists.py \
	tests/test_idempotency.py tests/test_webhooks.py \
	tests/test_control_plane.py tests/test_imports.py tests/test_auth.py tests/test_code_uploads.py \
	tests/test_server.py
test-lowest:
	@test -n "$(LOWEST_PYTHON)" || { echo "make test-lowest needs Python 3.10 (e.g. apt-get install python3.10, or pyenv install 3.10)"; exit 1; }
	test -x $(LOWEST_VENV)/bin/python || $(LOWEST_PYTHON) -m venv $(LOWEST_VENV)
	$(LOWEST_PYTHON) .ci/lowest_constraints.py pyproject.toml > $(LOWEST_VENV)/constraints.txt
	$(LOWEST_VENV)/bin/python -m pip install --quiet -c $(LOWEST_VENV)/constraints.txt -e '.[test]'
	$(LOWEST_VENV)/bin/python -m pip check
	$(LOWEST_VENV)/bin/python -m pytest -n 2 -p no:cacheprovider $(LOWEST_TESTS)

# The example client project: a fresh venv, the emulator installed from this repository
# as an outsider would, from the wheel `make dist` builds (not editable, so it also proves
# the package ships everything it needs), exactly as examples/client-project/README.md says.
EXAMPLE := examples/client-project
example-test: dist
	rm -rf $(EXAMPLE)/.venv
	cd $(EXAMPLE) && $(PYTHON) -m venv .venv
	cd $(EXAMPLE) && .venv/bin/python -m pip install --quiet ../../$(WHEEL) -e '.[test]'
	cd $(EXAMPLE) && .venv/bin/python -m pytest -q -p no:cacheprovider
