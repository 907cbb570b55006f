# Qiantang — the two commands of the README, and a few helpers for developers.
# A fresh Debian machine with Python 3.11 needs nothing else: both targets create .venv themselves.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
SCALE  ?= small
QIANTANG_HOST ?= 127.0.0.1
QIANTANG_PORT ?= 8000
export QIANTANG_HOST QIANTANG_PORT

.PHONY: run test install install-test lint bench clean help

help:
	@echo "make run   — install, migrate, load the demo city if the database is empty, serve on http://$(QIANTANG_HOST):$(QIANTANG_PORT) with the job worker"
	@echo "make test  — install with the test extras and run the whole suite"
	@echo "             (the Spark batch tests need Java 17: apt-get install openjdk-17-jre-headless; skipped without it)"

$(BIN)/python:
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11 or newer is needed"' \
		|| { echo "需要 Python 3.11 / Python 3.11 is needed"; exit 1; }
	@$(PYTHON) -m venv $(VENV) || { echo "python3 -m venv failed: on Debian run 'apt-get install python3-venv'"; exit 1; }
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/pip install --quiet -c constraints.txt -e .
	@touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/pip install --quiet -c constraints.txt -e '.[test]'
	@touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

run: install
	$(BIN)/qiantang db upgrade
	$(BIN)/qiantang demo load --scale $(SCALE) --if-empty
	$(BIN)/qiantang serve --host $(QIANTANG_HOST) --port $(QIANTANG_PORT)

test: install-test
	$(BIN)/python -m pytest -n auto --dist loadgroup $(PYTEST_ARGS)

lint: install-test
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

bench: install
	$(BIN)/python benchmarks/demo_load.py --scale city

clean:
	rm -rf $(VENV) var build *.egg-info
