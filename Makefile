# Two commands do all the set-up on a fresh machine: `make serve` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
ARGS ?=
PYTEST_ARGS ?=

.PHONY: serve test bench install install-test clean example-test

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall only when the project's metadata changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(VENV)/.installed $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

serve: install
	$(BIN)/vilvik-emulator serve $(ARGS)

test: install-test
	$(BIN)/python -m pytest -n 2 $(PYTEST_ARGS)
	$(MAKE) example-test

bench: install-test
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info

# The example client project: a fresh venv, the emulator installed from this repository
# as an outsider would (a built wheel, not editable), and the project's own tests.
EXAMPLE := examples/client-project
example-test: $(BIN)/python
	rm -rf $(EXAMPLE)/.venv
	$(PYTHON) -m venv $(EXAMPLE)/.venv
	$(EXAMPLE)/.venv/bin/python -m pip install --quiet . 'vilvik==0.5.7' 'pytest>=7' -e $(EXAMPLE)
	cd $(EXAMPLE) && .venv/bin/python -m pytest -q -p no:cacheprovider
